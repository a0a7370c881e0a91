// Package view renders plans and apply results for people: short, aligned,
// and coloured only when the caller says the output is a terminal.
package view

import (
	"fmt"
	"strings"
)

// Style turns colour on or off.
type Style struct{ Color bool }

const (
	green  = "32"
	yellow = "33"
	red    = "31"
	bold   = "1"
	dim    = "2"
)

// Sequences are the escape sequences paint writes: the only ones
// otpprov's output lets through (termtext.Writer).
func Sequences() []string {
	var out []string
	for _, code := range []string{green, yellow, red, bold, dim, "0"} {
		out = append(out, "\x1b["+code+"m")
	}
	return out
}

func (s Style) paint(code, text string) string {
	if !s.Color || text == "" {
		return text
	}
	return "\x1b[" + code + "m" + text + "\x1b[0m"
}

// Bits renders a word as 32 binary digits in nibbles, under its hex digits'
// order: "0000 0000 0000 0000 0000 0000 0000 1111".
func Bits(v uint32) string { return bitString(v, '0', '1') }

// Marks renders the set bits of v as '1' and the others as '.', to line up
// under Bits and show which bits a burn adds.
func Marks(v uint32) string { return bitString(v, '.', '1') }

func bitString(v uint32, zero, one byte) string {
	var b strings.Builder
	for i := 31; i >= 0; i-- {
		if v&(1<<i) != 0 {
			b.WriteByte(one)
		} else {
			b.WriteByte(zero)
		}
		if i%4 == 0 && i > 0 {
			b.WriteByte(' ')
		}
	}
	return b.String()
}

// wordName is "bank 14 word 0 (0x0e0)", padded so that lists align.
func wordName(bank, word, offset int) string {
	return fmt.Sprintf("%-17s", fmt.Sprintf("bank %d word %d", bank, word)) + fmt.Sprintf("(0x%03x)", offset)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, one)
	}
	return fmt.Sprintf("%d %s", n, many)
}

// Plural is "1 bit", "2 bits".
func Plural(n int, one, many string) string { return plural(n, one, many) }
