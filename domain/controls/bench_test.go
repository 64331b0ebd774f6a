package controls

import (
	"fmt"
	"math/rand/v2"
	"regexp"
	"runtime"
	"strings"
	"testing"
)

const benchText = "Your verification code is 123456. It expires in 10 minutes. Do not share it with anyone."

// words makes n distinct lower-case words of 5-12 letters, none of which
// occurs in benchText.
func words(n int, seed uint64) []string {
	r := rand.New(rand.NewPCG(seed, seed))
	seen := map[string]bool{}
	out := make([]string, 0, n)
	for len(out) < n {
		b := make([]byte, 5+r.IntN(8))
		for j := range b {
			b[j] = byte('a' + r.IntN(26))
		}
		w := string(b)
		if !seen[w] && !strings.Contains(strings.ToLower(benchText), w) {
			seen[w] = true
			out = append(out, w)
		}
	}
	return out
}

// benchSets: a global set (n keywords, 1,000 URL domains, 10 patterns)
// and a tenant's (an allow-list, rewrites, n/10 keywords, 100 domains, 2
// patterns), none matching benchText from "Acme".
func benchSets(tb testing.TB, n int) (global, tenant *Set) {
	tb.Helper()
	domains := func(k int, seed uint64) []string {
		out := words(k, seed)
		for i := range out {
			out[i] += ".example"
		}
		return out
	}
	var pats []string
	for i := range 10 {
		pats = append(pats, fmt.Sprintf(`(?i)bonus%d\s+\d+`, i))
	}
	global = mustCompile(tb, Rules{Keywords: words(n, 1), URLDomains: domains(1000, 2), Patterns: pats})
	tenant = mustCompile(tb, Rules{
		SenderAllow:    []string{"Acme", "447700900123"},
		SenderRewrites: []Rewrite{{MCCMNC: "23415", From: "*", To: "447700900999"}},
		Keywords:       words(max(n/10, 1), 3), URLDomains: domains(100, 4), Patterns: pats[:2],
	})
	return global, tenant
}

// BenchmarkCheck: one message through every rule kind of both sets,
// nothing matching — the hot path's added cost per accepted message.
func BenchmarkCheck(b *testing.B) {
	for _, n := range []int{100, 10_000} {
		global, tenant := benchSets(b, n)
		net := code(b, "23415")
		for name, t := range map[string]*Set{"global": nil, "global+tenant": tenant} {
			b.Run(fmt.Sprintf("%s/keywords=%d", name, n), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if _, v := Check(global, t, "Acme", net, benchText); v.Refused() {
						b.Fatal(v)
					}
				}
			})
		}
	}
	b.Run("no-rules", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			Check(nil, nil, "Acme", 0, benchText)
		}
	})
}

// BenchmarkKeywordMatchers compares the ways to find any of n keywords in
// a folded single-part text (the choice of the Aho–Corasick automaton):
// a strings.Contains loop, one RE2 alternation, and the automaton.
func BenchmarkKeywordMatchers(b *testing.B) {
	folded := fold(nil, benchText)
	for _, n := range []int{100, 10_000} {
		kws := words(n, 1)
		b.Run(fmt.Sprintf("contains/%d", n), func(b *testing.B) {
			b.ReportAllocs()
			text := string(folded)
			for b.Loop() {
				for _, k := range kws {
					if strings.Contains(text, k) {
						b.Fatal(k)
					}
				}
			}
		})
		quoted := make([]string, n)
		for i, k := range kws {
			quoted[i] = regexp.QuoteMeta(k)
		}
		re := regexp.MustCompile(strings.Join(quoted, "|"))
		b.Run(fmt.Sprintf("re2/%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if re.Match(folded) {
					b.Fatal("match")
				}
			}
		})
		s := mustCompile(b, Rules{Keywords: kws})
		b.Run(fmt.Sprintf("ahocorasick/%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, ok := s.keywords.Find(folded, 0); ok {
					b.Fatal("match")
				}
			}
		})
	}
}

// TestSetMemory reports what a Set at the bounds holds in memory
// (go test -v -run SetMemory).
func TestSetMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("memory measurement")
	}
	for _, n := range []int{100, MaxKeywords} {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		s, err := Compile(Rules{Keywords: words(n, 9)})
		if err != nil {
			t.Fatal(err)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		t.Logf("%d keywords: %.1f MB, %d automaton states", n, float64(after.HeapAlloc-before.HeapAlloc)/1e6, s.scan.StateCount())
		runtime.KeepAlive(s)
	}
}
