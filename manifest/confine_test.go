package manifest

import (
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"testing"
)

// confineTree lays out a product directory and what lies around it:
//
//	root/outside.bin          another product's key: must not be reachable
//	root/prod/srk.bin         the hash the manifests may read
//	root/prod/keys/srk.bin
//	root/prod/inner.bin   ->  keys/srk.bin   (a link that stays inside)
//	root/prod/escape.bin  ->  ../outside.bin (a link that leads out)
//	root/prod/up          ->  ..             (a directory link out)
//	root/prodlink         ->  prod           (the product reached by a link)
//
// The bytes differ, so that a test cannot pass by reading the wrong file.
func confineTree(t *testing.T) (root string) {
	root = t.TempDir()
	prod := filepath.Join(root, "prod")
	if err := os.MkdirAll(filepath.Join(prod, "keys"), 0o755); err != nil {
		t.Fatal(err)
	}
	outside := make([]byte, 32)
	for i := range outside {
		outside[i] = 0xee
	}
	write := func(path string, b []byte) {
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	link := func(target, path string) {
		if err := os.Symlink(target, path); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(root, "outside.bin"), outside)
	write(filepath.Join(prod, "srk.bin"), srkBytes())
	write(filepath.Join(prod, "keys", "srk.bin"), srkBytes())
	link("keys/srk.bin", filepath.Join(prod, "inner.bin"))
	link("../outside.bin", filepath.Join(prod, "escape.bin"))
	link("..", filepath.Join(prod, "up"))
	link("prod", filepath.Join(root, "prodlink"))
	return root
}

// confineCase is a path a manifest may write in dir, and what confine
// says of it: "" when it stays inside.
type confineCase struct{ name, dir, path, msg string }

// confineCases are the ways to a file of confineTree's product directory
// and out of it, for a file NAME+EXT and its namesakes: keys/NAME+EXT
// below it, the links inner+EXT (inside) and escape+EXT (out), and
// outside+EXT beside the product. valueFrom (srk.bin) and extends
// (base.yaml) are held to the same cases.
func confineCases(root, name, ext string) []confineCase {
	file := name + ext
	return []confineCase{
		{"next to it", "prod", file, ""},
		{"below it", "prod", "keys/" + file, ""},
		{"dots that stay inside", "prod", "./keys/../" + file, ""},
		{"a link that stays inside", "prod", "inner" + ext, ""},
		{"the manifest's directory reached by a link", "prodlink", file, ""},
		{"absolute", "prod", filepath.Join(root, "prod", file), "is an absolute path"},
		{"absolute outside", "prod", filepath.Join(root, "outside"+ext), "is an absolute path"},
		{"dot-dot", "prod", "../outside" + ext, "leads out of the manifest's directory"},
		{"dot-dot further down", "prod", "keys/../../outside" + ext, "leads out of the manifest's directory"},
		{"a link to a file outside", "prod", "escape" + ext, "leads out of the manifest's directory through a symbolic link (to " + filepath.Join(root, "outside"+ext) + ")"},
		{"a directory link outside", "prod", "up/outside" + ext, "leads out of the manifest's directory through a symbolic link"},
	}
}

// TestValueFromConfined: a path written in a manifest reads a file in the
// manifest's own directory and nowhere else; every way out is refused at
// the path, with what to do instead.
func TestValueFromConfined(t *testing.T) {
	root := confineTree(t)
	for _, tt := range confineCases(root, "srk", ".bin") {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(root, tt.dir, "m.yaml")
			b := manifestOf("imx8mm", "  - field: SRK_HASH\n    valueFrom: {file: "+strconv.Quote(tt.path)+"}\n")
			if err := os.WriteFile(path, b, 0o644); err != nil {
				t.Fatal(err)
			}
			m, err := Load(path)
			if tt.msg == "" {
				if err != nil {
					t.Fatalf("Load: %v", err)
				}
				if got, _ := withoutPos(m.Targets); !reflect.DeepEqual(got, srkTargets8M) {
					t.Errorf("Targets =\n%s", targetDump(m.Targets))
				}
				return
			}
			checkDiags(t, path, diagsOf(t, err), []want{{Line: 7, Col: 23,
				Msg: "SRK_HASH: valueFrom " + tt.path + " " + tt.msg, Hint: "put the file next to the manifest, or pass it as a file variable (--var name=PATH)"}})
		})
	}
}

// TestValueFromVariableFree: a file variable's value from the operator is
// theirs to choose, anywhere; its default, written in the manifest, is
// held to the manifest's rule, at the declaration.
func TestValueFromVariableFree(t *testing.T) {
	root := confineTree(t)
	path := filepath.Join(root, "prod", "m.yaml")
	b := varManifest("  srk: {type: file, default: ../outside.bin}\n",
		"  - field: SRK_HASH\n    valueFrom: {file: \"${srk}\"}\n")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	// Given by the operator, outside the product's directory: read.
	m, err := LoadOpts(path, Options{Vars: given("srk", filepath.Join(root, "outside.bin"))})
	if err != nil {
		t.Fatalf("LoadOpts: %v", err)
	}
	if len(m.Targets) != 8 || m.Targets[0].Value != 0xeeeeeeee {
		t.Errorf("the operator's file was not the one read:\n%s", targetDump(m.Targets))
	}
	// Given relative to the working directory, through ..: still theirs.
	wd, _ := os.Getwd()
	rel, err := filepath.Rel(wd, filepath.Join(root, "outside.bin"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOpts(path, Options{Vars: given("srk", rel)}); err != nil {
		t.Errorf("LoadOpts with --var srk=%s: %v", rel, err)
	}
	// Left to the default: refused where the default is declared.
	_, err = LoadOpts(path, Options{})
	checkDiags(t, path, diagsOf(t, err), []want{{Line: 6, Col: 3,
		Msg: "variable srk: its default ../outside.bin leads out of the manifest's directory", Hint: "put the file next to the manifest"}})

	// A default inside the directory is fine.
	b = varManifest("  srk: {type: file, default: keys/srk.bin}\n", "  - field: SRK_HASH\n    valueFrom: {file: \"${srk}\"}\n")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if m, err := LoadOpts(path, Options{}); err != nil || len(m.Targets) != 8 || m.Targets[0].Value != srkTargets8M[0].Value {
		t.Errorf("a default next to the manifest: %v", err)
	}
}

// TestValueFromConfinedChain: in an extends chain, each path is confined
// to the directory of the file that holds the entry.
func TestValueFromConfinedChain(t *testing.T) {
	root := confineTree(t)
	base := filepath.Join(root, "prod", "keys", "base.yaml")
	sku := filepath.Join(root, "prod", "sku.yaml")
	write := func(path, s string) {
		if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(sku, "apiVersion: otpprov/v1\nkind: FuseManifest\nmetadata: {name: s}\nextends: keys/base.yaml\nfuses:\n  - {bank: 14, word: 0, value: 1}\n")
	// The base, a directory down, reads srk.bin of its own directory.
	write(base, string(manifestOf("imx8mm", "  - field: SRK_HASH\n    valueFrom: {file: srk.bin}\n")))
	if _, err := Load(sku); err != nil {
		t.Fatalf("Load: %v", err)
	}
	// The base reaching into the SKU's directory with .. is refused, in
	// the base, even though the SKU itself may read that file.
	write(base, string(manifestOf("imx8mm", "  - field: SRK_HASH\n    valueFrom: {file: ../srk.bin}\n")))
	_, err := Load(sku)
	checkDiags(t, base, diagsOf(t, err), []want{{Line: 7, Col: 23, Msg: "SRK_HASH: valueFrom ../srk.bin leads out of the manifest's directory"}})
}

// TestExtendsConfined: extends is held to valueFrom's rule, case for case
// (TestValueFromConfined): a base elsewhere reads its own valueFrom files
// relative to itself, so an extends out of the directory would be a way
// around that rule. Every way out is refused at the extends key.
func TestExtendsConfined(t *testing.T) {
	root := confineTree(t)
	prod := filepath.Join(root, "prod")
	base := string(manifestOf("imx8mm", "  - field: SRK_HASH\n    valueFrom: {file: srk.bin}\n"))
	writeTree(t, root, map[string]string{
		"outside.yaml":        base, // another product's, with its own srk.bin: must not be reachable
		"srk.bin":             string(srkBytes()),
		"prod/base.yaml":      base,
		"prod/keys/base.yaml": base,
	})
	if err := os.Symlink("keys/base.yaml", filepath.Join(prod, "inner.yaml")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../outside.yaml", filepath.Join(prod, "escape.yaml")); err != nil {
		t.Fatal(err)
	}
	for _, tt := range confineCases(root, "base", ".yaml") {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(root, tt.dir, "m.yaml")
			b := "apiVersion: otpprov/v1\nkind: FuseManifest\nmetadata: {name: m}\nextends: " + strconv.Quote(tt.path) + "\nfuses:\n  - {bank: 14, word: 0, value: 1}\n"
			if err := os.WriteFile(path, []byte(b), 0o644); err != nil {
				t.Fatal(err)
			}
			m, err := Load(path)
			if tt.msg == "" {
				if err != nil {
					t.Fatalf("Load: %v", err)
				}
				if len(m.Files) != 2 || len(m.Targets) != 9 {
					t.Errorf("Files %q, Targets =\n%s", m.Files, targetDump(m.Targets))
				}
				return
			}
			checkDiags(t, path, diagsOf(t, err), []want{{Line: 4, Col: 1,
				Msg: "extends " + tt.path + " " + tt.msg, Hint: "put the base beside the manifest that extends it, or in a directory below it"}})
		})
	}
}
