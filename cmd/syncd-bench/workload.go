package main

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"strconv"
	"time"
)

// entityTypes are W1's four entity types; key i belongs to entityTypes[i%4].
var entityTypes = []string{"user", "order", "product", "comment"}

// appendBatch is how many events one POST carries.
const appendBatch = 1000

// workload is a generated stream: the bodies to POST, in order, and the state
// the tables must hold once every event is applied.
type workload struct {
	name   string
	events int
	posts  [][]byte // JSON arrays of appendBatch events
	bytes  int64    // total size of the events
	want   map[string]digest
	rows   []copyRow // W2 only: the final rows, for the COPY baseline
}

// digest summarizes one entity table: its row count and an order-independent
// checksum of (key, canonical value).
type digest struct {
	Rows int    `json:"rows"`
	Sum  uint64 `json:"sum"`
}

// copyRow is one row of W2 as COPY writes it.
type copyRow struct {
	key, value, txid string
	ts               time.Time
}

// rowHash hashes one row for a digest; value is canonicalized first, since
// Postgres jsonb reorders members and respaces the text.
func rowHash(key string, value []byte) (uint64, error) {
	var v any
	if err := json.Unmarshal(value, &v); err != nil {
		return 0, fmt.Errorf("value of %q: %w", key, err)
	}
	canon, err := json.Marshal(v)
	if err != nil {
		return 0, err
	}
	h := fnv.New64a()
	h.Write([]byte(key))
	h.Write([]byte{0})
	h.Write(canon)
	return h.Sum64(), nil
}

// gen builds events deterministically from a seed.
type gen struct {
	rng  *rand.Rand
	base time.Time
	buf  []byte
}

func newGen(seed uint64) *gen {
	return &gen{
		rng:  rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		base: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
	}
}

const letters = "abcdefghijklmnopqrstuvwxyz"

func (g *gen) word(b []byte, n int) []byte {
	for range n {
		b = append(b, letters[g.rng.IntN(len(letters))])
	}
	return b
}

// value returns a ~200-byte JSON object with strings, numbers, booleans, an
// array and a nested object. Floats are multiples of 1/4 so that they print
// the same after any round trip.
func (g *gen) value(key string, version int) []byte {
	b := make([]byte, 0, 256)
	b = append(b, `{"id":"`...)
	b = append(b, key...)
	b = append(b, `","name":"`...)
	b = g.word(b, 12)
	b = append(b, `","email":"`...)
	b = g.word(b, 8)
	b = append(b, `@example.com","version":`...)
	b = strconv.AppendInt(b, int64(version), 10)
	b = append(b, `,"score":`...)
	b = strconv.AppendFloat(b, float64(g.rng.IntN(400000))/4, 'f', -1, 64)
	b = append(b, `,"active":`...)
	b = strconv.AppendBool(b, g.rng.IntN(2) == 0)
	b = append(b, `,"tags":["`...)
	b = g.word(b, 5)
	b = append(b, `","`...)
	b = g.word(b, 6)
	b = append(b, `","`...)
	b = g.word(b, 4)
	b = append(b, `"],"address":{"city":"`...)
	b = g.word(b, 9)
	b = append(b, `","zip":"`...)
	b = strconv.AppendInt(b, int64(10000+g.rng.IntN(89999)), 10)
	b = append(b, `","geo":{"lat":`...)
	b = strconv.AppendFloat(b, float64(g.rng.IntN(720)-360)/4, 'f', -1, 64)
	b = append(b, `,"lng":`...)
	b = strconv.AppendFloat(b, float64(g.rng.IntN(1440)-720)/4, 'f', -1, 64)
	b = append(b, `,"verified":`...)
	b = strconv.AppendBool(b, g.rng.IntN(3) == 0)
	b = append(b, `}}}`...)
	return b
}

// event appends one change event to the current POST body.
func (g *gen) event(typ, key, op string, value []byte, txid string, seq int) {
	if len(g.buf) > 1 {
		g.buf = append(g.buf, ',')
	}
	g.buf = append(g.buf, `{"type":"`...)
	g.buf = append(g.buf, typ...)
	g.buf = append(g.buf, `","key":"`...)
	g.buf = append(g.buf, key...)
	g.buf = append(g.buf, '"')
	if value != nil {
		g.buf = append(g.buf, `,"value":`...)
		g.buf = append(g.buf, value...)
	}
	g.buf = append(g.buf, `,"headers":{"operation":"`...)
	g.buf = append(g.buf, op...)
	g.buf = append(g.buf, `","txid":"`...)
	g.buf = append(g.buf, txid...)
	g.buf = append(g.buf, `","timestamp":"`...)
	g.buf = g.base.Add(time.Duration(seq)*time.Millisecond).AppendFormat(g.buf, "2006-01-02T15:04:05.000Z07:00")
	g.buf = append(g.buf, `"}}`...)
}

// cut ends the current POST body every appendBatch events.
func (g *gen) cut(w *workload, seq int, force bool) {
	if (seq+1)%appendBatch != 0 && !force {
		return
	}
	if len(g.buf) <= 1 {
		return
	}
	g.buf = append(g.buf, ']')
	w.posts = append(w.posts, g.buf)
	w.bytes += int64(len(g.buf))
	g.buf = append(make([]byte, 0, len(g.buf)), '[')
}

// genW1 generates events change events over keys keys of four types: first
// every key inserted, then random updates (and upserts) with ~10% deletes; a
// deleted key that comes up again is inserted anew.
func genW1(events, keys int, seed uint64) (*workload, error) {
	g := newGen(seed)
	g.buf = []byte{'['}
	w := &workload{name: "w1", events: events}
	values := make([][]byte, keys)
	versions := make([]int, keys)
	keyName := func(i int) string { return fmt.Sprintf("k%07d", i) }
	for seq := range events {
		var k int
		op := "insert"
		if seq < keys {
			k = seq
		} else {
			k = g.rng.IntN(keys)
			switch r := g.rng.IntN(10); {
			case values[k] == nil:
				op = "insert"
			case r == 0:
				op = "delete"
			case r < 3:
				op = "upsert"
			default:
				op = "update"
			}
		}
		key := keyName(k)
		var v []byte
		if op == "delete" {
			values[k] = nil
		} else {
			versions[k]++
			v = g.value(key, versions[k])
			values[k] = v
		}
		g.event(entityTypes[k%len(entityTypes)], key, op, v, "w1-tx-"+strconv.Itoa(seq/appendBatch), seq)
		g.cut(w, seq, seq == events-1)
	}
	w.want = make(map[string]digest)
	for k, v := range values {
		if v == nil {
			continue
		}
		h, err := rowHash(keyName(k), v)
		if err != nil {
			return nil, err
		}
		typ := entityTypes[k%len(entityTypes)]
		d := w.want[typ]
		d.Rows++
		d.Sum += h
		w.want[typ] = d
	}
	return w, nil
}

// w2Type is the single entity type of W2.
const w2Type = "item"

// genW2 generates n inserts of distinct keys of one type.
func genW2(n int, seed uint64) (*workload, error) {
	g := newGen(seed + 1)
	g.buf = []byte{'['}
	w := &workload{name: "w2", events: n, want: map[string]digest{}}
	for seq := range n {
		key := fmt.Sprintf("i%07d", seq)
		v := g.value(key, 1)
		txid := "w2-tx-" + strconv.Itoa(seq/appendBatch)
		g.event(w2Type, key, "insert", v, txid, seq)
		g.cut(w, seq, seq == n-1)
		h, err := rowHash(key, v)
		if err != nil {
			return nil, err
		}
		d := w.want[w2Type]
		d.Rows++
		d.Sum += h
		w.want[w2Type] = d
		w.rows = append(w.rows, copyRow{key: key, value: string(v), txid: txid, ts: g.base.Add(time.Duration(seq) * time.Millisecond)})
	}
	return w, nil
}
