package journal

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// An attempt under a release records it, in format version 3; one
// without stays version 2, which an older otpprov reads. Both verify
// in one file, and a version 2 record that carries a release is refused.
func TestReleaseRecorded(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j.jsonl")
	rel := &Release{Status: "signed", Name: "gw-1.4", Digest: "sha256:ab", Signer: "rel@acme.example", KeyType: "ssh-ed25519", Fingerprint: "SHA256:xyz"}
	for i, r := range []*Release{nil, rel} {
		rec := record(i)
		rec.Release = r
		a, _, err := BeginWith(context.Background(), path, rec, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		a.Words = rec.Words
		if err := a.Intend(context.Background()); err != nil {
			t.Fatal(err)
		}
		if err := a.Finish(context.Background(), "applied", 0, ""); err != nil {
			t.Fatal(err)
		}
		a.Close()
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	if len(lines) != 4 {
		t.Fatalf("%d lines, want 4", len(lines))
	}
	const want = `"release":{"status":"signed","name":"gw-1.4","digest":"sha256:ab","signer":"rel@acme.example","keyType":"ssh-ed25519","fingerprint":"SHA256:xyz"}`
	for i, l := range lines {
		v2, v3 := strings.Contains(l, `"formatVersion":2,`), strings.Contains(l, `"formatVersion":3,`)
		if i < 2 && (!v2 || strings.Contains(l, `"release"`)) || i >= 2 && (!v3 || !strings.Contains(l, want)) {
			t.Errorf("line %d: %s", i+1, l)
		}
	}
	if rep, err := Verify(bytes.NewReader(b)); err != nil || rep.Records != 4 {
		t.Fatalf("verify: %+v, %v", rep, err)
	}
	r := record(0)
	r.Release = rel
	line, err := seal(&r, nil, 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := parse(line); err == nil || !strings.Contains(err.Error(), "a version 2 record with a release") {
		t.Errorf("a version 2 record with a release: %v", err)
	}
}
