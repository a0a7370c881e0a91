package release

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/ssh"
)

// An OpenSSH signature (PROTOCOL.sshsig in openssh-portable), as
// `ssh-keygen -Y sign` writes it beside the signed file. The format and
// the data signed are ours to check; x/crypto/ssh parses the public keys
// and verifies the RSA and ECDSA signatures, whose encodings are SSH's own.

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
	Key       ssh.PublicKey // the signer's public key, carried in the signature
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
		r.err = sigError("the signature is cut short in its %s", what)
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
		r.err = sigError("the signature's %s claims %d bytes, %d are left", what, n, len(r.b))
		return nil
	}
	return r.bytes(int(n), what)
}

func (r *reader) end(what string) {
	if r.err == nil && len(r.b) != 0 {
		r.err = sigError("%d bytes of trailing data after the %s", len(r.b), what)
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
		return nil, r.err
	}
	key, err := ssh.ParsePublicKey(keyBlob)
	if err != nil {
		return nil, sigError("the signature's public key: %v", err)
	}
	if _, ok := key.(*ssh.Certificate); ok {
		return nil, sigError("the signature was made with an OpenSSH certificate (%s): otpprov takes plain keys only", key.Type())
	}
	s := &Signature{Key: key, Namespace: string(ns), HashAlg: string(hash), sig: sig}
	if s.HashAlg != "sha256" && s.HashAlg != "sha512" {
		return nil, sigError("hash algorithm %q: OpenSSH signs with sha512 or sha256", s.HashAlg)
	}
	return s, nil
}

// Fingerprint is the key's fingerprint as ssh-keygen -l prints it
// (SHA256:, unpadded base64).
func Fingerprint(k ssh.PublicKey) string { return ssh.FingerprintSHA256(k) }

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
		return r.err
	}
	switch kt := s.Key.Type(); kt {
	case ssh.KeyAlgoED25519:
		r.end("ed25519 signature")
		if r.err != nil {
			return r.err
		}
		if format != kt {
			return sigError("signature format %q for a %s key", format, kt)
		}
		pk := ed25519Key(s.Key)
		if pk == nil {
			return sigError("the ed25519 public key does not parse")
		}
		if !ed25519.Verify(pk, data, blob) {
			return sigError("the ed25519 signature does not match the file: the file changed after it was signed, or the signature is not of this file")
		}
		return nil
	case ssh.KeyAlgoSKED25519:
		return verifySKEd25519(s.Key, format, blob, r, data)
	case ssh.KeyAlgoRSA:
		// sshsig refuses SHA-1 RSA signatures (ssh-rsa).
		if format != ssh.KeyAlgoRSASHA256 && format != ssh.KeyAlgoRSASHA512 {
			return sigError("RSA signature format %q: only rsa-sha2-256 and rsa-sha2-512 are accepted", format)
		}
	}
	sig := new(ssh.Signature)
	if err := ssh.Unmarshal(s.sig, sig); err != nil {
		return sigError("the signature blob: %v", err)
	}
	if err := s.Key.Verify(data, sig); err != nil {
		return sigError("the %s signature does not match the file: %v", s.Key.Type(), err)
	}
	return nil
}

// ed25519Key is the raw key of an ssh-ed25519 or sk-ssh-ed25519 public
// key: the string after the type in its wire form; nil if it has not the
// size (ed25519.Verify panics on such a key).
func ed25519Key(k ssh.PublicKey) ed25519.PublicKey {
	r := &reader{b: k.Marshal()}
	r.string("key type")
	pk := r.string("ed25519 key")
	if r.err != nil || len(pk) != ed25519.PublicKeySize {
		return nil
	}
	return ed25519.PublicKey(pk)
}

// skUserPresent is the FIDO flag that the token was touched.
const skUserPresent = 0x01

// verifySKEd25519 checks a FIDO (security key) ed25519 signature as
// OpenSSH's ssh_ed25519_sk_verify does: the token signed
// SHA256(application) || flags || counter || SHA256(data).
//
// Stricter than ssh-keygen -Y verify, which accepts a signature without
// the user-presence flag: a release is signed by a person at a token, so
// a signature no one touched the token for (a key made with -O
// no-touch-required) is refused.
func verifySKEd25519(k ssh.PublicKey, format string, blob []byte, r *reader, data []byte) error {
	flags := r.bytes(1, "FIDO flags")
	counter := r.bytes(4, "FIDO counter")
	r.end("FIDO signature")
	if r.err != nil {
		return r.err
	}
	if format != ssh.KeyAlgoSKED25519 {
		return sigError("signature format %q for a %s key", format, ssh.KeyAlgoSKED25519)
	}
	kr := &reader{b: k.Marshal()}
	kr.string("key type")
	pk := kr.string("ed25519 key")
	app := kr.string("application")
	if kr.err != nil || len(pk) != ed25519.PublicKeySize {
		return sigError("the security key's public key does not parse")
	}
	appHash := sha256.Sum256(app)
	dataHash := sha256.Sum256(data)
	var m []byte
	m = append(m, appHash[:]...)
	m = append(m, flags...)
	m = append(m, counter...)
	m = append(m, dataHash[:]...)
	if !ed25519.Verify(ed25519.PublicKey(pk), m, blob) {
		return sigError("the security key's ed25519 signature does not match the file: the file changed after it was signed, or the signature is not of this file")
	}
	if flags[0]&skUserPresent == 0 {
		return sigError("the security key signed without user presence (flags 0x%02x): touch the token when signing; a key made with -O no-touch-required cannot sign releases", flags[0])
	}
	return nil
}
