// Package prefetch asks the CPU to start loading memory into its caches
// before it is needed. A prefetch never faults and has no effect a program
// can observe other than speed: it is a hint, which hardware may ignore.
//
// The batch that coalesces a catch-up's changes looks up one op per change
// in an index of a few megabytes and an array of ten; each lookup waited on
// two or three cache misses in a row. Issuing the loads of the next few
// changes' lookups ahead of time lets those misses overlap.
package prefetch

import "unsafe"

// Line prefetches the cache line holding p into all cache levels.
func Line(p unsafe.Pointer) { line(p) }
