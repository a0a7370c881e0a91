package yamldoc

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Clip shortens a long name for a message, unquoted: its first 40
// characters and how many there are. A short one is returned as it is.
func Clip(s string) string {
	if utf8.RuneCountInString(s) <= clipMax {
		return s
	}
	return head(s) + fmt.Sprintf("... (%d characters)", utf8.RuneCountInString(s))
}

// clipMax is the longest value quoted whole; a longer one is cut to its
// first clipHead characters.
const clipMax, clipHead = 64, 40

// head is the first clipHead characters of s.
func head(s string) string {
	i := 0
	for at := range s {
		if i == clipHead {
			return s[:at]
		}
		i++
	}
	return s
}

// Quote quotes a value from an input file or the command line for a
// message, as strconv.Quote does, but only the start of a long one: a
// 200 KB MAC address quoted whole would bury the message it is in.
func Quote(s string) string {
	n := utf8.RuneCountInString(s)
	if n <= clipMax {
		return strconv.Quote(s)
	}
	return fmt.Sprintf(`%s..." (%d characters)`, strings.TrimSuffix(strconv.Quote(head(s)), `"`), n)
}
