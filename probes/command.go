package probes

import (
	"errors"
	"fmt"
	"strings"
)

// SplitCommand splits the command line of an exec probe (--exec-probe) into
// its words the way a POSIX shell splits a simple command, and does nothing
// else: blanks separate words; '...' keeps everything literally; "..." keeps
// everything but \" and \\, which stand for " and \; a \ outside quotes keeps
// the next character. No variable, glob, pipe or redirection: write
// sh -c '...' for those. An empty command, an unterminated quote, a trailing
// backslash and a control character are errors.
func SplitCommand(s string) ([]string, error) {
	var words []string
	var w strings.Builder
	inWord := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '\t':
			if inWord {
				words = append(words, w.String())
				w.Reset()
				inWord = false
			}
		case isControl(rune(c)):
			return nil, fmt.Errorf("command %q holds a control character (%q)", s, c)
		case c == '\\':
			if i+1 == len(s) {
				return nil, fmt.Errorf("command %q ends with a backslash", s)
			}
			i++
			if isControl(rune(s[i])) {
				return nil, fmt.Errorf("command %q holds a control character (%q)", s, s[i])
			}
			w.WriteByte(s[i])
			inWord = true
		case c == '\'':
			end := strings.IndexByte(s[i+1:], '\'')
			if end < 0 {
				return nil, fmt.Errorf("command %q: unterminated ' quote", s)
			}
			quoted := s[i+1 : i+1+end]
			if strings.ContainsFunc(quoted, isControl) {
				return nil, fmt.Errorf("command %q holds a control character", s)
			}
			w.WriteString(quoted)
			i += end + 1
			inWord = true
		case c == '"':
			j := i + 1
			for ; j < len(s) && s[j] != '"'; j++ {
				if isControl(rune(s[j])) {
					return nil, fmt.Errorf("command %q holds a control character (%q)", s, s[j])
				}
				if s[j] == '\\' && j+1 < len(s) && (s[j+1] == '"' || s[j+1] == '\\') {
					j++
				}
				w.WriteByte(s[j])
			}
			if j == len(s) {
				return nil, fmt.Errorf("command %q: unterminated \" quote", s)
			}
			i = j
			inWord = true
		default:
			w.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		words = append(words, w.String())
	}
	if len(words) == 0 {
		return nil, errors.New("empty command")
	}
	return words, nil
}

// isControl reports whether r is an ASCII control character.
func isControl(r rune) bool { return r < ' ' || r == 0x7f }

// QuoteCommand is the inverse of SplitCommand: a command line that
// SplitCommand splits into argv.
func QuoteCommand(argv []string) string {
	q := make([]string, len(argv))
	for i, a := range argv {
		if a != "" && !strings.ContainsAny(a, " \t'\"\\") {
			q[i] = a
			continue
		}
		q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return strings.Join(q, " ")
}
