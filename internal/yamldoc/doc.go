package yamldoc

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"gopkg.in/yaml.v3"

	"github.com/otpprov/otpprov/internal/termtext"
)

// Doc is a YAML document turned into the JSON values the schema validator
// takes, with the position of every value and key by JSON pointer.
type Doc struct {
	File   string
	Kind   string // what the file is, for messages: "manifest", "fuse map"
	Value  any
	Pos    map[string]Pos // JSON pointer -> position of the value
	KeyPos map[string]Pos // JSON pointer -> position of the key naming it
	// Refused holds the pointers of values already reported (an ambiguous
	// number, an alias): the schema's complaint about them would only
	// repeat the same problem in vaguer words.
	Refused map[string]bool
	// Raw holds the source text of plain numbers, by pointer: the value is
	// a json.Number in decimal, but a reader that wants text (a variable
	// file's 0x0102 for a hex variable) needs what was written.
	Raw map[string]string
}

// number is the only spelling of a plain YAML number we accept: decimal
// without leading zeros, 0x hex or 0b binary. YAML itself reads "010" as
// octal 8 and "08" as the float 8.0; on a fuse word a misread digit is a
// burned bit, so anything else that YAML would take as a number is refused.
var number = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^(0|[1-9][0-9]*|0[xX][0-9a-fA-F]+|0b[01]+)$`) })

// ParseNumber reads a number as our files write it: decimal without
// leading zeros, 0x hex or 0b binary. The command line uses it too, so that
// "write 14 0 010" is refused exactly as "value: 010" is.
func ParseNumber(s string) (uint64, bool) {
	if !number().MatchString(s) {
		return 0, false
	}
	v, err := strconv.ParseUint(strings.Replace(s, "0X", "0x", 1), 0, 64)
	return v, err == nil
}

// Parse reads exactly one YAML document of b and converts it. kind names
// the file in messages. A nil Doc means nothing could be converted; the
// diagnostics say why.
func Parse(file, kind string, b []byte, maxSize int) (*Doc, Diagnostics) {
	top := Pos{File: file}
	if len(b) > maxSize {
		return nil, Diagnostics{{Pos: top, Message: fmt.Sprintf("%s is larger than %d bytes", kind, maxSize), Hint: "is this the right file?"}}
	}
	if d := checkText(file, kind, b); d != nil {
		return nil, Diagnostics{*d}
	}
	root, diags := parseYAML(file, kind, b)
	if root == nil {
		return nil, diags
	}
	d := &Doc{File: file, Kind: kind, Pos: map[string]Pos{}, KeyPos: map[string]Pos{}, Refused: map[string]bool{}, Raw: map[string]string{}}
	c := converter{Doc: d}
	d.Value = c.convert(root, "")
	return d, append(diags, c.diags...)
}

var yamlLine = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^yaml: line (\d+): (.*)$`) })

// parseYAML returns the single document's root node.
func parseYAML(file, kind string, b []byte) (*yaml.Node, Diagnostics) {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, Diagnostics{{Pos: Pos{File: file}, Message: kind + " is empty"}}
		}
		return nil, Diagnostics{yamlDiag(file, kind, err)}
	}
	var next yaml.Node
	if err := dec.Decode(&next); err == nil {
		return nil, Diagnostics{{Pos: Pos{File: file, Line: next.Line, Col: next.Column},
			Message: fmt.Sprintf("a second YAML document: a %s is exactly one document", kind), Hint: "split it into one file per " + kind}}
	} else if !errors.Is(err, io.EOF) {
		return nil, Diagnostics{yamlDiag(file, kind, err)}
	}
	if len(doc.Content) != 1 || isEmptyNode(doc.Content[0]) {
		return nil, Diagnostics{{Pos: Pos{File: file}, Message: kind + " is empty"}}
	}
	return doc.Content[0], nil
}

// isEmptyNode reports a document with nothing in it but "---" (and
// comments): YAML reads it as an implicit null.
func isEmptyNode(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null" && n.Value == "" &&
		n.Style == 0 && n.Anchor == ""
}

func yamlDiag(file, kind string, err error) Diagnostic {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	pos := Pos{File: file}
	if m := yamlLine().FindStringSubmatch(err.Error()); m != nil {
		pos.Line, _ = strconv.Atoi(m[1])
		msg = m[2]
		if parserProblems[msg] {
			pos.Line++
		}
	}
	if m := yamlDepth().FindStringSubmatch(msg); m != nil {
		// The parser's guard against nesting bombs; no real file comes near.
		return Diagnostic{Pos: pos, Message: fmt.Sprintf("invalid YAML: nested deeper than %s levels", m[1]),
			Hint: fmt.Sprintf("a %s nests a few levels deep: is this the right file?", kind)}
	}
	return Diagnostic{Pos: pos, Message: "invalid YAML: " + msg}
}

// parserProblems are the messages of the YAML parser proper, as opposed
// to its scanner. yaml.v3 numbers their line from 0 (it adds the 1 for
// scanner errors only), so that an unclosed { on line 6 was reported on
// line 5, the line before the mistake.
var parserProblems = map[string]bool{
	"did not find expected ',' or ']'":       true,
	"did not find expected ',' or '}'":       true,
	"did not find expected '-' indicator":    true,
	"did not find expected <document start>": true,
	"did not find expected <stream-start>":   true,
	"did not find expected key":              true,
	"did not find expected node content":     true,
	"found duplicate %TAG directive":         true,
	"found duplicate %YAML directive":        true,
	"found incompatible YAML document":       true,
	"found undefined tag handle":             true,
}

var yamlDepth = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^exceeded max depth of (\d+)$`) })

type converter struct {
	*Doc
	diags Diagnostics
}

func (t *converter) refuse(ptr string, n *yaml.Node, hint, format string, args ...any) any {
	t.Refused[ptr] = true
	t.diags.Add(t.at(n), hint, format, args...)
	return nil
}

func (t *converter) at(n *yaml.Node) Pos { return Pos{File: t.File, Line: n.Line, Col: n.Column} }

func (t *converter) convert(n *yaml.Node, ptr string) any {
	t.Pos[ptr] = t.at(n)
	if n.Anchor != "" {
		t.diags.Add(t.at(n), "write the value out where it is used", "YAML anchors (&%s) are not allowed in a %s", n.Anchor, t.Kind)
	}
	if n.Style&yaml.TaggedStyle != 0 {
		return t.refuse(ptr, n, "remove the tag", "explicit YAML tags (%s) are not allowed in a %s", n.Tag, t.Kind)
	}
	switch n.Kind {
	case yaml.AliasNode:
		return t.refuse(ptr, n, "write the value out where it is used", "YAML aliases (*%s) are not allowed in a %s", n.Value, t.Kind)
	case yaml.MappingNode:
		obj := map[string]any{}
		first := map[string]int{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Tag == "!!merge" {
				t.diags.Add(t.at(k), "write the keys out in each entry", "YAML merge keys (<<) are not allowed in a %s", t.Kind)
				continue
			}
			if k.Kind != yaml.ScalarNode {
				t.diags.Add(t.at(k), "", "a key must be a plain name")
				continue
			}
			// Keys are not converted: their anchors and tags are checked here.
			if k.Anchor != "" {
				t.diags.Add(t.at(k), "remove the anchor", "YAML anchors (&%s) are not allowed in a %s", k.Anchor, t.Kind)
			}
			if k.Style&yaml.TaggedStyle != 0 {
				t.diags.Add(t.at(k), "remove the tag", "explicit YAML tags (%s) are not allowed in a %s", k.Tag, t.Kind)
			}
			t.unsafeText(k, "a key")
			if line, dup := first[k.Value]; dup {
				t.diags.Add(t.at(k), "remove one of them", "duplicate key %s (first at line %d)", Quote(k.Value), line)
				continue
			}
			first[k.Value] = k.Line
			child := ptr + "/" + EscapePointer(k.Value)
			t.KeyPos[child] = t.at(k)
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
	t.diags.Add(t.at(n), "", "unexpected YAML node")
	return nil
}

// unsafeText refuses a text that would act on the terminal that shows
// it: the file's own text has no control character (checkText), but a
// YAML escape ("\e", "\r", "\0"), a tab or a block scalar's line breaks
// put one in a value. It says which, never the text: it may be a secret.
func (t *converter) unsafeText(n *yaml.Node, what string) bool {
	r, ok := termtext.First(n.Value)
	if ok {
		t.diags.Add(t.at(n), "write it without that character (a YAML escape such as \\e or \\r, a tab or a multi-line block puts one in)",
			"%s holds control character %s: names, texts and values are shown on terminals, where it would act", what, termtext.Name(r))
	}
	return ok
}

func (t *converter) scalar(n *yaml.Node, ptr string) any {
	text := func() any {
		if t.unsafeText(n, "a value") {
			t.Refused[ptr] = true
			return nil
		}
		return n.Value
	}
	if n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle|yaml.LiteralStyle|yaml.FoldedStyle) != 0 {
		return text()
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
		if !number().MatchString(n.Value) {
			return t.refuse(ptr, n, "write decimal without leading zeros (15) or hex (0x0f)",
				"ambiguous number %s: YAML would not read it as you may think", n.Value)
		}
		v, ok := ParseNumber(n.Value)
		if !ok {
			return t.refuse(ptr, n, "", "number %s does not fit in 64 bits", n.Value)
		}
		t.Raw[ptr] = n.Value
		return json.Number(strconv.FormatUint(v, 10))
	}
	return text()
}

// EscapePointer escapes one JSON pointer segment.
func EscapePointer(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

// UnescapePointer undoes EscapePointer.
func UnescapePointer(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~1", "/"), "~0", "~")
}

// At returns the value at a JSON pointer, or nil.
func (d *Doc) At(ptr string) any {
	v := d.Value
	if ptr == "" {
		return v
	}
	for _, part := range strings.Split(ptr[1:], "/") {
		part = UnescapePointer(part)
		switch c := v.(type) {
		case map[string]any:
			v = c[part]
		case []any:
			i, err := strconv.Atoi(part)
			if err != nil || i < 0 || i >= len(c) {
				return nil
			}
			v = c[i]
		default:
			return nil
		}
	}
	return v
}

// PosOf is the position of the value at ptr, or of its nearest enclosing
// value that has one, or the file.
func (d *Doc) PosOf(ptr string) Pos {
	for {
		if p, ok := d.Pos[ptr]; ok {
			return p
		}
		i := strings.LastIndex(ptr, "/")
		if i < 0 {
			return Pos{File: d.File}
		}
		ptr = ptr[:i]
	}
}
