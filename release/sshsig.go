package release

import (
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
)

// An OpenSSH signature (PROTOCOL.sshsig in openssh-portable), as
// `ssh-keygen -Y sign` writes it beside the signed file. The format and
// the data signed are ours to check, and the keys (keys.go).

// Namespace is the only namespace a release signature may have: a
// signature made for git commits or for files (`-n file`) by the same key
// is not a release.
const Namespace = "otpprov-release"

const (
	armorBegin = "-----BEGIN SSH SIGNATURE-----"
	armorEnd   = "-----END SSH SIGNATURE-----"
	magic      = "SSHSIG"
	sigVersion = 1
	// MaxSignatureSize caps a .sig file: an RSA-16384 signature and its
	// key armored are under 6 KiB.
	MaxSignatureSize = 64 << 10
)

// ErrSignature is wrapped by every error of a signature that does not
// parse or does not verify.
var ErrSignature = errors.New("bad signature")

// Signature is a parsed SSHSIG blob.
type Signature struct {
	Key       *PublicKey // the signer's public key, carried in the signature
	Namespace string
	HashAlg   string // sha256 or sha512
	sig       []byte // the SSH signature blob: string format, string blob[, flags, counter]
}

func sigError(format string, a ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrSignature}, a...)...)
}

// ParseArmored reads an armored signature: the BEGIN line, base64 lines,
// the END line. Text before BEGIN or after END is refused, where
// OpenSSH's dearmor would skip it: a signature file is written by
// ssh-keygen, and anything else in it was put there by someone else.
func ParseArmored(b []byte) (*Signature, error) {
	s := strings.TrimRight(string(b), "\r\n")
	lines := strings.Split(s, "\n")
	for i := range lines {
		lines[i] = strings.TrimSuffix(lines[i], "\r")
	}
	if len(lines) < 3 || lines[0] != armorBegin {
		return nil, sigError("not an SSH signature: the first line is not %s", armorBegin)
	}
	if lines[len(lines)-1] != armorEnd {
		return nil, sigError("the last line is not %s: the signature file is cut short or has text after it", armorEnd)
	}
	raw, err := decodeArmorLines(lines)
	if err != nil {
		return nil, err
	}
	return ParseSignature(raw)
}

// decodeArmorLines decodes the base64 between the armor's first and last
// lines.
func decodeArmorLines(lines []string) ([]byte, error) {
	raw, err := base64.StdEncoding.DecodeString(strings.Join(lines[1:len(lines)-1], ""))
	if err != nil {
		return nil, sigError("the signature's base64 does not decode: %v", err)
	}
	return raw, nil
}

// reader takes SSH wire types (RFC 4251) off a byte slice.
type reader struct {
	b   []byte
	err error
}

func (r *reader) bytes(n int, what string) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || n > len(r.b) {
		r.err = fmt.Errorf("cut short in its %s", what)
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) uint32(what string) uint32 {
	v := r.bytes(4, what)
	if v == nil {
		return 0
	}
	return binary.BigEndian.Uint32(v)
}

func (r *reader) string(what string) []byte {
	n := r.uint32(what)
	if r.err == nil && uint64(n) > uint64(len(r.b)) {
		r.err = fmt.Errorf("its %s claims %d bytes, %d are left", what, n, len(r.b))
		return nil
	}
	return r.bytes(int(n), what)
}

func (r *reader) end(what string) {
	if r.err == nil && len(r.b) != 0 {
		r.err = fmt.Errorf("%d bytes of trailing data after the %s", len(r.b), what)
	}
}

// ParseSignature reads an SSHSIG blob (the armor's content).
func ParseSignature(raw []byte) (*Signature, error) {
	r := &reader{b: raw}
	if m := r.bytes(len(magic), "magic"); r.err == nil && string(m) != magic {
		return nil, sigError("the blob does not start with %q: not an SSH signature", magic)
	}
	if v := r.uint32("version"); r.err == nil && v != sigVersion {
		return nil, sigError("signature version %d, only %d is known", v, sigVersion)
	}
	keyBlob := r.string("public key")
	ns := r.string("namespace")
	r.string("reserved")
	hash := r.string("hash algorithm")
	sig := r.string("signature")
	r.end("signature")
	if r.err != nil {
		return nil, sigError("the signature: %v", r.err)
	}
	key, err := ParsePublicKey(keyBlob)
	if err != nil {
		return nil, sigError("the signature's public key: %v", err)
	}
	s := &Signature{Key: key, Namespace: string(ns), HashAlg: string(hash), sig: sig}
	if s.HashAlg != "sha256" && s.HashAlg != "sha512" {
		return nil, sigError("hash algorithm %q: OpenSSH signs with sha512 or sha256", s.HashAlg)
	}
	return s, nil
}

// signedData is what the key signed: the preamble, the namespace, the
// reserved string, the hash algorithm and the message's hash.
func signedData(namespace, hashAlg string, message []byte) []byte {
	var h []byte
	if hashAlg == "sha256" {
		s := sha256.Sum256(message)
		h = s[:]
	} else {
		s := sha512.Sum512(message)
		h = s[:]
	}
	var b bytes.Buffer
	b.WriteString(magic)
	for _, s := range [][]byte{[]byte(namespace), nil, []byte(hashAlg), h} {
		binary.Write(&b, binary.BigEndian, uint32(len(s)))
		b.Write(s)
	}
	return b.Bytes()
}

// Verify checks that s signs message in namespace ns, with s.Key. It does
// not say whether the key may sign: that is the allowed signers' job.
func (s *Signature) Verify(message []byte, ns string) error {
	if s.Namespace != ns {
		return sigError("the signature is for namespace %q, not %q: the key signed something else (ssh-keygen -Y sign -n %s)", s.Namespace, ns, ns)
	}
	data := signedData(s.Namespace, s.HashAlg, message)
	r := &reader{b: s.sig}
	format := string(r.string("signature format"))
	blob := r.string("signature blob")
	if r.err != nil {
		return sigError("the signature: %v", r.err)
	}
	return s.Key.verify(format, blob, r.b, data)
}
