package numbering_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"

	"github.com/smsledger/smsledger/domain/numbering"
)

func code(t testing.TB, s string) numbering.Code {
	t.Helper()
	c, err := numbering.ParseCode(s)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestCode(t *testing.T) {
	for _, s := range []string{"26201", "262001", "00101", "310410", "99999", "999999", "00000"} {
		c := code(t, s)
		if !c.Known() || c.String() != s || c.MCC()+c.MNC() != s {
			t.Errorf("%s: %v known=%v mcc=%s mnc=%s", s, c, c.Known(), c.MCC(), c.MNC())
		}
	}
	if code(t, "26201") == code(t, "262001") {
		t.Error("26201 and 262001 are different networks")
	}
	for _, bad := range []string{"", "2620", "2620011", "26a01", "+26201", " 26201"} {
		if _, err := numbering.ParseCode(bad); !errors.Is(err, numbering.ErrInvalidMCCMNC) {
			t.Errorf("%q: %v, want ErrInvalidMCCMNC", bad, err)
		}
	}
	var zero numbering.Code
	if zero.Known() || zero.String() != "" {
		t.Error("the zero Code names no network")
	}
}

func TestPlanAndPortability(t *testing.T) {
	plan, err := numbering.NewPlan([]numbering.Row{
		{Prefix: "49", MCC: "262", MNC: "99", Country: "DE", Operator: "Germany other"},
		{Prefix: "49151", MCC: "262", MNC: "01", Country: "DE", Operator: "Telekom"},
		{Prefix: "49160", MCC: "262", MNC: "01", Country: "DE", Operator: "Telekom"},
		{Prefix: "49152", MCC: "262", MNC: "02", Country: "DE", Operator: "Vodafone"},
		{Prefix: "44", MCC: "234", MNC: "15", Country: "GB", Operator: "Vodafone UK"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if plan.Rows() != 5 || plan.Networks() != 4 {
		t.Fatalf("rows %d networks %d", plan.Rows(), plan.Networks())
	}
	ported, err := numbering.NewPorted([]numbering.PortedNumber{
		{MSISDN: "4915112345678", Code: code(t, "26202")}, // Telekom range, now Vodafone
		{MSISDN: "4915112345679", Code: code(t, "26201")},
		{MSISDN: "4915112345679", Code: code(t, "26203")}, // listed again: the last wins
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		to       string
		mccmnc   string
		operator string
		source   numbering.Source
	}{
		{"4915199999999", "26201", "Telekom", numbering.SourcePlan},
		{"4916012345678", "26201", "Telekom", numbering.SourcePlan},
		{"4915212345678", "26202", "Vodafone", numbering.SourcePlan},
		{"4930123456", "26299", "Germany other", numbering.SourcePlan},
		{"4915112345678", "26202", "Vodafone", numbering.SourcePorted},
		{"4915112345679", "26203", "", numbering.SourcePorted}, // a network the plan does not name
		{"447700900123", "23415", "Vodafone UK", numbering.SourcePlan},
		{"33612345678", "", "", numbering.SourceNone},
	} {
		n, src := numbering.Resolve(plan, ported, tc.to)
		if n.Code.String() != tc.mccmnc || n.Operator != tc.operator || src != tc.source {
			t.Errorf("%s: %s %q %v, want %s %q %v", tc.to, n.Code, n.Operator, src, tc.mccmnc, tc.operator, tc.source)
		}
	}
	// Without tables every number is unknown.
	if n, src := numbering.Resolve(nil, nil, "4915112345678"); n.Code.Known() || src != numbering.SourceNone {
		t.Errorf("no tables: %v %v", n, src)
	}
}

func TestPlanRefusesContradictions(t *testing.T) {
	for name, rows := range map[string][]numbering.Row{
		"same prefix twice": {{Prefix: "49", MCC: "262", MNC: "01"}, {Prefix: "49", MCC: "262", MNC: "02"}},
		"network renamed":   {{Prefix: "49151", MCC: "262", MNC: "01", Operator: "Telekom"}, {Prefix: "49160", MCC: "262", MNC: "01", Operator: "T-Mobile"}},
		"empty prefix":      {{Prefix: "", MCC: "262", MNC: "01"}},
		"bad prefix":        {{Prefix: "49x", MCC: "262", MNC: "01"}},
		"bad mnc":           {{Prefix: "49", MCC: "262", MNC: "1"}},
	} {
		if _, err := numbering.NewPlan(rows); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := numbering.NewPorted([]numbering.PortedNumber{{MSISDN: "0049151", Code: code(t, "26201")}}); !errors.Is(err, numbering.ErrInvalidNumber) {
		t.Errorf("a number starting with 0: %v", err)
	}
}

func TestReadCSV(t *testing.T) {
	rows, err := numbering.ReadPlanCSV(strings.NewReader("\ufeffPrefix, MCC, MNC, Country, Operator\n+49151,262,01,DE,Telekom\n49152,262,02,DE,\"Vodafone, GmbH\"\n"), 10)
	if err != nil || len(rows) != 2 || rows[0].Prefix != "49151" || rows[1].Operator != "Vodafone, GmbH" {
		t.Fatalf("plan: %+v %v", rows, err)
	}
	nums, err := numbering.ReadPortedCSV(strings.NewReader("msisdn,mccmnc\n+4915112345678,26202\n"), 10)
	if err != nil || len(nums) != 1 || nums[0].MSISDN != "4915112345678" || nums[0].Code.String() != "26202" {
		t.Fatalf("ported: %+v %v", nums, err)
	}
	for _, tc := range []struct{ in, line string }{
		{"", "line 1"},
		{"prefix,mcc\n49,262\n", "line 1"},
		{numbering.PlanHeader + "\n49,262,01,DE,T\n49x,262,01,DE,T\n", "line 3"},
		{numbering.PlanHeader + "\n49,262,1,DE,T\n", "line 2"},
		{numbering.PlanHeader + "\n49,262,01\n", "line 2"},
		{numbering.PlanHeader + "\n1,262,01,,\n2,262,01,,\n3,262,01,,\n", "line 4"}, // over maxRows 2
		{numbering.PlanHeader + "\n\"49,262,01,DE,T\n", "line 2"},
		{numbering.PlanHeader + "\n49,262,01,DE,T\n\n\n49x,262,01,DE,T\n", "line 5"}, // blank lines counted
	} {
		_, err := numbering.ReadPlanCSV(strings.NewReader(tc.in), 2)
		if !errors.Is(err, numbering.ErrCSV) || !strings.Contains(err.Error(), tc.line) {
			t.Errorf("%q: %v, want an error naming %s", tc.in, err, tc.line)
		}
	}
	if _, err := numbering.ReadPortedCSV(strings.NewReader("msisdn,mccmnc\n4915112345678,2620\n"), 10); !errors.Is(err, numbering.ErrCSV) || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("bad mccmnc: %v", err)
	}
}

func FuzzReadPlanCSV(f *testing.F) {
	f.Add(numbering.PlanHeader + "\n49151,262,01,DE,Telekom\n49152,262,02,DE,Vodafone\n")
	f.Add(numbering.PlanHeader + "\n\"4\"\"9\",262,01,,\n")
	f.Add("prefix\n")
	f.Fuzz(func(t *testing.T, in string) {
		rows, err := numbering.ReadPlanCSV(strings.NewReader(in), 1000)
		if err != nil {
			if !errors.Is(err, numbering.ErrCSV) {
				t.Fatalf("error without ErrCSV: %v", err)
			}
			return
		}
		// Every row read is valid on its own: a plan of it either builds or
		// names a contradiction between rows, and each row's prefix then
		// resolves to a network with its code.
		plan, err := numbering.NewPlan(rows)
		if err != nil {
			return
		}
		for _, r := range rows {
			n, _, ok := plan.Lookup(r.Prefix)
			if !ok || n.Code.MCC() != r.MCC || n.Code.MNC() != r.MNC {
				t.Fatalf("row %+v resolves to %+v %v", r, n, ok)
			}
		}
	})
}

func FuzzReadPortedCSV(f *testing.F) {
	f.Add(numbering.PortedHeader + "\n4915112345678,26202\n")
	f.Fuzz(func(t *testing.T, in string) {
		nums, err := numbering.ReadPortedCSV(strings.NewReader(in), 1000)
		if err != nil {
			if !errors.Is(err, numbering.ErrCSV) {
				t.Fatalf("error without ErrCSV: %v", err)
			}
			return
		}
		p, err := numbering.NewPorted(nums)
		if err != nil {
			t.Fatalf("rows read but not a table: %v", err)
		}
		last := map[string]numbering.Code{}
		for _, n := range nums {
			last[n.MSISDN] = n.Code
		}
		for msisdn, c := range last {
			if got, ok := p.Lookup(msisdn); !ok || got != c {
				t.Fatalf("%s: %v %v, want %v", msisdn, got, ok, c)
			}
		}
	})
}

// fixture is a plan of rows ranges under 40 country codes and a
// portability table of ported numbers inside those ranges.
func fixture(tb testing.TB, rows, ported int) (*numbering.Plan, *numbering.Ported, []string) {
	tb.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	plan := make([]numbering.Row, 0, rows)
	seen := make(map[string]bool, rows)
	for len(plan) < rows {
		cc := 30 + rng.IntN(40)
		p := fmt.Sprintf("%d%d", cc, rng.IntN(1_000_000))
		if seen[p] {
			continue
		}
		seen[p] = true
		mnc := rng.IntN(100)
		plan = append(plan, numbering.Row{Prefix: p, MCC: fmt.Sprintf("%03d", 200+cc), MNC: fmt.Sprintf("%02d", mnc),
			Country: fmt.Sprintf("C%d", cc), Operator: fmt.Sprintf("Op %d-%d", cc, mnc)})
	}
	pl, err := numbering.NewPlan(plan)
	if err != nil {
		tb.Fatal(err)
	}
	nums := make([]numbering.PortedNumber, ported)
	dests := make([]string, 0, 4096)
	for i := range nums {
		r := plan[rng.IntN(len(plan))]
		msisdn := r.Prefix + fmt.Sprintf("%07d", rng.IntN(10_000_000))
		if len(msisdn) > 15 {
			msisdn = msisdn[:15]
		}
		nums[i] = numbering.PortedNumber{MSISDN: msisdn, Code: code(tb, fmt.Sprintf("%03d%02d", 200+30+rng.IntN(40), rng.IntN(100)))}
		if len(dests) < cap(dests)/2 {
			dests = append(dests, msisdn)
		}
	}
	for len(dests) < cap(dests) { // half ported, half plain range numbers
		r := plan[rng.IntN(len(plan))]
		dests = append(dests, r.Prefix+fmt.Sprintf("%06d", rng.IntN(1_000_000)))
	}
	pt, err := numbering.NewPorted(nums)
	if err != nil {
		tb.Fatal(err)
	}
	return pl, pt, dests
}

// BenchmarkResolve: the hot path's network lookup against a 200,000-row
// plan and 1,000,000 ported numbers (issue 17's fixture); half the
// destinations are ported. It reports the tables' heap bytes.
func BenchmarkResolve(b *testing.B) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	plan, ported, dests := fixture(b, 200_000, 1_000_000)
	runtime.GC()
	runtime.ReadMemStats(&after)
	b.ReportAllocs()
	b.ResetTimer()
	known := 0
	for i := 0; b.Loop(); i++ {
		if n, _ := numbering.Resolve(plan, ported, dests[i&(len(dests)-1)]); n.Code.Known() {
			known++
		}
	}
	if known == 0 {
		b.Fatal("nothing resolved")
	}
	b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/(1<<20), "MiB-tables")
	runtime.KeepAlive(plan)
	runtime.KeepAlive(ported)
}

// The flat portability table answers as a map would: random numbers of
// 1–15 digits, many listed twice (the last network wins), lookups of
// numbers present and absent, across table sizes that wrap their probes.
func TestPortedMatchesAMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	codes := []numbering.Code{code(t, "26201"), code(t, "26202"), code(t, "310410"), code(t, "23415")}
	for _, n := range []int{0, 1, 7, 8, 9, 100, 5_000} {
		var nums []numbering.PortedNumber
		want := map[string]numbering.Code{}
		msisdn := func() string {
			d := []byte{byte('1' + rng.IntN(9))}
			for l := 1 + rng.IntN(15); len(d) < l; {
				d = append(d, byte('0'+rng.IntN(10)))
			}
			return string(d)
		}
		for range n {
			m := msisdn()
			if len(nums) > 0 && rng.IntN(4) == 0 {
				m = nums[rng.IntN(len(nums))].MSISDN // listed again
			}
			c := codes[rng.IntN(len(codes))]
			nums = append(nums, numbering.PortedNumber{MSISDN: m, Code: c})
			want[m] = c
		}
		p, err := numbering.NewPorted(nums)
		if err != nil {
			t.Fatal(err)
		}
		if p.Len() != len(want) {
			t.Errorf("%d lines: Len %d, want %d", n, p.Len(), len(want))
		}
		for m, c := range want {
			if got, ok := p.Lookup(m); !ok || got != c {
				t.Fatalf("%d lines: %s → %v %v, want %v", n, m, got, ok, c)
			}
		}
		for range 1_000 {
			m := msisdn()
			got, ok := p.Lookup(m)
			if c, listed := want[m]; ok != listed || got != c {
				t.Fatalf("%d lines: %s → %v %v, want %v %v", n, m, got, ok, c, listed)
			}
		}
		for _, bad := range []string{"", "0123", "12a4", "1234567890123456"} {
			if _, ok := p.Lookup(bad); ok {
				t.Errorf("%q found", bad)
			}
		}
	}
}

// A table names at most 16,384 distinct networks; the next is refused.
func TestPortedBoundsNetworks(t *testing.T) {
	var nums []numbering.PortedNumber
	for i := range 1<<14 + 1 {
		nums = append(nums, numbering.PortedNumber{MSISDN: fmt.Sprintf("49%09d", i), Code: code(t, fmt.Sprintf("%06d", 100000+i))})
	}
	if _, err := numbering.NewPorted(nums[:1<<14]); err != nil {
		t.Fatalf("16,384 networks: %v", err)
	}
	if _, err := numbering.NewPorted(nums); !errors.Is(err, numbering.ErrTooManyNetworks) || !strings.Contains(err.Error(), "number 16385") {
		t.Fatalf("16,385 networks: %v, want ErrTooManyNetworks naming the number", err)
	}
}
