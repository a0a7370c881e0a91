package schema_test

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/otpprov/otpprov/internal/schema"
)

const draft = `"$schema": "https://json-schema.org/draft/2020-12/schema"`

// Compile refuses what it does not implement, so that a schema edit can
// never be silently ignored: each of these is valid 2020-12 (the oracle
// compiles it), and each would let through what the schema refuses.
func TestCompileRefusesUnimplemented(t *testing.T) {
	for _, tc := range []struct{ schema, where string }{
		{`{"type": "string", "format": "ipv4"}`, "/format"},
		{`{"patternProperties": {"^x": false}}`, "/patternProperties"},
		{`{"prefixItems": [{"type": "string"}]}`, "/prefixItems"},
		{`{"uniqueItems": true}`, "/uniqueItems"},
		{`{"contains": {"const": 1}}`, "/contains"},
		{`{"exclusiveMinimum": 0}`, "/exclusiveMinimum"},
		{`{"exclusiveMaximum": 0}`, "/exclusiveMaximum"},
		{`{"multipleOf": 4}`, "/multipleOf"},
		{`{"unevaluatedItems": false}`, "/unevaluatedItems"},
		{`{"dependencies": {"a": ["b"]}}`, "/dependencies"},
		{`{"$defs": {"x": {"$anchor": "x"}}}`, "/$defs/x/$anchor"},
		{`{"$defs": {"x": {"$dynamicAnchor": "x"}}}`, "/$defs/x/$dynamicAnchor"},
		{`{"properties": {"a": {"maxContains": 1}}}`, "/properties/a/maxContains"},
		{`{"items": {"contentEncoding": "base64"}}`, "/items/contentEncoding"},
		{`{"allOf": [{"deprecated": true}]}`, "/allOf/0/deprecated"},
		{`{"properties": {"a": {"mimimum": 1}}}`, "/properties/a/mimimum"}, // a typo is an unknown keyword
	} {
		if _, err := oracleCompile([]byte(tc.schema)); err != nil {
			t.Fatalf("%s is not valid 2020-12 per the oracle, so proves nothing: %v", tc.schema, err)
		}
		_, err := schema.Compile([]byte(tc.schema))
		var ce *schema.CompileError
		if !errors.As(err, &ce) || ce.Loc != tc.where || !strings.Contains(ce.Msg, "not implemented") {
			t.Errorf("%s: got %v, want a refusal at %s", tc.schema, err, tc.where)
		}
	}
}

// What our schemas may hold beyond what validates: annotations.
func TestCompileAcceptsAnnotations(t *testing.T) {
	s := `{` + draft + `, "$id": "urn:x", "title": "t", "description": "d", "$comment": "c",
		"properties": {"a": {"type": "integer", "default": 1, "examples": [1, 2], "description": "d"}}}`
	if _, err := schema.Compile([]byte(s)); err != nil {
		t.Fatal(err)
	}
}

func TestCompileRefusesMistakes(t *testing.T) {
	for _, tc := range []struct{ schema, where, msg string }{
		{`{"$schema": "http://json-schema.org/draft-07/schema#"}`, "/$schema", "2020-12"},
		{`{"properties": {"a": {"$id": "urn:y"}}}`, "/properties/a/$id", "root"},
		{`{"$ref": "urn:other#/x"}`, "/$ref", "this document"},
		{`{"$ref": "#/$defs/nope"}`, "/$ref", "not a schema"},
		{`{"$ref": "#/$defs"}`, "/$ref", "not a schema"},
		{`{"$defs": {"a": {"$ref": "#/$defs/b"}, "b": {"allOf": [{"$ref": "#/$defs/a"}]}}, "$ref": "#/$defs/a"}`, "/$defs/a", "recursive"},
		{`{"properties": {"next": {"$ref": "#"}}}`, "", "recursive"},
		{`{"then": {"required": ["a"]}}`, "", "without if"},
		{`{"type": "integr"}`, "/type", "not a JSON type"},
		{`{"type": []}`, "/type", "type"},
		{`{"required": ["a", "a"]}`, "/required", "twice"},
		{`{"required": "a"}`, "/required", "list"},
		{`{"minItems": -1}`, "/minItems", "whole number"},
		{`{"minLength": 1.5}`, "/minLength", "whole number"},
		{`{"maximum": "10"}`, "/maximum", "number"},
		{`{"pattern": "(["}`, "/pattern", "pattern"},
		{`{"enum": []}`, "/enum", "at least one"},
		{`{"anyOf": []}`, "/anyOf", "at least one"},
		{`{"items": 3}`, "/items", "object or true or false"},
		{`{"description": 3}`, "/description", "string"},
		{`[]`, "", "object or true or false"},
		{`{} {}`, "", "more than one"},
		{`{`, "", "not JSON"},
	} {
		_, err := schema.Compile([]byte(tc.schema))
		var ce *schema.CompileError
		if !errors.As(err, &ce) || ce.Loc != tc.where || !strings.Contains(ce.Msg, tc.msg) {
			t.Errorf("%s: got %v, want a refusal at %q saying %q", tc.schema, err, tc.where, tc.msg)
		}
	}
}

// Each case: a schema, a document, and the leaves we expect, as
// "keyword at instance". Every case is also checked against the oracle, in
// full (schema locations, paths and parameters).
func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name, schema, doc string
		want              []string
	}{
		{"valid", `{"type": "object", "properties": {"a": {"type": "integer"}}}`, `{"a": 1}`, nil},
		{"integer 1.0 is an integer", `{"type": "integer"}`, `1.0`, nil},
		{"1.5 is not", `{"type": "integer"}`, `1.5`, []string{"type at "}},
		{"big integers are exact", `{"maximum": 18446744073709551615}`, `18446744073709551616`, []string{"maximum at "}},
		{"at the limit", `{"minimum": 0, "maximum": 4294967295}`, `4294967295`, nil},
		{"a wrong type fails type only", `{"type": "string", "minLength": 3, "enum": ["abc"]}`, `12`, []string{"type at "}},
		{"enum compares numbers by value", `{"enum": [4, 8]}`, `8.0`, nil},
		{"const compares structures", `{"const": {"a": [1, "x"]}}`, `{"a": [1, "y"]}`, []string{"const at "}},
		{"length counts characters", `{"maxLength": 2}`, `"éé"`, nil},
		{"length counts characters, too long", `{"maxLength": 2}`, `"ééé"`, []string{"maxLength at "}},
		{"pattern", `{"pattern": "^[A-Z]+$"}`, `"aB"`, []string{"pattern at "}},
		{"required names every missing key", `{"required": ["a", "b", "c"]}`, `{"b": 1}`, []string{"required at "}},
		{"unknown keys are one error", `{"properties": {"a": true}, "additionalProperties": false}`, `{"a": 1, "x": 1, "y": 2}`, []string{"additionalProperties at "}},
		{"additionalProperties schema", `{"additionalProperties": {"type": "string"}}`, `{"x": 1}`, []string{"type at /x"}},
		{"propertyNames", `{"propertyNames": {"pattern": "^[a-z]+$"}}`, `{"ok": 1, "No": 2}`, []string{"pattern at /No"}},
		{"keys are RFC 6901 pointers", `{"additionalProperties": {"type": "string"}}`, `{"a/b~c d<%": 1}`, []string{"type at /a~1b~0c d<%"}},
		{"false schema", `{"properties": {"a": false}}`, `{"a": 1}`, []string{"false at /a"}},
		{"min and max properties", `{"minProperties": 2, "maxProperties": 3}`, `{"a": 1}`, []string{"minProperties at "}},
		{"items", `{"items": {"type": "integer"}, "minItems": 1, "maxItems": 2}`, `[1, "x", 3]`, []string{"maxItems at ", "type at /1"}},
		{"dependentRequired, one error per missing key", `{"dependentRequired": {"a": ["b", "c"]}}`, `{"a": 1}`, []string{"dependentRequired at ", "dependentRequired at "}},
		{"dependentSchemas", `{"dependentSchemas": {"a": {"not": {"required": ["b"]}}}}`, `{"a": 1, "b": 2}`, []string{"not at "}},
		{"dependentSchemas, absent", `{"dependentSchemas": {"a": {"not": {"required": ["b"]}}}}`, `{"b": 2}`, nil},
		{"if then", `{"if": {"required": ["a"]}, "then": {"required": ["b"]}, "else": {"required": ["c"]}}`, `{"a": 1}`, []string{"required at "}},
		{"if else", `{"if": {"required": ["a"]}, "then": {"required": ["b"]}, "else": {"required": ["c"]}}`, `{}`, []string{"required at "}},
		{"if without else", `{"if": {"required": ["a"]}, "then": {"required": ["b"]}}`, `{}`, nil},
		{"anyOf: all branches' errors", `{"anyOf": [{"required": ["a"]}, {"type": "string"}]}`, `{}`, []string{"required at ", "type at "}},
		{"anyOf: one is enough", `{"anyOf": [{"required": ["a"]}, {"type": "object"}]}`, `{}`, nil},
		{"oneOf: none", `{"oneOf": [{"required": ["a"]}, {"required": ["b"]}]}`, `{}`, []string{"required at ", "required at "}},
		{"oneOf: one", `{"oneOf": [{"required": ["a"]}, {"required": ["b"]}]}`, `{"a": 1}`, nil},
		{"oneOf: two", `{"oneOf": [{"required": ["a"]}, {"required": ["b"]}, {"required": ["c"]}]}`, `{"a": 1, "b": 1, "c": 1}`, []string{"oneOf at "}},
		{"not", `{"not": {"required": ["a"]}}`, `{"a": 1}`, []string{"not at "}},
		{"allOf", `{"allOf": [{"required": ["a"]}, {"required": ["b"]}]}`, `{}`, []string{"required at ", "required at "}},
		{"$ref", `{"$defs": {"n": {"type": "integer"}}, "properties": {"a": {"$ref": "#/$defs/n"}}}`, `{"a": "x"}`, []string{"type at /a"}},
		{"$ref beside other keywords", `{"$defs": {"n": {"maximum": 3}}, "properties": {"a": {"$ref": "#/$defs/n", "minimum": 2}}}`, `{"a": 5}`, []string{"maximum at /a"}},
		{"unevaluatedProperties sees properties", `{"properties": {"a": true}, "unevaluatedProperties": false}`, `{"a": 1, "b": 2}`, []string{"false at /b"}},
		{"unevaluatedProperties sees a valid then", `{"if": {"required": ["k"]}, "then": {"properties": {"x": true}}, "properties": {"k": true}, "unevaluatedProperties": false}`, `{"k": 1, "x": 2}`, nil},
		{"unevaluatedProperties does not see an invalid then", `{"if": {"required": ["k"]}, "then": {"properties": {"x": true}, "required": ["z"]}, "properties": {"k": true}, "unevaluatedProperties": false}`, `{"k": 1, "x": 2}`, []string{"false at /x", "required at "}},
		{"unevaluatedProperties sees allOf and if", `{"allOf": [{"properties": {"a": true}}], "if": {"properties": {"b": true}}, "unevaluatedProperties": false}`, `{"a": 1, "b": 2, "c": 3}`, []string{"false at /c"}},
		{"unevaluatedProperties sees properties that fail", `{"properties": {"a": {"type": "string"}}, "unevaluatedProperties": false}`, `{"a": 1}`, []string{"type at /a"}},
		{"unevaluatedProperties after additionalProperties", `{"allOf": [{"additionalProperties": true}], "unevaluatedProperties": false}`, `{"a": 1}`, nil},
		{"unevaluatedProperties under anyOf", `{"anyOf": [{"properties": {"a": true}}, {"properties": {"b": true}}], "unevaluatedProperties": false}`, `{"a": 1, "b": 2, "c": 3}`, []string{"false at /c"}},
		{"null and booleans", `{"properties": {"n": {"type": "null"}, "b": {"type": "boolean"}}}`, `{"n": false, "b": null}`, []string{"type at /b", "type at /n"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := schema.Compile([]byte(tc.schema))
			if err != nil {
				t.Fatal(err)
			}
			doc := decodeJSON(t, tc.doc)
			errs, err := s.Validate(doc)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, e := range errs {
				got = append(got, e.Keyword+" at "+e.Instance)
			}
			slices.Sort(got)
			if !slices.Equal(got, tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
			oracle, err := oracleCompile([]byte(tc.schema))
			if err != nil {
				t.Fatal(err)
			}
			agree(t, tc.name, s, decodeJSON(t, tc.schema), oracle, doc)
		})
	}
}

// The parameters a message needs.
func TestValidateParameters(t *testing.T) {
	s, err := schema.Compile([]byte(`{"type": "object", "required": ["b", "a"], "additionalProperties": false,
		"properties": {"n": {"type": ["integer", "string"], "maximum": 4294967295, "pattern": "^0x[0-9a-f]+$"},
			"k": {"enum": ["x", 2]}, "l": {"maxItems": 1}}}`))
	if err != nil {
		t.Fatal(err)
	}
	errs, err := s.Validate(decodeJSON(t, `{"z": 1, "y": 2, "n": 4294967296, "k": "q", "l": [1, 2]}`))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]schema.Error{}
	for _, e := range errs {
		got[e.Keyword] = e
	}
	if e := got["required"]; !slices.Equal(e.Keys, []string{"b", "a"}) {
		t.Errorf("required: keys %q, want the schema's order", e.Keys)
	}
	if e := got["additionalProperties"]; !slices.Equal(e.Keys, []string{"y", "z"}) || e.Instance != "" {
		t.Errorf("additionalProperties: keys %q at %q", e.Keys, e.Instance)
	}
	if e := got["maximum"]; e.Limit != "4294967295" || e.Instance != "/n" || e.Schema != "/properties/n/maximum" {
		t.Errorf("maximum: %+v", e)
	}
	if e := got["enum"]; len(e.Allowed) != 2 || e.Allowed[0] != "x" || e.Allowed[1] != json.Number("2") {
		t.Errorf("enum: allowed %v", e.Allowed)
	}
	if e := got["maxItems"]; e.Limit != "1" || e.Count != 2 {
		t.Errorf("maxItems: %+v", e)
	}
	if len(errs) != 5 {
		t.Errorf("%d errors, want 5: %+v", len(errs), errs)
	}
}

// A value that is not JSON is an error of the caller, reported, not a
// panic and not a pass.
func TestValidateRefusesNonJSON(t *testing.T) {
	s, err := schema.Compile([]byte(`{"properties": {"a": true}}`))
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []any{map[string]any{"b": struct{}{}}, json.Number("0x10"), []any{json.Number("1/3")}} {
		if _, err := s.Validate(v); err == nil {
			t.Errorf("%#v passed", v)
		}
	}
}
