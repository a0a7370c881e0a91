package fusemap

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

	"github.com/otpprov/otpprov/internal/yamldoc"
)

// A field value is carried as its part values, least significant part
// first, each right-aligned in its part's width: the exact bits the fuses
// hold, whatever the encoding.

// Encode turns a number into part values; it fails if v does not fit the
// field's width.
func (f *Field) Encode(v uint64) ([]uint32, error) {
	w := f.Width()
	if w < 64 && v>>w != 0 {
		return nil, fmt.Errorf("%s is %d bit%s wide: 0x%x does not fit (at most 0x%x)", f.Name, w, plural(w), v, uint64(1)<<w-1)
	}
	out := make([]uint32, len(f.Parts))
	for i, p := range f.Parts {
		out[i] = uint32(v & (1<<p.Width - 1))
		v >>= p.Width
	}
	return out, nil
}

// ValueMask is the mask, within its word, of the bits of part i that a
// manifest's value states: the part's bits, less those NXP sets at test
// (Pattern.Factory).
func (f *Field) ValueMask(i int) uint32 {
	p := f.Parts[i]
	m := p.Mask()
	if f.Pattern == nil {
		return m
	}
	lsb := 0
	for _, q := range f.Parts[:i] {
		lsb += q.Width
	}
	return m &^ (uint32(f.Pattern.Factory>>lsb) << p.Lsb)
}

// CheckPattern refuses a value other than the field's pattern: the boot
// ROM acts on that one value, and any other burns fuses to no purpose. A
// field without a pattern takes any value that fits.
func (f *Field) CheckPattern(parts []uint32) error {
	if f.Pattern == nil {
		return nil
	}
	v, _ := f.Number(parts)
	if v != f.Pattern.Value {
		return fmt.Errorf("%s takes only its pattern 0x%0*x, not 0x%0*x", f.Name, (f.Width()+3)/4, f.Pattern.Value, (f.Width()+3)/4, v)
	}
	return nil
}

// Number joins part values into one number; ok is false above 64 bits.
func (f *Field) Number(parts []uint32) (uint64, bool) {
	var v uint64
	shift := 0
	for i, p := range f.Parts {
		if shift+p.Width > 64 {
			return 0, false
		}
		v |= uint64(parts[i]) << shift
		shift += p.Width
	}
	return v, true
}

// EncodeBytes lays bytes over whole-word parts: word i is the i-th
// little-endian u32, as CST writes SRK_1_2_3_4_fuse.bin.
func (f *Field) EncodeBytes(b []byte) ([]uint32, error) {
	if !f.allWhole() {
		return nil, fmt.Errorf("%s is not made of whole words", f.Name)
	}
	if len(b) != 4*len(f.Parts) {
		return nil, fmt.Errorf("%s needs exactly %d bytes, got %d", f.Name, 4*len(f.Parts), len(b))
	}
	out := make([]uint32, len(f.Parts))
	for i := range out {
		out[i] = binary.LittleEndian.Uint32(b[4*i:])
	}
	return out, nil
}

// Bytes is the inverse of EncodeBytes.
func Bytes(parts []uint32) []byte {
	b := make([]byte, 4*len(parts))
	for i, v := range parts {
		binary.LittleEndian.PutUint32(b[4*i:], v)
	}
	return b
}

// ParseMAC reads aa:bb:cc:dd:ee:ff. A MAC the network would not accept as
// an interface address is refused: all zeros (an unprogrammed field) or the
// multicast bit set (U-Boot's is_valid_ethaddr refuses both, so such a
// board would come up with a random address).
func ParseMAC(s string) (uint64, error) {
	octets := strings.Split(s, ":")
	if len(octets) != 6 {
		return 0, fmt.Errorf("MAC %s: write six hex octets separated by ':' (00:04:9f:01:02:03)", yamldoc.Quote(s))
	}
	var v uint64
	for _, o := range octets {
		n, err := strconv.ParseUint(o, 16, 8)
		if err != nil || len(o) != 2 {
			return 0, fmt.Errorf("MAC %s: octet %s is not two hex digits", yamldoc.Quote(s), yamldoc.Quote(o))
		}
		v = v<<8 | n
	}
	switch {
	case v == 0:
		return 0, fmt.Errorf("MAC %s is all zeros, which is not an address", yamldoc.Quote(s))
	case v>>40&1 != 0:
		return 0, fmt.Errorf("MAC %s has the multicast bit set (first octet odd): not an interface address", yamldoc.Quote(s))
	}
	return v, nil
}

// FormatMAC writes a 48-bit MAC as aa:bb:cc:dd:ee:ff.
func FormatMAC(v uint64) string {
	var b strings.Builder
	for i := 5; i >= 0; i-- {
		fmt.Fprintf(&b, "%02x", byte(v>>(8*i)))
		if i > 0 {
			b.WriteByte(':')
		}
	}
	return b.String()
}

// ParseHash reads a hash as hex digits, byte by byte in file order (what
// `xxd -p` or `sha256sum` print): exactly n bytes.
func ParseHash(s string, n int) ([]byte, error) {
	s = strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X")
	if len(s) != 2*n {
		return nil, fmt.Errorf("need %d hex digits (%d bytes), got %d", 2*n, n, len(s))
	}
	b, err := hex.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("not hex: %v", err)
	}
	return b, nil
}

// Format writes a field value for people: a MAC as text, a hash as hex
// bytes, a bool as 0/1, a number in hex. A secret field shows only a short
// digest, so that two values can be compared without being disclosed.
func (f *Field) Format(parts []uint32) string {
	if f.Secret {
		sum := sha256.Sum256(Bytes(parts))
		return "secret sha256:" + hex.EncodeToString(sum[:4])
	}
	switch f.Encoding {
	case Hash:
		return hex.EncodeToString(Bytes(parts))
	case MAC:
		v, _ := f.Number(parts)
		return FormatMAC(v)
	case Bool:
		return strconv.Itoa(int(parts[0]))
	}
	v, ok := f.Number(parts)
	if !ok {
		return hex.EncodeToString(Bytes(parts))
	}
	return fmt.Sprintf("0x%0*x", (f.Width()+3)/4, v)
}

// Blank reports whether no bit of the value is set.
func Blank(parts []uint32) bool {
	for _, v := range parts {
		if v != 0 {
			return false
		}
	}
	return true
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
