package ledger

// The numbers tenants own, for their mobile-originated (MO) messages: a
// supplier's deliver_sm that is not a receipt goes to the tenant owning its
// destination number. PUT /v1/tenants/{id}/numbers replaces a tenant's
// list (SetTenantNumbers), recorded as one TenantNumbersChanged in its
// stream; the follower keeps a number → tenant index in the configuration
// snapshot, so an MO's owner is one lock-free map lookup.
//
// Numbers are E.164 MSISDNs, written "+<digits>" (7-15 digits), and short
// codes, 3-8 digits as they are. Both share one space of digit strings: a
// short code and an MSISDN with the same digits are the same number.
//
// Bounds and memory: at most MaxTenantNumbers numbers per tenant and
// MaxNumbers in all. The index keys a number by its digits packed in a
// uint64 (length and value) and points at the tenant id the snapshot
// already holds: about 83 bytes a number with the maps' overhead, ~83 MB at
// MaxNumbers (BenchmarkNumberIndex; a lookup ~130 ns there, cache misses
// in a map that size); each tenant's list is kept as the event's one
// string (~15 bytes a number). The index is split in numberShards maps, copied on
// write one shard at a time, so a change copies only the shards it touches
// (all of them for a list of thousands: a replacement of the biggest lists
// copies the whole index, ~100 ms at MaxNumbers; rare and off the hot path).

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/smsledger/smsledger/domain/events"
	"github.com/smsledger/smsledger/domain/routing"
	"github.com/smsledger/smsledger/eventstore"
)

// Bounds of the number index.
const (
	MaxTenantNumbers = 100_000
	MaxNumbers       = 1_000_000
	// Short codes have MinShortCode..MaxShortCode digits.
	MinShortCode = 3
	MaxShortCode = 8
)

// numberShards is how many maps the index is split in.
const numberShards = 64

// numberIndex maps a number's key (numberKey) to the tenant owning it. It
// is immutable once published in a state: with returns a changed copy.
type numberIndex struct {
	shards [numberShards]map[uint64]numberOwner
	n      int // numbers in all
}

// numberOwner is the tenant owning a number and whether it owns it as a
// short code (else as "+<digits>").
type numberOwner struct {
	tenant string
	short  bool
}

// numberKey packs a number's digits (1..19 of them) into a uint64: the
// count in the top 5 bits, the value below (leading zeros kept apart by
// the count). ok is false for anything but 1..15 digits.
func numberKey(digits string) (uint64, bool) {
	if len(digits) == 0 || len(digits) > routing.MaxDigits {
		return 0, false
	}
	var v uint64
	for i := 0; i < len(digits); i++ {
		c := digits[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + uint64(c-'0')
	}
	return uint64(len(digits))<<59 | v, true
}

func shardOf(key uint64) int { return int((key * 0x9E3779B97F4A7C15) >> 58) }

func (x *numberIndex) owner(key uint64) (string, bool) {
	o, ok := x.lookup(key)
	return o.tenant, ok
}

func (x *numberIndex) lookup(key uint64) (numberOwner, bool) {
	if x == nil {
		return numberOwner{}, false
	}
	o, ok := x.shards[shardOf(key)][key]
	return o, ok
}

func (x *numberIndex) size() int {
	if x == nil {
		return 0
	}
	return x.n
}

// with returns a copy of x in which tenant no longer owns the keys in
// removed and owns those in added (the caller has checked that no other
// tenant does; short[i] tells whether added[i] is a short code). Only the
// shards touched are copied.
func (x *numberIndex) with(tenant string, removed, added []uint64, short []bool) *numberIndex {
	nx := &numberIndex{}
	if x != nil {
		*nx = *x
	}
	copied := [numberShards]bool{}
	shard := func(k uint64) map[uint64]numberOwner {
		i := shardOf(k)
		if !copied[i] {
			m := make(map[uint64]numberOwner, len(nx.shards[i])+1)
			for k, v := range nx.shards[i] {
				m[k] = v
			}
			nx.shards[i], copied[i] = m, true
		}
		return nx.shards[i]
	}
	for _, k := range removed {
		m := shard(k)
		if o, there := m[k]; there && o.tenant == tenant {
			delete(m, k)
			nx.n--
		}
	}
	for i, k := range added {
		m := shard(k)
		if _, there := m[k]; !there {
			nx.n++
		}
		m[k] = numberOwner{tenant: tenant, short: short[i]}
	}
	return nx
}

// NormalizeNumber returns a number as tenants own it: "+<digits>" for an
// MSISDN (written with "+" or "00", or as 9-15 plain digits) and the digits
// of a short code (3-8 plain digits), and the key of its digits.
func NormalizeNumber(raw string) (string, uint64, error) {
	s := strings.TrimSpace(raw)
	plain := s != "" && strings.Trim(s, "0123456789") == ""
	if plain && len(s) >= MinShortCode && len(s) <= MaxShortCode && !strings.HasPrefix(s, "00") {
		k, _ := numberKey(s)
		return s, k, nil
	}
	digits, err := routing.Normalize(s)
	if err != nil || (plain && len(s) < routing.MinDigits) {
		return "", 0, invalid("numbers", "%q is neither an E.164 number (+ and %d-%d digits) nor a short code (%d-%d digits)",
			raw, routing.MinDigits, routing.MaxDigits, MinShortCode, MaxShortCode)
	}
	k, _ := numberKey(digits)
	return "+" + digits, k, nil
}

// moNumberKey is the key of an MO's destination as a supplier writes it:
// digits, with or without "+" (or a "00" international prefix).
func moNumberKey(to string) (uint64, bool) {
	d := strings.TrimPrefix(strings.TrimSpace(to), "+")
	return numberKey(d)
}

// NumberOwner returns the tenant owning an MO destination and the number
// as the tenant owns it ("+<digits>" or a short code).
func (s *Service) NumberOwner(to string) (tenantID, number string, ok bool) {
	st := s.state.Load()
	k, valid := moNumberKey(to)
	if !valid {
		return "", "", false
	}
	o, ok := st.numbers.lookup(k)
	if !ok && strings.HasPrefix(to, "00") {
		if k, valid = numberKey(to[2:]); valid {
			o, ok = st.numbers.lookup(k)
		}
	}
	if !ok {
		return "", "", false
	}
	return o.tenant, numberOfKey(k, o.short), true
}

// numberOfKey is a number as its tenant owns it: the digits of a short
// code, else "+<digits>".
func numberOfKey(k uint64, short bool) string {
	digits := strconv.FormatUint(k&(1<<59-1), 10)
	if n := int(k >> 59); len(digits) < n {
		digits = strings.Repeat("0", n-len(digits)) + digits
	}
	if short {
		return digits
	}
	return "+" + digits
}

// numbers is the tenant's list, sorted.
func (t *tenantSnap) numbers() []string {
	if t.Numbers == "" {
		return nil
	}
	return strings.Split(t.Numbers, " ")
}

// numbersMu serialises SetTenantNumbers in this process (a replacement is
// a read-modify-write of the index's bound).
var numbersMu sync.Mutex

// TenantNumbers returns the numbers tenant id owns, sorted.
func (s *Service) TenantNumbers(id string) ([]string, error) {
	t, err := s.tenant(id)
	if err != nil {
		return nil, err
	}
	return orEmptyList(t.numbers()), nil
}

func orEmptyList(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}

// SetTenantNumbers replaces the numbers tenant id owns and returns them as
// recorded (normalised, sorted, each once). A number another tenant owns
// is ErrConflict naming it; a bad number or a list over the bounds is a
// ValidationError. The same list again appends nothing.
func (s *Service) SetTenantNumbers(ctx context.Context, id string, numbers []string) ([]string, error) {
	numbersMu.Lock()
	defer numbersMu.Unlock()
	t, err := s.tenant(id)
	if err != nil {
		return nil, err
	}
	if len(numbers) > MaxTenantNumbers {
		return nil, invalid("numbers", "at most %d numbers per tenant", MaxTenantNumbers)
	}
	st := s.state.Load()
	seen := make(map[uint64]bool, len(numbers))
	list := make([]string, 0, len(numbers))
	for _, raw := range numbers {
		n, k, err := NormalizeNumber(raw)
		if err != nil {
			return nil, err
		}
		if seen[k] {
			continue
		}
		seen[k] = true
		if owner, taken := st.numbers.owner(k); taken && owner != id {
			return nil, fmt.Errorf("number %s belongs to tenant %s: %w", n, owner, ErrConflict)
		}
		list = append(list, n)
	}
	slices.Sort(list)
	if total := st.numbers.size() - len(t.numbers()) + len(list); total > MaxNumbers {
		return nil, invalid("numbers", "the ledger holds at most %d numbers in all (this list would make %d)", MaxNumbers, total)
	}
	joined := strings.Join(list, " ")
	if joined == t.Numbers {
		return orEmptyList(list), nil
	}
	if _, err := s.appendConfig(ctx, events.TenantStream(id), eventstore.StreamExists, nil, events.TenantNumbersChanged{
		TenantID: id, Numbers: joined, Count: len(list), At: s.clock().UTC(),
	}); err != nil {
		return nil, fmt.Errorf("set numbers of %q: %w", id, err)
	}
	// Another tenant (another node) may have claimed one of them first:
	// the log decides (tenantNumbersChanged), and the follower has applied
	// ours by now.
	got, err := s.TenantNumbers(id)
	if err != nil {
		return nil, err
	}
	if len(got) != len(list) {
		for _, n := range list {
			if !slices.Contains(got, n) {
				return got, fmt.Errorf("number %s was claimed by another tenant first: %w", n, ErrConflict)
			}
		}
	}
	return got, nil
}

// tenantNumbersChanged replaces the tenant's numbers in the index. A number
// another tenant owns stays that tenant's (the first claim in the log
// wins, as for system_ids), and one that does not parse (a log written by
// another build) is skipped, both logged; the tenant's list is what it got.
func (f *follower) tenantNumbersChanged(cur, orig *state, e events.TenantNumbersChanged) *state {
	old, ok := cur.tenants[e.TenantID]
	if !ok {
		return cur
	}
	var removed, added []uint64
	var short []bool
	for _, n := range old.numbers() {
		if _, k, err := NormalizeNumber(n); err == nil {
			removed = append(removed, k)
		}
	}
	var got []string
	if e.Numbers != "" {
		for _, raw := range strings.Split(e.Numbers, " ") {
			n, k, err := NormalizeNumber(raw)
			if err != nil {
				f.s.log.Error("ledger: invalid number in TenantNumbersChanged skipped", "tenant", e.TenantID, "number", raw)
				continue
			}
			if owner, taken := cur.numbers.owner(k); taken && owner != e.TenantID {
				f.s.log.Error("ledger: number another tenant owns skipped", "tenant", e.TenantID, "number", n, "owner", owner)
				continue
			}
			added, short = append(added, k), append(short, n[0] != '+')
			got = append(got, n)
		}
	}
	slices.Sort(got)
	got = slices.Compact(got)
	nt := *old
	nt.Numbers = strings.Join(got, " ")
	cur = withTenant(cur, orig, &nt)
	cur.numbers = cur.numbers.with(e.TenantID, removed, added, short)
	return cur
}
