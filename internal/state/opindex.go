package state

import (
	"hash/maphash"
	"unsafe"

	"github.com/syncd-io/syncd/internal/prefetch"
)

// opIndex finds the pending op of a (type, key) in a batch's ops: an
// open-addressing hash table of positions in ops, keyed by a seeded 64-bit
// hash of the pair. A lookup hashes the two strings once and compares a
// uint64 per probe; only an op whose hash matches is compared with the pair,
// where a map[opKey] hashed and compared both strings of the key. Pairs
// whose hashes are equal are told apart by that comparison: the probe goes
// on, so a collision costs time, never correctness.
type opIndex struct {
	seed maphash.Seed
	// hash hashes a (type, key); nil means hashOpKey. Tests set it to force
	// collisions.
	hash func(seed maphash.Seed, typ, key string) uint64
	// slots holds 0 for a free slot, else the upper 32 bits of the pair's
	// hash (its tag, which also picks the pair's first slot) above its
	// position in ops plus one. Its length is a power of two at least twice
	// the number of pairs, so probes are short.
	slots []uint64
	n     int // used slots
}

// minSlots is the size of a new index.
const minSlots = 64

// hashOpKey is the hash of a (type, key) under seed: the runtime's own
// hash of the pair, as a map[opKey] would compute it, cheaper than two
// maphash.String calls.
func hashOpKey(seed maphash.Seed, typ, key string) uint64 {
	return maphash.Comparable(seed, opKey{typ, key})
}

// lookup returns the position in ops of the op of (typ, key), and whether
// there is one. When there is none, slot is the free slot where insert puts
// the pair, and tag its tag.
func (x *opIndex) lookup(ops []Op, typ, key string) (pos int, found bool, slot int, tag uint64) {
	if x.slots == nil { // a new or zero Batch
		x.seed = maphash.MakeSeed()
		x.slots = make([]uint64, minSlots)
	}
	var h uint64
	if x.hash == nil {
		h = hashOpKey(x.seed, typ, key)
	} else {
		h = x.hash(x.seed, typ, key)
	}
	tag = h >> 32
	mask := uint64(len(x.slots) - 1)
	for i := tag & mask; ; i = (i + 1) & mask {
		s := x.slots[i]
		if s == 0 {
			return 0, false, int(i), tag
		}
		if s>>32 == tag {
			p := int(uint32(s)) - 1
			if op := &ops[p]; op.Key == key && op.Type == typ {
				return p, true, 0, 0
			}
		}
	}
}

// insert records pos as the position of the pair lookup did not find, at the
// slot and with the tag it returned.
func (x *opIndex) insert(slot int, tag uint64, pos int) {
	x.slots[slot] = tag<<32 | uint64(uint32(pos+1))
	x.n++
	if 2*x.n > len(x.slots) {
		x.grow()
	}
}

// grow doubles the table, placing each pair by its tag.
func (x *opIndex) grow() {
	old := x.slots
	x.slots = make([]uint64, 2*len(old))
	mask := uint64(len(x.slots) - 1)
	for _, s := range old {
		if s == 0 {
			continue
		}
		i := (s >> 32) & mask
		for x.slots[i] != 0 {
			i = (i + 1) & mask
		}
		x.slots[i] = s
	}
}

// remap moves every position p in the index to inv[p], after the ops were
// reordered so.
func (x *opIndex) remap(inv []uint32) {
	for i, s := range x.slots {
		if s != 0 {
			x.slots[i] = s&^0xffff_ffff | uint64(inv[uint32(s)-1]+1)
		}
	}
}

// reset empties the index, keeping its memory.
func (x *opIndex) reset() {
	clear(x.slots)
	x.n = 0
}

// prefetcher overlaps the cache misses of lookups to come: told of the
// (type, key) of a change a few changes ahead of the one being added, it
// prefetches, on three successive calls, that change's index slot, then
// its op, then its key's bytes and its value buffer, each stage reading
// only what the previous one brought into cache. A lookup without a hint,
// or with a wrong one (a probe past the first slot, an index grown since),
// is as correct as ever: prefetching has no effect but speed.
type prefetcher struct {
	slot [prefetchStages]int // stage 2: the slot to read, or -1
	op   [prefetchStages]int // stage 3: the op to read, or -1
	n    int
}

// prefetchStages is how many calls a hint takes to go through its stages.
const prefetchStages = 3

// PrefetchAhead is how many changes ahead of the one being added the
// caller should name in Prefetch: enough for every stage to have been
// issued by the time the change is added.
const PrefetchAhead = prefetchStages + 1

// Prefetch tells the batch of a change the caller will add PrefetchAhead
// changes from now. typ and key are only read during the call.
func (b *Batch) Prefetch(typ, key string) {
	x, p := &b.index, &b.pre
	if x.slots == nil {
		return
	}
	cur := p.n % prefetchStages
	p.n++
	// Stage 3 of the hint from two calls ago: its op is in cache.
	if i := p.op[(cur+1)%prefetchStages]; i >= 0 && i < len(b.ops) { // (cur+1) is cur-2
		op := &b.ops[i]
		if len(op.Key) > 0 {
			prefetch.Line(unsafe.Pointer(unsafe.StringData(op.Key)))
		}
		if v := op.Value; cap(v) > 0 {
			prefetch.Line(unsafe.Pointer(unsafe.SliceData(v)))
		} else if v := op.LastValue; cap(v) > 0 {
			prefetch.Line(unsafe.Pointer(unsafe.SliceData(v)))
		}
	}
	// Stage 2 of the hint from the last call: its slot is in cache.
	prev := (cur + prefetchStages - 1) % prefetchStages
	p.op[prev] = -1
	if i := p.slot[prev]; i >= 0 && i < len(x.slots) {
		if s := x.slots[i]; s != 0 {
			if pos := int(uint32(s)) - 1; pos < len(b.ops) {
				op := &b.ops[pos]
				prefetch.Line(unsafe.Pointer(op))
				prefetch.Line(unsafe.Pointer(&op.LastValue)) // the op's last cache line
				p.op[prev] = pos
			}
		}
	}
	// Stage 1 of this hint.
	var h uint64
	if x.hash == nil {
		h = hashOpKey(x.seed, typ, key)
	} else {
		h = x.hash(x.seed, typ, key)
	}
	i := int((h >> 32) & uint64(len(x.slots)-1))
	prefetch.Line(unsafe.Pointer(&x.slots[i]))
	p.slot[cur] = i
}
