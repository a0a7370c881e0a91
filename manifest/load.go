// Package manifest loads, validates and resolves fuse manifests: the YAML
// files, one per product SKU, that declare which OTP words a board must have.
package manifest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v5"
	"gopkg.in/yaml.v3"

	"github.com/otpprov/otpprov/fusemap"
	"github.com/otpprov/otpprov/schemas"
)

// MaxSize caps a manifest file. The largest real manifest (every word of an
// i.MX8MP) is a few tens of KiB; anything near this is not a manifest.
const MaxSize = 1 << 20

// Manifest is a loaded and validated manifest.
type Manifest struct {
	File        string
	Digest      string // "sha256:" and the hex digest of the file's bytes
	Name        string
	Description string
	SoC         fusemap.SoC
	Fuses       []Fuse
	Targets     []Target // Fuses merged by word, in word order
}

// Fuse is one entry of the manifest's fuses list.
type Fuse struct {
	Name  string
	Bank  int
	Word  int
	Value uint32
	Mask  uint32
	Pos   Pos
}

// Load reads and validates a manifest file.
func Load(path string) (*Manifest, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxSize+1))
	if err != nil {
		return nil, err
	}
	return Parse(path, b)
}

// Parse validates manifest bytes; file names them in diagnostics. Every
// problem found is returned at once, as Diagnostics.
func Parse(file string, b []byte) (*Manifest, error) {
	top := Pos{File: file}
	if len(b) > MaxSize {
		return nil, Diagnostics{{Pos: top, Message: fmt.Sprintf("manifest is larger than %d bytes", MaxSize), Hint: "is this the right file?"}}
	}
	if bytes.IndexByte(b, 0) >= 0 {
		return nil, Diagnostics{{Pos: top, Message: "manifest contains NUL bytes: not a text file"}}
	}
	root, diags := parseYAML(file, b)
	if root == nil {
		return nil, diags
	}
	t := &tree{file: file, pos: map[string]Pos{}, keyPos: map[string]Pos{}, refused: map[string]bool{}}
	t.value = t.convert(root, "")
	diags = append(diags, t.diags...)
	diags = append(diags, t.validateSchema()...)
	m := t.decode(&diags)
	targets, conflicts := m.resolve()
	diags = append(diags, conflicts...)
	m.Targets = targets
	m.File = file
	sum := sha256.Sum256(b)
	m.Digest = "sha256:" + hex.EncodeToString(sum[:])
	if len(diags) > 0 {
		return nil, diags.sorted()
	}
	return m, nil
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// parseYAML returns the single document's root node.
func parseYAML(file string, b []byte) (*yaml.Node, Diagnostics) {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, Diagnostics{{Pos: Pos{File: file}, Message: "manifest is empty"}}
		}
		return nil, Diagnostics{yamlDiag(file, err)}
	}
	var next yaml.Node
	if err := dec.Decode(&next); err == nil {
		return nil, Diagnostics{{Pos: Pos{File: file, Line: next.Line, Col: next.Column},
			Message: "a second YAML document: a manifest is exactly one document", Hint: "split it into one file per manifest"}}
	} else if !errors.Is(err, io.EOF) {
		return nil, Diagnostics{yamlDiag(file, err)}
	}
	if len(doc.Content) != 1 || isEmptyNode(doc.Content[0]) {
		return nil, Diagnostics{{Pos: Pos{File: file}, Message: "manifest is empty"}}
	}
	return doc.Content[0], nil
}

// isEmptyNode reports a document with nothing in it but "---" (and
// comments): YAML reads it as an implicit null.
func isEmptyNode(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null" && n.Value == "" &&
		n.Style == 0 && n.Anchor == ""
}

func yamlDiag(file string, err error) Diagnostic {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	pos := Pos{File: file}
	if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
		pos.Line, _ = strconv.Atoi(m[1])
		msg = m[2]
	}
	return Diagnostic{Pos: pos, Message: "invalid YAML: " + msg}
}

var (
	schemaOnce sync.Once
	schema     *jsonschema.Schema
	schemaErr  error
)

func (t *tree) validateSchema() Diagnostics {
	schemaOnce.Do(func() { schema, schemaErr = schemas.CompileManifest() })
	if schemaErr != nil {
		// The schema is embedded and tested: this is a build defect.
		return Diagnostics{{Pos: Pos{File: t.file}, Message: "internal error: manifest schema: " + schemaErr.Error()}}
	}
	err := schema.Validate(t.value)
	var ve *jsonschema.ValidationError
	if err == nil || !errors.As(err, &ve) {
		return nil
	}
	var diags Diagnostics
	for _, leaf := range leaves(ve) {
		if t.refused[leaf.InstanceLocation] {
			continue
		}
		diags = append(diags, t.schemaDiags(leaf)...)
	}
	return diags
}

// leaves returns the errors that say what is wrong; the others only group.
func leaves(ve *jsonschema.ValidationError) []*jsonschema.ValidationError {
	if len(ve.Causes) == 0 {
		return []*jsonschema.ValidationError{ve}
	}
	var out []*jsonschema.ValidationError
	for _, c := range ve.Causes {
		out = append(out, leaves(c)...)
	}
	return out
}

var quoted = regexp.MustCompile(`'((?:[^'\\]|\\.)*)'`)

// schemaDiags turns one schema error into diagnostics in the manifest's
// words, at the position of the offending key or value.
func (t *tree) schemaDiags(ve *jsonschema.ValidationError) Diagnostics {
	loc := ve.InstanceLocation
	pos, ok := t.pos[loc]
	if !ok {
		pos = Pos{File: t.file}
	}
	where := describe(loc)
	keyword := ve.KeywordLocation[strings.LastIndex(ve.KeywordLocation, "/")+1:]
	d := func(p Pos, hint, format string, args ...any) Diagnostics {
		var ds Diagnostics
		ds.add(p, hint, format, args...)
		return ds
	}
	switch keyword {
	case "additionalProperties":
		var ds Diagnostics
		for _, m := range quoted.FindAllStringSubmatch(ve.Message, -1) {
			key := unquote(m[1])
			kp, ok := t.keyPos[loc+"/"+escapePointer(key)]
			if !ok {
				kp = pos
			}
			hint := "check the spelling; the manifest reference in the README lists every key"
			if key == "device" && loc == "" {
				hint = "a manifest never chooses the device: the operator does, with --device or OTPPROV_DEVICE"
			}
			ds.add(kp, hint, "unknown key %q in %s", key, where)
		}
		if len(ds) == 0 {
			ds.add(pos, "", "%s: %s", where, ve.Message)
		}
		return ds
	case "required":
		msg := strings.Replace(ve.Message, "missing properties", "missing keys", 1)
		if len(quoted.FindAllString(ve.Message, -1)) == 1 {
			msg = strings.Replace(ve.Message, "missing properties", "missing key", 1)
		}
		return d(pos, "", "%s: %s", where, msg)
	case "type":
		return d(pos, "", "%s: %s", where, ve.Message)
	case "minimum", "maximum", "pattern":
		if strings.HasSuffix(loc, "/value") || strings.HasSuffix(loc, "/mask") {
			return d(pos, `write a number (15, 0x0f) or a quoted hex string ("0x0000000f")`, "%s must be a 32-bit word", where)
		}
		if strings.HasSuffix(loc, "/metadata/name") {
			return d(pos, "", "%s: use letters, digits, '.', '_' and '-', at most 63, starting with a letter or digit", where)
		}
		return d(pos, "", "%s: %s", where, ve.Message)
	case "const", "enum":
		if loc == "/soc" {
			return d(pos, "", "%s: unknown soc (supported: %s)", where, strings.Join(fusemap.Names(), ", "))
		}
		if loc == "/apiVersion" {
			return d(pos, "", "%s: must be otpprov/v1", where)
		}
		if loc == "/kind" {
			return d(pos, "", "%s: must be FuseManifest", where)
		}
	case "minItems":
		return d(pos, "", "%s: list at least one fuse", where)
	}
	return d(pos, "", "%s: %s", where, ve.Message)
}

// unquote undoes the jsonschema package's quoting of a name in a message
// (Go %q without its double quotes, with ' escaped as \'), so that an
// unknown key is named, and found, as it is written in the file.
func unquote(s string) string {
	s = strings.ReplaceAll(s, `\'`, `'`)
	s = strings.ReplaceAll(s, `"`, `\"`)
	if u, err := strconv.Unquote(`"` + s + `"`); err == nil {
		return u
	}
	return s
}

// describe names a JSON pointer in words: "/fuses/2/mask" -> "fuses[2].mask".
func describe(ptr string) string {
	if ptr == "" {
		return "the manifest"
	}
	var b strings.Builder
	for _, part := range strings.Split(ptr[1:], "/") {
		part = strings.ReplaceAll(strings.ReplaceAll(part, "~1", "/"), "~0", "~")
		if _, err := strconv.Atoi(part); err == nil {
			fmt.Fprintf(&b, "[%s]", part)
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(part)
	}
	return b.String()
}

// decode builds the Manifest from the validated tree and checks what the
// schema cannot: geometry, masks. It decodes what it can even when other
// parts are wrong, so that one run reports every problem.
func (t *tree) decode(diags *Diagnostics) *Manifest {
	m := &Manifest{}
	root, _ := t.value.(map[string]any)
	if md, ok := root["metadata"].(map[string]any); ok {
		m.Name, _ = md["name"].(string)
		m.Description, _ = md["description"].(string)
	}
	name, _ := root["soc"].(string)
	soc, err := fusemap.Lookup(name) // if unknown, the schema reported it
	socOK := err == nil
	m.SoC = soc
	fuses, _ := root["fuses"].([]any)
	for i := range fuses {
		// Without a SoC the entries' values and masks are still checked.
		if f, ok := t.decodeFuse(fmt.Sprintf("/fuses/%d", i), soc, socOK, diags); ok {
			m.Fuses = append(m.Fuses, f)
		}
	}
	return m
}

func (t *tree) decodeFuse(ptr string, soc fusemap.SoC, socOK bool, diags *Diagnostics) (Fuse, bool) {
	obj, _ := t.valueAt(ptr).(map[string]any)
	bank, okB := index(obj["bank"])
	word, okW := index(obj["word"])
	value, okV := u32(obj["value"])
	mask, okM := uint32(0xffffffff), true
	if _, set := obj["mask"]; set {
		mask, okM = u32(obj["mask"])
	}
	if !okB || !okW || !okV || !okM {
		return Fuse{}, false // the schema reported it
	}
	f := Fuse{Bank: int(bank), Word: int(word), Value: value, Mask: mask, Pos: t.pos[ptr]}
	f.Name, _ = obj["name"].(string)
	ok := socOK // without a SoC, bank and word cannot be checked
	if socOK {
		if f.Bank >= soc.Banks() {
			diags.add(t.pos[ptr+"/bank"], "", "bank %d is outside %s, which has banks 0..%d", f.Bank, soc.Name, soc.Banks()-1)
			ok = false
		}
		if f.Word >= soc.WordsPerBank {
			diags.add(t.pos[ptr+"/word"], "", "word %d is outside a %s bank, which has words 0..%d", f.Word, soc.Name, soc.WordsPerBank-1)
			ok = false
		}
		if ok && !soc.Writable(soc.Index(f.Bank, f.Word)) {
			diags.add(f.Pos, "", "bank %d word %d cannot be programmed through nvmem: %s", f.Bank, f.Word, soc.WriteHazard)
			ok = false
		}
	}
	if mask == 0 {
		diags.add(t.pos[ptr+"/mask"], "remove the entry, or set the bits it should check", "mask 0x00000000 selects no bits")
		ok = false
	}
	if extra := value &^ mask; extra != 0 {
		diags.add(t.pos[ptr+"/value"], "widen the mask or clear those bits in the value",
			"value 0x%08x has bits outside mask 0x%08x: 0x%08x (bits %s)", value, mask, extra, BitList(extra))
		ok = false
	}
	return f, ok
}

func (t *tree) valueAt(ptr string) any {
	v := t.value
	for _, part := range strings.Split(ptr[1:], "/") {
		switch c := v.(type) {
		case map[string]any:
			v = c[part]
		case []any:
			i, _ := strconv.Atoi(part)
			if i >= len(c) {
				return nil
			}
			v = c[i]
		default:
			return nil
		}
	}
	return v
}

// hexWord is the schema's pattern for a 32-bit word written as a string.
var hexWord = regexp.MustCompile(`^0[xX][0-9a-fA-F]{1,8}$`)

// u32 reads a 32-bit word as the schema allows it: a number or a "0x"
// string of at most 8 digits. Anything else the schema has reported, so it
// is not decoded: a value the schema refused is not checked a second time.
func u32(v any) (uint32, bool) {
	switch x := v.(type) {
	case json.Number:
		n, err := strconv.ParseUint(string(x), 10, 32)
		return uint32(n), err == nil
	case string:
		if !hexWord.MatchString(x) {
			return 0, false
		}
		n, err := strconv.ParseUint(x[2:], 16, 32)
		return uint32(n), err == nil
	}
	return 0, false
}

// index reads a bank or word number: the schema allows integers only.
func index(v any) (uint32, bool) {
	if x, ok := v.(json.Number); ok {
		n, err := strconv.ParseUint(string(x), 10, 32)
		return uint32(n), err == nil
	}
	return 0, false
}

// BitList names the set bits of v, highest first: "31,7,3..0".
func BitList(v uint32) string {
	var parts []string
	for hi := 31; hi >= 0; hi-- {
		if v&(1<<hi) == 0 {
			continue
		}
		lo := hi
		for lo > 0 && v&(1<<(lo-1)) != 0 {
			lo--
		}
		if lo == hi {
			parts = append(parts, strconv.Itoa(hi))
		} else {
			parts = append(parts, fmt.Sprintf("%d..%d", hi, lo))
		}
		hi = lo
	}
	return strings.Join(parts, ",")
}
