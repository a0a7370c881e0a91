package release

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"math/big"
	"strings"
)

// OpenSSH public keys in their wire form (RFC 4253 6.6, RFC 5656 3.1,
// RFC 8709, PROTOCOL.u2f), parsed here: ed25519, sk-ed25519, RSA and
// ECDSA keys need a few lines each on the standard library, where
// golang.org/x/crypto/ssh would bring the whole SSH transport into the
// board's binary (+1.18 MB of the 8 MiB budget, against +0.72 MB for
// this file and the rest of the package; ed25519 alone costs 0.13 MB).
// ssh-keygen is the tests' reference.

// Key types otpprov verifies.
const (
	KeyEd25519   = "ssh-ed25519"
	KeySKEd25519 = "sk-ssh-ed25519@openssh.com"
	KeyRSA       = "ssh-rsa"
	KeyECDSA256  = "ecdsa-sha2-nistp256"
	KeyECDSA384  = "ecdsa-sha2-nistp384"
	KeyECDSA521  = "ecdsa-sha2-nistp521"
)

// minRSABits is OpenSSH's SSH_RSA_MINIMUM_MODULUS_SIZE.
const minRSABits = 1024

// PublicKey is a parsed public key.
type PublicKey struct {
	Type string
	Blob []byte // the wire form: what allowed signers and fingerprints compare
	ed   ed25519.PublicKey
	app  string // a security key's application ("ssh:")
	rsa  *rsa.PublicKey
	ec   *ecdsa.PublicKey
	hash crypto.Hash // ECDSA: the curve's hash
}

// Fingerprint is the key's fingerprint as ssh-keygen -l prints it:
// SHA256: and the unpadded base64 of the blob's SHA-256.
func (k *PublicKey) Fingerprint() string {
	h := sha256.Sum256(k.Blob)
	return "SHA256:" + base64.RawStdEncoding.EncodeToString(h[:])
}

// ParsePublicKey reads a key's wire form.
func ParsePublicKey(blob []byte) (*PublicKey, error) {
	r := &reader{b: blob}
	k := &PublicKey{Type: string(r.string("key type")), Blob: blob}
	if r.err != nil {
		return nil, r.err
	}
	switch k.Type {
	case KeyEd25519, KeySKEd25519:
		pk := r.string("ed25519 key")
		if k.Type == KeySKEd25519 {
			k.app = string(r.string("application"))
		}
		if r.err == nil && len(pk) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("an ed25519 key of %d bytes, not %d", len(pk), ed25519.PublicKeySize)
		}
		k.ed = ed25519.PublicKey(pk)
	case KeyRSA:
		e, n := r.mpint("RSA exponent"), r.mpint("RSA modulus")
		if r.err != nil {
			break
		}
		if !e.IsInt64() || e.Int64() < 3 || e.Int64() > 1<<31-1 || e.Bit(0) == 0 {
			return nil, fmt.Errorf("an RSA key with exponent %v", e)
		}
		if n.BitLen() < minRSABits {
			return nil, fmt.Errorf("%w: an RSA key of %d bits: OpenSSH refuses keys under %d", errKeyLength, n.BitLen(), minRSABits)
		}
		k.rsa = &rsa.PublicKey{N: n, E: int(e.Int64())}
		// OpenSSH reads an mpint with leading zeros as the same number
		// and compares keys, fingerprints and revocation lists on the
		// blob written again: so do we, or a key written with a zero
		// more would be another key to the allowed signers, and a key
		// list writing it so would not revoke it.
		k.Blob = putMpint(putMpint(appendStrings(nil, []byte(k.Type)), e), n)
	case KeyECDSA256, KeyECDSA384, KeyECDSA521:
		curve := string(r.string("curve name"))
		q := r.string("ECDSA point")
		if r.err != nil {
			break
		}
		if curve != strings.TrimPrefix(k.Type, "ecdsa-sha2-") {
			return nil, fmt.Errorf("an %s key on curve %q", k.Type, curve)
		}
		c, h := elliptic.P256(), crypto.SHA256
		switch k.Type {
		case KeyECDSA384:
			c, h = elliptic.P384(), crypto.SHA384
		case KeyECDSA521:
			c, h = elliptic.P521(), crypto.SHA512
		}
		pub, err := ecdsa.ParseUncompressedPublicKey(c, q)
		if err != nil {
			return nil, fmt.Errorf("the %s key's point: %v", k.Type, err)
		}
		k.ec, k.hash = pub, h
	default:
		if strings.Contains(k.Type, "-cert-") {
			return nil, fmt.Errorf("%q is an OpenSSH certificate: otpprov takes plain keys only", k.Type)
		}
		return nil, fmt.Errorf("key type %q: otpprov verifies ssh-ed25519, sk-ssh-ed25519@openssh.com, ssh-rsa and ecdsa-sha2-nistp256/384/521 keys", k.Type)
	}
	r.end("public key")
	if r.err != nil {
		return nil, r.err
	}
	return k, nil
}

// errKeyLength is wrapped when an RSA key is too short for OpenSSH
// (SSH_ERR_KEY_LENGTH): a revocation list skips such a line, as
// ssh-keygen does.
var errKeyLength = errors.New("key too short")

// appendStrings appends SSH wire strings.
func appendStrings(b []byte, ss ...[]byte) []byte {
	for _, s := range ss {
		b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
		b = append(b, s...)
	}
	return b
}

// putMpint appends a non-negative mpint in its shortest form, as
// OpenSSH writes it: a zero byte first only where the top bit is set.
func putMpint(b []byte, v *big.Int) []byte {
	m := v.Bytes()
	if len(m) > 0 && m[0]&0x80 != 0 {
		m = append([]byte{0}, m...)
	}
	return appendStrings(b, m)
}

// mpint reads an SSH mpint: two's complement, big-endian; a negative
// number is refused (no key holds one).
func (r *reader) mpint(what string) *big.Int {
	b := r.string(what)
	if r.err != nil {
		return nil
	}
	if len(b) > 0 && b[0]&0x80 != 0 {
		r.err = fmt.Errorf("the %s is negative", what)
		return nil
	}
	return new(big.Int).SetBytes(b)
}

// verify checks an SSH signature (format, blob and what follows it, the
// security keys' flags and counter) of data by k.
func (k *PublicKey) verify(format string, blob, rest, data []byte) error {
	if k.Type != KeySKEd25519 && len(rest) != 0 {
		return sigError("%d bytes of trailing data after the %s signature", len(rest), k.Type)
	}
	switch k.Type {
	case KeyEd25519:
		if format != k.Type {
			return sigError("signature format %q for a %s key", format, k.Type)
		}
		if !ed25519.Verify(k.ed, data, blob) {
			return sigError("the ed25519 signature does not match the file: the file changed after it was signed, or the signature is not of this file")
		}
	case KeySKEd25519:
		return k.verifySKEd25519(format, blob, rest, data)
	case KeyRSA:
		// sshsig refuses SHA-1 RSA signatures (ssh-rsa).
		var h crypto.Hash
		switch format {
		case "rsa-sha2-256":
			h = crypto.SHA256
		case "rsa-sha2-512":
			h = crypto.SHA512
		default:
			return sigError("RSA signature format %q: only rsa-sha2-256 and rsa-sha2-512 are accepted", format)
		}
		// OpenSSH may write a signature shorter than the modulus
		// (leading zeros dropped): PKCS #1 wants it padded.
		if n := k.rsa.Size(); len(blob) < n {
			blob = append(make([]byte, n-len(blob)), blob...)
		}
		if err := rsa.VerifyPKCS1v15(k.rsa, h, digest(h, data), blob); err != nil {
			return sigError("the RSA signature does not match the file: the file changed after it was signed, or the signature is not of this file")
		}
	default: // ECDSA
		if format != k.Type {
			return sigError("signature format %q for a %s key", format, k.Type)
		}
		sr := &reader{b: blob}
		rr, ss := sr.mpint("ECDSA r"), sr.mpint("ECDSA s")
		sr.end("ECDSA signature")
		if sr.err != nil {
			return sigError("the ECDSA signature: %v", sr.err)
		}
		if !ecdsa.Verify(k.ec, digest(k.hash, data), rr, ss) {
			return sigError("the ECDSA signature does not match the file: the file changed after it was signed, or the signature is not of this file")
		}
	}
	return nil
}

func digest(h crypto.Hash, data []byte) []byte {
	switch h {
	case crypto.SHA256:
		s := sha256.Sum256(data)
		return s[:]
	case crypto.SHA384:
		s := sha512.Sum384(data)
		return s[:]
	default:
		s := sha512.Sum512(data)
		return s[:]
	}
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
func (k *PublicKey) verifySKEd25519(format string, blob, rest, data []byte) error {
	r := &reader{b: rest}
	flags := r.bytes(1, "FIDO flags")
	counter := r.bytes(4, "FIDO counter")
	r.end("FIDO signature")
	if r.err != nil {
		return sigError("the security key's signature: %v", r.err)
	}
	if format != KeySKEd25519 {
		return sigError("signature format %q for a %s key", format, KeySKEd25519)
	}
	appHash := sha256.Sum256([]byte(k.app))
	dataHash := sha256.Sum256(data)
	m := append(append(appHash[:], flags...), counter...)
	m = append(m, dataHash[:]...)
	if !ed25519.Verify(k.ed, m, blob) {
		return sigError("the security key's ed25519 signature does not match the file: the file changed after it was signed, or the signature is not of this file")
	}
	if flags[0]&skUserPresent == 0 {
		return sigError("the security key signed without user presence (flags 0x%02x): touch the token when signing; a key made with -O no-touch-required cannot sign releases", flags[0])
	}
	return nil
}
