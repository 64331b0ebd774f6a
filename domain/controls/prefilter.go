package controls

import (
	"regexp/syntax"
	"unicode"
	"unicode/utf8"
)

// The pattern prefilter. Go's RE2 runs a pattern without a literal prefix
// (any (?i) pattern) through its NFA at tens of nanoseconds a byte, so a
// handful of patterns would cost microseconds on every message. Most
// patterns name words, though: every match of `(?i)win\s+\$?\d+` contains
// "win". atoms finds such literals — a set of which every match contains
// at least one, in folded form — and Check scans the folded text for all
// of them with one automaton, running the patterns only when one is
// there (as RE2's FilteredRE2 does). A pattern with no such literal
// (`\d{16}`) is always run.

// atoms returns folded literals of which every match of re contains one,
// or nil when there is no such set.
func atoms(re *syntax.Regexp) []string {
	switch re.Op {
	case syntax.OpLiteral:
		if a := safeAtom(re.Rune, re.Flags&syntax.FoldCase != 0); a != "" {
			return []string{a}
		}
	case syntax.OpCapture, syntax.OpPlus:
		return atoms(re.Sub[0])
	case syntax.OpRepeat:
		if re.Min >= 1 {
			return atoms(re.Sub[0])
		}
	case syntax.OpConcat:
		// Any one part's set will do: the one with the longest shortest
		// atom filters best.
		var best []string
		for _, sub := range re.Sub {
			if a := atoms(sub); a != nil && (best == nil || shortest(a) > shortest(best)) {
				best = a
			}
		}
		return best
	case syntax.OpAlternate:
		// Every branch needs its own.
		var all []string
		for _, sub := range re.Sub {
			a := atoms(sub)
			if a == nil {
				return nil
			}
			all = append(all, a...)
		}
		return all
	}
	return nil
}

func shortest(a []string) int {
	n := len(a[0])
	for _, s := range a[1:] {
		n = min(n, len(s))
	}
	return n
}

// safeAtom is the longest run of the literal whose folded form is sure to
// be in the folded text wherever the pattern matches. A letter the pattern
// matches regardless of case ((?i)) is safe when every case of it lowers
// to the same letter ('k', 'K' and the Kelvin sign all lower to 'k'); 's'
// is not (the long s 'ſ' lowers to itself). A letter matched exactly is
// always safe. U+FFFD never is.
func safeAtom(runes []rune, foldCase bool) string {
	var best, cur []byte
	for _, r := range runes {
		// U+FFFD also stands for every byte that is not UTF-8, which
		// folding keeps as it is.
		if (foldCase && !foldsToOne(r)) || r == utf8.RuneError {
			if len(cur) > len(best) {
				best = cur
			}
			cur = nil
			continue
		}
		cur = utf8.AppendRune(cur, unicode.ToLower(r))
	}
	if len(cur) > len(best) {
		best = cur
	}
	return string(best)
}

// foldsToOne reports whether every rune that (?i) matches for r lowers to
// the same rune as r.
func foldsToOne(r rune) bool {
	want := unicode.ToLower(r)
	for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
		if unicode.ToLower(f) != want {
			return false
		}
	}
	return true
}
