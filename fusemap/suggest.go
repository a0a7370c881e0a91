package fusemap

import (
	"sort"
	"strings"
)

// Suggest returns the candidates closest to a misspelt name, for a "did you
// mean" hint: case is ignored (a manifest's `field: mac_addr0`, an
// operator's `--soc IMX8MM`), then at most maxEdits edits are allowed (and
// fewer than a third of the candidate: one letter off a three-letter name
// is a guess). All candidates at the smallest distance are returned, in
// name order: "imx8m" is as close to imx8mm as to imx8mq, and picking one
// would be a guess too. nil when none is that close.
func Suggest(name string, candidates []string, maxEdits int) []string {
	if name == "" {
		return nil
	}
	best := maxEdits + 1
	var out []string
	want := strings.ToUpper(name)
	for _, c := range candidates {
		d := distance(want, strings.ToUpper(c))
		if d > maxEdits || (d > 0 && d > len(c)/3) {
			continue
		}
		if d < best {
			best, out = d, nil
		}
		if d == best {
			out = append(out, c)
		}
	}
	sort.Strings(out)
	return out
}

// DidYouMean words Suggest's answer as a hint: "did you mean A?", "did you
// mean A or B?"; "" for none.
func DidYouMean(names []string) string {
	switch len(names) {
	case 0:
		return ""
	case 1:
		return "did you mean " + names[0] + "?"
	}
	return "did you mean " + strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1] + "?"
}

// SuggestField is Suggest over the map's field names, at most two edits.
func (m *Map) SuggestField(name string) []string {
	names := make([]string, len(m.Fields))
	for i, f := range m.Fields {
		names[i] = f.Name
	}
	return Suggest(name, names, 2)
}

// SuggestSoC is Suggest over the SoC names, at most one edit: SoC names
// differ by one letter from each other.
func SuggestSoC(name string) []string { return Suggest(name, Names(), 1) }

// distance is the Levenshtein distance between a and b, in bytes: names
// are ASCII (a name that is not stays far from every candidate).
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}
