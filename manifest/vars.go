package manifest

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/otpprov/otpprov/fusemap"
	"github.com/otpprov/otpprov/internal/termtext"
	"github.com/otpprov/otpprov/internal/yamldoc"
)

// VarType is what a per-unit variable holds.
type VarType string

const (
	VarMAC  VarType = "mac"  // aa:bb:cc:dd:ee:ff
	VarU32  VarType = "u32"  // a 32-bit number: decimal, 0x hex or 0b binary
	VarHex  VarType = "hex"  // exactly `bytes` bytes as hex digits (a hash, a key)
	VarBool VarType = "bool" // true/false or 1/0
	VarFile VarType = "file" // a path, for valueFrom
)

// VarValue is a value given for a variable, and where it came from.
type VarValue struct {
	Text string
	From string // "--var", "OTPPROV_VAR_NAME", a var file
	Pos  Pos    // in a var file; zero otherwise
	Dir  string // a relative file path is relative to this directory
}

// Variable is a declared variable with its resolved value. For a secret
// one, Shown is a short digest, never the value.
type Variable struct {
	Name   string
	Type   VarType
	Secret bool
	Shown  string // the value as it may be printed or journaled
	From   string // "default" or the VarValue's From
	// Pool is the identity pool the value comes from with --ledger; ""
	// for an ordinary variable. PoolIndex is its place among the
	// variables of that pool, in declaration order: the board's block's
	// PoolIndex-th value.
	Pool      string
	PoolIndex int
}

// varName is the schema's pattern for a variable's name.
var varName = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,63}$`) })

// varRef is the only way to use a variable: as the whole value.
var varRef = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$`) })

// varRefs finds the variables a longer string names, to mark them used:
// their misuse is reported, not that they are unused.
var varRefs = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`) })

type decl struct {
	Variable
	fields  []string // the fields whose entries take it as value
	raw     []Bits   // the words its raw entries take it into (no Value)
	entries []Pos    // the entries that take it as value
	first   Pos      // its first declaration, base first: the pool order
	bytes   int
	def     any // the default as written, nil if none
	defAt   Pos // the declaration that wrote def: a file default is relative to its directory
	pos     Pos
	value   any // the typed value substituted into entries
	ok      bool
	used    bool
}

type varSet struct {
	byName     map[string]*decl
	order      []string
	unresolved []string // without a value, in check mode
}

// resolveVars collects the variables declared along the chain and gives
// each its value: the operator's, else the declaration's default. Every
// missing, ill-typed or unknown value is reported at once.
func resolveVars(chain []link, given map[string]VarValue, check bool) (*varSet, Diagnostics) {
	vs := &varSet{byName: map[string]*decl{}}
	var diags Diagnostics
	for _, l := range chain {
		root, _ := l.Value.(map[string]any)
		vars, _ := root["variables"].(map[string]any)
		names := make([]string, 0, len(vars))
		for n := range vars {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			if !varName().MatchString(n) {
				continue // the schema reports it
			}
			ptr := "/variables/" + yamldoc.EscapePointer(n)
			o, _ := vars[n].(map[string]any)
			d := &decl{Variable: Variable{Name: n}, pos: l.KeyPos[ptr]}
			t, _ := o["type"].(string)
			d.Type = VarType(t)
			d.Secret, _ = o["secret"].(bool)
			d.Pool, _ = o["pool"].(string)
			if d.Pool != "" && d.Type != VarMAC && d.Type != VarU32 {
				diags.Add(l.KeyPos[ptr+"/pool"], "pools hand out MAC addresses and 32-bit numbers", "variable %s: pool is for mac and u32 variables, not %s", n, d.Type)
			}
			if d.Pool != "" && o["default"] != nil {
				diags.Add(l.KeyPos[ptr+"/default"], "remove the default: each board gets its own value", "variable %s: a value from pool %s has no default", n, d.Pool)
			}
			if b, ok := o["bytes"].(json.Number); ok {
				d.bytes, _ = strconv.Atoi(string(b))
			}
			d.def = o["default"]
			if d.def != nil {
				d.defAt = d.pos
			}
			if prev := vs.byName[n]; prev != nil {
				if prev.Type != d.Type || prev.Secret != d.Secret || prev.bytes != d.bytes || prev.Pool != d.Pool {
					diags.Add(d.pos, "a manifest may give a default to a variable of the manifest it extends, not change it",
						"variable %s is declared at %s as %s; here it is declared otherwise", n, prev.pos, prev.Type)
					continue
				}
				if d.def == nil {
					d.def, d.defAt = prev.def, prev.defAt
				}
				d.used = prev.used
				d.first = prev.first
			} else {
				d.first = d.pos
				vs.order = append(vs.order, n)
			}
			vs.byName[n] = d
		}
	}
	vs.poolOrder(chain)
	var unknown []string
	for n := range given {
		if vs.byName[n] == nil {
			unknown = append(unknown, n)
		}
	}
	sort.Strings(unknown)
	for _, n := range unknown {
		g := given[n]
		pos := g.Pos
		if pos.File == "" {
			pos = Pos{File: g.From}
		}
		diags.Add(pos, "check the spelling: a value for a variable the manifest does not declare is never ignored",
			"unknown variable %s (the manifest declares: %s)", yamldoc.Clip(n), strings.Join(vs.names(), ", "))
	}
	for _, n := range vs.order {
		d := vs.byName[n]
		g, given := given[n]
		switch {
		case given:
			d.From = g.From
			d.value, d.ok = d.convert(g.Text, g.Dir, &diags, func() Pos {
				if g.Pos.File != "" {
					return g.Pos
				}
				return d.pos
			}(), g.From)
		case d.def != nil:
			d.From = "default"
			if _, num := d.def.(json.Number); num && d.Type == VarHex {
				// YAML read it as a number: 0x01020304 would come back as
				// the digits of 16909060.
				diags.Add(d.defAt, `write it quoted: default: "0x01020304"`,
					"variable %s: a hex default must be a quoted string of hex digits, not a number", n)
				continue
			}
			text := fmt.Sprint(d.def)
			if d.Type == VarFile {
				// Written in the manifest, so held to the rule for a
				// literal valueFrom: only the operator's paths are free.
				if err := confine(d.defAt.File, text); err != nil {
					diags.Add(d.defAt, confineHint, "variable %s: its default %v", n, err)
					continue
				}
			}
			d.value, d.ok = d.convert(text, filepath.Dir(d.defAt.File), &diags, d.defAt, "its default")
		case check:
			// Checking a manifest without a unit: the entries using it
			// are checked for where the variable stands, not its value.
			vs.unresolved = append(vs.unresolved, n)
		default:
			diags.Add(d.pos, fmt.Sprintf("give it with --var %s=VALUE, in a --var-file, or as OTPPROV_VAR_%s", n, n),
				"variable %s (%s) has no value", n, d.Type)
		}
	}
	return vs, diags
}

// poolOrder numbers the variables of each pool in declaration order: the
// chain's files base first, then line and column. The first takes the
// block's first value (mac0), the next its second (mac1).
func (vs *varSet) poolOrder(chain []link) {
	file := map[string]int{}
	for i, l := range chain {
		file[l.File] = i
	}
	var pooled []*decl
	for _, n := range vs.order {
		if d := vs.byName[n]; d.Pool != "" {
			pooled = append(pooled, d)
		}
	}
	sort.SliceStable(pooled, func(i, j int) bool {
		a, b := pooled[i].first, pooled[j].first
		if file[a.File] != file[b.File] {
			return file[a.File] < file[b.File]
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Col < b.Col
	})
	next := map[string]int{}
	for _, d := range pooled {
		d.PoolIndex = next[d.Pool]
		next[d.Pool]++
	}
}

func (vs *varSet) names() []string {
	if len(vs.order) == 0 {
		return []string{"none"}
	}
	return vs.order
}

// convert checks a value's text against the variable's type and returns
// what is substituted: the form a manifest entry takes.
func (d *decl) convert(text, dir string, diags *Diagnostics, pos Pos, from string) (any, bool) {
	shown := yamldoc.Quote(text)
	if d.Secret {
		shown = "(secret value)"
	}
	bad := func(format string, args ...any) (any, bool) {
		diags.Add(pos, "", "variable %s from %s: %s %s", d.Name, from, shown, fmt.Sprintf(format, args...))
		return nil, false
	}
	d.Shown = text
	switch d.Type {
	case VarMAC:
		n, err := fusemap.ParseMAC(text)
		if err != nil {
			return bad("is not a usable MAC address (aa:bb:cc:dd:ee:ff, not zero, not multicast)")
		}
		d.Shown = fusemap.FormatMAC(n)
		return d.Shown, true
	case VarU32:
		n, ok := ParseNumber(text)
		if !ok || n > 0xffffffff {
			return bad("is not a 32-bit number (decimal without leading zeros, 0x hex or 0b binary)")
		}
		return json.Number(strconv.FormatUint(n, 10)), true
	case VarHex:
		if d.bytes < 1 {
			return nil, false // no bytes: the schema reports it
		}
		h := strings.TrimPrefix(strings.TrimPrefix(text, "0x"), "0X")
		if _, err := hex.DecodeString(h); err != nil || len(h) != 2*d.bytes {
			return bad("is not %d hex digits (%d bytes)", 2*d.bytes, d.bytes)
		}
		d.Shown = strings.ToLower(h)
		return "0x" + d.Shown, true
	case VarBool:
		switch text {
		case "true", "1":
			d.Shown = "true"
			return true, true
		case "false", "0":
			d.Shown = "false"
			return false, true
		}
		return bad("is not a bool (true, false, 1 or 0)")
	case VarFile:
		if text == "" {
			return bad("is not a file path")
		}
		// The path is shown in the plan and written into exported
		// scripts: a control character would act on the terminal, and
		// bytes that are not UTF-8 would be shown as another name.
		if !utf8.ValidString(text) {
			return bad("is a path with bytes that are not UTF-8: rename the file")
		}
		if r, ok := termtext.First(text); ok {
			return bad("is a path holding control character %s: rename the file", termtext.Name(r))
		}
		if !filepath.IsAbs(text) {
			text = filepath.Join(dir, text)
		}
		// Absolute, so that valueFrom does not read it relative to the
		// manifest's directory a second time.
		if abs, err := filepath.Abs(text); err == nil {
			text = abs
		}
		d.Shown = text
		return text, true
	}
	return nil, false // an unknown type: the schema reports it
}

// substitute replaces each ${name} in the document's entries with the
// variable's typed value. A variable stands for a whole value, of value or
// of valueFrom.file; anywhere else, or inside a longer string, it is an
// error: a manifest is data, not a template.
func (vs *varSet) substitute(t *tree) Diagnostics {
	var diags Diagnostics
	var walk func(v any, ptr string) any
	walk = func(v any, ptr string) any {
		switch x := v.(type) {
		case map[string]any:
			for k, c := range x {
				x[k] = walk(c, ptr+"/"+yamldoc.EscapePointer(k))
			}
		case []any:
			for i, c := range x {
				x[i] = walk(c, fmt.Sprintf("%s/%d", ptr, i))
			}
		case string:
			if !strings.Contains(x, "${") {
				return x
			}
			pos := t.PosOf(ptr)
			m := varRef().FindStringSubmatch(x)
			entry, allowed := entryOf(ptr)
			switch {
			case m == nil:
				diags.Add(pos, "write ${name} alone as the value", "%s: a variable must be the whole value", yamldoc.Quote(x))
				t.Refused[ptr] = true
				vs.markUsed(x)
				return nil // reported: not decoded as a value or a file name
			case !allowed:
				diags.Add(pos, "", "%s: variables are allowed only as an entry's value or valueFrom.file", t.Describe(ptr))
				t.Refused[ptr] = true
				vs.markUsed(x)
				return nil
			default:
				d := vs.byName[m[1]]
				if d == nil {
					diags.Add(pos, "declare it under variables:", "unknown variable %s", yamldoc.Clip(m[1]))
					t.Refused[ptr] = true
					return nil
				}
				d.used = true
				if strings.HasSuffix(ptr, "/value") {
					if f, ok := t.At(entry + "/field").(string); ok && !slices.Contains(d.fields, f) {
						d.fields = append(d.fields, f)
					}
					if b, ok := rawBits(t, entry); ok {
						d.raw = append(d.raw, b)
					}
					d.entries = append(d.entries, t.PosOf(entry))
				}
				if !d.ok {
					t.Refused[ptr] = true // its value was reported
					return nil
				}
				if d.Type == VarFile != strings.HasSuffix(ptr, "/valueFrom/file") {
					diags.Add(pos, "a file variable goes in valueFrom: {file: ${name}}; others in value", "variable %s (%s) cannot be used as %s", d.Name, d.Type, t.Describe(ptr))
					t.Refused[ptr] = true
					return nil
				}
				if d.Secret {
					t.secret[entry] = true
				}
				if d.Type == VarFile {
					t.fileVar[entry] = true
				}
				return d.value
			}
		}
		return v
	}
	root, _ := t.Value.(map[string]any)
	if fuses, ok := root["fuses"]; ok {
		root["fuses"] = walk(fuses, "/fuses")
	}
	for k, v := range root {
		if k != "fuses" {
			walk(v, "/"+yamldoc.EscapePointer(k))
		}
	}
	return diags
}

// markUsed marks the declared variables s names as used.
func (vs *varSet) markUsed(s string) {
	for _, m := range varRefs().FindAllStringSubmatch(s, -1) {
		if d := vs.byName[m[1]]; d != nil {
			d.used = true
		}
	}
}

var usable = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^(/fuses/\d+)/(value|valueFrom/file)$`) })

// entryOf returns the entry a pointer is in, and whether a variable may
// stand there.
func entryOf(ptr string) (string, bool) {
	m := usable().FindStringSubmatch(ptr)
	if m == nil {
		return "", false
	}
	return m[1], true
}

// unused reports declared variables no entry uses: a value given for one
// would be silently ignored.
func (vs *varSet) unused() Diagnostics {
	var diags Diagnostics
	for _, n := range vs.order {
		if d := vs.byName[n]; !d.used {
			diags.Add(d.pos, "use it as ${"+n+"}, or remove it", "variable %s is declared but never used", n)
		}
	}
	return diags
}

// list returns the variables with their values as they may be shown: a
// secret one as a short digest.
func (vs *varSet) list() []Variable {
	out := make([]Variable, 0, len(vs.order))
	for _, n := range vs.order {
		v := vs.byName[n].Variable
		if v.Secret {
			v.Shown = Redact([]byte(v.Shown))
		}
		out = append(out, v)
	}
	return out
}

// fieldsOf maps each variable to the fields whose entries take it.
func (vs *varSet) fieldsOf() map[string][]string {
	return byVar(vs, func(d *decl) []string { return d.fields })
}

// rawOf maps each variable to the words its raw entries take it into.
func (vs *varSet) rawOf() map[string][]Bits {
	return byVar(vs, func(d *decl) []Bits { return d.raw })
}

// byVar maps each variable with any of() to it; nil without any.
func byVar[T any](vs *varSet, of func(*decl) []T) map[string][]T {
	var out map[string][]T
	for _, n := range vs.order {
		if xs := of(vs.byName[n]); len(xs) > 0 {
			if out == nil {
				out = map[string][]T{}
			}
			out[n] = xs
		}
	}
	return out
}

// rawBits is where a raw entry puts its value: its bank, word and mask,
// read before the value is known (a pool's comes once the board is read,
// and a value already on the board must be found there first). An entry
// the schema refuses is left out: it is reported, and nothing is planned.
func rawBits(t *tree, entry string) (Bits, bool) {
	if _, named := t.At(entry + "/field").(string); named {
		return Bits{}, false
	}
	bank, okB := index(t.At(entry + "/bank"))
	word, okW := index(t.At(entry + "/word"))
	mask, okM := uint32(0xffffffff), true
	if m := t.At(entry + "/mask"); m != nil {
		mask, okM = u32(m)
	}
	if !okB || !okW || !okM || mask == 0 {
		return Bits{}, false
	}
	return Bits{Bank: int(bank), Word: int(word), Mask: mask}, true
}

// bitsOf maps each variable to the words its entries set, field or raw.
func (vs *varSet) bitsOf(fuses []Fuse) map[string][]Bits {
	byPos := map[Pos][]Bits{}
	for _, f := range fuses {
		byPos[f.Pos] = append(byPos[f.Pos], f.Bits...)
	}
	var out map[string][]Bits
	for _, n := range vs.order {
		for _, pos := range vs.byName[n].entries {
			if bits := byPos[pos]; len(bits) > 0 {
				if out == nil {
					out = map[string][]Bits{}
				}
				out[n] = append(out[n], bits...)
			}
		}
	}
	return out
}

// Redact is how a secret is shown: a short digest, enough to tell two
// values apart, not to recover one.
func Redact(b []byte) string {
	sum := sha256.Sum256(b)
	return "secret sha256:" + hex.EncodeToString(sum[:4])
}
