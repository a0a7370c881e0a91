// Package escfile reads the .esc files of the bad-input corpus: a test
// input that holds bytes a text file cannot (NUL, invalid UTF-8, a lone
// CR) is written one line per line, each the inside of a Go string.
package escfile

import (
	"fmt"
	"strconv"
	"strings"
)

// Decode returns the bytes data stands for; line ends are kept.
func Decode(data []byte) ([]byte, error) {
	var out []byte
	for _, line := range strings.SplitAfter(string(data), "\n") {
		body, nl := strings.CutSuffix(line, "\n")
		u, err := strconv.Unquote(`"` + body + `"`)
		if err != nil {
			return nil, fmt.Errorf("bad escaped line %q: %v", body, err)
		}
		out = append(out, u...)
		if nl {
			out = append(out, '\n')
		}
	}
	return out, nil
}
