package release

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"crypto"
	"crypto/rsa"
	_ "crypto/sha1"
	"crypto/x509"
	"encoding/pem"
)

// The verifier is held to ssh-keygen -Y verify: on every input below both
// run, and both must say what the case expects.

// sshKeygen returns the path of ssh-keygen, or skips (fails in CI).
func sshKeygen(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("ssh-keygen")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("ssh-keygen is missing in CI (Debian openssh-client)")
		}
		t.Skipf("NOT RUN: ssh-keygen is missing (Debian openssh-client)")
	}
	return p
}

// key makes a key pair with ssh-keygen in dir and returns its path and
// public key line.
func key(t *testing.T, dir, name string, typeArgs ...string) (string, string) {
	t.Helper()
	path := filepath.Join(dir, name)
	args := append([]string{"-q", "-N", "", "-C", name, "-f", path}, typeArgs...)
	if out, err := exec.Command(sshKeygen(t), args...).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen %v: %v\n%s", args, err, out)
	}
	pub, err := os.ReadFile(path + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	return path, strings.TrimSpace(string(pub))
}

// sign signs file with ssh-keygen in namespace ns; returns the .sig bytes.
func sign(t *testing.T, keyPath, ns, file string) []byte {
	t.Helper()
	os.Remove(file + ".sig")
	if out, err := exec.Command(sshKeygen(t), "-Y", "sign", "-n", ns, "-f", keyPath, file).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen -Y sign: %v\n%s", err, out)
	}
	b, err := os.ReadFile(file + ".sig")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// releaseFile writes msg as release.yaml in a new directory, to sign.
func releaseFile(t *testing.T, msg []byte) (dir, file string) {
	t.Helper()
	dir = t.TempDir()
	file = filepath.Join(dir, "release.yaml")
	if err := os.WriteFile(file, msg, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, file
}

// theirs is ssh-keygen -Y verify's verdict on message, sig and allowed,
// for principal in the namespace otpprov-release, now; extra are more
// arguments (-r FILE).
func theirs(t *testing.T, dir string, message, sig []byte, allowed, principal string, extra ...string) (bool, string) {
	t.Helper()
	sigPath, asPath := filepath.Join(dir, "v.sig"), filepath.Join(dir, "v.allowed")
	if err := os.WriteFile(sigPath, sig, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(asPath, []byte(allowed), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(sshKeygen(t), append([]string{"-Y", "verify", "-f", asPath, "-I", principal, "-n", Namespace, "-s", sigPath}, extra...)...)
	cmd.Stdin = bytes.NewReader(message)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatal(err)
	}
	return err == nil, string(out)
}

// ours is our verifier's verdict, as release.Verify runs it.
func ours(message, sig []byte, allowed string, now time.Time) error {
	return oursRevoked(message, sig, allowed, nil, now)
}

// oursRevoked is ours with a revocation list.
func oursRevoked(message, sig []byte, allowed string, revoked *Revocations, now time.Time) error {
	as, err := ParseAllowedSigners("allowed_signers", []byte(allowed))
	if err != nil {
		return err
	}
	as.Revoked = revoked
	s, err := ParseArmored(sig)
	if err != nil {
		return err
	}
	if _, err := as.Find(s.Key, Namespace, now); err != nil {
		return err
	}
	return s.Verify(message, Namespace)
}

type vcase struct {
	name      string
	message   []byte
	sig       []byte
	allowed   string
	principal string
	want      error // nil: valid; else the error ours must wrap
}

func check(t *testing.T, dir string, cases []vcase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			theyOK, out := theirs(t, dir, c.message, c.sig, c.allowed, c.principal)
			err := ours(c.message, c.sig, c.allowed, time.Now())
			if (c.want == nil) != theyOK {
				t.Errorf("ssh-keygen -Y verify: ok=%v, want ok=%v:\n%s", theyOK, c.want == nil, out)
			}
			switch {
			case c.want == nil && err != nil:
				t.Errorf("ours refused a good signature: %v", err)
			case c.want != nil && err == nil:
				t.Errorf("ours accepted, want %v", c.want)
			case c.want != nil && !errors.Is(err, c.want):
				t.Errorf("ours: %v, want it to wrap %v", err, c.want)
			}
		})
	}
}

func TestVerifyAgainstSSHKeygen(t *testing.T) {
	msg := []byte("apiVersion: otpprov/v1\nkind: Release\n")
	dir, file := releaseFile(t, msg)
	keyPath, pub := key(t, dir, "ed", "-t", "ed25519")
	_, otherPub := key(t, dir, "other", "-t", "ed25519")
	good := sign(t, keyPath, Namespace, file)
	fileNS := sign(t, keyPath, "file", file)
	past := time.Now().AddDate(0, 0, -2).UTC().Format("20060102") + "Z"
	future := time.Now().AddDate(0, 0, 2).UTC().Format("20060102") + "Z"
	line := func(opts string) string {
		if opts != "" {
			opts += " "
		}
		return "rel@acme.example " + opts + pub + "\n"
	}
	raw := func(b []byte) []byte { // the armor's content
		s, _ := strings.CutPrefix(strings.TrimSpace(string(b)), armorBegin)
		s, _ = strings.CutSuffix(s, armorEnd)
		d, err := base64.StdEncoding.DecodeString(strings.ReplaceAll(s, "\n", ""))
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	wrongMagic := raw(good)
	copy(wrongMagic, "SSHSIX")
	tampered := append([]byte{}, msg...)
	tampered[0] ^= 1
	check(t, dir, []vcase{
		{"good", msg, good, line(""), "rel@acme.example", nil},
		{"good, principal by wildcard", msg, good, "*@acme.example " + pub + "\n", "rel@acme.example", nil},
		{"good, namespaces allows it", msg, good, line(`namespaces="git,otpprov-*"`), "rel@acme.example", nil},
		{"good, within validity", msg, good, line(`valid-after="` + past + `",valid-before="` + future + `"`), "rel@acme.example", nil},
		{"tampered file", tampered, good, line(""), "rel@acme.example", ErrSignature},
		{"one byte added", append(append([]byte{}, msg...), '\n'), good, line(""), "rel@acme.example", ErrSignature},
		{"wrong namespace", msg, fileNS, line(""), "rel@acme.example", ErrSignature},
		{"key not allowed", msg, good, "rel@acme.example " + otherPub + "\n", "rel@acme.example", ErrNotAllowed},
		{"expired key", msg, good, line(`valid-before="` + past + `"`), "rel@acme.example", ErrNotAllowed},
		{"not yet valid", msg, good, line(`valid-after="` + future + `"`), "rel@acme.example", ErrNotAllowed},
		{"namespaces excludes it", msg, good, line(`namespaces="git,file"`), "rel@acme.example", ErrNotAllowed},
		{"namespaces negated", msg, good, line(`namespaces="*,!otpprov-release"`), "rel@acme.example", ErrNotAllowed},
		{"truncated", msg, good[:len(good)/2], line(""), "rel@acme.example", ErrSignature},
		{"truncated blob", msg, armor(raw(good)[:len(raw(good))-10]), line(""), "rel@acme.example", ErrSignature},
		{"trailing data in blob", msg, armor(append(raw(good), 0)), line(""), "rel@acme.example", ErrSignature},
		{"base64 junk", msg, []byte(armorBegin + "\n!!!!not base64!!!!\n" + armorEnd + "\n"), line(""), "rel@acme.example", ErrSignature},
		{"wrong magic", msg, armor(wrongMagic), line(""), "rel@acme.example", ErrSignature},
		{"empty", msg, nil, line(""), "rel@acme.example", ErrSignature},
		{"a PGP signature", msg, []byte("-----BEGIN PGP SIGNATURE-----\n\niQ==\n-----END PGP SIGNATURE-----\n"), line(""), "rel@acme.example", ErrSignature},
	})
}

// RSA and ECDSA keys, with sshsig's rules.
func TestVerifyRSAECDSAAgainstSSHKeygen(t *testing.T) {
	msg := []byte("files: []\n")
	dir, file := releaseFile(t, msg)
	var cases []vcase
	for _, kt := range [][]string{{"-t", "rsa", "-b", "2048"}, {"-t", "rsa", "-b", "1024"}, {"-t", "ecdsa", "-b", "256"}, {"-t", "ecdsa", "-b", "384"}, {"-t", "ecdsa", "-b", "521"}} {
		name := strings.Join(kt[1:], "-")
		keyPath, pub := key(t, dir, name, kt...)
		sig := sign(t, keyPath, Namespace, file)
		cases = append(cases,
			vcase{name + " good", msg, sig, "a " + pub + "\n", "a", nil},
			vcase{name + " tampered", []byte("files: [x]\n"), sig, "a " + pub + "\n", "a", ErrSignature})
	}
	check(t, dir, cases)
}

// armor wraps a raw SSHSIG blob as ssh-keygen does (76-column lines).
func armor(raw []byte) []byte {
	s := base64.StdEncoding.EncodeToString(raw)
	var b strings.Builder
	b.WriteString(armorBegin + "\n")
	for len(s) > 76 {
		b.WriteString(s[:76] + "\n")
		s = s[76:]
	}
	b.WriteString(s + "\n" + armorEnd + "\n")
	return []byte(b.String())
}

// put appends SSH wire strings.
func put(b []byte, ss ...[]byte) []byte {
	for _, s := range ss {
		b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
		b = append(b, s...)
	}
	return b
}

// skSign makes what a FIDO token and ssh-keygen make for an
// sk-ssh-ed25519@openssh.com key, from PROTOCOL.u2f and PROTOCOL.sshsig,
// written here without the package's code: the token signs
// SHA256(application) || flags || counter || SHA256(the sshsig data).
func skSign(priv ed25519.PrivateKey, app, ns string, flags byte, counter uint32, message []byte) (pubLine string, sig []byte) {
	const kt = "sk-ssh-ed25519@openssh.com"
	pubBlob := put(nil, []byte(kt), priv.Public().(ed25519.PublicKey), []byte(app))
	h := sha512.Sum512(message)
	data := append([]byte("SSHSIG"), put(nil, []byte(ns), nil, []byte("sha512"), h[:])...)
	ah, dh := sha256.Sum256([]byte(app)), sha256.Sum256(data)
	signed := append(append(ah[:], flags), binary.BigEndian.AppendUint32(nil, counter)...)
	signed = append(signed, dh[:]...)
	sigBlob := put(nil, []byte(kt), ed25519.Sign(priv, signed))
	sigBlob = append(sigBlob, flags)
	sigBlob = binary.BigEndian.AppendUint32(sigBlob, counter)
	blob := binary.BigEndian.AppendUint32([]byte("SSHSIG"), 1)
	blob = put(blob, pubBlob, []byte(ns), nil, []byte("sha512"), sigBlob)
	return kt + " " + base64.StdEncoding.EncodeToString(pubBlob) + " token", armor(blob)
}

// A hardware key's signature, made in the test: ssh-keygen accepting it is
// the proof the construction is right; then ours must agree.
func TestVerifySKEd25519AgainstSSHKeygen(t *testing.T) {
	dir := t.TempDir()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte("kind: Release\n")
	pub, good := skSign(priv, "ssh:", Namespace, 0x01, 42, msg)
	_, otherApp := skSign(priv, "ssh:other", Namespace, 0x01, 42, msg)
	_, wrongNS := skSign(priv, "ssh:", "file", 0x01, 42, msg)
	pubOther, _ := skSign(priv, "ssh:other", Namespace, 0x01, 42, msg)
	check(t, dir, []vcase{
		{"sk good", msg, good, "rel " + pub + "\n", "rel", nil},
		{"sk tampered", []byte("kind: Releasf\n"), good, "rel " + pub + "\n", "rel", ErrSignature},
		{"sk wrong namespace", msg, wrongNS, "rel " + pub + "\n", "rel", ErrSignature},
		// The application is part of the key: another is another key.
		{"sk other application", msg, otherApp, "rel " + pub + "\n", "rel", ErrNotAllowed},
		{"sk key of another application allowed", msg, good, "rel " + pubOther + "\n", "rel", ErrNotAllowed},
	})
	// A signature whose flags were changed after the token signed: the
	// flags are signed.
	flipped := rawOf(t, good)
	flipped[len(flipped)-5] ^= 0x04
	check(t, dir, []vcase{{"sk flags changed", msg, armor(flipped), "rel " + pub + "\n", "rel", ErrSignature}})

	// Without user presence ssh-keygen -Y verify accepts (it only logs the
	// flags); otpprov refuses: a release is signed by someone touching a
	// token.
	_, noTouch := skSign(priv, "ssh:", Namespace, 0x00, 43, msg)
	if ok, out := theirs(t, dir, msg, noTouch, "rel "+pub+"\n", "rel"); !ok {
		t.Errorf("ssh-keygen refused a signature without user presence (it accepted them when this was written):\n%s", out)
	}
	if err := ours(msg, noTouch, "rel "+pub+"\n", time.Now()); err == nil || !strings.Contains(err.Error(), "user presence") {
		t.Errorf("no user presence: %v, want refused", err)
	}
}

func rawOf(t *testing.T, armored []byte) []byte {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(string(armored)), "\n")
	b, err := base64.StdEncoding.DecodeString(strings.Join(lines[1:len(lines)-1], ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Every key type ssh-keygen makes that otpprov takes: the fingerprint is
// the one ssh-keygen -l prints, of the type it names.
func TestKeysAsSSHKeygen(t *testing.T) {
	dir := t.TempDir()
	for _, kt := range [][]string{{"-t", "ed25519"}, {"-t", "rsa", "-b", "3072"}, {"-t", "ecdsa", "-b", "256"}, {"-t", "ecdsa", "-b", "384"}, {"-t", "ecdsa", "-b", "521"}} {
		name := strings.Join(kt[1:], "-")
		_, pub := key(t, dir, name, kt...)
		out, err := exec.Command(sshKeygen(t), "-l", "-f", filepath.Join(dir, name+".pub")).Output()
		if err != nil {
			t.Fatal(err)
		}
		as, err := ParseAllowedSigners("as", []byte("a "+pub+"\n"))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		ours := as.Signers[0].Key
		// ssh-keygen -l: BITS FINGERPRINT COMMENT (TYPE).
		fields := strings.Fields(string(out))
		if len(fields) < 4 || fields[1] != ours.Fingerprint() || !strings.Contains(ours.Type, strings.ToLower(strings.Trim(fields[3], "()"))) {
			t.Errorf("%s: ssh-keygen -l: %s; ours %s %s", name, out, ours.Type, ours.Fingerprint())
		}
	}
}

// Keys otpprov does not take are refused by type, with what it takes.
func TestKeysRefused(t *testing.T) {
	for _, c := range []struct {
		blob []byte
		want string
	}{
		{put(nil, []byte("ssh-dss"), []byte{1}, []byte{1}, []byte{1}, []byte{1}), "key type \"ssh-dss\""},
		{put(nil, []byte("ssh-ed25519-cert-v01@openssh.com"), []byte("x")), "certificate"},
		{put(nil, []byte("ssh-ed25519"), make([]byte, 31)), "31 bytes"},
		{put(nil, []byte("ssh-ed25519"), make([]byte, 32), nil), "trailing data"},
		{put(nil, []byte("ssh-rsa"), []byte{2}, append([]byte{0x7f}, make([]byte, 200)...)), "exponent 2"},
		{put(nil, []byte("ssh-rsa"), []byte{1, 0, 1}, append([]byte{0x7f}, make([]byte, 64)...)), "519 bits: OpenSSH refuses keys under 1024"},
		{put(nil, []byte("ssh-ed25519"))[:9], "claims 11 bytes, 5 are left"},
		{put(nil, []byte("ssh-rsa"), []byte{0x81}, []byte{1}), "negative"},
		{put(nil, []byte("ecdsa-sha2-nistp256"), []byte("nistp384"), []byte{4}), "curve"},
		{put(nil, []byte("ecdsa-sha2-nistp256"), []byte("nistp256"), append([]byte{4}, make([]byte, 64)...)), "point"},
	} {
		if _, err := ParsePublicKey(c.blob); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want %q", c.blob, err, c.want)
		}
	}
}

// sshsig refuses RSA signatures with SHA-1 (format ssh-rsa), which
// a generic SSH library may verify: made here with the key ssh-keygen
// made.
func TestVerifyRSASHA1Refused(t *testing.T) {
	dir := t.TempDir()
	keyPath, pub := key(t, dir, "rsa", "-t", "rsa", "-b", "2048", "-m", "PEM")
	b, err := os.ReadFile(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(b)
	if block == nil {
		t.Fatalf("%s: no PEM block", keyPath)
	}
	priv, err := x509.ParsePKCS1PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	pubBlob, err := base64.StdEncoding.DecodeString(strings.Fields(pub)[1])
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte("kind: Release\n")
	mk := func(alg string) []byte {
		h := sha512.Sum512(msg)
		data := append([]byte("SSHSIG"), put(nil, []byte(Namespace), nil, []byte("sha512"), h[:])...)
		hash := map[string]crypto.Hash{"ssh-rsa": crypto.SHA1, "rsa-sha2-256": crypto.SHA256}[alg]
		d := hash.New()
		d.Write(data)
		s, err := rsa.SignPKCS1v15(nil, priv, hash, d.Sum(nil))
		if err != nil {
			t.Fatal(err)
		}
		blob := binary.BigEndian.AppendUint32([]byte("SSHSIG"), 1)
		return armor(put(blob, pubBlob, []byte(Namespace), nil, []byte("sha512"), put(nil, []byte(alg), s)))
	}
	check(t, dir, []vcase{
		{"rsa-sha2-256 made here", msg, mk("rsa-sha2-256"), "a " + pub + "\n", "a", nil},
		{"ssh-rsa (SHA-1)", msg, mk("ssh-rsa"), "a " + pub + "\n", "a", ErrSignature},
	})
	// Refused for its format, before any hash is tried.
	if err := ours(msg, mk("ssh-rsa"), "a "+pub+"\n", time.Now()); err == nil || !strings.Contains(err.Error(), `RSA signature format "ssh-rsa"`) {
		t.Errorf("ssh-rsa: %v", err)
	}
}
