// Package numbering maps E.164 numbers to mobile networks: the numbering
// plan (longest prefix → network, as national regulators publish number
// ranges) and the portability table (numbers that moved to another
// network, as clearing houses deliver them). Wholesale SMS is bought and
// sold per network (MCC-MNC), so rates, costs and routes may name a network
// rather than a prefix; Resolve is the lookup the hot path makes first.
//
// Both tables are immutable once built and are swapped whole when an
// operator loads new ones, so lookups take no lock and allocate nothing.
//
// Sizes (back of the envelope, checked by BenchmarkResolve and
// TestTableMemory): a 200,000-row plan is a digit trie of at most ~1.4
// million 12-byte nodes (~17 MB, far less with shared prefixes); 1,000,000
// ported numbers are a Go map of uint64 → Code, ~20 MB. A lookup is one map
// probe (~50 ns with a cache miss) and a walk of at most 15 trie nodes.
package numbering

import (
	"errors"
	"fmt"
	"math/bits"
	"strconv"

	"github.com/smsledger/smsledger/domain/prefix"
)

// Bounds of the tables an operator may load.
const (
	// MaxPlanRows bounds a numbering plan (a world plan has ~100,000–200,000
	// ranges).
	MaxPlanRows = 1_000_000
	// MaxPorted bounds the portability table (national tables run to a few
	// million numbers; 10 million is ~200 MB of memory).
	MaxPorted = 10_000_000
	// MaxNameLen bounds a country or operator name.
	MaxNameLen = 64
)

// Errors for errors.Is.
var (
	ErrInvalidMCCMNC = errors.New("invalid mccmnc")
	ErrInvalidRow    = errors.New("invalid numbering row")
	ErrInvalidNumber = errors.New("invalid number")
	ErrTooManyRows   = errors.New("too many rows")
)

// Code is a mobile network's MCC-MNC as a number: MCC (3 digits) and MNC
// (2 or 3 digits; "26201" and "262001" are different networks, so the
// length is kept). The zero Code is "network unknown". Codes are compared
// and used as map keys on the hot path instead of strings.
type Code uint32

const (
	codeSet  = 1 << 31 // every valid Code has it, so none is zero
	codeLong = 1 << 30 // a 3-digit MNC
)

// ParseCode parses an MCC-MNC of 5 or 6 digits ("26201", "310410").
func ParseCode(mccmnc string) (Code, error) {
	if len(mccmnc) != 5 && len(mccmnc) != 6 {
		return 0, fmt.Errorf("mccmnc %q: 5 or 6 digits: %w", mccmnc, ErrInvalidMCCMNC)
	}
	var v uint32
	for i := 0; i < len(mccmnc); i++ {
		d := mccmnc[i] - '0'
		if d > 9 {
			return 0, fmt.Errorf("mccmnc %q: digits only: %w", mccmnc, ErrInvalidMCCMNC)
		}
		v = v*10 + uint32(d)
	}
	c := Code(codeSet | v)
	if len(mccmnc) == 6 {
		c |= codeLong
	}
	return c, nil
}

// CodeOf is ParseCode of an MCC and an MNC given apart.
func CodeOf(mcc, mnc string) (Code, error) {
	if len(mcc) != 3 || (len(mnc) != 2 && len(mnc) != 3) {
		return 0, fmt.Errorf("mcc %q mnc %q: 3 and 2-3 digits: %w", mcc, mnc, ErrInvalidMCCMNC)
	}
	return ParseCode(mcc + mnc)
}

// Known reports whether c names a network.
func (c Code) Known() bool { return c&codeSet != 0 }

// String is the MCC-MNC digits ("26201"); "" for the zero Code.
func (c Code) String() string {
	if !c.Known() {
		return ""
	}
	width := 5
	if c&codeLong != 0 {
		width = 6
	}
	s := strconv.FormatUint(uint64(c&^(codeSet|codeLong)), 10)
	for len(s) < width {
		s = "0" + s
	}
	return s
}

// MCC is the country code part ("262").
func (c Code) MCC() string {
	if s := c.String(); s != "" {
		return s[:3]
	}
	return ""
}

// MNC is the network part ("01").
func (c Code) MNC() string {
	if s := c.String(); s != "" {
		return s[3:]
	}
	return ""
}

// Network is one mobile network of the plan.
type Network struct {
	Code     Code
	Country  string // ISO 3166 alpha-2 as the plan gives it ("DE")
	Operator string // the operator's name ("Telekom")
}

// Row is one line of a numbering plan: numbers starting with Prefix belong
// to the network MCC-MNC.
type Row struct {
	Prefix   string
	MCC, MNC string
	Country  string
	Operator string
}

// Plan is an immutable numbering plan: longest prefix → network.
type Plan struct {
	table    *prefix.Table[uint32] // index into networks
	networks []Network
	byCode   map[Code]uint32
	rows     int
}

// NewPlan builds a plan. A network (MCC-MNC) may have many prefixes but one
// country and operator name; the same prefix twice is an error.
func NewPlan(rows []Row) (*Plan, error) {
	if len(rows) > MaxPlanRows {
		return nil, fmt.Errorf("numbering plan of %d rows (max %d): %w", len(rows), MaxPlanRows, ErrTooManyRows)
	}
	p := &Plan{byCode: make(map[Code]uint32)}
	entries := make([]prefix.Entry[uint32], len(rows))
	for i, r := range rows {
		code, err := CodeOf(r.MCC, r.MNC)
		if err != nil {
			return nil, fmt.Errorf("row %d: %w", i+1, err)
		}
		if r.Prefix == "" {
			return nil, fmt.Errorf("row %d: empty prefix: %w", i+1, ErrInvalidRow)
		}
		if len(r.Country) > MaxNameLen || len(r.Operator) > MaxNameLen {
			return nil, fmt.Errorf("row %d: country or operator longer than %d bytes: %w", i+1, MaxNameLen, ErrInvalidRow)
		}
		idx, seen := p.byCode[code]
		if !seen {
			idx = uint32(len(p.networks))
			p.byCode[code] = idx
			p.networks = append(p.networks, Network{Code: code, Country: r.Country, Operator: r.Operator})
		} else if n := p.networks[idx]; n.Country != r.Country || n.Operator != r.Operator {
			return nil, fmt.Errorf("row %d: network %s is %s/%s here and %s/%s before: %w",
				i+1, code, r.Country, r.Operator, n.Country, n.Operator, ErrInvalidRow)
		}
		entries[i] = prefix.Entry[uint32]{Prefix: r.Prefix, Value: idx}
	}
	t, err := prefix.New(entries)
	if err != nil {
		return nil, fmt.Errorf("numbering plan: %w", err)
	}
	p.table, p.rows = t, len(rows)
	return p, nil
}

// Lookup returns the network of the longest prefix of digits (E.164
// without '+'), and the prefix's length; ok is false when no prefix
// matches.
func (p *Plan) Lookup(digits string) (n Network, prefixLen int, ok bool) {
	if p == nil {
		return Network{}, 0, false
	}
	idx, l, ok := p.table.Lookup(digits)
	if !ok {
		return Network{}, 0, false
	}
	return p.networks[idx], l, true
}

// Network returns the plan's network of code (Country and Operator empty
// when the plan does not name it).
func (p *Plan) Network(code Code) Network {
	if p != nil {
		if idx, ok := p.byCode[code]; ok {
			return p.networks[idx]
		}
	}
	return Network{Code: code}
}

// Rows is the number of prefixes; Networks the number of networks.
func (p *Plan) Rows() int {
	if p == nil {
		return 0
	}
	return p.rows
}

// Networks is the number of distinct networks of the plan.
func (p *Plan) Networks() int {
	if p == nil {
		return 0
	}
	return len(p.networks)
}

// Ported is an immutable portability table: numbers that moved to another
// network than their range's.
//
// It is one flat open-addressing hash table of uint64 words (linear
// probing, at most half full), each a number and the index of its network
// in codes: a lookup is one multiply and, nearly always, one cache line,
// where a Go map of a million numbers takes two or three dependent cache
// misses through its directory, table and group (BenchmarkResolve). A
// million numbers take 16 MiB.
type Ported struct {
	slots []uint64 // 0: empty; else number<<portedCodeBits | index in codes
	codes []Code
	shift uint8 // 64 - log2(len(slots))
	n     int
}

// portedCodeBits is the bits of a slot that name the network: at most
// 16,384 distinct networks in one table (the world has about 2,000). A
// number (at most 15 digits, under 2^50) takes the other 50.
const portedCodeBits = 14

// ErrTooManyNetworks reports a portability table naming more distinct
// networks than it can index.
var ErrTooManyNetworks = errors.New("too many networks")

// PortedNumber is one line of a portability table.
type PortedNumber struct {
	MSISDN string // E.164 digits without '+'
	Code   Code
}

// NewPorted builds a portability table; a number listed twice keeps its
// last network (clearing-house files are cumulative).
func NewPorted(numbers []PortedNumber) (*Ported, error) {
	if len(numbers) > MaxPorted {
		return nil, fmt.Errorf("portability table of %d numbers (max %d): %w", len(numbers), MaxPorted, ErrTooManyRows)
	}
	size := 16
	for size < 2*len(numbers) {
		size *= 2
	}
	t := &Ported{slots: make([]uint64, size), shift: uint8(64 - bits.TrailingZeros(uint(size)))}
	index := make(map[Code]uint64)
	for i, n := range numbers {
		k, ok := key(n.MSISDN)
		if !ok {
			return nil, fmt.Errorf("number %d %q: %w", i+1, n.MSISDN, ErrInvalidNumber)
		}
		if !n.Code.Known() {
			return nil, fmt.Errorf("number %d %q: %w", i+1, n.MSISDN, ErrInvalidMCCMNC)
		}
		ci, ok := index[n.Code]
		if !ok {
			if len(t.codes) == 1<<portedCodeBits {
				return nil, fmt.Errorf("number %d %q: more than %d distinct networks: %w", i+1, n.MSISDN, 1<<portedCodeBits, ErrTooManyNetworks)
			}
			ci = uint64(len(t.codes))
			index[n.Code] = ci
			t.codes = append(t.codes, n.Code)
		}
		j := t.slot(k)
		if t.slots[j] == 0 {
			t.n++
		}
		t.slots[j] = k<<portedCodeBits | ci
	}
	return t, nil
}

// slot is the slot of number k: where it is, or the empty one where it
// goes. The table is at most half full, so the probe ends.
func (t *Ported) slot(k uint64) uint64 {
	mask := uint64(len(t.slots) - 1)
	for j := (k * 0x9e3779b97f4a7c15) >> t.shift; ; j = (j + 1) & mask {
		if w := t.slots[j]; w == 0 || w>>portedCodeBits == k {
			return j
		}
	}
}

// Len is the number of ported numbers.
func (t *Ported) Len() int {
	if t == nil {
		return 0
	}
	return t.n
}

// Lookup returns the network a number was ported to.
func (t *Ported) Lookup(digits string) (Code, bool) {
	if t == nil || t.n == 0 {
		return 0, false
	}
	k, ok := key(digits)
	if !ok {
		return 0, false
	}
	w := t.slots[t.slot(k)]
	if w == 0 {
		return 0, false
	}
	return t.codes[w&(1<<portedCodeBits-1)], true
}

// key packs an E.164 number (1..15 digits, not starting with 0) into a
// uint64: the digits' value, which is unique because no number starts
// with 0.
func key(digits string) (uint64, bool) {
	if len(digits) == 0 || len(digits) > 15 || digits[0] == '0' {
		return 0, false
	}
	var v uint64
	for i := 0; i < len(digits); i++ {
		d := digits[i] - '0'
		if d > 9 {
			return 0, false
		}
		v = v*10 + uint64(d)
	}
	return v, true
}

// Source says how a destination's network was found.
type Source uint8

// Sources.
const (
	SourceNone   Source = iota // network unknown
	SourcePlan                 // the numbering plan's range
	SourcePorted               // the portability table
	SourceLookup               // the portability provider (Remote)
)

func (s Source) String() string {
	switch s {
	case SourcePlan:
		return "plan"
	case SourcePorted:
		return "ported"
	case SourceLookup:
		return "lookup"
	}
	return ""
}

// Resolve returns the network of a destination (E.164 digits): the
// portability table first (a ported number belongs to its new network),
// then the plan's longest prefix. It allocates nothing.
func Resolve(plan *Plan, ported *Ported, digits string) (Network, Source) {
	if c, ok := ported.Lookup(digits); ok {
		return plan.Network(c), SourcePorted
	}
	if n, _, ok := plan.Lookup(digits); ok {
		return n, SourcePlan
	}
	return Network{}, SourceNone
}

// Remote is a portability source outside the process (a provider's
// lookup, adapters/mnp), consulted after the local table and before the
// plan. Lookup must answer from memory at once — never a network round
// trip on the hot path — ok false meaning not ported or not known yet.
type Remote interface {
	Lookup(digits string) (Code, bool)
}

// Tables are the numbering plan, the portability table and the optional
// remote portability source in force; the ledger swaps a new *Tables in
// whole when an operator loads the plan or the table.
type Tables struct {
	Plan   *Plan
	Ported *Ported
	Remote Remote
}

// Resolve finds a destination's network: the local portability table, the
// remote source, then the plan (a nil *Tables knows no network). It
// allocates nothing.
func (t *Tables) Resolve(digits string) (Network, Source) {
	if t == nil {
		return Network{}, SourceNone
	}
	if c, ok := t.Ported.Lookup(digits); ok {
		return t.Plan.Network(c), SourcePorted
	}
	if t.Remote != nil {
		if c, ok := t.Remote.Lookup(digits); ok {
			return t.Plan.Network(c), SourceLookup
		}
	}
	if n, _, ok := t.Plan.Lookup(digits); ok {
		return n, SourcePlan
	}
	return Network{}, SourceNone
}
