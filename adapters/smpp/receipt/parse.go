package receipt

import (
	"strconv"
	"strings"
	"time"
)

// parseDate accepts YYMMDDhhmm, YYMMDDhhmmss, YYYYMMDDhhmm and
// YYYYMMDDhhmmss (UTC). Anything else gives the zero time.
func parseDate(s string) time.Time {
	var layout string
	switch len(s) {
	case 10:
		layout = "0601021504"
	case 12:
		if strings.HasPrefix(s, "19") || strings.HasPrefix(s, "20") {
			// Ambiguous; YYYYMMDDhhmm is rare, YYMMDDhhmmss common. Try
			// the common one first.
			if t, err := time.Parse("060102150405", s); err == nil {
				return t
			}
			layout = "200601021504"
		} else {
			layout = "060102150405"
		}
	case 14:
		layout = "20060102150405"
	default:
		return time.Time{}
	}
	t, err := time.Parse(layout, s)
	if err != nil {
		return time.Time{}
	}
	return t
}

// field keys, canonical name first. Multi-word keys are matched with any
// run of spaces/underscores between words, or none.
var keys = []struct {
	canon string
	words []string
}{
	{"id", []string{"id"}},
	{"id", []string{"msgid"}},
	{"id", []string{"message", "id"}},
	{"sub", []string{"sub"}},
	{"dlvrd", []string{"dlvrd"}},
	{"dlvrd", []string{"dlvd"}},
	{"submit date", []string{"submit", "date"}},
	{"done date", []string{"done", "date"}},
	{"stat", []string{"stat"}},
	{"stat", []string{"status"}},
	{"stat", []string{"state"}},
	{"err", []string{"err"}},
	{"err", []string{"error"}},
	{"text", []string{"text"}},
	{"text", []string{"txt"}},
}

// matchKey tries to match a known key (case-insensitively) at s[i:],
// followed by optional spaces and ':'. It returns the canonical key and the
// index just after ':' or -1.
func matchKey(s string, i int) (string, int) {
	for _, k := range keys {
		j := i
		ok := true
		for w, word := range k.words {
			if w > 0 {
				for j < len(s) && (s[j] == ' ' || s[j] == '_') {
					j++
				}
			}
			if len(s)-j < len(word) || !strings.EqualFold(s[j:j+len(word)], word) {
				ok = false
				break
			}
			j += len(word)
		}
		if !ok {
			continue
		}
		for j < len(s) && s[j] == ' ' {
			j++
		}
		if j < len(s) && s[j] == ':' {
			return k.canon, j + 1
		}
	}
	return "", -1
}

// matchOther matches an unknown "word:" field at s[i:] (letters, digits,
// '_' and '-', starting with a letter); it returns the index after ':' or -1.
func matchOther(s string, i int) int {
	j := i
	for j < len(s) {
		c := s[j]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c == '-' || (j > i && c >= '0' && c <= '9') {
			j++
			continue
		}
		break
	}
	if j == i || j >= len(s) || s[j] != ':' {
		return -1
	}
	return j + 1
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// Parse reads a receipt text. It never fails on a missing or malformed
// field (the field stays zero/-1/""); it fails only when the text has
// neither an id nor a stat field.
func Parse(text string) (Receipt, error) {
	r := Receipt{Sub: -1, Dlvrd: -1}
	type span struct {
		key        string
		start, end int // value
	}
	var spans [16]span
	n := 0
	prevEnd := -1 // index of the previous field's value start
	for i := 0; i < len(text); i++ {
		if i > 0 && !isSpace(text[i-1]) && text[i-1] != ';' && text[i-1] != ',' {
			continue
		}
		if isSpace(text[i]) {
			continue
		}
		key, after := matchKey(text, i)
		if after < 0 {
			if o := matchOther(text, i); o >= 0 && prevEnd >= 0 {
				key, after = "", o
			} else {
				continue
			}
		}
		if n > 0 {
			spans[n-1].end = i
		}
		if n == len(spans) {
			break
		}
		spans[n] = span{key: key, start: after, end: len(text)}
		n++
		prevEnd = after
		if key == "text" {
			break // the text runs to the end, whatever it contains
		}
		i = after - 1
	}
	var haveID, haveStat bool
	for _, sp := range spans[:n] {
		v := text[sp.start:sp.end]
		if sp.key != "text" {
			v = strings.Trim(v, " \t\r\n;,")
		}
		switch sp.key {
		case "id":
			if !haveID {
				r.ID, haveID = v, v != ""
			}
		case "sub":
			if x, err := strconv.Atoi(v); err == nil {
				r.Sub = x
			}
		case "dlvrd":
			if x, err := strconv.Atoi(v); err == nil {
				r.Dlvrd = x
			}
		case "submit date":
			r.SubmitDate = parseDate(v)
		case "done date":
			r.DoneDate = parseDate(v)
		case "stat":
			if !haveStat {
				r.Stat, haveStat = NormalizeStat(v), v != ""
			}
		case "err":
			r.Err = v
		case "text":
			r.Text = v
		}
	}
	if !haveID && !haveStat {
		return r, ErrNotReceipt
	}
	r.State = StateOf(r.Stat)
	if r.Stat == "" {
		r.State = StateNone
	}
	return r, nil
}
