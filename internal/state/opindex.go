package state

import "hash/maphash"

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
