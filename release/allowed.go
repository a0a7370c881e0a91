package release

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/otpprov/otpprov/internal/inputfile"
)

// The allowed signers file of ssh-keygen(1) (ALLOWED SIGNERS), as
// sshsig.c reads it: one key a line, with the principals it stands for
// and options:
//
//	release@acme.example namespaces="otpprov-release",valid-before="20271231Z" ssh-ed25519 AAAA... comment
//
// Where ssh-keygen skips a line it cannot read (and logs it), otpprov
// refuses the whole file, naming the line: a station's policy with a typo
// in it must be fixed, not half applied. cert-authority lines are refused
// too: otpprov verifies plain keys, not OpenSSH certificates.

// MaxAllowedSignersSize caps an allowed signers file.
const MaxAllowedSignersSize = 1 << 20

// Signer is one line of an allowed signers file.
type Signer struct {
	Line        int
	Principals  string // as written: a comma list of patterns
	Namespaces  string // the namespaces= patterns; "" for any
	ValidAfter  time.Time
	ValidBefore time.Time
	Key         *PublicKey
}

// AllowedSigners is a parsed allowed signers file.
type AllowedSigners struct {
	File    string
	Signers []Signer
	// Revoked, if set, refuses the keys it lists whatever lines hold
	// them (ssh-keygen -Y verify -r): LoadRevocations.
	Revoked *Revocations
}

// LoadAllowedSigners reads and parses an allowed signers file.
func LoadAllowedSigners(path string) (*AllowedSigners, error) {
	b, err := inputfile.Read(path, MaxAllowedSignersSize)
	if err != nil {
		return nil, err
	}
	return ParseAllowedSigners(path, b)
}

// ParseAllowedSigners parses an allowed signers file's bytes.
func ParseAllowedSigners(file string, b []byte) (*AllowedSigners, error) {
	a := &AllowedSigners{File: file}
	for i, line := range bytes.Split(b, []byte("\n")) {
		s, err := parseSignerLine(string(line))
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", file, i+1, err)
		}
		if s != nil {
			s.Line = i + 1
			a.Signers = append(a.Signers, *s)
		}
	}
	return a, nil
}

const blanks = " \t\r"

// parseSignerLine reads one line: nil for a blank or comment line.
func parseSignerLine(line string) (*Signer, error) {
	line = strings.TrimLeft(line, blanks+"\n")
	if line == "" || line[0] == '#' {
		return nil, nil
	}
	if !utf8.ValidString(line) {
		return nil, errors.New("the line is not UTF-8 text")
	}
	if strings.ContainsFunc(line, func(r rune) bool { return r < 0x20 && r != '\t' && r != '\r' || r == 0x7f }) {
		return nil, errors.New("a control character in the line")
	}
	principals, rest := cutField(line)
	if strings.Contains(principals, `"`) {
		return nil, errors.New("a quote in the principals: write them as name@domain,other@domain")
	}
	if rest == "" {
		return nil, errors.New("no key after the principals: write PRINCIPALS [OPTIONS] KEYTYPE BASE64")
	}
	s := &Signer{Principals: principals}
	// Key types are ssh-..., ecdsa-... and sk-...; anything else there is
	// the options.
	if first, _ := cutField(rest); !isKeyType(first) {
		opts, after, err := cutOptions(rest)
		if err != nil {
			return nil, err
		}
		if err := s.options(opts); err != nil {
			return nil, err
		}
		if after == "" {
			return nil, fmt.Errorf("no key after the options %q", opts)
		}
		rest = after
	}
	key, err := parseKey(rest)
	if err != nil {
		return nil, err
	}
	s.Key = key
	return s, nil
}

func isKeyType(s string) bool {
	return strings.HasPrefix(s, "ssh-") || strings.HasPrefix(s, "ecdsa-") || strings.HasPrefix(s, "sk-")
}

// cutField splits off the first blank-delimited field.
func cutField(s string) (string, string) {
	i := strings.IndexAny(s, blanks)
	if i < 0 {
		return s, ""
	}
	return s[:i], strings.TrimLeft(s[i:], blanks)
}

// cutOptions splits off the options: up to the first blank outside
// double quotes.
func cutOptions(s string) (string, string, error) {
	quoted := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\' && quoted && i+1 < len(s) && s[i+1] == '"':
			i++
		case c == '"':
			quoted = !quoted
		case !quoted && (c == ' ' || c == '\t'):
			return s[:i], strings.TrimLeft(s[i:], blanks), nil
		}
	}
	if quoted {
		return "", "", errors.New("an option's quote is not closed")
	}
	return s, "", nil
}

// parseKey reads KEYTYPE BASE64 [COMMENT].
func parseKey(s string) (*PublicKey, error) {
	typ, rest := cutField(s)
	b64, _ := cutField(rest)
	if b64 == "" {
		return nil, fmt.Errorf("%q is not a key: write KEYTYPE BASE64, as in a .pub file", typ)
	}
	blob, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, fmt.Errorf("%s key: the base64 does not decode: %v", typ, err)
	}
	key, err := ParsePublicKey(blob)
	if err != nil {
		return nil, fmt.Errorf("%s key: %v", typ, err)
	}
	if key.Type != typ {
		return nil, fmt.Errorf("the key is %s, the line says %s", key.Type, typ)
	}
	return key, nil
}

// options reads the comma list of options, as sshsigopt_parse does.
func (s *Signer) options(opts string) error {
	seen := map[string]bool{}
	for opts != "" {
		var name, value string
		eq := strings.IndexAny(opts, "=,")
		if eq >= 0 && opts[eq] == '=' {
			name = strings.ToLower(opts[:eq])
			v, rest, err := dequote(opts[eq+1:])
			if err != nil {
				return fmt.Errorf("option %s: %v", name, err)
			}
			value, opts = v, rest
		} else {
			// A flag. Lowered after the cut: ToLower may change the
			// length of bytes that are not UTF-8.
			raw := opts
			if eq >= 0 {
				raw = opts[:eq]
			}
			name, opts = strings.ToLower(raw), opts[len(raw):]
		}
		if seen[name] {
			return fmt.Errorf("option %s given twice", name)
		}
		seen[name] = true
		switch name {
		case "cert-authority":
			return errors.New("cert-authority: otpprov verifies plain keys, not OpenSSH certificates; list each signer's key")
		case "namespaces":
			s.Namespaces = value
		case "valid-after", "valid-before":
			t, err := parseSSHTime(value)
			if err != nil {
				return fmt.Errorf("option %s=%q: %v", name, value, err)
			}
			if name == "valid-after" {
				s.ValidAfter = t
			} else {
				s.ValidBefore = t
			}
		default:
			return fmt.Errorf("unknown option %q: allowed signers take namespaces=, valid-after=, valid-before=", name)
		}
		if opts == "" {
			break
		}
		if opts[0] != ',' {
			return fmt.Errorf("option %s: a comma or a blank must follow it", name)
		}
		if opts = opts[1:]; opts == "" {
			return errors.New("the options end with a comma")
		}
	}
	if !s.ValidAfter.IsZero() && !s.ValidBefore.IsZero() && !s.ValidBefore.After(s.ValidAfter) {
		return errors.New("valid-before is not after valid-after")
	}
	return nil
}

// dequote reads a double-quoted option value (opt_dequote: \" is a quote).
func dequote(s string) (string, string, error) {
	if s == "" || s[0] != '"' {
		return "", "", errors.New(`the value must be in double quotes: name="value"`)
	}
	var v strings.Builder
	for i := 1; i < len(s); i++ {
		switch {
		case s[i] == '\\' && i+1 < len(s) && s[i+1] == '"':
			v.WriteByte('"')
			i++
		case s[i] == '"':
			return v.String(), s[i+1:], nil
		default:
			v.WriteByte(s[i])
		}
	}
	return "", "", errors.New("the value's quote is not closed")
}

// parseSSHTime reads ssh-keygen's absolute times: YYYYMMDD, YYYYMMDDHHMM
// or YYYYMMDDHHMMSS, in UTC with a Z (or UTC) suffix, else in local time.
func parseSSHTime(s string) (time.Time, error) {
	loc := time.Local
	up := strings.ToUpper(s)
	if t, ok := strings.CutSuffix(up, "Z"); ok && len(s) > 1 {
		s, loc = t, time.UTC
	} else if t, ok := strings.CutSuffix(up, "UTC"); ok && len(s) > 3 {
		s, loc = t, time.UTC
	}
	var layout string
	switch len(s) {
	case 8:
		layout = "20060102"
	case 12:
		layout = "200601021504"
	case 14:
		layout = "20060102150405"
	default:
		return time.Time{}, errors.New("write YYYYMMDD, YYYYMMDDHHMM or YYYYMMDDHHMMSS, with a Z for UTC")
	}
	t, err := time.ParseInLocation(layout, s, loc)
	if err != nil || t.Unix() <= 0 {
		return time.Time{}, errors.New("not a valid time: write YYYYMMDD, YYYYMMDDHHMM or YYYYMMDDHHMMSS, with a Z for UTC")
	}
	return t, nil
}

// ErrNotAllowed is wrapped when no line of the allowed signers lets the
// signature's key sign a release at the time of verification.
var ErrNotAllowed = errors.New("signer not allowed")

// Find returns the line that lets key sign in namespace ns at time now:
// the key is not revoked (an error wrapping ErrRevoked), it is the
// line's, ns matches its namespaces= (if any), and now is within
// valid-after and valid-before (inclusive, as in sshsig.c).
func (a *AllowedSigners) Find(key *PublicKey, ns string, now time.Time) (*Signer, error) {
	if err := a.Revoked.Check(key); err != nil {
		return nil, err
	}
	want := key.Blob
	var why []string
	for i := range a.Signers {
		s := &a.Signers[i]
		if !bytes.Equal(s.Key.Blob, want) {
			continue
		}
		at := fmt.Sprintf("%s:%d", a.File, s.Line)
		switch {
		case s.Namespaces != "" && matchList(ns, s.Namespaces) != 1:
			why = append(why, fmt.Sprintf("%s: the key is not allowed to sign namespace %q (namespaces=%q)", at, ns, s.Namespaces))
		case !s.ValidAfter.IsZero() && now.Unix() < s.ValidAfter.Unix():
			why = append(why, fmt.Sprintf("%s: the key is not yet valid: %s is before valid-after %s", at, now.UTC().Format(time.RFC3339), s.ValidAfter.UTC().Format(time.RFC3339)))
		case !s.ValidBefore.IsZero() && now.Unix() > s.ValidBefore.Unix():
			why = append(why, fmt.Sprintf("%s: the key has expired: %s is after valid-before %s", at, now.UTC().Format(time.RFC3339), s.ValidBefore.UTC().Format(time.RFC3339)))
		default:
			return s, nil
		}
	}
	if len(why) == 0 {
		return nil, fmt.Errorf("%w: the signing key %s %s is not in %s", ErrNotAllowed, key.Type, key.Fingerprint(), a.File)
	}
	return nil, fmt.Errorf("%w: %s", ErrNotAllowed, strings.Join(why, "; "))
}

// matchList is OpenSSH's match_pattern_list: 1 if s matches a pattern of
// the comma list, -1 if it matches a negated one (!pattern), 0 if none.
func matchList(s, list string) int {
	got := 0
	for _, p := range strings.Split(list, ",") {
		neg := strings.HasPrefix(p, "!")
		if neg {
			p = p[1:]
		}
		if matchPattern(s, p) {
			if neg {
				return -1
			}
			got = 1
		}
	}
	return got
}

// matchPattern is OpenSSH's match_pattern: * any run, ? any one byte.
func matchPattern(s, p string) bool {
	// Iterative glob with one backtrack point: linear in practice, and
	// never exponential on a hostile pattern.
	si, pi, star, mark := 0, 0, -1, 0
	for si < len(s) {
		switch {
		case pi < len(p) && (p[pi] == '?' || p[pi] == s[si]):
			si++
			pi++
		case pi < len(p) && p[pi] == '*':
			star, mark = pi, si
			pi++
		case star >= 0:
			mark++
			si, pi = mark, star+1
		default:
			return false
		}
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}
