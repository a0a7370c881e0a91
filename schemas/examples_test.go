package schemas_test

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/otpprov/otpprov/schemas"
)

var (
	modeline = regexp.MustCompile(`(?m)\A# yaml-language-server: \$schema=(\S+)\n`)
	kindLine = regexp.MustCompile(`(?m)^kind: (\S+)$`)
)

// TestExamplesNameTheirSchema: every example manifest and fuse map starts
// with the YAML language server's modeline, pointing (relative to the
// file) at the schema of its kind, the very bytes the binary embeds: an
// editor opening the example validates it as otpprov will.
func TestExamplesNameTheirSchema(t *testing.T) {
	files, err := filepath.Glob("../examples/*/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples: %v", err)
	}
	schemaOf := map[string][]byte{"FuseManifest": schemas.Manifest, "FuseMap": schemas.Fusemap, "FuseMapOverlay": schemas.Fusemap, "IdentityPools": schemas.Pools}
	checked := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		k := kindLine.FindSubmatch(b)
		if k == nil {
			continue // a variable file: no kind, no schema
		}
		want := schemaOf[string(k[1])]
		m := modeline.FindSubmatch(b)
		switch {
		case want == nil:
			t.Errorf("%s: unknown kind %s", f, k[1])
		case m == nil:
			t.Errorf("%s: the first line is not '# yaml-language-server: $schema=...'", f)
		default:
			target := filepath.Join(filepath.Dir(f), string(m[1]))
			got, err := os.ReadFile(target)
			if err != nil || !bytes.Equal(got, want) || !strings.HasSuffix(target, ".schema.json") {
				t.Errorf("%s: $schema=%s is not the %s schema (%v)", f, m[1], k[1], err)
			}
			checked++
		}
	}
	if checked < 5 {
		t.Errorf("only %d examples checked", checked)
	}
}
