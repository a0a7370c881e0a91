package yamldoc

import (
	"bytes"
	"fmt"
	"unicode"
	"unicode/utf8"
)

// checkText refuses input that is not UTF-8 text, at the first byte that
// is not: a NUL (C tools downstream would see a shorter file), a control
// character, a byte that is not UTF-8 (a Latin-1 é), or a file saved as
// UTF-16. The YAML parser refuses most of these too, but names no line,
// and a reviewer cannot see any of them in an editor. Lines and columns
// are counted as the YAML parser counts them: a UTF-8 byte-order mark is
// not a column, CRLF and a lone CR end a line, a column is a character.
func checkText(file, kind string, b []byte) *Diagnostic {
	if bytes.HasPrefix(b, []byte{0xff, 0xfe}) || bytes.HasPrefix(b, []byte{0xfe, 0xff}) {
		return &Diagnostic{Pos: Pos{File: file}, Message: kind + " is UTF-16 text", Hint: "save it as UTF-8"}
	}
	b = bytes.TrimPrefix(b, []byte("\ufeff"))
	line, col := 1, 1
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		at := Pos{File: file, Line: line, Col: col}
		switch {
		case r == utf8.RuneError && size == 1:
			return &Diagnostic{Pos: at, Message: fmt.Sprintf("%s is not UTF-8 text (byte 0x%02x)", kind, b[i]), Hint: "save the file as UTF-8"}
		case r == 0:
			return &Diagnostic{Pos: at, Message: kind + " contains a NUL byte: not a text file", Hint: "is this the right file?"}
		case r == '\n' || r == '\r' && !bytes.HasPrefix(b[i+1:], []byte("\n")):
			line, col = line+1, 1
			i += size
			continue
		case r == '\t' || r == '\r':
		case unicode.IsControl(r), r == '\u2028', r == '\u2029':
			return &Diagnostic{Pos: at, Message: fmt.Sprintf("%s contains control character U+%04X: not a text file", kind, r),
				Hint: "is this the right file? remove the character if it is"}
		}
		col++
		i += size
	}
	return nil
}
