package manifest

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/otpprov/otpprov/fusemap"
	"github.com/otpprov/otpprov/internal/inputfile"
	"github.com/otpprov/otpprov/internal/yamldoc"
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
	if fm == nil || !fieldName().MatchString(name) {
		return f, false // the schema reported the soc or the name
	}
	fd := fm.Field(name)
	if fd == nil {
		hint := "`otpprov fusemap show " + fm.Name + "` lists the fields"
		if s := fusemap.DidYouMean(fm.SuggestField(name)); s != "" {
			hint = s
		}
		diags.Add(t.PosOf(ptr+"/field"), hint, "unknown field %s for %s", name, fm.Name)
		return f, false
	}
	if fd.Identity {
		diags.Add(t.PosOf(ptr+"/field"), "remove the entry", "%s is programmed by NXP: it identifies the part and is never written", name)
		return f, false
	}
	// Another name for the identity's bits (TESTER0 is UNIQUE_ID's low
	// word) is refused as a raw entry on them is.
	if id, p, ok := identityIn(fd, fm); ok {
		diags.Add(t.PosOf(ptr+"/field"), "remove the entry", "%s is bank %d word %d, which holds %s: NXP programs it, it identifies the part and is never written",
			name, p.Bank, p.Word, id.Name)
		return f, false
	}
	// NXP's factory words (tester words, calibration, the upper unique
	// ID, the tester lock) are burned at test on every part: a value from
	// a manifest could only disagree with them or lock them.
	if fd.Factory {
		diags.Add(t.PosOf(ptr+"/field"), "remove the entry: NXP burns it at test on every part",
			"%s is %s, programmed by NXP at test (factory): a manifest never writes it", name, fd.Where())
		return f, false
	}
	valuePtr := ptr + "/value"
	var parts []uint32
	var err error
	if hasFrom {
		valuePtr = ptr + "/valueFrom/file"
		parts, err = t.fieldFromFile(fd, obj["valueFrom"], t.fileVar[ptr])
	} else {
		parts, err = fieldValue(fd, obj["value"])
	}
	if errors.Is(err, errReported) {
		return f, false
	}
	if err != nil {
		msg := err.Error()
		if !strings.HasPrefix(msg, name+" ") {
			msg = name + ": " + msg
		}
		if t.secret[ptr] || fd.Secret && !hasFrom {
			// The value came from a secret variable, or is a secret
			// field's: say what is wrong with it without saying what it is.
			msg = fmt.Sprintf("%s: the secret value does not fit the field (%s, %s)", name, fd.Encoding, plural(fd.Width(), "bit"))
		}
		hint := encodingHint(fd)
		switch {
		case errors.As(err, new(*confineError)):
			hint = confineHint
		case errors.Is(err, inputfile.ErrNotRegular):
			hint = inputfile.Hint(err)
		}
		diags.Add(t.PosOf(valuePtr), hint, "%s", msg)
		return f, false
	}
	if err := fd.CheckPattern(parts); err != nil {
		msg := err.Error()
		if t.secret[ptr] {
			msg = fmt.Sprintf("%s: the secret value is not the field's pattern", name)
		}
		diags.Add(t.PosOf(valuePtr), fmt.Sprintf("write %s: 0x%0*x, or leave the entry out", name, (fd.Width()+3)/4, fd.Pattern.Value), "%s", msg)
		return f, false
	}
	ok := true
	for i, p := range fd.Parts {
		// A pattern field's factory bits are NXP's: not stated, so
		// neither a conflict where set nor burned where not.
		b := Bits{Bank: p.Bank, Word: p.Word, Value: parts[i] << p.Lsb, Mask: fd.ValueMask(i)}
		// A wider field over NXP's factory bits (LOCK over TESTER_LOCK)
		// leaves them alone as a pattern field does: not stated where
		// the value has 0, refused where it asks for a 1.
		if g, bits := factoryIn(fm, p.Bank, p.Word, b.Mask); bits != 0 {
			if set := b.Value & bits; set != 0 {
				diags.Add(t.PosOf(valuePtr), fmt.Sprintf("clear those bits of the value (0x%08x)", set),
					"%s sets bits 0x%08x of bank %d word %d, which are %s, programmed by NXP at test (factory): a manifest never writes them",
					name, set, p.Bank, p.Word, g.Name)
				ok = false
			} else if b.Mask == bits {
				// All of this part is NXP's (an overlay's field inside a
				// tester word): nothing is left to state.
				diags.Add(t.PosOf(ptr+"/field"), "remove the entry: NXP burns it at test on every part",
					"%s is bank %d word %d mask 0x%08x, which is %s, programmed by NXP at test (factory): a manifest never writes it",
					name, p.Bank, p.Word, bits, g.Name)
				ok = false
			}
			b.Mask &^= bits
		}
		if !t.checkWord(f.Pos, fm, b, diags) {
			ok = false
		}
		f.Bits = append(f.Bits, b)
	}
	return f, ok
}

// fieldName is the schema's pattern for a field name: a name it refused is
// not looked up a second time.
var fieldName = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Z][A-Z0-9_]{0,63}$`) })

// errReported is a value the parser or the schema has already refused (an
// ambiguous number, null, a list, a valueFrom without a file): it is not
// reported a second time.
var errReported = errors.New("already reported")

// identityIn returns the identity field that shares bits with fd, if any.
func identityIn(fd *fusemap.Field, fm *fusemap.Map) (*fusemap.Field, fusemap.Part, bool) {
	for _, p := range fd.Parts {
		for _, g := range fm.FieldsAt(p.Bank, p.Word) {
			if g.Identity && g.MaskIn(p.Bank, p.Word)&p.Mask() != 0 {
				return g, p, true
			}
		}
	}
	return nil, fusemap.Part{}, false
}

// fieldValue encodes a value as written in the manifest.
func fieldValue(fd *fusemap.Field, v any) ([]uint32, error) {
	switch v.(type) {
	case json.Number, string, bool:
	default:
		return nil, errReported // refused while parsing, or by the schema
	}
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
			return nil, fmt.Errorf("%v is not a MAC address", showValue(v))
		}
		n, err := fusemap.ParseMAC(s)
		if err != nil {
			return nil, err
		}
		return fd.Encode(n)
	case fusemap.Hash:
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("%v is not a hex string", showValue(v))
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
		// As in a raw entry, a quoted number is hex: "2022" may be meant
		// as 0x2022, and a misread digit is a burned bit.
		var ok bool
		if !strings.HasPrefix(x, "0x") && !strings.HasPrefix(x, "0X") {
			return nil, fmt.Errorf("%s is not a number: a quoted number must be hex (\"0x0f\"); write decimal without quotes", yamldoc.Quote(x))
		}
		if n, ok = ParseNumber(x); !ok {
			return nil, fmt.Errorf("%s is not a number", yamldoc.Quote(x))
		}
	default:
		return nil, fmt.Errorf("%v is not a number", show(v))
	}
	return fd.Encode(n)
}

// fieldFromFile reads a hash field's bytes from a file, relative to the
// manifest's directory: CST's SRK_1_2_3_4_fuse.bin is 32 raw bytes. A path
// written in the manifest must stay in that directory (see confine); one
// from a file variable (fromVar) is the operator's, and absolute already.
func (t *tree) fieldFromFile(fd *fusemap.Field, v any, fromVar bool) ([]uint32, error) {
	if fd.Encoding != fusemap.Hash {
		return nil, fmt.Errorf("valueFrom reads raw bytes, which only a hash field takes: write value")
	}
	from, _ := v.(map[string]any)
	name, _ := from["file"].(string)
	if name == "" {
		return nil, errReported // not {file: NAME}: the schema reported it
	}
	path := name
	if !fromVar {
		if err := confine(t.File, name); err != nil {
			return nil, &confineError{fmt.Errorf("valueFrom %w", err)}
		}
		path = filepath.Join(filepath.Dir(t.File), name)
	}
	fh, err := inputfile.Open(path)
	if err != nil {
		var e *inputfile.Error
		if errors.As(err, &e) {
			err = e.Err // named as written, as the other messages do
		}
		return nil, fmt.Errorf("valueFrom %s: %w", name, err)
	}
	defer fh.Close()
	t.valueFiles = append(t.valueFiles, path)
	want := 4 * len(fd.Parts)
	b, err := io.ReadAll(io.LimitReader(fh, int64(want)+1))
	if err != nil {
		return nil, fmt.Errorf("valueFrom: %v", err)
	}
	sum := sha256.Sum256(b)
	t.valueInputs = append(t.valueInputs, Input{Role: RoleValueFrom, Path: path, SHA256: hex.EncodeToString(sum[:])})
	if len(b) != want {
		if len(b) > want {
			// Only want+1 bytes were read: the file has more than want.
			return nil, fmt.Errorf("valueFrom %s holds more than %d bytes; %s takes exactly %d", name, want, fd.Name, want)
		}
		return nil, fmt.Errorf("valueFrom %s holds %d bytes; %s takes exactly %d", name, len(b), fd.Name, want)
	}
	return fd.EncodeBytes(b)
}

// confine refuses a path written in a manifest that does not stay in the
// manifest's directory: an absolute path, a "..", or a symbolic link that
// leads out. A manifest is reviewed as a set of files; one that may read
// /etc/shadow or ../../other-product/key.bin into a fuse is not reviewable.
// A path that does not exist is let through: opening it says so.
func confine(manifest, name string) error {
	if filepath.IsAbs(name) {
		return fmt.Errorf("%s is an absolute path", name)
	}
	if !filepath.IsLocal(name) {
		return fmt.Errorf("%s leads out of the manifest's directory", name)
	}
	dir := filepath.Dir(manifest)
	realDir, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return nil
	}
	real, err := filepath.EvalSymlinks(filepath.Join(dir, name))
	if err != nil {
		return nil
	}
	if rel, err := filepath.Rel(realDir, real); err != nil || !filepath.IsLocal(rel) {
		return fmt.Errorf("%s leads out of the manifest's directory through a symbolic link (to %s)", name, real)
	}
	return nil
}

const confineHint = "put the file next to the manifest, or pass it as a file variable (--var name=PATH), which the operator controls"

// confineError is a valueFrom path refused by confine.
type confineError struct{ error }

func (e *confineError) Unwrap() error { return e.error }

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

// showValue is show, except that a number is not echoed: it comes back in
// decimal, and 0x00049f010203 shown as 19847512579 would only confuse.
func showValue(v any) string {
	if _, ok := v.(json.Number); ok {
		return "a number"
	}
	return show(v)
}

func show(v any) string {
	switch x := v.(type) {
	case string:
		return yamldoc.Quote(x)
	case nil:
		return "null"
	}
	return fmt.Sprint(v)
}

func plural(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return fmt.Sprintf("%d %ss", n, unit)
}
