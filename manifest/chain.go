package manifest

import (
	"crypto/sha256"
	"errors"
	"io/fs"
	"path/filepath"
	"strings"

	"github.com/otpprov/otpprov/internal/inputfile"
	"github.com/otpprov/otpprov/internal/yamldoc"
)

// maxChain bounds extends chains: a product family is a base and a SKU,
// perhaps a board in between; anything this deep is a mistake.
const maxChain = 16

// link is one file of an extends chain.
type link struct {
	*yamldoc.Doc
	digest [32]byte
}

// readChain parses file and, through extends, the manifests it builds on:
// base first, file last. extends is relative to the file that names it,
// and stays in that file's directory as valueFrom does (confine): a base
// elsewhere reads its own valueFrom files relative to itself, so an
// extends that left the directory would read keys from anywhere. A path
// out, a cycle, a missing base or a chain deeper than maxChain is
// reported at the extends key that causes it.
func readChain(file string, b []byte) ([]link, Diagnostics) {
	var chain []link
	var diags Diagnostics
	seen := map[string]string{} // absolute path -> as named
	namedAt := Pos{}            // the extends that named file, for a base
	for depth := 0; ; depth++ {
		doc, ds := yamldoc.Parse(file, "manifest", b, MaxSize)
		if doc == nil && depth > 0 {
			// A base that is not a manifest at all (binary, huge, empty):
			// the mistake may be the extends that named it.
			for i := range ds {
				ds[i].Hint = strings.TrimPrefix(ds[i].Hint+" (named by extends at "+namedAt.String()+")", " ")
			}
		}
		diags = append(diags, ds...)
		if doc == nil {
			break
		}
		chain = append([]link{{Doc: doc, digest: sha256.Sum256(b)}}, chain...)
		if abs, err := filepath.Abs(file); err == nil {
			if real, err := filepath.EvalSymlinks(abs); err == nil {
				abs = real
			}
			seen[abs] = file
		}
		root, _ := doc.Value.(map[string]any)
		ext, ok := root["extends"].(string)
		if !ok || ext == "" {
			break // no extends, or not a string: the schema reports that
		}
		at := doc.KeyPos["/extends"]
		if err := confine(file, ext); err != nil {
			diags.Add(at, "put the base beside the manifest that extends it, or in a directory below it", "extends %v", err)
			break
		}
		base := filepath.Join(filepath.Dir(file), ext)
		abs, err := filepath.Abs(base)
		if err == nil {
			if real, err := filepath.EvalSymlinks(abs); err == nil {
				abs = real
			}
		}
		if first, dup := seen[abs]; dup {
			diags.Add(at, "a manifest cannot extend itself, directly or through others", "extends %s: a cycle (%s is already in the chain: %s)",
				ext, first, chainNames(chain))
			break
		}
		if depth+1 >= maxChain {
			diags.Add(at, "", "extends %s: the chain is deeper than %d manifests", ext, maxChain)
			break
		}
		nb, err := inputfile.Read(base, MaxSize)
		if err != nil {
			hint := inputfile.Hint(err)
			if errors.Is(err, fs.ErrNotExist) {
				hint = "extends is relative to the manifest that names it"
			}
			var e *inputfile.Error
			if errors.As(err, &e) && e.Path == ext {
				err = e.Err // the path as resolved says nothing more
			}
			diags.Add(at, hint, "extends %s: %v", ext, err)
			break
		}
		file, b, namedAt = base, nb, at
	}
	return chain, diags
}

func chainNames(chain []link) string {
	names := make([]string, len(chain))
	for i, l := range chain {
		names[len(chain)-1-i] = l.File
	}
	return strings.Join(names, " -> ")
}
