package controls

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"regexp/syntax"
	"strings"
	"testing"

	"github.com/smsledger/smsledger/domain/numbering"
)

func mustCompile(t testing.TB, r Rules) *Set {
	t.Helper()
	s, err := Compile(r)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func code(t testing.TB, mccmnc string) numbering.Code {
	t.Helper()
	c, err := numbering.ParseCode(mccmnc)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestNoRulesPass(t *testing.T) {
	for _, s := range []*Set{nil, mustCompile(t, Rules{})} {
		from, v := Check(s, s, "Acme", 0, "anything at all, http://bit.ly/x")
		if from != "Acme" || v.Refused() {
			t.Errorf("empty sets: %q %+v", from, v)
		}
	}
}

func TestSenderAllow(t *testing.T) {
	tenant := mustCompile(t, Rules{SenderAllow: []string{"ACME", "447700900123", "Süd"}})
	global := mustCompile(t, Rules{SenderAllow: []string{"acme", "447700900123"}})
	for _, tc := range []struct {
		from   string
		global *Set
		want   Verdict
	}{
		{"ACME", nil, Verdict{}},
		{"acme", nil, Verdict{}}, // letters ignore case
		{"AcMe", global, Verdict{}},
		{"SÜD", nil, Verdict{}},
		{"447700900123", global, Verdict{}},
		{"+447700900123", nil, Verdict{Refusal: RefusedSenderNotAllowed, Scope: ScopeTenant, Kind: KindSenderAllow}}, // exact
		{"Other", nil, Verdict{Refusal: RefusedSenderNotAllowed, Scope: ScopeTenant, Kind: KindSenderAllow}},
		{"", nil, Verdict{Refusal: RefusedSenderNotAllowed, Scope: ScopeTenant, Kind: KindSenderAllow}},
		{"Süd", global, Verdict{Refusal: RefusedSenderNotAllowed, Scope: ScopeGlobal, Kind: KindSenderAllow}}, // on every list
	} {
		if _, v := Check(tc.global, tenant, tc.from, 0, "hi"); v != tc.want {
			t.Errorf("from %q: %+v, want %+v", tc.from, v, tc.want)
		}
	}
}

func TestSenderRewritesPerNetwork(t *testing.T) {
	tenant := mustCompile(t, Rules{SenderRewrites: []Rewrite{
		{MCCMNC: "23415", From: "Acme", To: "447700900001"},
		{MCCMNC: "23415", From: "*", To: "447700900002"},
		{MCCMNC: "310410", From: "*", To: "12025550100"},
	}})
	global := mustCompile(t, Rules{SenderRewrites: []Rewrite{
		{MCCMNC: "23415", From: "*", To: "GLOBAL"},
		{MCCMNC: "26201", From: "*", To: "4930000000"},
	}})
	for _, tc := range []struct {
		from, net, want string
	}{
		{"ACME", "23415", "447700900001"}, // first matching rule, case ignored
		{"Other", "23415", "447700900002"},
		{"Other", "310410", "12025550100"}, // 6-digit network
		{"Other", "26201", "4930000000"},   // only the global set has a rule
		{"Other", "20801", "Other"},        // no rule for the network
		{"Other", "", "Other"},             // network unknown
	} {
		var net numbering.Code
		if tc.net != "" {
			net = code(t, tc.net)
		}
		from, v := Check(global, tenant, tc.from, net, "hi")
		if v.Refused() || from != tc.want {
			t.Errorf("%s on %q: %q %+v, want %q", tc.from, tc.net, from, v, tc.want)
		}
	}
	// A refused message keeps its sender.
	blocked := mustCompile(t, Rules{SenderRewrites: []Rewrite{{MCCMNC: "23415", From: "*", To: "X"}}, Keywords: []string{"spam"}})
	if from, v := Check(nil, blocked, "Acme", code(t, "23415"), "SPAM"); from != "Acme" || v.Refusal != RefusedContentBlocked {
		t.Errorf("refused: %q %+v", from, v)
	}
}

func TestKeywords(t *testing.T) {
	tenant := mustCompile(t, Rules{Keywords: []string{"Casino", "free money", "Прибыль"}})
	global := mustCompile(t, Rules{Keywords: []string{"loan"}})
	for _, tc := range []struct {
		text string
		want Verdict
	}{
		{"Your code is 1234", Verdict{}},
		{"Visit our CASINO tonight", Verdict{Refusal: RefusedContentBlocked, Scope: ScopeTenant, Kind: KindKeyword, Rule: "Casino"}},
		{"get FREE MONEY now", Verdict{Refusal: RefusedContentBlocked, Scope: ScopeTenant, Kind: KindKeyword, Rule: "free money"}},
		{"freemoney", Verdict{}},
		{"ваша ПРИБЫЛЬ растёт", Verdict{Refusal: RefusedContentBlocked, Scope: ScopeTenant, Kind: KindKeyword, Rule: "Прибыль"}},
		{"payday loans", Verdict{Refusal: RefusedContentBlocked, Scope: ScopeGlobal, Kind: KindKeyword, Rule: "loan"}},
		{strings.Repeat("x", 5000) + "casino", Verdict{Refusal: RefusedContentBlocked, Scope: ScopeTenant, Kind: KindKeyword, Rule: "Casino"}},
	} {
		if _, v := Check(global, tenant, "a", 0, tc.text); v != tc.want {
			t.Errorf("%.40q: %+v, want %+v", tc.text, v, tc.want)
		}
	}
}

func TestPatterns(t *testing.T) {
	s := mustCompile(t, Rules{Patterns: []string{`(?i)win\s+\$?\d+`, `^STOP$`, `\b\d{16}\b`}})
	for _, tc := range []struct {
		text string
		rule string
	}{
		{"You WIN $500 today", `(?i)win\s+\$?\d+`},
		{"STOP", `^STOP$`},
		{"stop", ""},            // a pattern keeps its own case rules
		{"please STOP now", ""}, // anchors stay the pattern's own
		{"card 4111111111111111 ok", `\b\d{16}\b`},
		{"winner 5", ""},
	} {
		_, v := Check(nil, s, "a", 0, tc.text)
		if v.Rule != tc.rule || (tc.rule != "") != (v.Kind == KindPattern) {
			t.Errorf("%q: %+v, want rule %q", tc.text, v, tc.rule)
		}
	}
}

func TestURLDomains(t *testing.T) {
	s := mustCompile(t, Rules{URLDomains: []string{"bit.ly", "Evil.example", "zip", "пример.рф"}})
	for _, tc := range []struct {
		text string
		rule string
	}{
		{"see bit.ly/abc", "bit.ly"},
		{"see https://BIT.LY/abc", "bit.ly"},
		{"see http://go.bit.ly:8080/x?y=z", "bit.ly"},
		{"mail me@evil.example.", "Evil.example"},
		{"(www.evil.example)", "Evil.example"},
		{"download x.zip now", "zip"}, // a top-level domain blocks its names
		{"zip it", ""},                // a word is not a host
		{"notbit.ly/x", ""},           // not a subdomain
		{"bit.lyx/y", ""},
		{"evil.example.com", ""}, // another domain
		{"idn http://сайт.пример.рф/", "пример.рф"},
		{"price 10.50 EUR, see you at 9.30", ""},
		{"", ""},
	} {
		_, v := Check(s, nil, "a", 0, tc.text)
		if v.Rule != tc.rule || (tc.rule != "") != (v.Kind == KindURLDomain) {
			t.Errorf("%q: %+v, want rule %q", tc.text, v, tc.rule)
		}
		if v.Refused() && v.Scope != ScopeGlobal {
			t.Errorf("%q: scope %q", tc.text, v.Scope)
		}
	}
}

func TestVerdictString(t *testing.T) {
	for _, tc := range []struct {
		v    Verdict
		want string
	}{
		{Verdict{}, ""},
		{Verdict{Refusal: RefusedContentBlocked, Scope: ScopeTenant, Kind: KindKeyword, Rule: "casino"}, "tenant keyword: casino"},
		{Verdict{Refusal: RefusedSenderNotAllowed, Scope: ScopeGlobal, Kind: KindSenderAllow}, "global sender_allow"},
		{Verdict{Refusal: RefusedDuplicate, Kind: KindDuplicateWindow, Rule: "300s"}, "duplicate_window: 300s"},
	} {
		if got := tc.v.String(); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.v, got, tc.want)
		}
	}
	for _, r := range []Refusal{RefusedSenderNotAllowed, RefusedContentBlocked, RefusedDestinationRateLimited, RefusedDuplicate} {
		if got := RefusalOf(fmt.Errorf("x: %w", r.Err())); got != r {
			t.Errorf("RefusalOf(%s) = %q", r, got)
		}
	}
	if RefusalOf(errors.New("other")) != "" || Refusal("").Err() != nil {
		t.Error("no refusal")
	}
}

func TestCompileErrorsNameTheRule(t *testing.T) {
	long := strings.Repeat("a", 1001)
	many := func(n int, f func(int) string) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = f(i)
		}
		return out
	}
	for _, tc := range []struct {
		r     Rules
		field string
	}{
		{Rules{SenderAllow: []string{"ok", ""}}, "sender_allow[1]"},
		{Rules{SenderAllow: []string{strings.Repeat("x", 65)}}, "sender_allow[0]"},
		{Rules{SenderAllow: many(MaxSenders+1, func(i int) string { return fmt.Sprint(i) })}, "sender_allow"},
		{Rules{SenderRewrites: []Rewrite{{MCCMNC: "2341", From: "*", To: "x"}}}, "sender_rewrites[0].mccmnc"},
		{Rules{SenderRewrites: []Rewrite{{MCCMNC: "23415", From: "", To: "x"}}}, "sender_rewrites[0].from"},
		{Rules{SenderRewrites: []Rewrite{{MCCMNC: "23415", From: "*", To: ""}}}, "sender_rewrites[0].to"},
		{Rules{Keywords: []string{"a", " "}}, "keywords[1]"},
		{Rules{Keywords: []string{strings.Repeat("k", MaxKeywordLen+1)}}, "keywords[0]"},
		{Rules{Keywords: []string{"\xff"}}, "keywords[0]"},
		{Rules{Keywords: many(MaxKeywords+1, func(i int) string { return fmt.Sprint("k", i) })}, "keywords"},
		{Rules{Patterns: []string{"ok", "("}}, "patterns[1]"},
		{Rules{Patterns: []string{long}}, "patterns[0]"},
		{Rules{Patterns: many(MaxPatterns+1, func(i int) string { return fmt.Sprint("p", i) })}, "patterns"},
		{Rules{URLDomains: []string{"https://bit.ly"}}, "url_domains[0]"},
		{Rules{URLDomains: []string{"bit.ly/x"}}, "url_domains[0]"},
		{Rules{URLDomains: []string{"a..b"}}, "url_domains[0]"},
		{Rules{URLDomains: []string{strings.Repeat("a.", 127) + "com"}}, "url_domains[0]"},
		{Rules{URLDomains: many(MaxURLDomains+1, func(i int) string { return fmt.Sprint("d", i, ".com") })}, "url_domains"},
	} {
		_, err := Compile(tc.r)
		var re *RuleError
		if !errors.As(err, &re) || re.Field != tc.field || !errors.Is(err, ErrInvalidRules) {
			t.Errorf("want an error naming %s, got %v", tc.field, err)
		}
	}
	_, err := Compile(Rules{Patterns: []string{"a(b"}})
	if err == nil || !strings.Contains(err.Error(), "missing closing )") || !strings.Contains(err.Error(), `"a(b"`) {
		t.Errorf("a bad pattern's error names it and RE2's reason: %v", err)
	}
	// At the bounds it compiles.
	if _, err := Compile(Rules{
		Keywords:   many(MaxKeywords, func(i int) string { return fmt.Sprint("kw", i) }),
		URLDomains: many(MaxURLDomains, func(i int) string { return fmt.Sprint("d", i, ".com") }),
		Patterns:   many(MaxPatterns, func(i int) string { return fmt.Sprintf("p%d\\d+", i) }),
	}); err != nil {
		t.Fatal(err)
	}
}

func TestRulesReadBack(t *testing.T) {
	r := Rules{SenderAllow: []string{"Acme"}, SenderRewrites: []Rewrite{{MCCMNC: "23415", From: "*", To: "x"}},
		Keywords: []string{"Casino"}, Patterns: []string{"a+"}, URLDomains: []string{"Bit.ly"}}
	s := mustCompile(t, r)
	got := s.Rules()
	if fmt.Sprint(got) != fmt.Sprint(r) {
		t.Errorf("%+v, want %+v", got, r)
	}
	got.Keywords[0] = "changed"
	if s.Rules().Keywords[0] != "Casino" {
		t.Error("Rules shares its slices")
	}
	if (*Set)(nil).Rules().Keywords != nil || !(*Set)(nil).Empty() || s.Empty() {
		t.Error("nil set")
	}
}

// Check allocates nothing when nothing matches, with every kind of rule
// in both sets, for a single-part text, a long one and a non-ASCII one.
func TestCheckAllocatesNothing(t *testing.T) {
	global, tenant := benchSets(t, 1000)
	net := code(t, "23415")
	for _, text := range []string{
		benchText,
		strings.Repeat(benchText+" ", 20),
		"Ваш код 1234. Не сообщайте его никому. Подробнее на сайт.рф/x",
	} {
		allocs := testing.AllocsPerRun(200, func() {
			if _, v := Check(global, tenant, "Acme", net, text); v.Refused() {
				t.Fatalf("refused: %+v", v)
			}
		})
		if allocs != 0 {
			t.Errorf("%.20q: %v allocations", text, allocs)
		}
	}
}

// FuzzCheck: any text and sender is checked without panicking; a keyword
// verdict agrees with a plain search of the folded text, and every refusal
// names a rule that is in the set.
func FuzzCheck(f *testing.F) {
	f.Add("Acme", "visit casino.example.com now")
	f.Add("x", "WIN $100 \xff\xfe bit.ly/…")
	f.Add("", "")
	f.Add("ACME", "ÀÉÎ İstanbul ǅ ﬀ ..com. -.-")
	kws := []string{"casino", "win", "ǆ", "ﬀ", "istanbul"}
	s, err := Compile(Rules{SenderAllow: []string{"acme", "x"}, Keywords: kws,
		Patterns: []string{`\d{3,}`}, URLDomains: []string{"bit.ly", "com"}})
	if err != nil {
		f.Fatal(err)
	}
	kwOnly, err := Compile(Rules{Keywords: kws})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, from, text string) {
		_, v := Check(nil, s, from, 0, text)
		if v.Refused() && v.Kind != KindSenderAllow && v.Rule == "" {
			t.Fatalf("refusal without a rule: %+v", v)
		}
		folded := fold(nil, text)
		want := false
		for _, k := range kws {
			want = want || bytes.Contains(folded, fold(nil, k))
		}
		_, kv := Check(nil, kwOnly, from, 0, text)
		if kv.Refused() != want {
			t.Fatalf("keywords on %q: %+v, a plain search says %v", text, kv, want)
		}
		if v.Kind == KindURLDomain && !bytes.Contains(folded, []byte(v.Rule)) {
			t.Fatalf("domain %q not in %q", v.Rule, text)
		}
		// blockedHost skips the dots that end words; looking at the run
		// around every dot must find the same.
		_, got := s.blockedHost(folded)
		want = false
		for p := range folded {
			if folded[p] == '.' {
				start, end := hostAround(folded, p)
				_, found := s.domainOf(folded[start:end])
				want = want || found
			}
		}
		if got != want {
			t.Fatalf("blocked host in %q: %v, every dot's run says %v", text, got, want)
		}
	})
}

func TestPatternAtoms(t *testing.T) {
	for _, tc := range []struct {
		pattern string
		want    string // atoms joined by |; "" none
	}{
		{`(?i)win\s+\$?\d+`, "win"},
		{`(?i)(free|cheap)\s+pills`, "free|cheap"},
		{`(?i)pills`, "pill"}, // the 's' folds with the long s: cut there
		{`Casino`, "casino"},  // exact letters are safe to fold
		{`(?i)Kelvin`, "kelvin"},
		{`\d{16}`, ""},
		{`(?i)(free|\d+) money`, " money"},
		{`(ab)+c?`, "ab"},
		{`(ab)*`, ""},
		{`x{2,}yz`, "yz"},
		{`a|b*`, ""},
	} {
		tree, err := syntax.Parse(tc.pattern, syntax.Perl)
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(atoms(tree), "|"); got != tc.want {
			t.Errorf("%s: atoms %q, want %q", tc.pattern, got, tc.want)
		}
	}
}

// FuzzPatterns: the prefiltered patterns refuse exactly the texts one of
// the regexps matches when run plainly.
func FuzzPatterns(f *testing.F) {
	pats := []string{`(?i)ssn\s*\d`, `(?i)kelvin`, `(?i)straße`, `colou?r`, `(?i)(free|cheap)\s+pills`,
		`\d{16}`, `(?i)ǅx`, `(?i)ab+c`, `^(?i)stop$`, `x\x{FFFD}y`}
	f.Add("SSN 1")
	f.Add("ſſn1")
	f.Add("\u212Aelvin")
	f.Add("STRASSE straße STRAẞE")
	f.Add("Cheap   PILLS")
	f.Add("ǄX ǆx")
	f.Add("stop")
	f.Add("x\xffy")
	s, err := Compile(Rules{Patterns: pats})
	if err != nil {
		f.Fatal(err)
	}
	mixedKeywords := []string{"ree", "ab", "kelvin", "top"}
	mixed, err := Compile(Rules{Keywords: mixedKeywords, Patterns: pats})
	if err != nil {
		f.Fatal(err)
	}
	var res []*regexp.Regexp
	for _, p := range pats {
		res = append(res, regexp.MustCompile(p))
	}
	f.Fuzz(func(t *testing.T, text string) {
		want := ""
		for i, re := range res {
			if re.MatchString(text) {
				want = pats[i]
				break
			}
		}
		if _, v := Check(nil, s, "", 0, text); v.Rule != want {
			t.Fatalf("%q: %+v, want rule %q", text, v, want)
		}
		// With keywords in the same scan as the atoms: a keyword first,
		// else the same pattern.
		kw := ""
		for _, k := range mixedKeywords {
			if bytes.Contains(fold(nil, text), []byte(k)) {
				kw = k
			}
		}
		_, v := Check(nil, mixed, "", 0, text)
		if (kw != "") != (v.Kind == KindKeyword) || (kw == "" && v.Rule != want) {
			t.Fatalf("%q with keywords: %+v, want keyword %q or rule %q", text, v, kw, want)
		}
	})
}

// FuzzFold: the eight-bytes-at-a-time ASCII fold gives what the byte-by-
// byte one does, for any text, any length and any place of a non-ASCII
// byte.
func FuzzFold(f *testing.F) {
	for _, s := range []string{"", "ABCDEFGH", "Your Code IS 123456 @[`{ AZaz", "ÀÉÎ İstanbul", "12345678É", "\xff\x80ABCDEFGHIJ"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := fold([]byte("x"), s), foldRunes([]byte("x"), s); !bytes.Equal(got, want) {
			t.Fatalf("fold(%q) = %q, byte by byte %q", s, got, want)
		}
	})
}
