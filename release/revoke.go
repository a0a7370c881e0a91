package release

import (
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"strings"
	"time"

	"github.com/otpprov/otpprov/internal/inputfile"
)

// Revoked keys: the file `ssh-keygen -Y verify -r FILE` takes
// (sshkey_check_revoked in OpenSSH's authfile.c). A file that starts with
// the KRL magic is an OpenSSH key revocation list (PROTOCOL.krl, made by
// `ssh-keygen -k`); anything else is read as a list of public keys, one
// a line, as in a .pub file.
//
// A KRL revokes a plain key by its blob (explicit key sections) or by
// the SHA-1 or SHA-256 of its blob (fingerprint sections). Its
// certificate sections revoke certificates, which otpprov never accepts:
// they are read to their end, as OpenSSH reads them, and refused where
// OpenSSH refuses them, but revoke nothing here. A signature section is
// skipped as OpenSSH 9.4 and later skip it (9.3 and earlier verified it;
// a KRL's signer proves nothing here, and skipping it drops no
// revocation). An unknown section, a critical extension, bytes that do
// not parse: the whole file is refused, naming where, as ssh-keygen
// refuses to verify with it. A list that cannot be read never counts as
// "nothing revoked".

// MaxRevocationsSize caps a revocation file: a KRL of 100,000 explicit
// ed25519 keys is 5 MB.
const MaxRevocationsSize = 16 << 20

// ErrRevoked is wrapped when the signing key is in the revocation list.
var ErrRevoked = errors.New("signing key revoked")

// ErrRevocationFile is wrapped when a revocation file cannot be read as
// a KRL or a key list.
var ErrRevocationFile = errors.New("bad revoked keys file")

// krlMagic is "SSHKRL\n\0": the 8 bytes ssh_krl_from_blob compares.
const krlMagic = "SSHKRL\n\x00"

// KRL section types (PROTOCOL.krl).
const (
	krlCertificates = 1
	krlExplicitKey  = 2
	krlSHA1         = 3
	krlSignature    = 4
	krlSHA256       = 5
	krlExtension    = 255

	krlCertSerialList   = 0x20
	krlCertSerialRange  = 0x21
	krlCertSerialBitmap = 0x22
	krlCertKeyID        = 0x23
	krlCertExtension    = 0x39
)

// sshMaxBignum is OpenSSH's SSHBUF_MAX_BIGNUM: the longest mpint it reads
// (a zero byte more is allowed before a top bit).
const sshMaxBignum = 16384 / 8

// Revocations is a loaded revocation file.
type Revocations struct {
	File string
	// KRL: a binary key revocation list; false: a list of public keys.
	KRL bool
	// Of a KRL: its version, generation time and comment.
	Version   uint64
	Generated time.Time
	Comment   string
	// Keys: the plain keys it revokes, counted as listed (explicit keys,
	// fingerprints, key lines).
	Keys int

	blobs  map[string]int // a key blob -> where it is listed: its line, or its byte in a KRL
	sha1   map[[sha1.Size]byte]bool
	sha256 map[[sha256.Size]byte]bool
}

// LoadRevocations reads and parses a revocation file.
func LoadRevocations(path string) (*Revocations, error) {
	b, err := inputfile.Read(path, MaxRevocationsSize)
	if err != nil {
		return nil, err
	}
	return ParseRevocations(path, b)
}

// LoadSigners reads an allowed signers file and, unless revokedPath is
// "", the revoked keys (KRL or key list) that refuse keys its lines
// hold: a station's whole signer policy in one call.
func LoadSigners(allowedPath, revokedPath string) (*AllowedSigners, error) {
	a, err := LoadAllowedSigners(allowedPath)
	if err != nil || revokedPath == "" {
		return a, err
	}
	if a.Revoked, err = LoadRevocations(revokedPath); err != nil {
		return nil, err
	}
	return a, nil
}

// String says what the file is, for a report.
func (r *Revocations) String() string {
	if r.KRL {
		return fmt.Sprintf("%s (KRL version %d, %d keys listed)", r.File, r.Version, r.Keys)
	}
	return fmt.Sprintf("%s (%d keys listed)", r.File, r.Keys)
}

// ParseRevocations parses a revocation file's bytes: a KRL or a list of
// public keys, as ssh-keygen tells them apart (the magic).
func ParseRevocations(file string, b []byte) (*Revocations, error) {
	r := &Revocations{File: file, blobs: map[string]int{}, sha1: map[[sha1.Size]byte]bool{}, sha256: map[[sha256.Size]byte]bool{}}
	if bytes.HasPrefix(b, []byte(krlMagic)) {
		r.KRL = true
		if err := r.parseKRL(b); err != nil {
			return nil, fmt.Errorf("%s: %w: %w", file, ErrRevocationFile, err)
		}
		return r, nil
	}
	for i, line := range bytes.Split(b, []byte("\n")) {
		if err := r.parseKeyLine(string(line), i+1); err != nil {
			return nil, fmt.Errorf("%s:%d: %w: %w", file, i+1, ErrRevocationFile, err)
		}
	}
	return r, nil
}

// Check returns an error wrapping ErrRevoked if r revokes k; nil if not,
// or if r is nil (no revocation file).
func (r *Revocations) Check(k *PublicKey) error {
	if r == nil {
		return nil
	}
	// k.Blob is the key as OpenSSH writes it (plain_key_blob), which is
	// what its revocation lists hold and hash.
	var how string
	if at, ok := r.blobs[string(k.Blob)]; ok {
		how = fmt.Sprintf("listed at line %d", at)
		if r.KRL {
			how = fmt.Sprintf("an explicit key at byte %d", at)
		}
	}
	switch {
	case how != "":
	case r.sha256[sha256.Sum256(k.Blob)]:
		how = "its SHA-256 fingerprint is listed"
	case r.sha1[sha1.Sum(k.Blob)]:
		how = "its SHA-1 fingerprint is listed"
	default:
		return nil
	}
	return fmt.Errorf("%w: the signing key %s %s is revoked by %s (%s)", ErrRevoked, k.Type, k.Fingerprint(), r.File, how)
}

// Key types OpenSSH reads that otpprov does not verify: a list may revoke
// them (ssh-keygen reads the line), and skipping them revokes nothing
// otpprov could accept.
var otherKeyTypes = map[string]bool{
	"ssh-dss":                            true,
	"sk-ecdsa-sha2-nistp256@openssh.com": true,
}

// parseKeyLine reads a line of a public key list as sshkey_in_file does:
// blanks, #comments, then KEYTYPE BASE64 [COMMENT].
func (r *Revocations) parseKeyLine(line string, n int) error {
	line = strings.TrimLeft(line, " \t")
	if strings.TrimRight(line, "\r") == "" || line[0] == '#' {
		return nil
	}
	typ, rest := cutField(line)
	b64, _ := cutField(rest)
	b64 = strings.TrimRight(b64, "\r")
	if b64 == "" || !isKeyType(typ) {
		return fmt.Errorf("%q is not a public key: a revoked keys file is an OpenSSH KRL (ssh-keygen -k) or public keys, KEYTYPE BASE64 a line, as in a .pub file", clip(typ))
	}
	if strings.Contains(typ, "-cert-") {
		return fmt.Errorf("%s is an OpenSSH certificate: otpprov takes plain keys only; list the certified key's own public key", clip(typ))
	}
	blob, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return fmt.Errorf("%s key: the base64 does not decode: %v", clip(typ), err)
	}
	k, err := ParsePublicKey(blob)
	switch {
	case errors.Is(err, errKeyLength):
		// SSH_ERR_KEY_LENGTH: ssh-keygen skips the line; such a key
		// cannot sign a release either.
		return nil
	case err != nil && otherKeyTypes[typ]:
		br := &reader{b: blob}
		if t := br.string("key type"); br.err != nil || string(t) != typ {
			return fmt.Errorf("the key is not a %s key", typ)
		}
		return nil
	case err != nil:
		return fmt.Errorf("%s key: %v", clip(typ), err)
	case k.Type != typ:
		return fmt.Errorf("the key is %s, the line says %s", k.Type, clip(typ))
	}
	if _, ok := r.blobs[string(k.Blob)]; !ok {
		r.blobs[string(k.Blob)] = n
	}
	r.Keys++
	return nil
}

// clip shortens what a message quotes of a line that is not a key.
func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

// krlReader reads a KRL: the SSH wire types, and where it is for the
// messages.
type krlReader struct {
	reader
	total int
}

func (k *krlReader) at() int { return k.total - len(k.b) }

func (k *krlReader) uint64(what string) uint64 {
	v := k.bytes(8, what)
	if v == nil {
		return 0
	}
	return binary.BigEndian.Uint64(v)
}

func (k *krlReader) u8(what string) byte {
	v := k.bytes(1, what)
	if v == nil {
		return 0
	}
	return v[0]
}

// sub is a reader of a string's contents, counting from where it starts.
func (k *krlReader) sub(what string) *krlReader {
	s := k.string(what)
	if k.err != nil {
		return &krlReader{reader: reader{err: k.err}}
	}
	return &krlReader{reader: reader{b: s}, total: k.at()}
}

// cstring is sshbuf_get_cstring: a string with no NUL but a last one.
func (k *krlReader) cstring(what string) string {
	s := k.string(what)
	if i := bytes.IndexByte(s, 0); k.err == nil && i >= 0 && i < len(s)-1 {
		k.err = fmt.Errorf("a NUL byte inside its %s", what)
	}
	return string(bytes.TrimSuffix(s, []byte{0}))
}

// errorf sets an error at the reader's place, if none is set.
func (k *krlReader) errorf(format string, a ...any) {
	if k.err == nil {
		k.err = fmt.Errorf(format, a...)
	}
}

// parseKRL reads a KRL as ssh_krl_from_blob does (OpenSSH 9.4 and later).
func (r *Revocations) parseKRL(b []byte) error {
	k := &krlReader{reader: reader{b: b[len(krlMagic):]}, total: len(b)}
	if v := k.uint32("format version"); k.err == nil && v != 1 {
		return fmt.Errorf("KRL format version %d: only version 1 is known (OpenSSH's)", v)
	}
	r.Version = k.uint64("version")
	gen := k.uint64("generated date")
	k.uint64("flags")
	k.string("reserved")
	r.Comment = k.cstring("comment")
	if k.err != nil {
		return fmt.Errorf("not a KRL: %v", k.err)
	}
	if gen <= 1<<62 {
		r.Generated = time.Unix(int64(gen), 0).UTC()
	}
	for k.err == nil && len(k.b) > 0 {
		at := k.at()
		typ := k.u8("section type")
		s := k.sub("section")
		if k.err != nil {
			return fmt.Errorf("at byte %d: the section is cut short: %v", at, k.err)
		}
		switch typ {
		case krlCertificates:
			certSection(s)
		case krlExplicitKey:
			r.blobSection(s, 0, "explicit key")
		case krlSHA1:
			r.blobSection(s, sha1.Size, "SHA-1 fingerprint")
		case krlSHA256:
			r.blobSection(s, sha256.Size, "SHA-256 fingerprint")
		case krlSignature:
			// The section holds the signing key; the signature follows it.
			s.b = nil
			k.string("signature")
			if k.err != nil {
				return fmt.Errorf("at byte %d: the signature section is cut short: %v", at, k.err)
			}
		case krlExtension:
			extension(s, "extension")
		default:
			return fmt.Errorf("at byte %d: unknown section type %d: OpenSSH's KRLs have types 1 (certificates), 2 (keys), 3 and 5 (SHA-1 and SHA-256 fingerprints), 4 (signature) and 255 (extension)", at, typ)
		}
		if s.err == nil && len(s.b) > 0 {
			s.errorf("%d bytes left unread at its end", len(s.b))
		}
		if s.err != nil {
			return fmt.Errorf("at byte %d: section type %d: %v", at, typ, s.err)
		}
	}
	return nil
}

// blobSection reads an explicit key section (size 0) or a fingerprint
// section: strings, each a key blob or a hash of one.
func (r *Revocations) blobSection(s *krlReader, size int, what string) {
	for s.err == nil && len(s.b) > 0 {
		at := s.at()
		v := s.string(what)
		switch {
		case s.err != nil:
		case size != 0 && len(v) != size:
			s.errorf("at byte %d: a %s of %d bytes, not %d", at, what, len(v), size)
		case size == sha1.Size:
			r.sha1[[sha1.Size]byte(v)] = true
		case size == sha256.Size:
			r.sha256[[sha256.Size]byte(v)] = true
		default:
			if _, ok := r.blobs[string(v)]; !ok {
				r.blobs[string(v)] = at
			}
		}
		if s.err == nil {
			r.Keys++
		}
	}
}

// extension reads an extension section or subsection: a name, a
// critical flag, contents. None is known: a critical one is refused.
func extension(s *krlReader, what string) {
	name := s.cstring(what + " name")
	crit := s.u8(what + " critical flag")
	s.string(what + " contents")
	if s.err == nil && crit != 0 {
		s.errorf("a critical %s %q, unknown to otpprov and to OpenSSH: a KRL that needs it cannot be read", what, clip(name))
	}
}

// certSection reads a certificate section to its end, checking what
// OpenSSH checks (parse_revoked_certs): it revokes certificates, which
// otpprov never takes, so nothing of it is kept.
func certSection(s *krlReader) {
	ca := s.string("CA key")
	s.string("reserved")
	if s.err == nil && len(ca) > 0 {
		// The CA's key is only checked to be one: certificates signed by
		// it are refused anyway.
		cr := &reader{b: ca}
		cr.string("key type")
		if cr.err != nil {
			s.errorf("the CA key: %v", cr.err)
		}
	}
	for s.err == nil && len(s.b) > 0 {
		at := s.at()
		typ := s.u8("subsection type")
		sub := s.sub("subsection")
		if s.err != nil {
			return
		}
		switch typ {
		case krlCertSerialList:
			for sub.err == nil && len(sub.b) > 0 {
				if sub.uint64("serial") == 0 && sub.err == nil {
					sub.errorf("serial 0 revoked: OpenSSH refuses it (0 is no serial)")
				}
			}
		case krlCertSerialRange:
			lo, hi := sub.uint64("lowest serial"), sub.uint64("highest serial")
			if sub.err == nil && (lo == 0 || lo > hi) {
				sub.errorf("serial range %d-%d: OpenSSH refuses a range from 0 or ending before it starts", lo, hi)
			}
		case krlCertSerialBitmap:
			serialBitmap(sub)
		case krlCertKeyID:
			for sub.err == nil && len(sub.b) > 0 {
				sub.cstring("key ID")
			}
		case krlCertExtension:
			extension(sub, "certificate extension")
		default:
			s.errorf("at byte %d: unknown certificate subsection type 0x%02x", at, typ)
			return
		}
		if sub.err == nil && len(sub.b) > 0 {
			sub.errorf("%d bytes left unread at its end", len(sub.b))
		}
		if sub.err != nil {
			s.errorf("at byte %d: certificate subsection 0x%02x: %v", at, typ, sub.err)
		}
	}
}

// serialBitmap reads a serial bitmap: the first serial, and an mpint
// whose bit N revokes serial first+N. As OpenSSH, refused: a negative
// or overlong mpint, serial 0, serials past 2^64-1.
func serialBitmap(s *krlReader) {
	first := s.uint64("first serial")
	m := s.string("bitmap")
	switch {
	case s.err != nil:
		return
	case len(m) > 0 && m[0]&0x80 != 0:
		s.errorf("the bitmap is a negative mpint")
		return
	case len(m) > sshMaxBignum+1 || len(m) == sshMaxBignum+1 && m[0] != 0:
		s.errorf("a bitmap of %d bytes: OpenSSH reads %d at most", len(m), sshMaxBignum)
		return
	}
	m = bytes.TrimLeft(m, "\x00")
	if len(m) == 0 {
		return
	}
	nbits := uint64(len(m)-1)*8 + uint64(bits.Len8(m[0]))
	if first != 0 && nbits > -first {
		s.errorf("the bitmap from serial %d runs past serial 2^64-1", first)
	}
	if first == 0 && m[len(m)-1]&1 != 0 {
		s.errorf("serial 0 revoked: OpenSSH refuses it (0 is no serial)")
	}
}
