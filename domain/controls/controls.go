// Package controls decides, before a message is accepted, whether its
// sender and its text may pass: sender-ID rules (an allow-list and
// per-network rewrites) and content rules (keyword, regular-expression and
// URL-domain blocklists). Suppliers cut off aggregators whose traffic
// carries spam or unregistered senders, so these refusals protect every
// tenant's routes.
//
// A Set is compiled once from Rules when an operator changes them and is
// immutable, so Check takes no lock; the hot path calls Check with the
// global set and the tenant's (either may be nil) and it allocates nothing
// when no rule matches. The stateful controls (per-destination rate limit,
// duplicate suppression) keep counters and live in the ledger; their
// refusal codes and errors are here so that every adapter maps all four
// the same way.
package controls

import (
	"errors"
	"fmt"
	"regexp"
	"regexp/syntax"
	"strings"
	"unicode/utf8"

	"github.com/coregx/ahocorasick"
	"github.com/smsledger/smsledger/domain/numbering"
)

// Rules is one set of controls as an operator writes it: the global set
// (every tenant) or one tenant's.
type Rules struct {
	// SenderAllow lists the senders a message may carry (empty: any).
	// Exact, but letters compare case-insensitively ("ACME" = "acme").
	SenderAllow []string
	// SenderRewrites replace the sender of messages to one mobile network,
	// the first matching rule winning (e.g. a network that refuses
	// alphanumeric senders gets a registered number instead).
	SenderRewrites []Rewrite
	// Keywords block a text containing any of them anywhere, ignoring case.
	Keywords []string
	// Patterns block a text that any of these Go regular expressions (RE2
	// syntax; add (?i) to ignore case) matches.
	Patterns []string
	// URLDomains block a text naming a host that is one of these domains
	// or a subdomain of one ("bit.ly" blocks "bit.ly/x" and
	// "https://go.bit.ly/x"), ignoring case.
	URLDomains []string
}

// Rewrite replaces the sender of messages to one network.
type Rewrite struct {
	MCCMNC string // the destination's network, 5 or 6 digits
	From   string // the sender to replace, compared like SenderAllow; "*": any
	To     string // the sender the message goes out with
}

// AnySender is Rewrite.From matching every sender.
const AnySender = "*"

// Bounds of one Set. Each rule runs against every message, so the bounds
// keep the work per message and the memory of a Set known: the keyword
// automaton's scan is one table step per byte of text however many
// keywords there are (10,000 keywords of ~10 bytes build ~100,000 states,
// a few MB); every pattern is one more RE2 program the text may run
// through, at a cost that grows with its size, hence few and short; URL
// hosts are map lookups, one per label of each host in the text. A
// sender is at most as long as the API takes one (HTTP from, 64 bytes).
const (
	MaxSenders      = 10_000
	MaxSenderLen    = 64
	MaxRewrites     = 1_000
	MaxKeywords     = 10_000
	MaxKeywordLen   = 200
	MaxPatterns     = 100
	MaxPatternLen   = 1_000
	MaxURLDomains   = 10_000
	MaxURLDomainLen = 253 // the longest DNS name
)

// Refusal is the stable code of a control's refusal, shared by the ledger
// (its Code) and the adapters (HTTP error code, SMPP command_status).
type Refusal string

// The refusals. The first two are Check's; the last two the ledger's
// stateful limits.
const (
	RefusedSenderNotAllowed       Refusal = "sender_not_allowed"       // SMPP ESME_RINVSRCADR, HTTP 400
	RefusedContentBlocked         Refusal = "content_blocked"          // SMPP 0x407, HTTP 422
	RefusedDestinationRateLimited Refusal = "destination_rate_limited" // SMPP 0x408, HTTP 429
	RefusedDuplicate              Refusal = "duplicate_message"        // SMPP 0x409, HTTP 409
)

// Errors for errors.Is, one per refusal, and ErrInvalidRules for Compile.
var (
	ErrSenderNotAllowed       = errors.New("sender not allowed")
	ErrContentBlocked         = errors.New("content blocked")
	ErrDestinationRateLimited = errors.New("destination rate limited")
	ErrDuplicate              = errors.New("duplicate message")
	ErrInvalidRules           = errors.New("invalid controls")
)

// Err is the error of a refusal (nil for "").
func (r Refusal) Err() error {
	switch r {
	case RefusedSenderNotAllowed:
		return ErrSenderNotAllowed
	case RefusedContentBlocked:
		return ErrContentBlocked
	case RefusedDestinationRateLimited:
		return ErrDestinationRateLimited
	case RefusedDuplicate:
		return ErrDuplicate
	}
	return nil
}

// RefusalOf is the refusal an error carries ("" for none of the four).
func RefusalOf(err error) Refusal {
	switch {
	case errors.Is(err, ErrSenderNotAllowed):
		return RefusedSenderNotAllowed
	case errors.Is(err, ErrContentBlocked):
		return RefusedContentBlocked
	case errors.Is(err, ErrDestinationRateLimited):
		return RefusedDestinationRateLimited
	case errors.Is(err, ErrDuplicate):
		return RefusedDuplicate
	}
	return ""
}

// Scope says whose rule refused a message.
type Scope string

// Scopes.
const (
	ScopeGlobal Scope = "global"
	ScopeTenant Scope = "tenant"
)

// Kind names the kind of rule that refused a message.
type Kind string

// Kinds of rule.
const (
	KindSenderAllow Kind = "sender_allow"
	KindKeyword     Kind = "keyword"
	KindPattern     Kind = "pattern"
	KindURLDomain   Kind = "url_domain"
	// The ledger's stateful limits.
	KindDestRateLimit   Kind = "dest_rate_limit"
	KindDuplicateWindow Kind = "duplicate_window"
)

// Verdict is Check's answer: the zero Verdict passes; otherwise Refusal
// names the refusal and Scope, Kind and Rule the rule that matched (Rule
// as the operator wrote it; empty for a sender missing from an
// allow-list).
type Verdict struct {
	Refusal Refusal
	Scope   Scope
	Kind    Kind
	Rule    string
}

// Refused reports whether the message is refused.
func (v Verdict) Refused() bool { return v.Refusal != "" }

// String describes the matched rule for the audit trail and the error:
// "tenant keyword: casino", "global sender_allow".
func (v Verdict) String() string {
	if !v.Refused() {
		return ""
	}
	s := string(v.Scope) + " " + string(v.Kind)
	if v.Scope == "" {
		s = string(v.Kind)
	}
	if v.Rule != "" {
		s += ": " + v.Rule
	}
	return s
}

// RuleError names the invalid rule of Rules (Compile's error); it matches
// ErrInvalidRules.
type RuleError struct {
	Field   string // "keywords[3]", "sender_rewrites[0].mccmnc"
	Message string
}

func (e *RuleError) Error() string { return e.Field + ": " + e.Message }

// Is makes errors.Is(err, ErrInvalidRules) true.
func (e *RuleError) Is(target error) bool { return target == ErrInvalidRules }

func ruleErr(field string, i int, format string, args ...any) error {
	if i >= 0 {
		field = fmt.Sprintf("%s[%d]", field, i)
	}
	return &RuleError{Field: field, Message: fmt.Sprintf(format, args...)}
}

// Set is compiled Rules, immutable and safe for concurrent use. The nil
// *Set has no rules.
type Set struct {
	rules    Rules               // as given, for reading back
	senders  map[string]struct{} // folded
	rewrites map[numbering.Code][]rewrite
	// scan finds in the folded text the keywords (pattern ids below
	// len(kwRule)) and the patterns' atoms (prefilter.go) in one pass;
	// keywords is the keywords alone, rescanned only when scan stops at an
	// atom first. nil: none.
	scan, keywords *ahocorasick.Automaton
	kwRule         []string // the keyword as given, by pattern id
	kwFolded       [][]byte
	res            []*regexp.Regexp // each pattern, to name the one that matched
	// always is the alternation of the patterns without atoms, filtered
	// that of the others, run when scan finds one of their atoms in the
	// folded text (prefilter.go); nil: none.
	always, filtered *regexp.Regexp
	atoms            [][]byte
	domains          map[string]string // folded → as given
}

type rewrite struct {
	from string // folded; AnySender matches any
	to   string
}

// Compile checks rules against the bounds and compiles them. Its error is
// a *RuleError naming the first invalid rule (e.g. "patterns[2]: error
// parsing regexp: missing closing ): `(`").
func Compile(r Rules) (*Set, error) {
	s := &Set{rules: cloneRules(r)}
	steps := []func(*Set, Rules) error{compileSenders, compileRewrites, compileKeywords, compilePatterns, compileDomains, compileScan}
	for _, step := range steps {
		if err := step(s, r); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Rules returns the rules the Set was compiled from.
func (s *Set) Rules() Rules {
	if s == nil {
		return Rules{}
	}
	return cloneRules(s.rules)
}

// Empty reports whether the Set has no rule at all.
func (s *Set) Empty() bool {
	return s == nil || (len(s.senders) == 0 && len(s.rewrites) == 0 && s.scan == nil && len(s.res) == 0 && len(s.domains) == 0)
}

func cloneRules(r Rules) Rules {
	return Rules{
		SenderAllow:    append([]string(nil), r.SenderAllow...),
		SenderRewrites: append([]Rewrite(nil), r.SenderRewrites...),
		Keywords:       append([]string(nil), r.Keywords...),
		Patterns:       append([]string(nil), r.Patterns...),
		URLDomains:     append([]string(nil), r.URLDomains...),
	}
}

func validSender(field string, i int, s string) error {
	switch {
	case s == "":
		return ruleErr(field, i, "empty")
	case len(s) > MaxSenderLen:
		return ruleErr(field, i, "longer than %d bytes", MaxSenderLen)
	case !utf8.ValidString(s):
		return ruleErr(field, i, "not valid UTF-8")
	}
	return nil
}

func compileSenders(s *Set, r Rules) error {
	if len(r.SenderAllow) > MaxSenders {
		return ruleErr("sender_allow", -1, "at most %d senders", MaxSenders)
	}
	if len(r.SenderAllow) == 0 {
		return nil
	}
	s.senders = make(map[string]struct{}, len(r.SenderAllow))
	for i, snd := range r.SenderAllow {
		if err := validSender("sender_allow", i, snd); err != nil {
			return err
		}
		s.senders[string(fold(nil, snd))] = struct{}{}
	}
	return nil
}

func compileRewrites(s *Set, r Rules) error {
	if len(r.SenderRewrites) > MaxRewrites {
		return ruleErr("sender_rewrites", -1, "at most %d rules", MaxRewrites)
	}
	for i, rw := range r.SenderRewrites {
		code, err := numbering.ParseCode(rw.MCCMNC)
		if err != nil {
			return ruleErr(fmt.Sprintf("sender_rewrites[%d].mccmnc", i), -1, "%q is not an MCC-MNC of 5 or 6 digits", rw.MCCMNC)
		}
		if err := validSender(fmt.Sprintf("sender_rewrites[%d].from", i), -1, rw.From); err != nil {
			return err
		}
		if err := validSender(fmt.Sprintf("sender_rewrites[%d].to", i), -1, rw.To); err != nil {
			return err
		}
		if s.rewrites == nil {
			s.rewrites = map[numbering.Code][]rewrite{}
		}
		from := rw.From
		if from != AnySender {
			from = string(fold(nil, from))
		}
		s.rewrites[code] = append(s.rewrites[code], rewrite{from: from, to: rw.To})
	}
	return nil
}

func compileKeywords(s *Set, r Rules) error {
	if len(r.Keywords) > MaxKeywords {
		return ruleErr("keywords", -1, "at most %d keywords", MaxKeywords)
	}
	if len(r.Keywords) == 0 {
		return nil
	}
	folded := make([][]byte, 0, len(r.Keywords))
	for i, k := range r.Keywords {
		switch {
		case strings.TrimSpace(k) == "":
			return ruleErr("keywords", i, "empty")
		case len(k) > MaxKeywordLen:
			return ruleErr("keywords", i, "longer than %d bytes", MaxKeywordLen)
		case !utf8.ValidString(k):
			return ruleErr("keywords", i, "not valid UTF-8")
		}
		folded = append(folded, fold(nil, k))
		s.kwRule = append(s.kwRule, k)
	}
	s.kwFolded = folded
	return nil
}

// compileScan builds the automata of the keywords and the patterns' atoms.
func compileScan(s *Set, _ Rules) error {
	all := append(append([][]byte(nil), s.kwFolded...), s.atoms...)
	if len(all) == 0 {
		return nil
	}
	var err error
	if s.scan, err = ahocorasick.NewBuilder().AddPatterns(all).Build(); err != nil {
		return ruleErr("keywords", -1, "%v", err)
	}
	switch {
	case len(s.atoms) == 0:
		s.keywords = s.scan
	case len(s.kwFolded) > 0:
		if s.keywords, err = ahocorasick.NewBuilder().AddPatterns(s.kwFolded).Build(); err != nil {
			return ruleErr("keywords", -1, "%v", err)
		}
	}
	s.kwFolded, s.atoms = nil, nil
	return nil
}

func compilePatterns(s *Set, r Rules) error {
	if len(r.Patterns) > MaxPatterns {
		return ruleErr("patterns", -1, "at most %d patterns", MaxPatterns)
	}
	var always, filtered []string
	for i, p := range r.Patterns {
		if p == "" {
			return ruleErr("patterns", i, "empty")
		}
		if len(p) > MaxPatternLen {
			return ruleErr("patterns", i, "longer than %d bytes", MaxPatternLen)
		}
		re, err := regexp.Compile(p)
		if err != nil {
			return ruleErr("patterns", i, "%q: %v", p, err)
		}
		s.res = append(s.res, re)
		// Flags set inside a group end with it, so each pattern keeps its
		// own meaning in an alternation.
		group := "(?:" + p + ")"
		tree, err := syntax.Parse(p, syntax.Perl)
		var a []string
		if err == nil {
			a = atoms(tree)
		}
		if a == nil {
			always = append(always, group)
			continue
		}
		filtered = append(filtered, group)
		for _, lit := range a {
			s.atoms = append(s.atoms, []byte(lit))
		}
	}
	var err error
	if s.always, err = alternation(always); err != nil {
		return err
	}
	if s.filtered, err = alternation(filtered); err != nil {
		return err
	}
	return nil
}

// alternation compiles groups as one regexp (nil for none).
func alternation(groups []string) (*regexp.Regexp, error) {
	if len(groups) == 0 {
		return nil, nil
	}
	re, err := regexp.Compile(strings.Join(groups, "|"))
	if err != nil {
		return nil, ruleErr("patterns", -1, "%v", err)
	}
	return re, nil
}

func compileDomains(s *Set, r Rules) error {
	if len(r.URLDomains) > MaxURLDomains {
		return ruleErr("url_domains", -1, "at most %d domains", MaxURLDomains)
	}
	if len(r.URLDomains) == 0 {
		return nil
	}
	s.domains = make(map[string]string, len(r.URLDomains))
	for i, d := range r.URLDomains {
		f := string(fold(nil, d))
		if len(d) > MaxURLDomainLen || !isHost(f) {
			return ruleErr("url_domains", i, "%q is not a domain name like example.com (no scheme, path or port)", d)
		}
		s.domains[f] = d
	}
	return nil
}

// isHost reports whether s is a host name as hostsIn finds them: labels
// of letters, digits and '-', separated by single dots.
func isHost(s string) bool {
	if s == "" || s[0] == '.' || s[len(s)-1] == '.' || strings.Contains(s, "..") {
		return false
	}
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r != '.' && !hostRune(r) {
			return false
		}
		i += n
	}
	return true
}
