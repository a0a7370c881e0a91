package release

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// copyTree copies the files of src (not recursive) into dst.
func copyTree(t testing.TB, src, dst string) {
	t.Helper()
	if err := os.MkdirAll(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	es, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range es {
		if e.IsDir() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func paths(fs []File) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.Path)
	}
	return out
}

// A release covers a manifest's extends chain and the files its valueFrom
// reads (a file variable's default included), the overlays and the pools.
func TestMakeCoversEveryFile(t *testing.T) {
	dir := t.TempDir()
	copyTree(t, "../examples/family", filepath.Join(dir, "family"))
	copyTree(t, "../examples/imx8mm", filepath.Join(dir, "imx8mm"))
	copyTree(t, "../ledger/testdata/pools", filepath.Join(dir, "pools"))
	out := filepath.Join(dir, "rel.yaml")
	b, err := Make(MakeOptions{Out: out, Manifests: []string{filepath.Join(dir, "family/gateway-secure.yaml"), filepath.Join(dir, "imx8mm/board.yaml")},
		Overlays: []string{filepath.Join(dir, "imx8mm/acme-fusemap.yaml")}, Pools: filepath.Join(dir, "pools/line.yaml"),
		NotAfter: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	r, err := Parse(out, b)
	if err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	want := []string{"family/gateway-secure.yaml", "family/base.yaml", "family/gateway-std.yaml", "family/SRK_1_2_3_4_fuse.bin",
		"imx8mm/board.yaml", "imx8mm/acme-fusemap.yaml", "pools/line.yaml"}
	if got := paths(r.Files); !slices.Equal(got, want) {
		t.Errorf("files %v\nwant %v", got, want)
	}
	if r.Name != "acme-gateway-secure" || !slices.Equal(r.SoCs, []string{"imx8mm"}) ||
		!slices.Equal(r.Manifests, []string{"family/gateway-secure.yaml", "imx8mm/board.yaml"}) || r.NotAfter.Year() != 2030 {
		t.Errorf("release %+v", r)
	}
	if err := os.WriteFile(out, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if ps := r.CheckFiles(); len(ps) != 0 {
		t.Fatalf("fresh release: %v", ps)
	}
	// An edited SRK file, a missing base: named, each.
	if err := os.WriteFile(filepath.Join(dir, "family/SRK_1_2_3_4_fuse.bin"), make([]byte, 32), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, "family/base.yaml")); err != nil {
		t.Fatal(err)
	}
	ps := r.CheckFiles()
	if len(ps) != 2 || ps[0].Path != "family/base.yaml" || !strings.Contains(ps[0].Error(), "missing") ||
		ps[1].Path != "family/SRK_1_2_3_4_fuse.bin" || !errors.Is(ps[1].Err, ErrDiffers) {
		t.Errorf("problems %v", ps)
	}
}

func TestMakeRefuses(t *testing.T) {
	dir := t.TempDir()
	copyTree(t, "../examples/imx8mm", filepath.Join(dir, "imx8mm"))
	board := filepath.Join(dir, "imx8mm/board.yaml")
	for _, c := range []struct {
		name string
		o    MakeOptions
		want string
	}{
		{"a manifest outside", MakeOptions{Out: filepath.Join(dir, "imx8mm/sub/rel.yaml"), Manifests: []string{board}}, "outside the release's directory"},
		{"out is the manifest", MakeOptions{Out: board, Manifests: []string{board}}, "would replace a file it covers"},
		{"window", MakeOptions{Out: filepath.Join(dir, "r.yaml"), Manifests: []string{board}, NotBefore: time.Unix(2e9, 0), NotAfter: time.Unix(1e9, 0)}, "must be after"},
		{"bad pools", MakeOptions{Out: filepath.Join(dir, "r.yaml"), Manifests: []string{board}, Pools: board}, `kind must be "IdentityPools"`},
		{"no manifest", MakeOptions{Out: filepath.Join(dir, "r.yaml")}, "one manifest"},
	} {
		if _, err := Make(c.o); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
}

func TestParseRefuses(t *testing.T) {
	head := "apiVersion: otpprov/v1\nkind: Release\nmetadata: {name: r}\nsocs: [imx8mm]\n"
	sum := strings.Repeat("ab", 32)
	for _, c := range []struct{ body, want string }{
		{"manifests: [a.yaml]\nfiles:\n  - {path: ../a.yaml, sha256: " + sum + "}\n", "7:12: path \"../a.yaml\" is not a plain"},
		{"manifests: [a.yaml]\nfiles:\n  - {path: a.yaml, sha256: " + sum + "}\n  - {path: a.yaml, sha256: " + sum + "}\n", "listed twice"},
		{"manifests: [b.yaml]\nfiles:\n  - {path: a.yaml, sha256: " + sum + "}\n", "not in files"},
		{"manifests: [./a.yaml]\nfiles:\n  - {path: ./a.yaml, sha256: " + sum + "}\n", "not a plain relative path"},
		{"manifests: [/a.yaml]\nfiles:\n  - {path: /a.yaml, sha256: " + sum + "}\n", "regular expression"},
		{"notBefore: \"2027-01-01T00:00:00Z\"\nnotAfter: \"2026-01-01T00:00:00Z\"\nmanifests: [a.yaml]\nfiles:\n  - {path: a.yaml, sha256: " + sum + "}\n", "notAfter is not after"},
		{"notAfter: \"2026-13-01T00:00:00Z\"\nmanifests: [a.yaml]\nfiles:\n  - {path: a.yaml, sha256: " + sum + "}\n", "not a time"},
		{"manifests: [a.yaml]\nfiles:\n  - {path: a.yaml, sha256: " + strings.ToUpper(sum) + "}\n", "sha256"},
	} {
		_, err := Parse("r.yaml", []byte(head+c.body))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.body, err, c.want)
		}
	}
}

// Verify end to end, signed by ssh-keygen: the release's own validity
// window is checked at the time given, and an unsigned release is named.
func TestVerifyRelease(t *testing.T) {
	dir := t.TempDir()
	copyTree(t, "../examples/imx8mm", dir)
	out := filepath.Join(dir, "rel.yaml")
	b, err := Make(MakeOptions{Out: out, Manifests: []string{filepath.Join(dir, "secure-boot.yaml")},
		NotBefore: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), NotAfter: time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(out, b, 0o644); err != nil {
		t.Fatal(err)
	}
	keyPath, pub := key(t, t.TempDir(), "k", "-t", "ed25519")
	as, err := ParseAllowedSigners("as", []byte("rel@acme "+pub+"\n"))
	if err != nil {
		t.Fatal(err)
	}
	in := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	if _, err := Verify(out, as, in); !errors.Is(err, ErrSignature) || !strings.Contains(err.Error(), "not signed") {
		t.Errorf("unsigned: %v", err)
	}
	sign(t, keyPath, Namespace, out)
	v, err := Verify(out, as, in)
	if err != nil {
		t.Fatal(err)
	}
	if v.Signer.Principals != "rel@acme" || v.KeyType != "ssh-ed25519" || !strings.HasPrefix(v.Fingerprint, "SHA256:") || v.Name != "cc8mm-secure-boot-sample" {
		t.Errorf("verified %+v", v)
	}
	for _, at := range []time.Time{time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2028, 1, 1, 0, 0, 0, 0, time.UTC)} {
		if _, err := Verify(out, as, at); err == nil || !strings.Contains(err.Error(), "valid") && !strings.Contains(err.Error(), "expired") {
			t.Errorf("at %v: %v, want outside the release's window", at, err)
		}
	}
}

func TestParseTestdataRelease(t *testing.T) {
	b, err := os.ReadFile("testdata/release.yaml")
	if err != nil {
		t.Fatal(err)
	}
	r, err := Parse("testdata/release.yaml", b)
	if err != nil {
		t.Fatal(err)
	}
	if r.Name != "acme-gateway-1.4" || len(r.Files) != 3 || r.NotBefore.Month() != time.December {
		t.Errorf("%+v", r)
	}
}
