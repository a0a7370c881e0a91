package release

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

func seedSignatures(f *testing.F) [][]byte {
	good, err := os.ReadFile("testdata/ed25519.sig")
	if err != nil {
		f.Fatal(err)
	}
	priv := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	_, sk := skSign(priv, "ssh:", Namespace, 1, 7, []byte("x"))
	return [][]byte{good, sk, good[:len(good)/2], []byte(armorBegin + "\n" + armorEnd + "\n")}
}

// FuzzParseArmored: no input panics the parser or the verifier, and every
// refusal is a signature error.
func FuzzParseArmored(f *testing.F) {
	for _, s := range seedSignatures(f) {
		f.Add(s)
	}
	msg := []byte("apiVersion: otpprov/v1\nkind: Release\n")
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := ParseArmored(b)
		if err != nil {
			if !errors.Is(err, ErrSignature) {
				t.Fatalf("not a signature error: %v", err)
			}
			return
		}
		s.Key.Fingerprint()
		for _, ns := range []string{Namespace, s.Namespace} {
			if err := s.Verify(msg, ns); err != nil && !errors.Is(err, ErrSignature) {
				t.Fatalf("verify: not a signature error: %v", err)
			}
		}
	})
}

// FuzzParseSignature: the same on the blob inside the armor, where the
// fuzzer reaches the SSH encodings faster.
func FuzzParseSignature(f *testing.F) {
	for _, s := range seedSignatures(f)[:2] {
		lines := strings.Split(strings.TrimSpace(string(s)), "\n")
		raw, _ := decodeArmorLines(lines)
		f.Add(raw)
	}
	msg := []byte("x")
	f.Fuzz(func(t *testing.T, raw []byte) {
		s, err := ParseSignature(raw)
		if err != nil {
			if !errors.Is(err, ErrSignature) {
				t.Fatalf("not a signature error: %v", err)
			}
			return
		}
		if err := s.Verify(msg, s.Namespace); err != nil && !errors.Is(err, ErrSignature) {
			t.Fatalf("verify: not a signature error: %v", err)
		}
	})
}

// FuzzParseAllowedSigners: no input panics the parser or Find, and every
// refusal names its line.
func FuzzParseAllowedSigners(f *testing.F) {
	b, err := os.ReadFile("testdata/allowed_signers")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add([]byte("# c\n*@x,!b@x namespaces=\"otpprov-*\",valid-after=\"20260101Z\",valid-before=\"20270101\" " + edKey + " c\n"))
	f.Add([]byte("a cert-authority " + edKey + "\n"))
	f.Add([]byte(`a namespaces="\"x\\" ` + edKey))
	now := time.Unix(1.8e9, 0)
	f.Fuzz(func(t *testing.T, b []byte) {
		as, err := ParseAllowedSigners("as", b)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "as:") {
				t.Fatalf("no line: %v", err)
			}
			return
		}
		for _, s := range as.Signers {
			if _, err := as.Find(s.Key, Namespace, now); err != nil && !errors.Is(err, ErrNotAllowed) {
				t.Fatalf("find: %v", err)
			}
		}
	})
}

// FuzzParseRevocations: no input panics the KRL or key list parser or
// Check, and every refusal names the file.
func FuzzParseRevocations(f *testing.F) {
	blob, err := base64.StdEncoding.DecodeString(strings.Fields(edKey)[1])
	if err != nil {
		f.Fatal(err)
	}
	key, err := ParsePublicKey(blob)
	if err != nil {
		f.Fatal(err)
	}
	certs := func(subs ...[]byte) []byte {
		return section(krlCertificates, append([][]byte{put(nil, blob, nil)}, subs...)...)
	}
	u64 := func(vs ...uint64) (b []byte) {
		for _, v := range vs {
			b = binary.BigEndian.AppendUint64(b, v)
		}
		return b
	}
	f.Add([]byte("# revoked\n" + edKey + " c\n"))
	f.Add(krlOf(section(krlExplicitKey, put(nil, blob)), section(krlSHA1, put(nil, make([]byte, 20))), section(krlSHA256, put(nil, make([]byte, 32)))))
	f.Add(krlOf(certs(section(krlCertSerialList, u64(1, 2)), section(krlCertSerialRange, u64(5, 9)),
		section(krlCertSerialBitmap, u64(100), put(nil, []byte{0x05})), section(krlCertKeyID, put(nil, []byte("id"))),
		section(krlCertExtension, put(nil, []byte("x")), []byte{0}, put(nil, nil)))))
	f.Add(append(krlOf(section(krlExtension, put(nil, []byte("x")), []byte{0}, put(nil, nil)), section(krlSignature, put(nil, []byte("k")))), put(nil, []byte("s"))...))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseRevocations("rev", b)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "rev:") || !errors.Is(err, ErrRevocationFile) {
				t.Fatalf("the file is not named: %v", err)
			}
			return
		}
		if err := r.Check(key); err != nil && !errors.Is(err, ErrRevoked) {
			t.Fatalf("check: %v", err)
		}
	})
}
