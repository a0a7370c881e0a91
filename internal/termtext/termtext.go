// Package termtext keeps text that reaches a terminal from acting on it.
// A name, path or message holding an escape sequence, a carriage return
// or a bidirectional override can repaint, hide or reorder what the
// operator reviews before fuses burn: otpprov refuses such characters in
// its inputs (Unsafe, First) and escapes any that reach its output
// anyway (Escape, Writer).
package termtext

import (
	"bytes"
	"fmt"
	"io"
	"unicode"
	"unicode/utf8"
)

// Unsafe reports whether r acts on a terminal instead of showing: a
// control character (C0, DEL, C1: ESC, CR, NUL, BEL...), a Unicode line
// or paragraph separator, or a bidirectional control, which reorders the
// text around it.
func Unsafe(r rune) bool {
	switch {
	case unicode.IsControl(r), r == '\u2028', r == '\u2029':
		return true
	case r == '\u061c', r == '\u200e', r == '\u200f', r >= '\u202a' && r <= '\u202e', r >= '\u2066' && r <= '\u2069':
		return true
	}
	return false
}

// First returns the first unsafe character of s; ok is false when there
// is none.
func First(s string) (r rune, ok bool) {
	for _, r := range s {
		if Unsafe(r) {
			return r, true
		}
	}
	return 0, false
}

// Name is how a message names an unsafe character: "U+001B".
func Name(r rune) string { return fmt.Sprintf("U+%04X", r) }

// Escape writes every unsafe character of s as \uXXXX and every byte
// that is not UTF-8 as \xNN; the rest is left as it is. \uXXXX keeps a
// JSON string valid: the writer below escapes JSON output too.
func Escape(s string) string {
	if !needs([]byte(s), false) {
		return s
	}
	var b bytes.Buffer
	escape(&b, []byte(s), "")
	return b.String()
}

// keep are the characters a Writer passes through: otpprov's own line
// structure.
const keep = "\n\t"

func escape(b *bytes.Buffer, p []byte, keep string) {
	for len(p) > 0 {
		r, n := utf8.DecodeRune(p)
		switch {
		case r == utf8.RuneError && n == 1:
			fmt.Fprintf(b, `\x%02x`, p[0])
		case Unsafe(r) && !bytesContainsRune(keep, r):
			fmt.Fprintf(b, `\u%04x`, r)
		default:
			b.Write(p[:n])
		}
		p = p[n:]
	}
}

func bytesContainsRune(s string, r rune) bool {
	for _, k := range s {
		if k == r {
			return true
		}
	}
	return false
}

// needs reports whether p may hold anything to escape: a byte below
// 0x20 other than newline and tab, DEL, or any non-ASCII byte (checked
// rune by rune). Most output is plain ASCII and passes untouched.
func needs(p []byte, lines bool) bool {
	for _, c := range p {
		switch {
		case c == '\n' || c == '\t':
			if !lines {
				return true
			}
		case c < 0x20 || c >= 0x7f:
			return true
		}
	}
	return false
}

// Writer escapes, in everything written through it, the unsafe
// characters of Escape except newlines and tabs. It lets through exactly
// the escape sequences it is given, otpprov's own colours, and no other:
// an injected sequence that hides text (SGR 8) or moves the cursor is
// escaped even where colour is on. A character or sequence cut by the
// end of a Write is held until the next one, or Flush.
type Writer struct {
	w       io.Writer
	allowed [][]byte
	pending []byte
	buf     bytes.Buffer
}

// NewWriter escapes what it writes to w, but for the sequences allowed.
func NewWriter(w io.Writer, allowed ...string) *Writer {
	wr := &Writer{w: w}
	for _, a := range allowed {
		wr.allowed = append(wr.allowed, []byte(a))
	}
	return wr
}

// Write writes p, escaped. It returns len(p) unless w fails.
func (w *Writer) Write(p []byte) (int, error) {
	if len(w.pending) == 0 && !needs(p, true) {
		return w.w.Write(p)
	}
	in := append(w.pending, p...)
	w.pending = nil
	w.buf.Reset()
	for len(in) > 0 {
		c := in[0]
		if c == 0x1b && len(w.allowed) > 0 {
			if n, complete := w.allowedLen(in); n > 0 {
				w.buf.Write(in[:n])
				in = in[n:]
				continue
			} else if !complete {
				w.pending = append(w.pending, in...) // cut by the end of p
				break
			}
		}
		if c >= 0x80 && !utf8.FullRune(in) {
			w.pending = append(w.pending, in...)
			break
		}
		_, n := utf8.DecodeRune(in)
		escape(&w.buf, in[:n], keep)
		in = in[n:]
	}
	if w.buf.Len() > 0 {
		if _, err := w.w.Write(w.buf.Bytes()); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// Flush writes what a cut sequence left held, escaped as it stands.
func (w *Writer) Flush() error {
	if len(w.pending) == 0 {
		return nil
	}
	w.buf.Reset()
	escape(&w.buf, w.pending, keep)
	w.pending = nil
	_, err := w.w.Write(w.buf.Bytes())
	return err
}

// allowedLen is the length of the allowed sequence p starts with, 0 if
// none; complete is false when p ends inside what may still become one.
func (w *Writer) allowedLen(p []byte) (n int, complete bool) {
	complete = true
	for _, a := range w.allowed {
		switch {
		case bytes.HasPrefix(p, a):
			return len(a), true
		case bytes.HasPrefix(a, p):
			complete = false
		}
	}
	return 0, complete
}
