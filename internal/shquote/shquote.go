// Package shquote quotes words for a POSIX shell command line that an
// operator may paste: otpprov's hints print commands to run next.
package shquote

import "strings"

// Arg returns s as one shell word: unchanged when it holds only
// characters no shell treats specially, else in single quotes, inside
// which nothing is special but the single quote itself.
func Arg(s string) string {
	if s == "" {
		return "''"
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("/._-+:,=@%", c)) {
			return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
		}
	}
	return s
}

// Quoted returns s in single quotes always, inside which nothing is
// special to sh, bash or zsh but the single quote itself: for a word a
// generated script holds, which reads the same however s looks.
func Quoted(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// Join quotes each word with Arg and joins them with spaces.
func Join(words ...string) string {
	q := make([]string, len(words))
	for i, w := range words {
		q[i] = Arg(w)
	}
	return strings.Join(q, " ")
}
