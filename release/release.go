// Package release is what a release engineer signs: a Release document
// listing the SHA-256 of every file a set of manifests needs, and its
// OpenSSH signature (ssh-keygen -Y sign) beside it, verified here against
// an allowed signers file. A line then burns only what someone it trusts
// released (the station policy: a later step).
package release

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/otpprov/otpprov/internal/inputfile"
	"github.com/otpprov/otpprov/internal/yamldoc"
	"github.com/otpprov/otpprov/ledger"
	"github.com/otpprov/otpprov/manifest"
	"github.com/otpprov/otpprov/schemas"
)

// MaxSize caps a release file.
const MaxSize = 4 << 20

// SigSuffix names a release's signature: ssh-keygen -Y sign writes
// FILE.sig beside FILE.
const SigSuffix = ".sig"

// File is one file a release covers.
type File struct {
	Path   string `yaml:"path"`   // relative to the release's directory, / separated
	SHA256 string `yaml:"sha256"` // lower-case hex
}

// Release is a loaded release document.
type Release struct {
	File                string // the release file's path
	Name, Description   string
	NotBefore, NotAfter time.Time // zero: no bound
	SoCs                []string
	Manifests           []string // paths, each also in Files
	Files               []File
	Digest              string // "sha256:" and the hex digest of the release file's bytes
}

// doc is the document as written, fields in the order they are written.
type doc struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name        string `yaml:"name"`
		Description string `yaml:"description,omitempty"`
	} `yaml:"metadata"`
	NotBefore string   `yaml:"notBefore,omitempty"`
	NotAfter  string   `yaml:"notAfter,omitempty"`
	SoCs      []string `yaml:"socs"`
	Manifests []string `yaml:"manifests"`
	Files     []File   `yaml:"files"`
}

// MakeOptions are the inputs of a release.
type MakeOptions struct {
	Out                 string // where the release will be written: paths are relative to its directory
	Name, Description   string // Name "": the first manifest's metadata.name
	NotBefore, NotAfter time.Time
	Manifests           []string
	Overlays            []string // --fusemap files
	Pools               string   // an IdentityPools file, or ""
	Maps                manifest.MapSource
}

// Make loads each manifest (in check mode: per-unit values are not
// needed) and returns the release document covering every file they read.
func Make(o MakeOptions) ([]byte, error) {
	if len(o.Manifests) == 0 {
		return nil, errors.New("a release takes one manifest or more")
	}
	if !o.NotBefore.IsZero() && !o.NotAfter.IsZero() && !o.NotAfter.After(o.NotBefore) {
		return nil, errors.New("--not-after must be after --not-before")
	}
	dir, err := filepath.Abs(filepath.Dir(o.Out))
	if err != nil {
		return nil, err
	}
	var d doc
	d.APIVersion, d.Kind = "otpprov/v1", "Release"
	d.Metadata.Name, d.Metadata.Description = o.Name, o.Description
	if !o.NotBefore.IsZero() {
		d.NotBefore = o.NotBefore.Format(time.RFC3339)
	}
	if !o.NotAfter.IsZero() {
		d.NotAfter = o.NotAfter.Format(time.RFC3339)
	}
	seen := map[string]bool{}
	add := func(what, p string) (string, error) {
		rel, err := relPath(dir, p)
		if err != nil {
			return "", fmt.Errorf("%s %s: %w", what, yamldoc.Quote(p), err)
		}
		if seen[rel] {
			return rel, nil
		}
		seen[rel] = true
		if st, err := os.Stat(p); err == nil {
			if ost, err := os.Stat(o.Out); err == nil && os.SameFile(st, ost) {
				return "", fmt.Errorf("--out %s is %s %s: the release would replace a file it covers; name another file", yamldoc.Quote(o.Out), what, yamldoc.Quote(p))
			}
		}
		sum, err := digestFile(p)
		if err != nil {
			return "", err
		}
		d.Files = append(d.Files, File{Path: rel, SHA256: sum})
		return rel, nil
	}
	for _, mp := range o.Manifests {
		m, err := manifest.LoadOpts(mp, manifest.Options{Maps: o.Maps, Check: true})
		if err != nil {
			return nil, err
		}
		if d.Metadata.Name == "" {
			d.Metadata.Name = m.Name
		}
		if !slices.Contains(d.SoCs, m.SoC.Name) {
			d.SoCs = append(d.SoCs, m.SoC.Name)
		}
		// The manifest itself is the last of its chain: listed first.
		rel, err := add("manifest", m.Files[len(m.Files)-1])
		if err != nil {
			return nil, err
		}
		if !slices.Contains(d.Manifests, rel) {
			d.Manifests = append(d.Manifests, rel)
		}
		for _, f := range m.Files[:len(m.Files)-1] {
			if _, err := add("the extends base", f); err != nil {
				return nil, err
			}
		}
		for _, f := range m.ValueFiles {
			if _, err := add("the valueFrom file", f); err != nil {
				return nil, err
			}
		}
	}
	for _, f := range o.Overlays {
		if _, err := add("the --fusemap overlay", f); err != nil {
			return nil, err
		}
	}
	if o.Pools != "" {
		if _, err := ledger.LoadPools(o.Pools); err != nil {
			return nil, err
		}
		if _, err := add("the --pools file", o.Pools); err != nil {
			return nil, err
		}
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&d); err != nil {
		return nil, err
	}
	enc.Close()
	b := buf.Bytes()
	out := append([]byte("# Written by otpprov release make. Sign: ssh-keygen -Y sign -n "+Namespace+" -f KEY "+filepath.Base(o.Out)+"\n"), b...)
	// What is written must load: a release we could not verify later is
	// refused now.
	if _, err := Parse(o.Out, out); err != nil {
		return nil, fmt.Errorf("internal error: the release does not load: %w", err)
	}
	return out, nil
}

// relPath is p relative to dir, / separated. A file outside dir is
// refused: the release and what it covers travel together as one
// directory tree (a checkout, an archive), and ../ would name a file of
// whatever tree the release is copied next to. The check is on the paths
// as written, links not resolved: the bytes of a link's target are what
// the digest covers.
func relPath(dir, p string) (string, error) {
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", err
	}
	rel, err := filepath.Rel(dir, abs)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return "", fmt.Errorf("is outside the release's directory %s: write the release in a directory above every file it covers", yamldoc.Quote(dir))
	}
	return filepath.ToSlash(rel), nil
}

// digestFile is the hex SHA-256 of a regular file.
func digestFile(p string) (string, error) {
	f, err := inputfile.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", &inputfile.Error{Path: p, Err: err}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

var compiled = sync.OnceValues(schemas.CompileRelease)

// Parse reads a release document's bytes: the schema, then the times and
// paths.
func Parse(file string, b []byte) (*Release, error) {
	d, diags := yamldoc.Parse(file, "release", b, MaxSize)
	if d == nil {
		return nil, diags
	}
	s, err := compiled()
	if err != nil {
		return nil, fmt.Errorf("internal error: release schema: %w", err)
	}
	diags = append(diags, d.Validate(s, nil)...)
	if len(diags) > 0 {
		return nil, diags.Sorted()
	}
	sum := sha256.Sum256(b)
	r := &Release{File: file, Digest: "sha256:" + hex.EncodeToString(sum[:])}
	root := d.Value.(map[string]any)
	md := root["metadata"].(map[string]any)
	r.Name, _ = md["name"].(string)
	r.Description, _ = md["description"].(string)
	for _, k := range []string{"notBefore", "notAfter"} {
		v, ok := root[k].(string)
		if !ok {
			continue
		}
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			diags.Add(d.PosOf("/"+k), "write RFC 3339: 2026-12-05T00:00:00Z", "%s %s is not a time", k, yamldoc.Quote(v))
			continue
		}
		if k == "notBefore" {
			r.NotBefore = t
		} else {
			r.NotAfter = t
		}
	}
	if !r.NotBefore.IsZero() && !r.NotAfter.IsZero() && !r.NotAfter.After(r.NotBefore) {
		diags.Add(d.PosOf("/notAfter"), "", "notAfter is not after notBefore")
	}
	for _, v := range root["socs"].([]any) {
		r.SoCs = append(r.SoCs, v.(string))
	}
	seen := map[string]bool{}
	for i, v := range root["files"].([]any) {
		o := v.(map[string]any)
		f := File{Path: o["path"].(string), SHA256: o["sha256"].(string)}
		ptr := fmt.Sprintf("/files/%d/path", i)
		switch {
		case !cleanPath(f.Path):
			diags.Add(d.PosOf(ptr), "write the path relative to the release's directory, / between names, no . or .. and no doubled /",
				"path %s is not a plain relative path", yamldoc.Quote(f.Path))
		case seen[f.Path]:
			diags.Add(d.PosOf(ptr), "list each file once", "path %s is listed twice", yamldoc.Quote(f.Path))
		}
		seen[f.Path] = true
		r.Files = append(r.Files, f)
	}
	for i, v := range root["manifests"].([]any) {
		p := v.(string)
		if !seen[p] {
			diags.Add(d.PosOf(fmt.Sprintf("/manifests/%d", i)), "every manifest is one of the files, with its digest",
				"manifest %s is not in files", yamldoc.Quote(p))
		}
		r.Manifests = append(r.Manifests, p)
	}
	if len(diags) > 0 {
		return nil, diags.Sorted()
	}
	return r, nil
}

// cleanPath: relative, / separated, nothing to clean, never leaving the
// directory.
func cleanPath(p string) bool {
	return p != "" && !strings.HasPrefix(p, "/") && !strings.Contains(p, `\`) && path.Clean(p) == p &&
		p != ".." && !strings.HasPrefix(p, "../") && p != "."
}

// Problem is a covered file that is not as released.
type Problem struct {
	Path string // as the release lists it
	Err  error
}

func (p Problem) Error() string { return p.Path + ": " + p.Err.Error() }

// ErrDiffers is wrapped by a Problem whose file's bytes changed.
var ErrDiffers = errors.New("differs from the release")

// CheckFiles hashes every covered file, found relative to the release's
// directory, and returns those missing or changed, in the release's order.
func (r *Release) CheckFiles() []Problem {
	dir := filepath.Dir(r.File)
	var out []Problem
	for _, f := range r.Files {
		sum, err := digestFile(filepath.Join(dir, filepath.FromSlash(f.Path)))
		switch {
		case errors.Is(err, os.ErrNotExist):
			out = append(out, Problem{f.Path, errors.New("missing: the release covers it, but there is no such file")})
		case err != nil:
			out = append(out, Problem{f.Path, err})
		case sum != f.SHA256:
			out = append(out, Problem{f.Path, fmt.Errorf("%w: its sha256 is %s, the release says %s", ErrDiffers, sum, f.SHA256)})
		}
	}
	return out
}

// Verified is a release whose signature verified.
type Verified struct {
	*Release
	Signer      *Signer // the allowed signers line that let the key sign
	KeyType     string
	Fingerprint string
	At          time.Time // the time the key's and the release's validity were checked at
}

// Verify reads the release and its signature beside it (FILE.sig) and
// checks, in this order: the signature parses; its key is not revoked
// (allowed.Revoked: an error wrapping ErrRevoked) and is on a line of
// the allowed signers that allows the namespace otpprov-release at time
// now; the signature is valid over the release file's bytes; the
// document loads; now is within its notBefore and notAfter. The files it
// covers are not checked here (CheckFiles).
func Verify(releasePath string, allowed *AllowedSigners, now time.Time) (*Verified, error) {
	b, err := inputfile.Read(releasePath, MaxSize)
	if err != nil {
		return nil, err
	}
	sigPath := releasePath + SigSuffix
	sb, err := inputfile.Read(sigPath, MaxSignatureSize)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s: the release is not signed (sign it: ssh-keygen -Y sign -n %s -f KEY %s)", ErrSignature, sigPath, Namespace, releasePath)
	}
	if err != nil {
		return nil, err
	}
	sig, err := ParseArmored(sb)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", sigPath, err)
	}
	if sig.Namespace != Namespace {
		return nil, fmt.Errorf("%s: %w", sigPath, sig.Verify(b, Namespace))
	}
	signer, err := allowed.Find(sig.Key, Namespace, now)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", sigPath, err)
	}
	if err := sig.Verify(b, Namespace); err != nil {
		return nil, fmt.Errorf("%s: %w (of %s)", sigPath, err, releasePath)
	}
	r, err := Parse(releasePath, b)
	if err != nil {
		return nil, err
	}
	if err := r.ValidAt(now); err != nil {
		return nil, err
	}
	return &Verified{Release: r, Signer: signer, KeyType: sig.Key.Type, Fingerprint: sig.Key.Fingerprint(), At: now}, nil
}
