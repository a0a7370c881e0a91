package schema

import (
	"encoding/json"
	"fmt"
	"maps"
	"math/big"
	"slices"
	"sort"
	"strconv"
	"unicode/utf8"
)

// Error is one leaf error: one keyword that a value fails. It carries what
// a message needs; the wording is the caller's, who knows the file.
type Error struct {
	// Keyword is the keyword that failed: "type", "required"... or
	// "false" for a false schema ("bank": false, unevaluatedProperties:
	// false), which refuses the value whatever it is.
	Keyword string
	// Instance is the JSON pointer of the value in the document.
	Instance string
	// Schema is the JSON pointer of the keyword in the schema document,
	// or of the false schema; Path is the keyword's evaluation path from
	// the root, through every $ref.
	Schema, Path string

	Keys    []string // required, dependentRequired: the missing keys; additionalProperties: the unknown ones, sorted
	Key     string   // dependentRequired: the key present that needs Keys
	Types   []string // type: the types allowed
	Got     string   // type: the value's type ("integer" is reported as "number")
	Allowed []any    // const (the one value), enum
	Limit   string   // minimum, maximum, minLength... : the limit as the schema writes it
	Count   int      // minLength, maxItems... : the value's length, items or keys
	Pattern string   // pattern
	Matched []int    // oneOf: two branches that both match
}

// Validate checks a document as yamldoc (or encoding/json with UseNumber)
// decodes it: map[string]any, []any, string, bool, nil and json.Number
// (Go's integer and float types are taken too). It returns the leaf
// errors, none if the document is valid; an error means the value holds
// something that is not JSON anywhere, which no parsed document does.
//
// The errors are those a JSON Schema 2020-12 validator reports as leaves,
// with two rules of its own, which the tests hold to the oracle:
//   - a value of the wrong type fails its schema's "type" only: the
//     schema's other keywords are not checked, as they would only repeat
//     the complaint in other words;
//   - additionalProperties: false is one error on the object, naming every
//     unknown key, not one per key.
func (s *Schema) Validate(v any) ([]Error, error) {
	if err := checkJSON(v, ""); err != nil {
		return nil, err
	}
	var st state
	st.eval(s.root, v, "", "")
	return st.errs, nil
}

type state struct {
	errs []Error
}

// checkJSON refuses a value that is not JSON, wherever it is: a schema
// that does not look at it must not pass it either.
func checkJSON(v any, ptr string) error {
	switch x := v.(type) {
	case nil, bool, string:
		return nil
	case map[string]any:
		for k, e := range x {
			if err := checkJSON(e, ptr+"/"+escape(k)); err != nil {
				return err
			}
		}
		return nil
	case []any:
		for i, e := range x {
			if err := checkJSON(e, ptr+"/"+strconv.Itoa(i)); err != nil {
				return err
			}
		}
		return nil
	}
	if _, ok := number(v); !ok {
		return fmt.Errorf("the value at %q is not JSON: %T %v", ptr, v, v)
	}
	return nil
}

// seen is what a schema evaluated of an object's keys, for
// unevaluatedProperties: the names, or all of them.
type seen struct {
	all  bool
	keys map[string]bool
}

func (s *seen) add(k string) {
	if s.keys == nil {
		s.keys = map[string]bool{}
	}
	s.keys[k] = true
}

func (s *seen) merge(o seen) {
	if o.all {
		s.all = true
	}
	for k := range o.keys {
		s.add(k)
	}
}

func (s *seen) has(k string) bool { return s.all || s.keys[k] }

// eval checks v, at instance pointer inst, against n, reached by the
// evaluation path path. It appends the leaf errors and reports whether v
// is valid, and what n evaluated of v's keys (valid or not: a schema's own
// unevaluatedProperties counts the properties it checked, even those that
// fail).
func (st *state) eval(n *node, v any, inst, path string) (bool, seen) {
	var ev seen
	fail := func(e Error) {
		e.Instance = inst
		if e.Schema == "" {
			e.Schema, e.Path = n.loc+"/"+e.Keyword, path+"/"+e.Keyword
		}
		st.errs = append(st.errs, e)
	}
	if n.always != nil {
		if !*n.always {
			fail(Error{Keyword: "false", Schema: n.loc, Path: path})
			return false, ev
		}
		return true, ev
	}
	typ := typeOf(v)
	if len(n.types) > 0 && !hasType(n.types, typ, v) {
		fail(Error{Keyword: "type", Types: n.types, Got: typ})
		return false, ev
	}
	before := len(st.errs)
	if n.hasConst && !equal(v, n.constVal) {
		fail(Error{Keyword: "const", Allowed: []any{n.constVal}})
	}
	if n.enum != nil && !inEnum(v, n.enum) {
		fail(Error{Keyword: "enum", Allowed: n.enum})
	}
	switch x := v.(type) {
	case map[string]any:
		st.object(n, x, inst, path, &ev, fail)
	case []any:
		if n.minItems >= 0 && len(x) < n.minItems {
			fail(Error{Keyword: "minItems", Limit: strconv.Itoa(n.minItems), Count: len(x)})
		}
		if n.maxItems >= 0 && len(x) > n.maxItems {
			fail(Error{Keyword: "maxItems", Limit: strconv.Itoa(n.maxItems), Count: len(x)})
		}
		if n.items != nil {
			for i, e := range x {
				st.eval(n.items, e, inst+"/"+strconv.Itoa(i), path+"/items")
			}
		}
	case string:
		if n.minLen >= 0 || n.maxLen >= 0 {
			// Characters, not bytes: JSON Schema counts code points.
			l := utf8.RuneCountInString(x)
			if n.minLen >= 0 && l < n.minLen {
				fail(Error{Keyword: "minLength", Limit: strconv.Itoa(n.minLen), Count: l})
			}
			if n.maxLen >= 0 && l > n.maxLen {
				fail(Error{Keyword: "maxLength", Limit: strconv.Itoa(n.maxLen), Count: l})
			}
		}
		if n.pattern != nil && !n.pattern.MatchString(x) {
			fail(Error{Keyword: "pattern", Pattern: n.pattern.String()})
		}
	default:
		if typ == "number" && (n.minimum != nil || n.maximum != nil) {
			r, _ := number(v)
			if n.minimum != nil && r.Cmp(n.minimum) < 0 {
				fail(Error{Keyword: "minimum", Limit: n.minText})
			}
			if n.maximum != nil && r.Cmp(n.maximum) > 0 {
				fail(Error{Keyword: "maximum", Limit: n.maxText})
			}
		}
	}
	// The in-place keywords: they check v itself; what a valid one
	// evaluated counts as evaluated here.
	inPlace := func(sub *node, p string) bool {
		ok, e := st.eval(sub, v, inst, p)
		if ok {
			ev.merge(e)
		}
		return ok
	}
	if n.ref != nil {
		inPlace(n.ref, path+"/$ref")
	}
	if n.not != nil {
		mark := len(st.errs)
		ok, _ := st.eval(n.not, v, inst, path+"/not")
		st.errs = st.errs[:mark] // the errors of a not are its success
		if ok {
			fail(Error{Keyword: "not"})
		}
	}
	for i, sub := range n.allOf {
		inPlace(sub, path+"/allOf/"+strconv.Itoa(i))
	}
	if n.anyOf != nil {
		mark, any := len(st.errs), false
		for i, sub := range n.anyOf {
			// Every branch, not only up to the first match: each valid
			// one's evaluated keys count.
			if inPlace(sub, path+"/anyOf/"+strconv.Itoa(i)) {
				any = true
			}
		}
		if any {
			st.errs = st.errs[:mark]
		}
	}
	if n.oneOf != nil {
		mark, matched := len(st.errs), []int{}
		for i, sub := range n.oneOf {
			if inPlace(sub, path+"/oneOf/"+strconv.Itoa(i)) {
				matched = append(matched, i)
				if len(matched) == 2 {
					break
				}
			}
		}
		switch len(matched) {
		case 1:
			st.errs = st.errs[:mark]
		case 2:
			st.errs = st.errs[:mark]
			fail(Error{Keyword: "oneOf", Matched: matched})
		}
		// None: every branch's errors say why.
	}
	if n.ifS != nil {
		mark := len(st.errs)
		ok, e := st.eval(n.ifS, v, inst, path+"/if")
		st.errs = st.errs[:mark] // if only chooses
		if ok {
			ev.merge(e)
			if n.thenS != nil {
				inPlace(n.thenS, path+"/then")
			}
		} else if n.elseS != nil {
			inPlace(n.elseS, path+"/else")
		}
	}
	if obj, ok := v.(map[string]any); ok && n.unevaluated != nil {
		for _, k := range slices.Sorted(maps.Keys(obj)) {
			if !ev.has(k) {
				st.eval(n.unevaluated, obj[k], inst+"/"+escape(k), path+"/unevaluatedProperties")
			}
		}
		ev.all = true
	}
	return len(st.errs) == before, ev
}

// object checks the keywords for objects.
func (st *state) object(n *node, x map[string]any, inst, path string, ev *seen, fail func(Error)) {
	if n.minProps >= 0 && len(x) < n.minProps {
		fail(Error{Keyword: "minProperties", Limit: strconv.Itoa(n.minProps), Count: len(x)})
	}
	if n.maxProps >= 0 && len(x) > n.maxProps {
		fail(Error{Keyword: "maxProperties", Limit: strconv.Itoa(n.maxProps), Count: len(x)})
	}
	if missing := missingKeys(x, n.required); missing != nil {
		fail(Error{Keyword: "required", Keys: missing})
	}
	for _, k := range n.propNames {
		if pv, ok := x[k]; ok {
			ev.add(k)
			st.eval(n.properties[k], pv, inst+"/"+escape(k), path+"/properties/"+escape(k))
		}
	}
	if n.propertyNames != nil {
		for _, k := range slices.Sorted(maps.Keys(x)) {
			st.eval(n.propertyNames, k, inst+"/"+escape(k), path+"/propertyNames")
		}
	}
	if n.additional != nil {
		var extra []string
		for _, k := range slices.Sorted(maps.Keys(x)) {
			if !ev.has(k) {
				extra = append(extra, k)
			}
		}
		if n.additional.always != nil && !*n.additional.always {
			if extra != nil {
				fail(Error{Keyword: "additionalProperties", Keys: extra})
			}
		} else {
			for _, k := range extra {
				st.eval(n.additional, x[k], inst+"/"+escape(k), path+"/additionalProperties")
			}
		}
		ev.all = true
	}
	for _, k := range sortedNodes(n.dependentRequired) {
		if _, ok := x[k]; !ok {
			continue
		}
		// One error per missing key, each at the keyword's entry for it.
		for i, need := range n.dependentRequired[k] {
			if _, ok := x[need]; !ok {
				p := "/dependentRequired/" + escape(k) + "/" + strconv.Itoa(i)
				fail(Error{Keyword: "dependentRequired", Schema: n.loc + p, Path: path + p, Key: k, Keys: []string{need}})
			}
		}
	}
	for _, k := range sortedNodes(n.dependentSchemas) {
		if _, ok := x[k]; ok {
			okSub, e := st.eval(n.dependentSchemas[k], x, inst, path+"/dependentSchemas/"+escape(k))
			if okSub {
				ev.merge(e)
			}
		}
	}
}

func missingKeys(x map[string]any, required []string) []string {
	var missing []string
	for _, k := range required {
		if _, ok := x[k]; !ok {
			missing = append(missing, k)
		}
	}
	return missing
}

func sortedNodes[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// typeOf is the JSON type of a value (checkJSON made sure it has one).
func typeOf(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case string:
		return "string"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	if _, ok := number(v); ok {
		return "number"
	}
	return "invalid"
}

func hasType(types []string, typ string, v any) bool {
	for _, t := range types {
		if t == typ {
			return true
		}
		if t == "integer" && typ == "number" {
			// 1.0 is an integer in JSON Schema: the value counts, not
			// its spelling.
			if r, _ := number(v); r.IsInt() {
				return true
			}
		}
	}
	return false
}

// number reads a JSON number exactly.
func number(v any) (*big.Rat, bool) {
	var s string
	switch x := v.(type) {
	case json.Number:
		s = string(x)
	case float64, float32, int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64:
		s = fmt.Sprint(x)
	default:
		return nil, false
	}
	if !jsonNumber(s) {
		return nil, false
	}
	return new(big.Rat).SetString(s)
}

// jsonNumber reports whether s is spelled as JSON spells a number: big.Rat
// would also take 0x10, 1/3 or "Inf".
func jsonNumber(s string) bool {
	i := 0
	digits := func() int {
		start := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		return i - start
	}
	if i < len(s) && s[i] == '-' {
		i++
	}
	start := i
	if n := digits(); n == 0 || n > 1 && s[start] == '0' {
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		if digits() == 0 {
			return false
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if digits() == 0 {
			return false
		}
	}
	return i == len(s)
}

func inEnum(v any, enum []any) bool {
	for _, e := range enum {
		if equal(v, e) {
			return true
		}
	}
	return false
}

// equal compares two JSON values; numbers by value (1 == 1.0).
func equal(a, b any) bool {
	ra, aNum := number(a)
	rb, bNum := number(b)
	if aNum || bNum {
		return aNum && bNum && ra.Cmp(rb) == 0
	}
	switch x := a.(type) {
	case nil, bool, string:
		return a == b
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !equal(x[i], y[i]) {
				return false
			}
		}
		return true
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, xv := range x {
			yv, ok := y[k]
			if !ok || !equal(xv, yv) {
				return false
			}
		}
		return true
	}
	return false
}
