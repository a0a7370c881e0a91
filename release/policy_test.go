package release

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/otpprov/otpprov/manifest"
	"github.com/otpprov/otpprov/planner"
)

// The policy's verdicts on the inputs a load reports: every file covered
// with its digest, the manifest released as one; the release recorded
// with its signer; and each way of falling short refused, naming the file.
func TestPolicyCheck(t *testing.T) {
	dir := t.TempDir()
	copyTree(t, "../examples/family", dir)
	out := filepath.Join(dir, "rel.yaml")
	b, err := Make(MakeOptions{Out: out, Name: "gw-1.4", Manifests: []string{filepath.Join(dir, "gateway-secure.yaml")}})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(out, b, 0o644); err != nil {
		t.Fatal(err)
	}
	keyPath, pub := key(t, t.TempDir(), "k", "-t", "ed25519")
	allowed := filepath.Join(t.TempDir(), "allowed")
	if err := os.WriteFile(allowed, []byte("rel@acme "+pub+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	sign(t, keyPath, Namespace, out)
	load := func(name string) []manifest.Input {
		t.Helper()
		m, err := manifest.LoadOpts(filepath.Join(dir, name), manifest.Options{Check: true})
		if err != nil {
			t.Fatal(err)
		}
		return m.Inputs
	}
	ins := load("gateway-secure.yaml")
	now := time.Now()

	if rec, err := (Policy{}).Check(ins, now); rec != nil || err != nil {
		t.Errorf("no policy: %+v, %v; want unsigned, no error", rec, err)
	}
	rec, err := Policy{Release: out, AllowedSigners: allowed}.Check(ins, now)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Status != planner.ReleaseSigned || rec.Name != "gw-1.4" || rec.Signer != "rel@acme" || rec.KeyType != "ssh-ed25519" ||
		!strings.HasPrefix(rec.Fingerprint, "SHA256:") || !strings.HasPrefix(rec.Digest, "sha256:") {
		t.Errorf("recorded %+v", rec)
	}
	if rec, err := (Policy{Release: out}).Check(ins, now); err != nil || rec.Status != planner.ReleaseUnverified || rec.Signer != "" {
		t.Errorf("release without allowed signers: %+v, %v", rec, err)
	}

	refused := func(name string, p Policy, ins []manifest.Input, want string) {
		t.Helper()
		_, err := p.Check(ins, now)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", name, err, want)
		}
	}
	enforced := Policy{Release: out, AllowedSigners: allowed}
	refused("no release", Policy{AllowedSigners: allowed}, ins, "no release was given")
	// The digest is of the bytes the load used: a file changed since the
	// load is judged by what was planned, not by what is on the disk now.
	edited := append([]manifest.Input(nil), ins...)
	for i := range edited {
		if edited[i].Role == manifest.RoleValueFrom {
			edited[i].SHA256 = strings.Repeat("0", 64)
		}
	}
	refused("edited SRK", enforced, edited, "SRK_1_2_3_4_fuse.bin differs from the release: its sha256 is "+strings.Repeat("0", 64))
	refused("edited SRK, signature not checked", Policy{Release: out}, edited, "differs from the release")
	refused("a base as a manifest", enforced, load("base.yaml"), "covered only as a file another manifest needs")
	extra := append(ins, manifest.Input{Role: manifest.RoleOverlay, Path: filepath.Join(dir, "overlay.yaml"), SHA256: "ab"})
	refused("an overlay", enforced, extra, "overlay.yaml is not covered: the release lists no overlay.yaml")
	outside := append(ins, manifest.Input{Role: manifest.RoleValueFrom, Path: filepath.Join(t.TempDir(), "srk.bin"), SHA256: "ab"})
	refused("a file outside", enforced, outside, "is outside the release's directory")
	for _, p := range []Policy{enforced, {Release: out}} {
		if _, err := p.Check(edited, now); !errors.Is(err, ErrNotCovered) {
			t.Errorf("%+v: %v, want ErrNotCovered", p, err)
		}
	}

	other, _ := key(t, t.TempDir(), "o", "-t", "ed25519")
	sign(t, other, Namespace, out)
	if _, err := enforced.Check(ins, now); !errors.Is(err, ErrNotAllowed) {
		t.Errorf("signed by a key not allowed: %v", err)
	}
	sign(t, keyPath, "file", out)
	if _, err := enforced.Check(ins, now); !errors.Is(err, ErrSignature) || !strings.Contains(err.Error(), `namespace "file"`) {
		t.Errorf("another namespace: %v", err)
	}
}

// What the policy adds to each unit's run: reading the allowed signers
// and the release, verifying the signature, comparing the digests.
func BenchmarkPolicyCheck(b *testing.B) {
	dir := b.TempDir()
	copyTree(b, "../examples/family", dir)
	out := filepath.Join(dir, "rel.yaml")
	doc, err := Make(MakeOptions{Out: out, Manifests: []string{filepath.Join(dir, "gateway-secure.yaml")}})
	if err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(out, doc, 0o644); err != nil {
		b.Fatal(err)
	}
	if _, err := exec.LookPath("ssh-keygen"); err != nil {
		b.Skip("ssh-keygen is missing")
	}
	keyDir := b.TempDir()
	if o, err := exec.Command("ssh-keygen", "-q", "-N", "", "-t", "ed25519", "-f", filepath.Join(keyDir, "k")).CombinedOutput(); err != nil {
		b.Fatalf("%v: %s", err, o)
	}
	if o, err := exec.Command("ssh-keygen", "-Y", "sign", "-n", Namespace, "-f", filepath.Join(keyDir, "k"), out).CombinedOutput(); err != nil {
		b.Fatalf("%v: %s", err, o)
	}
	pub, err := os.ReadFile(filepath.Join(keyDir, "k.pub"))
	if err != nil {
		b.Fatal(err)
	}
	allowed := filepath.Join(keyDir, "allowed")
	if err := os.WriteFile(allowed, append([]byte("rel@acme "), pub...), 0o644); err != nil {
		b.Fatal(err)
	}
	m, err := manifest.LoadOpts(filepath.Join(dir, "gateway-secure.yaml"), manifest.Options{Check: true})
	if err != nil {
		b.Fatal(err)
	}
	p := Policy{Release: out, AllowedSigners: allowed}
	now := time.Now()
	b.ResetTimer()
	for range b.N {
		if _, err := p.Check(m.Inputs, now); err != nil {
			b.Fatal(err)
		}
	}
}
