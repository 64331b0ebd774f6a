package controls

import (
	"bytes"
	"encoding/binary"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/smsledger/smsledger/domain/numbering"
)

// Check decides one message against the global set and the tenant's
// (either may be nil), in this order: the sender allow-lists (the
// tenant's, then the global one: a sender must be on every list that is
// not empty), the sender rewrite for the destination's network net (the
// tenant's first matching rule, else the global set's; none when net is
// unknown), then the text against keywords, URL domains and patterns (the
// tenant's, then the global ones). It returns the sender the message goes
// out with (from, or a rewrite's To) and the Verdict; on a refusal the
// sender is from.
//
// It allocates nothing when no rule matches and the sender and text are
// of the usual sizes (a sender of at most 64 bytes; longer texts fold into
// a pooled buffer).
func Check(global, tenant *Set, from string, net numbering.Code, text string) (string, Verdict) {
	if global.Empty() && tenant.Empty() {
		return from, Verdict{}
	}
	out, v := checkSender(global, tenant, from, net)
	if v.Refused() {
		return from, v
	}
	if v = checkText(global, tenant, text); v.Refused() {
		return from, v
	}
	return out, Verdict{}
}

// scoped pairs a set with its scope, tenant first.
type scoped struct {
	set   *Set
	scope Scope
}

func checkSender(global, tenant *Set, from string, net numbering.Code) (string, Verdict) {
	sets := [2]scoped{{tenant, ScopeTenant}, {global, ScopeGlobal}}
	if !hasSenderRules(tenant) && !hasSenderRules(global) {
		return from, Verdict{}
	}
	var buf [2 * MaxSenderLen]byte
	f := fold(buf[:0], from)
	for _, sc := range sets {
		if sc.set == nil || len(sc.set.senders) == 0 {
			continue
		}
		if _, ok := sc.set.senders[string(f)]; !ok {
			return from, Verdict{Refusal: RefusedSenderNotAllowed, Scope: sc.scope, Kind: KindSenderAllow}
		}
	}
	if !net.Known() {
		return from, Verdict{}
	}
	for _, sc := range sets {
		if sc.set == nil {
			continue
		}
		for _, rw := range sc.set.rewrites[net] {
			if rw.from == AnySender || rw.from == string(f) {
				return rw.to, Verdict{}
			}
		}
	}
	return from, Verdict{}
}

func hasSenderRules(s *Set) bool {
	return s != nil && (len(s.senders) > 0 || len(s.rewrites) > 0)
}

// stackText is the longest text folded on the stack; longer ones use a
// pooled buffer.
const stackText = 512

var textBufs = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

func checkText(global, tenant *Set, text string) Verdict {
	if !needsFold(tenant) && !needsFold(global) {
		return checkSets(global, tenant, text, nil)
	}
	if len(text) > stackText/2 { // folding may lengthen a few letters
		return checkLongText(global, tenant, text)
	}
	var buf [stackText]byte
	return checkSets(global, tenant, text, fold(buf[:0], text))
}

// checkLongText is checkText of a text too long for the stack, folded
// into a pooled buffer.
func checkLongText(global, tenant *Set, text string) Verdict {
	bp := textBufs.Get().(*[]byte)
	folded := fold((*bp)[:0], text)
	v := checkSets(global, tenant, text, folded)
	if cap(folded) <= 1<<20 { // a huge one is left to the GC
		*bp = folded[:0]
		textBufs.Put(bp)
	}
	return v
}

func checkSets(global, tenant *Set, text string, folded []byte) Verdict {
	if v := tenant.checkText(text, folded, ScopeTenant); v.Refused() {
		return v
	}
	return global.checkText(text, folded, ScopeGlobal)
}

// needsFold: s has rules that read the folded text.
func needsFold(s *Set) bool {
	return s != nil && (s.scan != nil || len(s.domains) > 0)
}

// checkText runs the content rules of s: keywords and URL domains on the
// folded text, patterns on the text as submitted.
func (s *Set) checkText(text string, folded []byte, scope Scope) Verdict {
	if s == nil {
		return Verdict{}
	}
	sawAtom := false
	if s.scan != nil {
		m, ok := s.scan.Find(folded, 0)
		if ok && m.PatternID >= len(s.kwRule) { // an atom first: a keyword may follow
			sawAtom = true
			if s.keywords != nil {
				m, ok = s.keywords.Find(folded, 0)
			} else {
				ok = false
			}
		}
		if ok {
			return Verdict{Refusal: RefusedContentBlocked, Scope: scope, Kind: KindKeyword, Rule: s.kwRule[m.PatternID]}
		}
	}
	if len(s.domains) > 0 {
		if d, ok := s.blockedHost(folded); ok {
			return Verdict{Refusal: RefusedContentBlocked, Scope: scope, Kind: KindURLDomain, Rule: d}
		}
	}
	if s.patternMatches(text, sawAtom) {
		for i, re := range s.res { // name the first that matches
			if re.MatchString(text) {
				return Verdict{Refusal: RefusedContentBlocked, Scope: scope, Kind: KindPattern, Rule: s.rules.Patterns[i]}
			}
		}
	}
	return Verdict{}
}

// patternMatches reports whether any pattern of s matches: those without
// atoms always run, the others only when the folded text holds one of
// their atoms (prefilter.go).
func (s *Set) patternMatches(text string, sawAtom bool) bool {
	if s.always != nil && s.always.MatchString(text) {
		return true
	}
	return sawAtom && s.filtered != nil && s.filtered.MatchString(text)
}

// blockedHost finds in the folded text a host name (a run of host
// characters with at least one dot: "bit.ly/x", "https://a.b.example.com",
// "me@example.com") that is a blocked domain or one of its subdomains, and
// returns that domain as given. Only runs around a dot can be hosts, so it
// jumps from dot to dot.
func (s *Set) blockedHost(folded []byte) (string, bool) {
	for i := 0; i < len(folded); {
		dot := bytes.IndexByte(folded[i:], '.')
		if dot < 0 {
			return "", false
		}
		p := i + dot
		if next := p + 1; next == len(folded) || (folded[next] != '.' && folded[next] < utf8.RuneSelf && !hostASCII(folded[next])) {
			// A dot ending a sentence ("in 10 minutes. Do"): no dot
			// lies between i and it, so its run has no other one and
			// is a word, not a host.
			i = next
			continue
		}
		start, end := hostAround(folded, p)
		if d, ok := s.domainOf(folded[start:end]); ok {
			return d, true
		}
		i = end + 1
	}
	return "", false
}

// hostAround is the run of host characters and dots around position p.
func hostAround(b []byte, p int) (start, end int) {
	start = p
	for start > 0 {
		c := b[start-1]
		if c < utf8.RuneSelf {
			if c != '.' && !hostASCII(c) {
				break
			}
			start--
			continue
		}
		r, n := utf8.DecodeLastRune(b[:start])
		if !hostRune(r) {
			break
		}
		start -= n
	}
	end = p + 1
	for end < len(b) {
		c := b[end]
		if c < utf8.RuneSelf {
			if c != '.' && !hostASCII(c) {
				break
			}
			end++
			continue
		}
		r, n := utf8.DecodeRune(b[end:])
		if !hostRune(r) {
			break
		}
		end += n
	}
	return start, end
}

// domainOf checks a host and each of its parent domains against the
// blocked domains.
func (s *Set) domainOf(host []byte) (string, bool) {
	host = bytes.Trim(host, ".")
	if bytes.IndexByte(host, '.') < 0 {
		return "", false // a word, not a host
	}
	for {
		if len(host) <= MaxURLDomainLen {
			if d, ok := s.domains[string(host)]; ok {
				return d, true
			}
		}
		j := bytes.IndexByte(host, '.')
		if j < 0 {
			return "", false
		}
		host = host[j+1:]
	}
}

func hostASCII(c byte) bool {
	return c == '-' || ('0' <= c && c <= '9') || ('a' <= c && c <= 'z')
}

// hostRune: a character of a host label (letters and digits of any
// script, for internationalised names, and '-').
func hostRune(r rune) bool {
	if r < utf8.RuneSelf {
		return hostASCII(byte(unicode.ToLower(r)))
	}
	return r != utf8.RuneError && (unicode.IsLetter(r) || unicode.IsDigit(r))
}

// lowerASCII maps each ASCII byte to its lower case.
var lowerASCII = func() (t [utf8.RuneSelf]byte) {
	for i := range t {
		c := byte(i)
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		t[i] = c
	}
	return t
}()

const (
	lowBits  = 0x0101010101010101
	highBits = 0x8080808080808080
)

// fold appends s in lower case to dst (Unicode simple lower case; bytes
// that are not UTF-8 are copied as they are). ASCII goes through a table.
func fold(dst []byte, s string) []byte {
	n := len(dst)
	if cap(dst)-n < len(s) {
		dst = append(dst, make([]byte, len(s))...)[:n]
	}
	out := dst[n : n+len(s)]
	i := 0
	// Eight ASCII bytes at a time: add 0x20 to each byte in 'A'..'Z'
	// (SWAR), until a word holds a byte that is not ASCII.
	for ; i+8 <= len(s); i += 8 {
		w := uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
			uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
		if w&highBits != 0 {
			break
		}
		atLeastA := w + lowBits*(0x80-'A')        // high bit set where byte >= 'A'
		aboveZ := w + lowBits*(0x80-'Z'-1)        // high bit set where byte > 'Z'
		w |= (atLeastA &^ aboveZ & highBits) >> 2 // 0x80 >> 2 == 0x20
		binary.LittleEndian.PutUint64(out[i:], w)
	}
	for ; i < len(s); i++ {
		c := s[i]
		if c >= utf8.RuneSelf {
			return foldRunes(dst[:n+i], s[i:])
		}
		out[i] = lowerASCII[c]
	}
	return dst[:n+len(s)]
}

func foldRunes(dst []byte, s string) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			dst = append(dst, lowerASCII[c])
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n <= 1 {
			dst = append(dst, c)
			i++
			continue
		}
		dst = utf8.AppendRune(dst, unicode.ToLower(r))
		i += n
	}
	return dst
}
