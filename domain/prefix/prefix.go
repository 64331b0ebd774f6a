// Package prefix provides an immutable longest-prefix-match table keyed by
// decimal digit strings (E.164 numbers without '+').
//
// It is the lookup behind rate cards, supplier cost cards and the route
// table. The table is a compact digit trie in one slice (no pointers), so a
// lookup walks at most MaxLen nodes, allocates nothing and needs no lock: a Table is never mutated after New returns, and callers replace
// whole tables (for example via atomic.Pointer) when configuration changes.
package prefix

import (
	"errors"
	"fmt"
	"math/bits"
)

// MaxLen is the longest prefix accepted: an E.164 number has at most 15
// digits, so no useful prefix is longer.
const MaxLen = 15

// MaxEntries bounds the size of one table; it keeps node indices within
// int32 and guards against runaway configuration.
const MaxEntries = 4_000_000

// ErrInvalidPrefix reports a prefix that is not 0..MaxLen decimal digits.
var ErrInvalidPrefix = errors.New("invalid prefix")

// ErrDuplicatePrefix reports the same prefix twice in one table.
var ErrDuplicatePrefix = errors.New("duplicate prefix")

// ErrTooManyEntries reports a table larger than MaxEntries.
var ErrTooManyEntries = errors.New("too many prefix entries")

// Entry is one prefix and the value stored for it.
type Entry[V any] struct {
	Prefix string
	Value  V
}

// buildNode is a trie node while the table is being built.
type buildNode[V any] struct {
	child [10]int32 // 0: no child (index 0 is the root, nobody's child)
	has   bool
	value V
}

// node is one node of the finished, compact trie. Nodes are stored in
// breadth-first order, so the children of a node are contiguous: the child
// for digit d is at first + (number of set bits of children below d). A node
// is 16–24 bytes with the value inline, so a lookup touches nothing but the
// few nodes on its path, and the short prefixes every lookup walks through
// (country codes, then operator ranges) sit together at the front of the
// array and stay in cache. At 100,000 prefixes that is what keeps a lookup
// to a handful of cache misses.
type node[V any] struct {
	children uint16 // bit d set: there is a child for digit d
	has      bool   // a prefix ends here
	first    int32  // index of the first child
	value    V
}

// Table is an immutable longest-prefix-match table. The zero Table is empty.
type Table[V any] struct {
	nodes []node[V]
	n     int // prefixes
}

// New builds a table from entries. The empty prefix is allowed and matches
// every number (a default). Entries are copied; the input may be reused.
func New[V any](entries []Entry[V]) (*Table[V], error) {
	if len(entries) > MaxEntries {
		return nil, fmt.Errorf("prefix table of %d entries: %w", len(entries), ErrTooManyEntries)
	}
	b := make([]buildNode[V], 1, len(entries)+1)
	for i := range entries {
		var err error
		if b, err = insert(b, entries[i].Prefix, entries[i].Value); err != nil {
			return nil, err
		}
	}
	return &Table[V]{nodes: compact(b), n: len(entries)}, nil
}

func insert[V any](b []buildNode[V], p string, v V) ([]buildNode[V], error) {
	if len(p) > MaxLen {
		return b, fmt.Errorf("prefix %q longer than %d digits: %w", p, MaxLen, ErrInvalidPrefix)
	}
	n := int32(0)
	for i := 0; i < len(p); i++ {
		d := p[i] - '0'
		if d > 9 {
			return b, fmt.Errorf("prefix %q has non-digit at %d: %w", p, i, ErrInvalidPrefix)
		}
		next := b[n].child[d]
		if next == 0 {
			b = append(b, buildNode[V]{})
			next = int32(len(b) - 1)
			b[n].child[d] = next
		}
		n = next
	}
	if b[n].has {
		return b, fmt.Errorf("prefix %q: %w", p, ErrDuplicatePrefix)
	}
	b[n].has = true
	b[n].value = v
	return b, nil
}

// compact lays the trie out breadth-first with bitmap-addressed children.
func compact[V any](b []buildNode[V]) []node[V] {
	order := make([]int32, 1, len(b)) // build indices in BFS order
	out := make([]node[V], 0, len(b))
	for head := 0; head < len(order); head++ {
		src := &b[order[head]]
		n := node[V]{has: src.has, value: src.value, first: int32(len(order))}
		for d, c := range src.child {
			if c != 0 {
				n.children |= 1 << d
				order = append(order, c)
			}
		}
		out = append(out, n)
	}
	if len(out) != len(b) {
		panic("prefix: trie has unreachable nodes")
	}
	return out
}

// Lookup returns the value of the longest prefix of digits present in the
// table, the length of that prefix (so digits[:n] is the matched prefix),
// and whether any prefix matched. digits must be decimal digits; a non-digit
// stops the walk (nothing beyond it can match). It does not allocate.
func (t *Table[V]) Lookup(digits string) (value V, n int, ok bool) {
	if t == nil || len(t.nodes) == 0 {
		return value, 0, false
	}
	nd := &t.nodes[0]
	if nd.has {
		value, ok = nd.value, true
	}
	limit := min(len(digits), MaxLen)
	for i := 0; i < limit; i++ {
		d := digits[i] - '0'
		if d > 9 {
			break
		}
		bit := uint16(1) << d
		if nd.children&bit == 0 {
			break
		}
		nd = &t.nodes[nd.first+int32(bits.OnesCount16(nd.children&(bit-1)))]
		if nd.has {
			value, n, ok = nd.value, i+1, true
		}
	}
	return value, n, ok
}

// Len is the number of prefixes in the table.
func (t *Table[V]) Len() int {
	if t == nil {
		return 0
	}
	return t.n
}
