package manifest

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"

	"github.com/otpprov/otpprov/fusemap"
)

// decodeField reads a named-field entry: the value is encoded as the map
// says (an integer within the width, a bool, a MAC, a hash) and laid over
// the field's parts. Only the field's own bits are compared and burned.
func (t *tree) decodeField(ptr string, obj map[string]any, fm *fusemap.Map, diags *Diagnostics) (Fuse, bool) {
	name, _ := obj["field"].(string)
	f := Fuse{Name: name, Field: name, Pos: t.PosOf(ptr)}
	_, hasValue := obj["value"]
	_, hasFrom := obj["valueFrom"]
	switch {
	case hasValue && hasFrom:
		diags.Add(t.KeyPos[ptr+"/valueFrom"], "keep one of them", "%s: give value or valueFrom, not both", t.Describe(ptr))
		return f, false
	case !hasValue && !hasFrom:
		diags.Add(f.Pos, "", "%s: missing key 'value' (or 'valueFrom')", t.Describe(ptr))
		return f, false
	}
	if fm == nil || name == "" {
		return f, false // the schema reported the soc or the name
	}
	fd := fm.Field(name)
	if fd == nil {
		hint := "`otpprov fusemap show " + fm.Name + "` lists the fields"
		if s := suggest(name, fm); s != "" {
			hint = "did you mean " + s + "?"
		}
		diags.Add(t.PosOf(ptr+"/field"), hint, "unknown field %s for %s", name, fm.Name)
		return f, false
	}
	if fd.Identity {
		diags.Add(t.PosOf(ptr+"/field"), "remove the entry", "%s is programmed by NXP: it identifies the part and is never written", name)
		return f, false
	}
	valuePtr := ptr + "/value"
	var parts []uint32
	var err error
	if hasFrom {
		valuePtr = ptr + "/valueFrom/file"
		parts, err = t.fieldFromFile(fd, obj["valueFrom"])
	} else {
		parts, err = fieldValue(fd, obj["value"])
	}
	if err != nil {
		diags.Add(t.PosOf(valuePtr), encodingHint(fd), "%s: %v", name, err)
		return f, false
	}
	ok := true
	for i, p := range fd.Parts {
		b := Bits{Bank: p.Bank, Word: p.Word, Value: parts[i] << p.Lsb, Mask: p.Mask()}
		if !t.checkWord(f.Pos, fm, b, diags) {
			ok = false
		}
		f.Bits = append(f.Bits, b)
	}
	return f, ok
}

// fieldValue encodes a value as written in the manifest.
func fieldValue(fd *fusemap.Field, v any) ([]uint32, error) {
	switch fd.Encoding {
	case fusemap.Bool:
		switch x := v.(type) {
		case bool:
			if x {
				return []uint32{1}, nil
			}
			return []uint32{0}, nil
		case json.Number:
			if x == "0" || x == "1" {
				n, _ := strconv.Atoi(string(x))
				return []uint32{uint32(n)}, nil
			}
		}
		return nil, fmt.Errorf("%v is not a bool", show(v))
	case fusemap.MAC:
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("%v is not a MAC address", show(v))
		}
		n, err := fusemap.ParseMAC(s)
		if err != nil {
			return nil, err
		}
		return fd.Encode(n)
	case fusemap.Hash:
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("%v is not a hex string", show(v))
		}
		b, err := fusemap.ParseHash(s, 4*len(fd.Parts))
		if err != nil {
			return nil, err
		}
		return fd.EncodeBytes(b)
	}
	var n uint64
	switch x := v.(type) {
	case json.Number:
		n, _ = strconv.ParseUint(string(x), 10, 64)
	case string:
		var ok bool
		if n, ok = ParseNumber(x); !ok {
			return nil, fmt.Errorf("%q is not a number", x)
		}
	default:
		return nil, fmt.Errorf("%v is not a number", show(v))
	}
	return fd.Encode(n)
}

// fieldFromFile reads a hash field's bytes from a file, relative to the
// manifest's directory: CST's SRK_1_2_3_4_fuse.bin is 32 raw bytes.
func (t *tree) fieldFromFile(fd *fusemap.Field, v any) ([]uint32, error) {
	if fd.Encoding != fusemap.Hash {
		return nil, fmt.Errorf("valueFrom reads raw bytes, which only a hash field takes: write value")
	}
	from, _ := v.(map[string]any)
	name, _ := from["file"].(string)
	path := name
	if !filepath.IsAbs(path) {
		path = filepath.Join(filepath.Dir(t.File), name)
	}
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("valueFrom: %v", err)
	}
	defer fh.Close()
	want := 4 * len(fd.Parts)
	b, err := io.ReadAll(io.LimitReader(fh, int64(want)+1))
	if err != nil {
		return nil, fmt.Errorf("valueFrom: %v", err)
	}
	if len(b) != want {
		more := ""
		if len(b) > want {
			more = "more than "
		}
		return nil, fmt.Errorf("valueFrom %s holds %s%d bytes; %s takes exactly %d", name, more, len(b), fd.Name, want)
	}
	return fd.EncodeBytes(b)
}

func encodingHint(fd *fusemap.Field) string {
	switch fd.Encoding {
	case fusemap.Bool:
		return "write true, false, 1 or 0"
	case fusemap.MAC:
		return `write the address as text: "00:04:9f:01:02:03"`
	case fusemap.Hash:
		return fmt.Sprintf("write %d hex digits in file byte order, or valueFrom: {file: SRK_1_2_3_4_fuse.bin}", 8*len(fd.Parts))
	}
	return fmt.Sprintf("write a number of at most %d bits: decimal (15) or hex (0x0f)", fd.Width())
}

func show(v any) string {
	switch x := v.(type) {
	case string:
		return strconv.Quote(x)
	case nil:
		return "null"
	}
	return fmt.Sprint(v)
}

// suggest returns the field names closest to a misspelt one.
func suggest(name string, fm *fusemap.Map) string {
	type cand struct {
		name string
		d    int
	}
	var cs []cand
	for _, f := range fm.Fields {
		if d := distance(name, f.Name); d <= 2 {
			cs = append(cs, cand{f.Name, d})
		}
	}
	if len(cs) == 0 {
		return ""
	}
	sort.Slice(cs, func(i, j int) bool { return cs[i].d < cs[j].d || cs[i].d == cs[j].d && cs[i].name < cs[j].name })
	return cs[0].name
}

// distance is the Levenshtein distance between a and b.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}
