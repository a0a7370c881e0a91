// Package schema checks a decoded YAML document against one of otpprov's
// JSON Schemas (draft 2020-12). It implements exactly the keywords those
// schemas use, and Compile refuses any other, so that an edit of a schema
// can never be silently ignored: a keyword the validator does not know
// would otherwise let through what the schema, and every editor, refuses.
//
// The full JSON Schema validators cost the tool's start-up more than the
// rest of a plan does (they compile every draft's meta-schema when their
// package is initialised); the tests use one as an oracle for this one.
package schema

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"math/big"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// Draft is the only $schema a schema may declare: other drafts give some
// keywords another meaning.
const Draft = "https://json-schema.org/draft/2020-12/schema"

// Schema is a compiled schema document.
type Schema struct {
	root *node
}

// node is one schema object (or boolean schema) of the document.
type node struct {
	loc    string // JSON pointer of the schema in its document
	always *bool  // a boolean schema: true accepts anything, false nothing

	types    []string
	hasConst bool
	constVal any
	enum     []any

	properties        map[string]*node
	propNames         []string // of properties, sorted: errors come in a stable order
	additional        *node
	propertyNames     *node
	required          []string
	dependentRequired map[string][]string
	dependentSchemas  map[string]*node
	minProps          int // -1: no limit
	maxProps          int
	unevaluated       *node

	items    *node
	minItems int
	maxItems int

	pattern *regexp.Regexp
	minLen  int
	maxLen  int
	minimum *big.Rat
	maximum *big.Rat
	minText string // the limits as the schema writes them, for messages
	maxText string

	ref    *node
	refTo  string // the $ref's target pointer, until it is resolved
	not    *node
	allOf  []*node
	anyOf  []*node
	oneOf  []*node
	ifS    *node
	thenS  *node
	elseS  *node
	refLoc string // where the $ref keyword is, for cycle messages
}

// annotations are the keywords that only describe: validation ignores them.
var annotations = map[string]bool{
	"title": true, "description": true, "$comment": true, "examples": true, "default": true,
}

// CompileError says what is wrong with a schema document, and where.
type CompileError struct {
	Loc string // JSON pointer in the schema document
	Msg string
}

func (e *CompileError) Error() string {
	loc := e.Loc
	if loc == "" {
		loc = "the root"
	}
	return fmt.Sprintf("schema, at %s: %s", loc, e.Msg)
}

type compiler struct {
	nodes map[string]*node // every schema by location, for $ref
	refs  []*node
}

// Compile compiles a schema document (JSON). It refuses keywords it does
// not implement, a $ref that leaves the document, and recursion.
func Compile(doc []byte) (*Schema, error) {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber() // limits stay exact: 4294967295 is not a float's guess
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, &CompileError{Msg: "not JSON: " + err.Error()}
	}
	if dec.More() {
		return nil, &CompileError{Msg: "more than one JSON value"}
	}
	if obj, ok := v.(map[string]any); ok {
		if s, set := obj["$schema"]; set && s != Draft {
			return nil, &CompileError{Loc: "/$schema", Msg: fmt.Sprintf("$schema must be %s: other drafts give keywords other meanings", Draft)}
		}
		if id, set := obj["$id"]; set {
			if _, ok := id.(string); !ok {
				return nil, &CompileError{Loc: "/$id", Msg: "$id must be a string"}
			}
		}
	}
	c := &compiler{nodes: map[string]*node{}}
	root, err := c.compile(v, "", true)
	if err != nil {
		return nil, err
	}
	for _, n := range c.refs {
		t, ok := c.nodes[n.refTo]
		if !ok {
			return nil, &CompileError{Loc: n.refLoc, Msg: fmt.Sprintf("$ref %s is not a schema of this document", n.refTo)}
		}
		n.ref = t
	}
	if err := checkCycles(root); err != nil {
		return nil, err
	}
	return &Schema{root: root}, nil
}

func (c *compiler) compile(v any, loc string, root bool) (*node, error) {
	n := &node{loc: loc, minProps: -1, maxProps: -1, minItems: -1, maxItems: -1, minLen: -1, maxLen: -1}
	c.nodes[loc] = n
	switch s := v.(type) {
	case bool:
		n.always = &s
		return n, nil
	case map[string]any:
		return n, c.keywords(n, s, loc, root)
	}
	return nil, &CompileError{Loc: loc, Msg: "a schema must be an object or true or false"}
}

func (c *compiler) keywords(n *node, s map[string]any, loc string, root bool) error {
	// Keywords in sorted order, so that the first problem reported is
	// always the same one.
	for _, k := range slices.Sorted(maps.Keys(s)) {
		if err := c.keyword(n, k, s[k], loc+"/"+escape(k), root); err != nil {
			return err
		}
	}
	if (n.thenS != nil || n.elseS != nil) && n.ifS == nil {
		// then and else without if are ignored by validators: surely a mistake.
		return &CompileError{Loc: loc, Msg: "then or else without if"}
	}
	return nil
}

func (c *compiler) keyword(n *node, k string, v any, loc string, root bool) error {
	bad := func(format string, a ...any) error { return &CompileError{Loc: loc, Msg: fmt.Sprintf(format, a...)} }
	sub := func() (*node, error) { return c.compile(v, loc, false) }
	var err error
	switch k {
	case "$schema", "$id":
		if !root {
			// A nested $id would move the base of the $refs under it.
			return bad("%s is allowed at the root only", k)
		}
	case "$defs":
		m, ok := v.(map[string]any)
		if !ok {
			return bad("$defs must be an object of schemas")
		}
		for _, name := range slices.Sorted(maps.Keys(m)) {
			if _, err := c.compile(m[name], loc+"/"+escape(name), false); err != nil {
				return err
			}
		}
	case "$ref":
		s, ok := v.(string)
		if !ok || !strings.HasPrefix(s, "#") {
			return bad("$ref must point into this document (#/...)")
		}
		ptr, err := url.PathUnescape(s[1:])
		if err != nil || ptr != "" && !strings.HasPrefix(ptr, "/") {
			return bad("$ref %s is not a JSON pointer (#/...)", s)
		}
		n.refTo, n.refLoc = ptr, loc
		c.refs = append(c.refs, n)
	case "type":
		n.types, err = typeList(v)
		if err != nil {
			return bad("%v", err)
		}
	case "const":
		n.hasConst, n.constVal = true, v
	case "enum":
		l, ok := v.([]any)
		if !ok || len(l) == 0 {
			return bad("enum must be a list of at least one value")
		}
		n.enum = l
	case "properties", "dependentSchemas":
		m, ok := v.(map[string]any)
		if !ok {
			return bad("%s must be an object of schemas", k)
		}
		subs := map[string]*node{}
		for _, name := range slices.Sorted(maps.Keys(m)) {
			if subs[name], err = c.compile(m[name], loc+"/"+escape(name), false); err != nil {
				return err
			}
		}
		if k == "properties" {
			n.properties = subs
			for name := range subs {
				n.propNames = append(n.propNames, name)
			}
			sort.Strings(n.propNames)
		} else {
			n.dependentSchemas = subs
		}
	case "required":
		if n.required, err = nameList(v); err != nil {
			return bad("required: %v", err)
		}
	case "dependentRequired":
		m, ok := v.(map[string]any)
		if !ok {
			return bad("dependentRequired must be an object of lists of names")
		}
		n.dependentRequired = map[string][]string{}
		for _, name := range slices.Sorted(maps.Keys(m)) {
			if n.dependentRequired[name], err = nameList(m[name]); err != nil {
				return bad("%s: %v", name, err)
			}
		}
	case "additionalProperties":
		n.additional, err = sub()
	case "propertyNames":
		n.propertyNames, err = sub()
	case "unevaluatedProperties":
		n.unevaluated, err = sub()
	case "items":
		// In 2020-12 items is one schema; a list of schemas is prefixItems.
		n.items, err = sub()
	case "not":
		n.not, err = sub()
	case "if":
		n.ifS, err = sub()
	case "then":
		n.thenS, err = sub()
	case "else":
		n.elseS, err = sub()
	case "allOf", "anyOf", "oneOf":
		l, ok := v.([]any)
		if !ok || len(l) == 0 {
			return bad("%s must be a list of at least one schema", k)
		}
		subs := make([]*node, len(l))
		for i, d := range l {
			if subs[i], err = c.compile(d, loc+"/"+strconv.Itoa(i), false); err != nil {
				return err
			}
		}
		switch k {
		case "allOf":
			n.allOf = subs
		case "anyOf":
			n.anyOf = subs
		default:
			n.oneOf = subs
		}
	case "minProperties", "maxProperties", "minItems", "maxItems", "minLength", "maxLength":
		i, ok := count(v)
		if !ok {
			return bad("%s must be a whole number, 0 or more", k)
		}
		*map[string]*int{
			"minProperties": &n.minProps, "maxProperties": &n.maxProps,
			"minItems": &n.minItems, "maxItems": &n.maxItems,
			"minLength": &n.minLen, "maxLength": &n.maxLen,
		}[k] = i
	case "minimum", "maximum":
		r, ok := number(v)
		if !ok {
			return bad("%s must be a number", k)
		}
		if k == "minimum" {
			n.minimum, n.minText = r, fmt.Sprint(v)
		} else {
			n.maximum, n.maxText = r, fmt.Sprint(v)
		}
	case "pattern":
		s, ok := v.(string)
		if !ok {
			return bad("pattern must be a string")
		}
		// Go's regular expressions, not ECMA 262's: the two agree on the
		// plain classes, anchors and counts our patterns use.
		if n.pattern, err = regexp.Compile(s); err != nil {
			return bad("pattern: %v", err)
		}
	default:
		if !annotations[k] {
			return bad("keyword %q is not implemented by otpprov's validator: implement it (and test it against the oracle) or do without", k)
		}
		if (k == "title" || k == "description" || k == "$comment") && !isString(v) {
			return bad("%s must be a string", k)
		}
	}
	return err
}

func isString(v any) bool { _, ok := v.(string); return ok }

var typeNames = map[string]bool{"null": true, "boolean": true, "object": true, "array": true, "number": true, "string": true, "integer": true}

func typeList(v any) ([]string, error) {
	if s, ok := v.(string); ok {
		v = []any{s}
	}
	l, ok := v.([]any)
	if !ok || len(l) == 0 {
		return nil, fmt.Errorf("type must be a type name or a list of them")
	}
	out, err := nameList(l)
	if err != nil {
		return nil, fmt.Errorf("type: %v", err)
	}
	for _, t := range out {
		if !typeNames[t] {
			return nil, fmt.Errorf("type %q is not a JSON type", t)
		}
	}
	return out, nil
}

// nameList reads a list of distinct strings.
func nameList(v any) ([]string, error) {
	l, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("must be a list of strings")
	}
	seen := map[string]bool{}
	out := make([]string, 0, len(l))
	for _, e := range l {
		s, ok := e.(string)
		if !ok {
			return nil, fmt.Errorf("must be a list of strings")
		}
		if seen[s] {
			return nil, fmt.Errorf("%q is listed twice", s)
		}
		seen[s] = true
		out = append(out, s)
	}
	return out, nil
}

// count reads a limit such as minItems: an integer, 0 or more.
func count(v any) (int, bool) {
	r, ok := number(v)
	if !ok || !r.IsInt() || r.Sign() < 0 || !r.Num().IsInt64() || r.Num().Int64() > 1<<31 {
		return 0, false
	}
	return int(r.Num().Int64()), true
}

// escape escapes one JSON pointer segment (RFC 6901).
func escape(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

// checkCycles refuses a schema that reaches itself. A recursion through
// in-place keywords ($ref, allOf, if...) would never end, and otpprov's
// files are not recursive, so no recursion is allowed at all.
func checkCycles(root *node) error {
	const (
		visiting = 1
		done     = 2
	)
	state := map[*node]int{}
	var visit func(n *node) error
	visit = func(n *node) error {
		switch state[n] {
		case visiting:
			return &CompileError{Loc: n.loc, Msg: "the schema refers to itself: recursive schemas are not supported"}
		case done:
			return nil
		}
		state[n] = visiting
		for _, s := range n.children() {
			if err := visit(s); err != nil {
				return err
			}
		}
		state[n] = done
		return nil
	}
	return visit(root)
}

// children lists the schemas n applies, $ref's target included.
func (n *node) children() []*node {
	var out []*node
	for _, name := range n.propNames {
		out = append(out, n.properties[name])
	}
	for _, name := range sortedNodes(n.dependentSchemas) {
		out = append(out, n.dependentSchemas[name])
	}
	out = append(out, n.allOf...)
	out = append(out, n.anyOf...)
	out = append(out, n.oneOf...)
	for _, s := range []*node{n.additional, n.propertyNames, n.unevaluated, n.items, n.ref, n.not, n.ifS, n.thenS, n.elseS} {
		if s != nil {
			out = append(out, s)
		}
	}
	return out
}
