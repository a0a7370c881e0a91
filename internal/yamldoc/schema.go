package yamldoc

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v5"
)

// SchemaError is one leaf error of the validator, placed in the file.
type SchemaError struct {
	Ptr     string // JSON pointer of the offending value
	Keyword string // the schema keyword that failed: "required", "enum", ...
	Where   string // Ptr in words: "fuses[2].mask"
	Pos     Pos
	Message string // the validator's message
}

// Validate checks the document against s. Each leaf error is first offered
// to special, which may word it in the file's own terms (ok=true); the rest
// get generic wording. Values already refused while parsing are skipped.
func (d *Doc) Validate(s *jsonschema.Schema, special func(SchemaError) (Diagnostics, bool)) Diagnostics {
	err := s.Validate(d.Value)
	var ve *jsonschema.ValidationError
	if err == nil || !errors.As(err, &ve) {
		return nil
	}
	var diags Diagnostics
	// A value of the wrong type can fail two "type" keywords (a property's
	// own, and the narrower one of the branch an if/then picks): the
	// complaint is one, and the later, narrower wording replaces the first.
	typeAt := map[string]int{} // pointer -> index in diags of its type error
	for _, leaf := range leaves(ve) {
		if d.Refused[leaf.InstanceLocation] {
			continue
		}
		e := SchemaError{
			Ptr:     leaf.InstanceLocation,
			Keyword: leaf.KeywordLocation[strings.LastIndex(leaf.KeywordLocation, "/")+1:],
			Where:   d.Describe(leaf.InstanceLocation),
			Pos:     d.PosOf(leaf.InstanceLocation),
			Message: leaf.Message,
		}
		if e.Message == "not allowed" {
			// A "false" subschema: jsonschema names the error after the
			// key's location, not after a keyword.
			e.Keyword = "false"
		}
		if special != nil {
			if ds, ok := special(e); ok {
				diags = append(diags, ds...)
				continue
			}
		}
		ds := d.generic(e)
		if e.Keyword == "type" && len(ds) == 1 {
			if i, dup := typeAt[e.Ptr]; dup {
				diags[i] = ds[0]
				continue
			}
			typeAt[e.Ptr] = len(diags)
		}
		diags = append(diags, ds...)
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

// generic words one schema error at the offending key or value.
func (d *Doc) generic(e SchemaError) Diagnostics {
	var ds Diagnostics
	switch e.Keyword {
	case "additionalProperties", "unevaluatedProperties":
		for _, m := range quoted.FindAllStringSubmatch(e.Message, -1) {
			key := unquote(m[1])
			kp, ok := d.KeyPos[e.Ptr+"/"+EscapePointer(key)]
			if !ok {
				kp = e.Pos
			}
			ds.Add(kp, fmt.Sprintf("check the spelling; the %s reference in the README lists every key", d.Kind), "unknown key %s in %s", Quote(key), e.Where)
		}
		if len(ds) > 0 {
			return ds
		}
	case "required":
		msg := strings.Replace(e.Message, "missing properties", "missing keys", 1)
		if len(quoted.FindAllString(e.Message, -1)) == 1 {
			msg = strings.Replace(e.Message, "missing properties", "missing key", 1)
		}
		ds.Add(e.Pos, "", "%s: %s", e.Where, msg)
		return ds
	case "false":
		// A "false" subschema: the key is not allowed here at all.
		kp, ok := d.KeyPos[e.Ptr]
		if !ok {
			kp = e.Pos
		}
		ds.Add(kp, "", "%s is not allowed here", e.Where)
		return ds
	}
	ds.Add(e.Pos, "", "%s: %s", e.Where, e.Message)
	return ds
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
		b.WriteString(Clip(part)) // a key may be anything, of any length
	}
	return b.String()
}
