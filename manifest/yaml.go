package manifest

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// tree is a YAML document turned into the JSON values the schema validator
// takes, with the position of every value and key by JSON pointer, so that
// schema errors can name a line and column.
type tree struct {
	file   string
	value  any
	pos    map[string]Pos // JSON pointer -> position of the value
	keyPos map[string]Pos // JSON pointer -> position of the key naming it
	// refused holds the pointers of values already reported (an ambiguous
	// number, an alias): the schema's complaint about them would only
	// repeat the same problem in vaguer words.
	refused map[string]bool
	diags   Diagnostics
}

// number is the only spelling of a plain YAML number we accept: decimal
// without leading zeros, 0x hex or 0b binary. YAML itself reads "010" as
// octal 8 and "08" as the float 8.0; on a fuse word a misread digit is a
// burned bit, so anything else that YAML would take as a number is refused.
var number = regexp.MustCompile(`^(0|[1-9][0-9]*|0[xX][0-9a-fA-F]+|0b[01]+)$`)

func (t *tree) refuse(ptr string, n *yaml.Node, hint, format string, args ...any) any {
	t.refused[ptr] = true
	t.diags.add(t.at(n), hint, format, args...)
	return nil
}

func (t *tree) at(n *yaml.Node) Pos { return Pos{File: t.file, Line: n.Line, Col: n.Column} }

func (t *tree) convert(n *yaml.Node, ptr string) any {
	t.pos[ptr] = t.at(n)
	if n.Anchor != "" {
		t.diags.add(t.at(n), "write the value out where it is used", "YAML anchors (&%s) are not allowed in a manifest", n.Anchor)
	}
	if n.Style&yaml.TaggedStyle != 0 {
		return t.refuse(ptr, n, "remove the tag", "explicit YAML tags (%s) are not allowed in a manifest", n.Tag)
	}
	switch n.Kind {
	case yaml.AliasNode:
		return t.refuse(ptr, n, "write the value out where it is used", "YAML aliases (*%s) are not allowed in a manifest", n.Value)
	case yaml.MappingNode:
		obj := map[string]any{}
		first := map[string]int{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Tag == "!!merge" {
				t.diags.add(t.at(k), "write the keys out in each entry", "YAML merge keys (<<) are not allowed in a manifest")
				continue
			}
			if k.Kind != yaml.ScalarNode {
				t.diags.add(t.at(k), "", "a key must be a plain name")
				continue
			}
			// Keys are not converted: their anchors and tags are checked here.
			if k.Anchor != "" {
				t.diags.add(t.at(k), "remove the anchor", "YAML anchors (&%s) are not allowed in a manifest", k.Anchor)
			}
			if k.Style&yaml.TaggedStyle != 0 {
				t.diags.add(t.at(k), "remove the tag", "explicit YAML tags (%s) are not allowed in a manifest", k.Tag)
			}
			if line, dup := first[k.Value]; dup {
				t.diags.add(t.at(k), "remove one of them", "duplicate key %q (first at line %d)", k.Value, line)
				continue
			}
			first[k.Value] = k.Line
			child := ptr + "/" + escapePointer(k.Value)
			t.keyPos[child] = t.at(k)
			obj[k.Value] = t.convert(v, child)
		}
		return obj
	case yaml.SequenceNode:
		arr := make([]any, 0, len(n.Content))
		for i, c := range n.Content {
			arr = append(arr, t.convert(c, fmt.Sprintf("%s/%d", ptr, i)))
		}
		return arr
	case yaml.ScalarNode:
		return t.scalar(n, ptr)
	}
	t.diags.add(t.at(n), "", "unexpected YAML node")
	return nil
}

func (t *tree) scalar(n *yaml.Node, ptr string) any {
	if n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle|yaml.LiteralStyle|yaml.FoldedStyle) != 0 {
		return n.Value
	}
	switch n.Tag {
	case "!!null":
		return nil
	case "!!bool":
		return n.Value == "true" || n.Value == "True" || n.Value == "TRUE"
	case "!!int", "!!float":
		if strings.HasPrefix(n.Value, "-") {
			return t.refuse(ptr, n, "", "negative number %s: fuse words, banks and masks are unsigned", n.Value)
		}
		if !number.MatchString(n.Value) {
			return t.refuse(ptr, n, "write decimal without leading zeros (15) or hex (0x0f)",
				"ambiguous number %s: YAML would not read it as you may think", n.Value)
		}
		v, ok := ParseNumber(n.Value)
		if !ok {
			return t.refuse(ptr, n, "", "number %s does not fit in 64 bits", n.Value)
		}
		return json.Number(strconv.FormatUint(v, 10))
	}
	return n.Value
}

// ParseNumber reads a number as a manifest writes it: decimal without
// leading zeros, 0x hex or 0b binary. The command line uses it too, so that
// "write 14 0 010" is refused exactly as "value: 010" is.
func ParseNumber(s string) (uint64, bool) {
	if !number.MatchString(s) {
		return 0, false
	}
	v, err := strconv.ParseUint(strings.Replace(s, "0X", "0x", 1), 0, 64)
	return v, err == nil
}

func escapePointer(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}
