package prefix

import (
	"errors"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
)

func TestLookupLongestPrefix(t *testing.T) {
	tab, err := New([]Entry[string]{
		{"44", "uk"}, {"447", "uk-mobile"}, {"4477", "uk-mobile-77"}, {"1", "nanp"}, {"33", "fr"},
	})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		digits string
		want   string
		n      int
		ok     bool
	}{
		{"447700900123", "uk-mobile-77", 4, true},
		{"447900900123", "uk-mobile", 3, true},
		{"442079460000", "uk", 2, true},
		{"12125550100", "nanp", 1, true},
		{"33612345678", "fr", 2, true},
		{"4", "", 0, false},
		{"49301234567", "", 0, false},
		{"", "", 0, false},
		{"44x77", "uk", 2, true}, // a non-digit stops the walk
	}
	for _, c := range cases {
		got, n, ok := tab.Lookup(c.digits)
		if got != c.want || n != c.n || ok != c.ok {
			t.Errorf("Lookup(%q) = %q,%d,%v want %q,%d,%v", c.digits, got, n, ok, c.want, c.n, c.ok)
		}
	}
}

func TestEmptyPrefixIsDefault(t *testing.T) {
	tab, err := New([]Entry[int]{{"", 1}, {"9", 2}})
	if err != nil {
		t.Fatal(err)
	}
	if v, n, ok := tab.Lookup("123"); v != 1 || n != 0 || !ok {
		t.Fatalf("default: %v %v %v", v, n, ok)
	}
	if v, n, ok := tab.Lookup("91"); v != 2 || n != 1 || !ok {
		t.Fatalf("9: %v %v %v", v, n, ok)
	}
}

func TestNewErrors(t *testing.T) {
	cases := []struct {
		entries []Entry[int]
		want    error
	}{
		{[]Entry[int]{{"12a", 1}}, ErrInvalidPrefix},
		{[]Entry[int]{{"+44", 1}}, ErrInvalidPrefix},
		{[]Entry[int]{{strings.Repeat("1", MaxLen+1), 1}}, ErrInvalidPrefix},
		{[]Entry[int]{{"44", 1}, {"44", 2}}, ErrDuplicatePrefix},
	}
	for i, c := range cases {
		if _, err := New(c.entries); !errors.Is(err, c.want) {
			t.Errorf("case %d: err %v, want %v", i, err, c.want)
		}
	}
}

func TestNilAndEmpty(t *testing.T) {
	var tab *Table[int]
	if _, _, ok := tab.Lookup("44"); ok || tab.Len() != 0 {
		t.Fatal("nil table matched")
	}
	empty, err := New[int](nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, ok := empty.Lookup("44"); ok {
		t.Fatal("empty table matched")
	}
}

// TestMatchesBruteForce compares Lookup with a linear scan over random
// tables and numbers.
func TestMatchesBruteForce(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 11))
	for round := 0; round < 20; round++ {
		seen := map[string]bool{}
		var entries []Entry[int]
		for len(entries) < 500 {
			p := strconv.Itoa(10_000 + r.IntN(90_000))[:1+r.IntN(4)]
			if r.IntN(50) == 0 {
				p = ""
			}
			if seen[p] {
				continue
			}
			seen[p] = true
			entries = append(entries, Entry[int]{p, len(entries)})
		}
		tab, err := New(entries)
		if err != nil {
			t.Fatal(err)
		}
		if tab.Len() != len(entries) {
			t.Fatalf("Len %d", tab.Len())
		}
		for q := 0; q < 2000; q++ {
			num := strconv.FormatUint(r.Uint64N(1e12), 10)
			wantV, wantN, wantOK := -1, -1, false
			for _, e := range entries {
				if strings.HasPrefix(num, e.Prefix) && len(e.Prefix) > wantN {
					wantV, wantN, wantOK = e.Value, len(e.Prefix), true
				}
			}
			v, n, ok := tab.Lookup(num)
			if ok != wantOK || (ok && (v != wantV || n != wantN)) {
				t.Fatalf("Lookup(%s) = %d,%d,%v want %d,%d,%v", num, v, n, ok, wantV, wantN, wantOK)
			}
		}
	}
}
