package release

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Revocation files held to ssh-keygen -Y verify -r: KRLs and key lists
// made by ssh-keygen (-k, -k -u, spec files), KRLs made here for what
// ssh-keygen does not write (signature, extension and unknown sections),
// garbage and cuts. On each, both verdicts must be the case's.

type rcase struct {
	name    string
	sig     []byte // "" for the case set's
	allowed string // "" for the case set's
	rev     []byte // the revocation file
	// want: nil, the file is read and the signature accepted; else the
	// error ours wraps. errUnreadable: ParseRevocations refuses the file
	// with a message holding unreadable.
	want       error
	unreadable string
}

var errUnreadable = errors.New("the revocation file is refused")

type rset struct {
	dir     string
	msg     []byte
	sig     []byte
	allowed string
}

func (rs rset) check(t *testing.T, cases []rcase) {
	t.Helper()
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sig, allowed := c.sig, c.allowed
			if sig == nil {
				sig = rs.sig
			}
			if allowed == "" {
				allowed = rs.allowed
			}
			rev := filepath.Join(rs.dir, "revoked"+string(rune('a'+i%26)))
			if err := os.WriteFile(rev, c.rev, 0o644); err != nil {
				t.Fatal(err)
			}
			theyOK, out := theirs(t, rs.dir, rs.msg, sig, allowed, "rel", "-r", rev)
			if (c.want == nil) != theyOK {
				t.Errorf("ssh-keygen -Y verify -r: ok=%v, want ok=%v:\n%s", theyOK, c.want == nil, out)
			}
			r, err := ParseRevocations(rev, c.rev)
			if c.want == errUnreadable {
				if !errors.Is(err, ErrRevocationFile) || !strings.HasPrefix(err.Error(), rev+":") || !strings.Contains(err.Error(), c.unreadable) {
					t.Errorf("ParseRevocations: %v, want %s: ...%s", err, rev, c.unreadable)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseRevocations: %v", err)
			}
			err = oursRevoked(rs.msg, sig, allowed, r, time.Now())
			switch {
			case c.want == nil && err != nil:
				t.Errorf("ours refused: %v", err)
			case c.want != nil && !errors.Is(err, c.want):
				t.Errorf("ours: %v, want it to wrap %v", err, c.want)
			}
		})
	}
}

// keygen runs ssh-keygen in dir.
func keygen(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command(sshKeygen(t), args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("ssh-keygen %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// makeKRL writes a KRL with ssh-keygen -k -f name ARGS... in dir, from
// spec lines if any (a spec file), and returns its bytes.
func makeKRL(t *testing.T, dir, name string, args []string, spec ...string) []byte {
	t.Helper()
	if len(spec) > 0 {
		sp := filepath.Join(dir, name+".spec")
		if err := os.WriteFile(sp, []byte(strings.Join(spec, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		args = append(args, sp)
	}
	keygen(t, dir, append([]string{"-k", "-f", name}, args...)...)
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// krlOf is a KRL made here: the header, then sections (type, data).
func krlOf(sections ...[]byte) []byte {
	b := append([]byte("SSHKRL\n\x00"), 0, 0, 0, 1)
	b = binary.BigEndian.AppendUint64(b, 7)          // version
	b = binary.BigEndian.AppendUint64(b, 1764892800) // generated
	b = binary.BigEndian.AppendUint64(b, 0)          // flags
	b = put(b, nil, []byte("made in the test"))
	for _, s := range sections {
		b = append(b, s...)
	}
	return b
}

// section is a KRL section: its type, then its data (the parts joined)
// as a string.
func section(typ byte, data ...[]byte) []byte {
	return put([]byte{typ}, cat(data...))
}

func cat(bs ...[]byte) []byte {
	var out []byte
	for _, b := range bs {
		out = append(out, b...)
	}
	return out
}

// blobOf is the wire form of a public key line.
func blobOf(t *testing.T, line string) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(strings.Fields(line)[1])
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRevokedAgainstSSHKeygen(t *testing.T) {
	msg := []byte("kind: Release\n")
	dir, file := releaseFile(t, msg)
	keyPath, pub := key(t, dir, "ed", "-t", "ed25519")
	_, otherPub := key(t, dir, "other", "-t", "ed25519")
	_, caPub := key(t, dir, "ca", "-t", "ed25519")
	rs := rset{dir: dir, msg: msg, sig: sign(t, keyPath, Namespace, file), allowed: "rel " + pub + "\n"}

	fp := func(p string) string { // SHA256:... as ssh-keygen -l prints it
		return strings.Fields(keygen(t, dir, "-l", "-f", p))[1]
	}
	updated := makeKRL(t, dir, "upd.krl", []string{"other.pub"})
	updated = makeKRL(t, dir, "upd.krl", []string{"-u", "ed.pub"})
	updatedOther := makeKRL(t, dir, "upd2.krl", []string{"other.pub"})
	updatedOther = makeKRL(t, dir, "upd2.krl", []string{"-u", "ca.pub"})
	// Certificates revoked by serial (a range, single serials, a run
	// ssh-keygen writes as a bitmap) and by key ID, for a CA and for any
	// CA: certificate sections, read and skipped.
	certSpec := []string{"serial: 1-10", "serial: 100000-200000", "serial: 900000", "serial: 5000000", "id: alice@acme.example"}
	for s := 1001; s < 1100; s += 3 {
		certSpec = append(certSpec, "serial: "+strconv.Itoa(s))
	}
	certs := makeKRL(t, dir, "certs.krl", []string{"-s", "ca.pub"}, certSpec...)
	if types := certSubsections(t, certs); !types[krlCertSerialList] || !types[krlCertSerialRange] || !types[krlCertSerialBitmap] || !types[krlCertKeyID] {
		t.Fatalf("the certificate KRL has subsections %v: want a serial list, a range, a bitmap and key IDs", types)
	}
	certsAndKey := makeKRL(t, dir, "certs-key.krl", []string{"-s", "ca.pub"}, append(certSpec, "key: "+pub)...)
	wildCA := makeKRL(t, dir, "wild.krl", []string{"-s", "none"}, "id: alice@acme.example", "serial: 7")
	good := makeKRL(t, dir, "other.krl", []string{"other.pub"})

	// A KRL signed as OpenSSH 9.3 and earlier wrote and checked them:
	// the signature covers the KRL up to the signing key. The installed
	// ssh-keygen may verify it; otpprov skips it, as 9.4 and later do.
	signKRL := func(body []byte) []byte {
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		kb := put(nil, []byte(KeyEd25519), priv.Public().(ed25519.PublicKey))
		b := append(append([]byte{}, body...), section(krlSignature, kb)...)
		return put(b, put(nil, []byte(KeyEd25519), ed25519.Sign(priv, b)))
	}
	ext := func(crit byte) []byte {
		return section(krlExtension, cat(put(nil, []byte("x@acme.example")), []byte{crit}, put(nil, []byte("v"))))
	}

	rs.check(t, []rcase{
		{name: "KRL revokes the key (ssh-keygen -k)", rev: makeKRL(t, dir, "ed.krl", []string{"ed.pub"}), want: ErrRevoked},
		{name: "KRL of another key", rev: good},
		{name: "KRL updated with the key (-u)", rev: updated, want: ErrRevoked},
		{name: "KRL updated with another key (-u)", rev: updatedOther},
		{name: "spec key:", rev: makeKRL(t, dir, "key.krl", nil, "# spec", "key: "+pub), want: ErrRevoked},
		{name: "spec sha1:", rev: makeKRL(t, dir, "sha1.krl", nil, "sha1: "+pub), want: ErrRevoked},
		{name: "spec sha256:", rev: makeKRL(t, dir, "sha256.krl", nil, "sha256: "+otherPub, "sha256: "+pub), want: ErrRevoked},
		{name: "spec hash:", rev: makeKRL(t, dir, "hash.krl", nil, "hash: "+fp("ed.pub")), want: ErrRevoked},
		{name: "spec sha1: and hash: of other keys", rev: makeKRL(t, dir, "others.krl", nil, "sha1: "+otherPub, "hash: "+fp("ca.pub"))},
		{name: "empty KRL", rev: makeKRL(t, dir, "empty.krl", nil, "# nothing")},
		{name: "certificate sections only", rev: certs},
		{name: "certificate sections, then the key", rev: certsAndKey, want: ErrRevoked},
		{name: "certificates of any CA (-s none)", rev: wildCA},
		{name: "key list with the key", rev: []byte("# revoked\n\n  " + otherPub + "\n" + pub + "\n"), want: ErrRevoked},
		{name: "key list without it", rev: []byte(otherPub + "\n" + caPub + "\n")},
		{name: "key list with the key, no comment, CRLF", rev: []byte(strings.Join(strings.Fields(pub)[:2], " ") + "\r\n"), want: ErrRevoked},
		{name: "empty file", rev: nil},
		{name: "key list with a 512-bit RSA key, a DSA key and a FIDO ECDSA key", rev: []byte(rsa512Line + "\n" + dsaLine(t) + "\n" + skECDSALine(t) + "\n")},
		{name: "key list with them and the key", rev: []byte(rsa512Line + "\n" + dsaLine(t) + "\n" + skECDSALine(t) + "\n" + pub + "\n"), want: ErrRevoked},
		{name: "garbage", rev: []byte("revoke everyone\n"), want: errUnreadable, unreadable: `"revoke" is not a public key`},
		{name: "key list with a garbage line", rev: []byte(otherPub + "\nnot a key\n"), want: errUnreadable, unreadable: ":2: "},
		{name: "key list, bad base64", rev: []byte("ssh-ed25519 AAAA!!!!\n"), want: errUnreadable, unreadable: "base64"},
		{name: "key list, type not the key's", rev: []byte("ssh-rsa " + strings.Fields(pub)[1] + "\n"), want: errUnreadable, unreadable: "the key is ssh-ed25519, the line says ssh-rsa"},
		{name: "KRL cut short", rev: good[:len(good)-5], want: errUnreadable, unreadable: "cut short"},
		{name: "KRL cut in its header", rev: good[:20], want: errUnreadable, unreadable: "not a KRL"},
		{name: "KRL magic only", rev: good[:8], want: errUnreadable, unreadable: "not a KRL"},
		{name: "KRL and a byte more", rev: append(append([]byte{}, good...), 2), want: errUnreadable, unreadable: "cut short"},
		{name: "KRL version 2", rev: append(append([]byte("SSHKRL\n\x00"), 0, 0, 0, 2), good[12:]...), want: errUnreadable, unreadable: "format version 2"},
		{name: "unknown section", rev: krlOf(section(7, []byte("x"))), want: errUnreadable, unreadable: "unknown section type 7"},
		{name: "SHA-256 of 31 bytes", rev: krlOf(section(krlSHA256, put(nil, make([]byte, 31)))), want: errUnreadable, unreadable: "31 bytes, not 32"},
		{name: "explicit key section, trailing byte", rev: krlOf(section(krlExplicitKey, append(put(nil, blobOf(t, otherPub)), 0))), want: errUnreadable, unreadable: "cut short"},
		{name: "critical extension", rev: krlOf(ext(1)), want: errUnreadable, unreadable: "critical extension"},
		{name: "extension, a byte after it", rev: krlOf(section(krlExtension, put(nil, []byte("x@acme.example")), []byte{0}, put(nil, nil), []byte{0})), want: errUnreadable, unreadable: "1 bytes left unread"},
		{name: "certificate range, a byte after it", rev: krlOf(section(krlCertificates, put(nil, nil, nil), section(krlCertSerialRange, binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(nil, 1), 3), []byte{0}))), want: errUnreadable, unreadable: "1 bytes left unread"},
		{name: "critical certificate extension", rev: krlOf(section(krlCertificates, cat(put(nil, nil, nil), section(krlCertExtension, cat(put(nil, []byte("x")), []byte{1}, put(nil, nil)))))), want: errUnreadable, unreadable: "critical certificate extension"},
		{name: "certificate serial 0", rev: krlOf(section(krlCertificates, cat(put(nil, nil, nil), section(krlCertSerialList, make([]byte, 8))))), want: errUnreadable, unreadable: "serial 0"},
		{name: "certificate range backwards", rev: krlOf(section(krlCertificates, cat(put(nil, nil, nil), section(krlCertSerialRange, binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(nil, 9), 3))))), want: errUnreadable, unreadable: "9-3"},
		{name: "certificate bitmap past 2^64-1", rev: krlOf(section(krlCertificates, cat(put(nil, nil, nil), section(krlCertSerialBitmap, binary.BigEndian.AppendUint64(nil, 1<<64-2), put(nil, []byte{0x07}))))), want: errUnreadable, unreadable: "past serial"},
		{name: "unknown certificate subsection", rev: krlOf(section(krlCertificates, cat(put(nil, nil, nil), section(0x24, nil)))), want: errUnreadable, unreadable: "subsection type 0x24"},
		{name: "KRL made here, the key's SHA-256 and SHA-1", rev: krlOf(section(krlSHA1, put(nil, sha1Of(blobOf(t, otherPub)))), section(krlSHA256, put(nil, sha256Of(blobOf(t, pub))))), want: ErrRevoked},
		{name: "signed KRL (OpenSSH <= 9.3), another key", rev: signKRL(krlOf(section(krlExplicitKey, put(nil, blobOf(t, otherPub)))))},
		{name: "signed KRL (OpenSSH <= 9.3), the key", rev: signKRL(krlOf(section(krlExplicitKey, put(nil, blobOf(t, pub))))), want: ErrRevoked},
	})

	// Where OpenSSH versions differ, otpprov reads as 9.4 and later: a
	// signature section is skipped, not verified, and a non-critical
	// extension ignored. No revocation is lost either way; the installed
	// ssh-keygen's verdict is logged.
	for _, c := range []struct {
		name string
		rev  []byte
	}{
		{"bad KRL signature", append(krlOf(section(krlExplicitKey, put(nil, blobOf(t, otherPub))), section(krlSignature, put(nil, []byte("x")))), put(nil, []byte("not a signature"))...)},
		{"non-critical extension", krlOf(ext(0), section(krlExplicitKey, put(nil, blobOf(t, otherPub))))},
	} {
		r, err := ParseRevocations("r", c.rev)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if err := oursRevoked(msg, rs.sig, rs.allowed, r, time.Now()); err != nil {
			t.Errorf("%s: %v", c.name, err)
		}
		revPath := filepath.Join(dir, "diff.krl")
		os.WriteFile(revPath, c.rev, 0o644)
		ok, _ := theirs(t, dir, msg, rs.sig, rs.allowed, "rel", "-r", revPath)
		t.Logf("%s: otpprov reads it and accepts the signature; this ssh-keygen: ok=%v", c.name, ok)
		// ...and the same KRL with the key in it refuses it.
		r, err = ParseRevocations("r", append(append([]byte{}, c.rev...), section(krlExplicitKey, put(nil, blobOf(t, pub)))...))
		if err != nil || !errors.Is(oursRevoked(msg, rs.sig, rs.allowed, r, time.Now()), ErrRevoked) {
			t.Errorf("%s, then the key: %v, want revoked", c.name, err)
		}
	}

	// A certificate in a key list: ssh-keygen revokes the key it
	// certifies; otpprov, which reads no certificates, refuses the list.
	keygen(t, dir, "-q", "-s", "ca", "-I", "other-id", "-n", "rel", "other.pub")
	cert, err := os.ReadFile(filepath.Join(dir, "other-cert.pub"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ParseRevocations("r", cert); err == nil || !strings.Contains(err.Error(), "r:1: bad revoked keys file: ssh-ed25519-cert-v01@openssh.com is an OpenSSH certificate") {
		t.Errorf("a certificate in a key list: %v", err)
	}
	if ok, out := theirs(t, dir, msg, rs.sig, rs.allowed, "rel", "-r", filepath.Join(dir, "other-cert.pub")); !ok {
		t.Errorf("ssh-keygen refused a key list holding another key's certificate (it accepted when this was written):\n%s", out)
	}
}

// The keys of other types: RSA, ECDSA and a hardware key, revoked by
// ssh-keygen's KRLs.
func TestRevokedKeyTypesAgainstSSHKeygen(t *testing.T) {
	msg := []byte("files: []\n")
	dir, file := releaseFile(t, msg)
	for _, kt := range [][]string{{"-t", "rsa", "-b", "2048"}, {"-t", "ecdsa", "-b", "384"}} {
		name := strings.Join(kt[1:], "-")
		keyPath, pub := key(t, dir, name, kt...)
		rs := rset{dir: dir, msg: msg, sig: sign(t, keyPath, Namespace, file), allowed: "rel " + pub + "\n"}
		rs.check(t, []rcase{
			{name: name + " explicit", rev: makeKRL(t, dir, name+".krl", []string{name + ".pub"}), want: ErrRevoked},
			{name: name + " sha1", rev: makeKRL(t, dir, name+"-sha1.krl", nil, "sha1: "+pub), want: ErrRevoked},
			{name: name + " in a list", rev: []byte(pub + "\n"), want: ErrRevoked},
		})
	}

	// A hardware key (sk-ssh-ed25519), its signature made as in
	// TestVerifySKEd25519AgainstSSHKeygen: ssh-keygen -k reads its public
	// line like any other.
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	skPub, skSig := skSign(priv, "ssh:", Namespace, 0x01, 9, msg)
	if err := os.WriteFile(filepath.Join(dir, "sk.pub"), []byte(skPub+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// The same ed25519 key for another application is another key.
	otherApp, _ := skSign(priv, "ssh:other", Namespace, 0x01, 9, msg)
	if err := os.WriteFile(filepath.Join(dir, "sk-other.pub"), []byte(otherApp+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	rs := rset{dir: dir, msg: msg, sig: skSig, allowed: "rel " + skPub + "\n"}
	rs.check(t, []rcase{
		{name: "sk explicit", rev: makeKRL(t, dir, "sk.krl", []string{"sk.pub"}), want: ErrRevoked},
		{name: "sk sha256", rev: makeKRL(t, dir, "sk256.krl", nil, "sha256: "+skPub), want: ErrRevoked},
		{name: "sk of another application", rev: makeKRL(t, dir, "sk-other.krl", []string{"sk-other.pub"})},
		{name: "sk in a list", rev: []byte(skPub + "\n"), want: ErrRevoked},
	})
}

// OpenSSH reads an RSA key's numbers with leading zeros as the same key:
// an allowed signers line so written is the key ssh-keygen signed with,
// and a KRL listing the key as ssh-keygen writes it revokes it.
func TestRevokedRSALeadingZero(t *testing.T) {
	msg := []byte("files: []\n")
	dir, file := releaseFile(t, msg)
	keyPath, pub := key(t, dir, "rsa", "-t", "rsa", "-b", "2048")
	r := &reader{b: blobOf(t, pub)}
	typ, e, n := r.string("type"), r.string("e"), r.string("n")
	zeroed := put(nil, typ, append([]byte{0}, e...), n)
	line := "ssh-rsa " + base64.StdEncoding.EncodeToString(zeroed) + " zeroed"
	rs := rset{dir: dir, msg: msg, sig: sign(t, keyPath, Namespace, file), allowed: "rel " + line + "\n"}
	rs.check(t, []rcase{
		{name: "not revoked", rev: nil},
		{name: "revoked by ssh-keygen's KRL", rev: makeKRL(t, dir, "rsa.krl", []string{"rsa.pub"}), want: ErrRevoked},
		{name: "revoked by its SHA-256", rev: makeKRL(t, dir, "rsa256.krl", nil, "sha256: "+pub), want: ErrRevoked},
		{name: "listed with the zero", rev: []byte(line + "\n"), want: ErrRevoked},
	})
}

func TestRevocationsParse(t *testing.T) {
	pub := edKey + " c"
	r, err := ParseRevocations("list", []byte("# c\n"+pub+"\n"+pub+"\n"))
	if err != nil || r.KRL || r.Keys != 2 {
		t.Fatalf("%+v %v", r, err)
	}
	k, _ := ParsePublicKey(blobOf(t, pub))
	if err := r.Check(k); !errors.Is(err, ErrRevoked) || !strings.Contains(err.Error(), "revoked by list (listed at line 2)") {
		t.Errorf("check: %v", err)
	}
	var none *Revocations
	if err := none.Check(k); err != nil {
		t.Errorf("no revocation file: %v", err)
	}
	r, err = ParseRevocations("k", krlOf(section(krlExplicitKey, put(nil, blobOf(t, pub)))))
	if err != nil || !r.KRL || r.Version != 7 || r.Comment != "made in the test" || r.Generated.Year() != 2025 || r.Keys != 1 {
		t.Fatalf("%+v %v", r, err)
	}
	if err := r.Check(k); err == nil || !strings.Contains(err.Error(), "signing key revoked: the signing key ssh-ed25519 SHA256:") || !strings.Contains(err.Error(), "is revoked by k (an explicit key at byte") {
		t.Errorf("check: %v", err)
	}
	// A DSA key in a list is read and skipped; a short RSA key too, as
	// ssh-keygen does (neither can sign a release).
	dsa := "ssh-dss " + base64.StdEncoding.EncodeToString(put(nil, []byte("ssh-dss"), []byte{1}, []byte{1}, []byte{1}, []byte{1}))
	if r, err := ParseRevocations("l", []byte(dsa+"\n"+rsa512Line+"\n"+skECDSALine(t)+"\n")); err != nil || r.Keys != 0 {
		t.Errorf("dsa, rsa-512, sk-ecdsa: %+v %v", r, err)
	}
	for line, want := range map[string]string{
		"ssh-dss " + strings.Fields(edKey)[1]:                                       "l:1: bad revoked keys file: the key is ssh-ed25519, the line says ssh-dss",
		"ssh-dss " + base64.StdEncoding.EncodeToString(put(nil, []byte("ssh-foo"))): "l:1: bad revoked keys file: the key is not a ssh-dss key",
	} {
		if _, err := ParseRevocations("l", []byte(line+"\n")); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %s", line, err, want)
		}
	}
}

// certSubsections returns the subsection types of a KRL's certificate
// sections.
func certSubsections(t *testing.T, b []byte) map[byte]bool {
	t.Helper()
	k := &krlReader{reader: reader{b: b[len(krlMagic)+4+24:]}}
	k.string("reserved")
	k.string("comment")
	types := map[byte]bool{}
	for k.err == nil && len(k.b) > 0 {
		typ, s := k.u8("type"), k.sub("section")
		if typ != krlCertificates {
			continue
		}
		s.string("ca")
		s.string("reserved")
		for s.err == nil && len(s.b) > 0 {
			types[s.u8("type")] = true
			s.string("subsection")
		}
	}
	if k.err != nil {
		t.Fatal(k.err)
	}
	return types
}

func sha1Of(b []byte) []byte   { h := sha1.Sum(b); return h[:] }
func sha256Of(b []byte) []byte { h := sha256.Sum256(b); return h[:] }

// Keys otpprov does not verify, in a key list.
var rsa512Line = "ssh-rsa " + base64.StdEncoding.EncodeToString(put(nil, []byte("ssh-rsa"), []byte{1, 0, 1}, append([]byte{0x7f}, make([]byte, 63)...)))

func dsaLine(t *testing.T) string {
	t.Helper()
	_, pub := key(t, t.TempDir(), "dsa", "-t", "dsa")
	return pub
}

func skECDSALine(t *testing.T) string {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	q, err := priv.PublicKey.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	const kt = "sk-ecdsa-sha2-nistp256@openssh.com"
	return kt + " " + base64.StdEncoding.EncodeToString(put(nil, []byte(kt), []byte("nistp256"), q, []byte("ssh:"))) + " token"
}
