package state

import (
	"cmp"
	"slices"
	"strings"
)

// sortKey is what sortOps orders an op by: the rank of its type among the
// batch's types, then its key.
type sortKey struct {
	key  string
	rank uint32 // the op's type's rank among the distinct types of ops
	pos  uint32 // the op's position in ops
}

// sortOps puts ops in (Type, Key) order and moves the index along. It sorts
// 24-byte keys rather than the 136-byte ops, compares types as ranks (a
// batch has few types, each shared by many ops), and then moves each op
// once.
func (b *Batch) sortOps() {
	keys := sortKeys(b.ops)
	slices.SortFunc(keys, func(x, y sortKey) int {
		if x.rank != y.rank {
			return cmp.Compare(x.rank, y.rank)
		}
		return strings.Compare(x.key, y.key)
	})
	// inv[p] is the new position of the op at position p.
	inv := make([]uint32, len(keys))
	for i, k := range keys {
		inv[k.pos] = uint32(i)
	}
	b.index.remap(inv)
	permuteOps(b.ops, keys)
	b.sorted = true
}

// sortKeys returns the sort key of every op, in ops order.
func sortKeys(ops []Op) []sortKey {
	keys := make([]sortKey, len(ops))
	var ids typeIDs
	for i := range ops {
		keys[i] = sortKey{key: ops[i].Key, rank: ids.id(ops[i].Type), pos: uint32(i)}
	}
	// Turn type ids (first-seen order) into ranks (byte order).
	order := make([]uint32, len(ids.types))
	for i := range order {
		order[i] = uint32(i)
	}
	slices.SortFunc(order, func(x, y uint32) int { return strings.Compare(ids.types[x], ids.types[y]) })
	rank := make([]uint32, len(order))
	for r, id := range order {
		rank[id] = uint32(r)
	}
	for i := range keys {
		keys[i].rank = rank[keys[i].rank]
	}
	return keys
}

// typeIDs numbers distinct type names in first-seen order.
type typeIDs struct {
	types  []string
	byName map[string]uint32 // used once there are more than maxScan types
}

// maxScan is how many types typeIDs searches linearly before it uses a map.
const maxScan = 8

// id returns the number of typ, giving it the next one if it has none.
func (t *typeIDs) id(typ string) uint32 {
	if id, ok := t.find(typ); ok {
		return id
	}
	return t.add(typ)
}

// intern returns the stored copy of typ, storing one first if there is none.
func (t *typeIDs) intern(typ string) string {
	if id, ok := t.find(typ); ok {
		return t.types[id]
	}
	return t.types[t.add(strings.Clone(typ))]
}

// find returns the number of typ, if it has one.
func (t *typeIDs) find(typ string) (uint32, bool) {
	if t.byName != nil {
		id, ok := t.byName[typ]
		return id, ok
	}
	for i, s := range t.types {
		if s == typ {
			return uint32(i), true
		}
	}
	return 0, false
}

// add gives typ, which has no number, the next one.
func (t *typeIDs) add(typ string) uint32 {
	id := uint32(len(t.types))
	t.types = append(t.types, typ)
	if t.byName == nil && len(t.types) > maxScan {
		t.byName = make(map[string]uint32, 2*len(t.types))
		for i, s := range t.types {
			t.byName[s] = uint32(i)
		}
	} else if t.byName != nil {
		t.byName[typ] = id
	}
	return id
}

// maxKeptTypes is how many stored types a batch keeps across Clear.
const maxKeptTypes = 1024

// permuteOps moves ops[keys[i].pos] to ops[i] for every i, moving each op
// once by following the permutation's cycles. It consumes keys.
func permuteOps(ops []Op, keys []sortKey) {
	const done = ^uint32(0)
	for i := range keys {
		if keys[i].pos == done {
			continue
		}
		if keys[i].pos == uint32(i) {
			keys[i].pos = done
			continue
		}
		tmp := ops[i]
		j := uint32(i)
		for {
			k := keys[j].pos
			keys[j].pos = done
			if k == uint32(i) {
				ops[j] = tmp
				break
			}
			ops[j] = ops[k]
			j = k
		}
	}
}
