package yamldoc

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/otpprov/otpprov/internal/schema"
)

// SchemaError is one leaf error of the validator, placed in the file.
type SchemaError struct {
	Ptr     string // JSON pointer of the offending value
	Keyword string // the schema keyword that failed: "required", "enum", ...; "false" for a false schema
	Where   string // Ptr in words: "fuses[2].mask"
	Pos     Pos
	Leaf    schema.Error // what the validator found: missing keys, the limit...
}

// Validate checks the document against s. Each leaf error is first offered
// to special, which may word it in the file's own terms (ok=true); the rest
// get generic wording. Values already refused while parsing are skipped.
func (d *Doc) Validate(s *schema.Schema, special func(SchemaError) (Diagnostics, bool)) Diagnostics {
	leaves, err := s.Validate(d.Value)
	if err != nil {
		// Parse makes JSON values only: this is a defect, not the file's.
		return Diagnostics{{Pos: Pos{File: d.File}, Message: "internal error: " + err.Error()}}
	}
	var diags Diagnostics
	// A document of another kind (a block given where its return is
	// asked for, a manifest as a pools file) fails on nearly every key: a
	// wall of "unknown key" hides the one error that says what is wrong.
	// Only the kind's is said then.
	var kindDiags Diagnostics
	// A value of the wrong type can fail two "type" keywords (a property's
	// own, and the narrower one of the branch an if/then picks): the
	// complaint is one, and the later, narrower wording replaces the first.
	typeAt := map[string]int{} // pointer -> index in diags of its type error
	for _, leaf := range leaves {
		if d.Refused[leaf.Instance] {
			continue
		}
		e := SchemaError{
			Ptr:     leaf.Instance,
			Keyword: leaf.Keyword,
			Where:   d.Describe(leaf.Instance),
			Pos:     d.PosOf(leaf.Instance),
			Leaf:    leaf,
		}
		if special != nil {
			if ds, ok := special(e); ok {
				if e.Ptr == "/kind" {
					kindDiags = append(kindDiags, ds...)
				}
				diags = append(diags, ds...)
				continue
			}
		}
		ds := d.generic(e)
		if e.Ptr == "/kind" {
			kindDiags = append(kindDiags, ds...)
		}
		if e.Keyword == "type" && len(ds) == 1 {
			if i, dup := typeAt[e.Ptr]; dup {
				diags[i] = ds[0]
				continue
			}
			typeAt[e.Ptr] = len(diags)
		}
		diags = append(diags, ds...)
	}
	if len(kindDiags) > 0 {
		if m, ok := d.Value.(map[string]any); ok {
			if got, ok := m["kind"].(string); ok {
				for i := range kindDiags {
					if kindDiags[i].Hint == "" {
						kindDiags[i].Hint = fmt.Sprintf("is this the right file? its kind is %s: it is not a %s", Quote(got), d.Kind)
					}
				}
			}
		}
		return kindDiags
	}
	return diags
}

// generic words one schema error at the offending key or value.
func (d *Doc) generic(e SchemaError) Diagnostics {
	var ds Diagnostics
	l := e.Leaf
	switch e.Keyword {
	case "additionalProperties":
		for _, key := range l.Keys {
			kp, ok := d.KeyPos[e.Ptr+"/"+EscapePointer(key)]
			if !ok {
				kp = e.Pos
			}
			ds.Add(kp, fmt.Sprintf("check the spelling; the %s reference in the README lists every key", d.Kind), "unknown key %s in %s", Quote(key), e.Where)
		}
		return ds
	case "false":
		// A "false" subschema: the key is not allowed here at all.
		kp, ok := d.KeyPos[e.Ptr]
		if !ok {
			kp = e.Pos
		}
		ds.Add(kp, "", "%s is not allowed here", e.Where)
		return ds
	case "required":
		ds.Add(e.Pos, "", "%s: %s", e.Where, missing(l.Keys))
	case "dependentRequired":
		ds.Add(e.Pos, "", "%s: %s needs %s as well", e.Where, Quote(l.Key), strings.Join(quoteAll(l.Keys), ", "))
	case "type":
		ds.Add(e.Pos, "", "%s must be %s, not %s", e.Where, orList(typeWords(l.Types)), typeWord(l.Got))
	case "const":
		ds.Add(e.Pos, "", "%s must be %s", e.Where, literal(l.Allowed[0]))
	case "enum":
		var vs []string
		for _, v := range l.Allowed {
			vs = append(vs, literal(v))
		}
		ds.Add(e.Pos, "", "%s must be one of %s", e.Where, orList(vs))
	case "pattern":
		ds.Add(e.Pos, "", "%s must match the regular expression %s", e.Where, l.Pattern)
	case "minLength":
		if l.Limit == "1" {
			ds.Add(e.Pos, "", "%s must not be empty", e.Where)
		} else {
			ds.Add(e.Pos, "", "%s must be at least %s characters long, not %d", e.Where, l.Limit, l.Count)
		}
	case "maxLength":
		ds.Add(e.Pos, "", "%s must be at most %s characters long, not %d", e.Where, l.Limit, l.Count)
	case "minimum":
		ds.Add(e.Pos, "", "%s must be at least %s", e.Where, l.Limit)
	case "maximum":
		ds.Add(e.Pos, "", "%s must be at most %s", e.Where, l.Limit)
	case "minItems":
		ds.Add(e.Pos, "", "%s must have at least %s entries, not %d", e.Where, l.Limit, l.Count)
	case "maxItems":
		ds.Add(e.Pos, "", "%s must have at most %s entries, not %d", e.Where, l.Limit, l.Count)
	case "minProperties":
		ds.Add(e.Pos, "", "%s must have at least %s keys, not %d", e.Where, l.Limit, l.Count)
	case "maxProperties":
		ds.Add(e.Pos, "", "%s must have at most %s keys, not %d", e.Where, l.Limit, l.Count)
	case "not":
		ds.Add(e.Pos, "", "%s: these keys do not go together", e.Where)
	case "oneOf":
		ds.Add(e.Pos, "", "%s fits more than one of the forms it may take", e.Where)
	default:
		// A keyword the validator reports but this file does not word yet.
		ds.Add(e.Pos, "", "%s is not valid (schema keyword %s)", e.Where, e.Keyword)
	}
	return ds
}

// missing words a "required" error: missing key "a", missing keys "a", "b".
func missing(keys []string) string {
	if len(keys) == 1 {
		return "missing key " + Quote(keys[0])
	}
	return "missing keys " + strings.Join(quoteAll(keys), ", ")
}

func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = Quote(s)
	}
	return out
}

// orList joins "a", "b", "c" as "a, b or c".
func orList(ss []string) string {
	if len(ss) < 2 {
		return strings.Join(ss, "")
	}
	return strings.Join(ss[:len(ss)-1], ", ") + " or " + ss[len(ss)-1]
}

// typeWord names a JSON type as a YAML file shows it.
func typeWord(t string) string {
	switch t {
	case "object":
		return "a mapping"
	case "array":
		return "a list"
	case "null":
		return "empty (null)"
	case "boolean":
		return "a boolean"
	case "integer":
		return "an integer"
	}
	return "a " + t
}

func typeWords(ts []string) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = typeWord(t)
	}
	return out
}

// literal shows a value of the schema (const, enum) as a file writes it.
func literal(v any) string {
	if s, ok := v.(string); ok {
		return Quote(s)
	}
	return fmt.Sprint(v)
}

// Describe names a JSON pointer in words: "/fuses/2/mask" -> "fuses[2].mask".
func (d *Doc) Describe(ptr string) string {
	if ptr == "" {
		return "the " + d.Kind
	}
	var b strings.Builder
	for _, part := range strings.Split(ptr[1:], "/") {
		part = UnescapePointer(part)
		if _, err := strconv.Atoi(part); err == nil {
			fmt.Fprintf(&b, "[%s]", part)
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		if part == "" {
			b.WriteString(`""`) // an empty key, which YAML allows
			continue
		}
		b.WriteString(Clip(part)) // a key may be anything, of any length
	}
	return b.String()
}
