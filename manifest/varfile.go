package manifest

import (
	"fmt"
	"path/filepath"

	"github.com/otpprov/otpprov/internal/yamldoc"
)

// ParseVarFile reads a station's --var-file: a YAML mapping of variable
// names to values, each a single number, string or bool. A number is kept
// as written (0x0102 stays hex for a hex variable, not the number 258); a
// relative file value is relative to the var file's directory. Whether a
// name is declared, and its value of its type, is the manifest's to check.
func ParseVarFile(file string, b []byte) (map[string]VarValue, Diagnostics) {
	doc, diags := yamldoc.Parse(file, "variable file", b, MaxSize)
	if doc == nil {
		return nil, diags.Sorted()
	}
	m, ok := doc.Value.(map[string]any)
	if !ok {
		diags.Add(doc.PosOf(""), "write one name: value per line", "a variable file is a mapping of names to values")
		return nil, diags.Sorted()
	}
	reported := map[Pos]bool{} // values the parser refused (0010, 1_000): nil here
	for _, d := range diags {
		reported[d.Pos] = true
	}
	vals := map[string]VarValue{}
	for name, v := range m {
		ptr := "/" + yamldoc.EscapePointer(name)
		switch v.(type) {
		case map[string]any, []any, nil:
			if !reported[doc.PosOf(ptr)] {
				diags.Add(doc.PosOf(ptr), "", "variable %s: a value is a single number, string or bool", name)
			}
			continue
		}
		text := fmt.Sprint(v)
		if raw, ok := doc.Raw[ptr]; ok {
			text = raw
		}
		vals[name] = VarValue{Text: text, From: file, Pos: doc.KeyPos[ptr], Dir: filepath.Dir(file)}
	}
	if len(diags) > 0 {
		return nil, diags.Sorted()
	}
	return vals, nil
}
