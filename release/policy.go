package release

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/otpprov/otpprov/internal/inputfile"
	"github.com/otpprov/otpprov/internal/yamldoc"
	"github.com/otpprov/otpprov/manifest"
	"github.com/otpprov/otpprov/planner"
)

// Policy is what a station burns: with AllowedSigners set, only files a
// release covers whose signature verifies against them. Without it the
// station burns what it is given, as before releases; a Release given all
// the same has its digests checked, its signature not.
type Policy struct {
	Release        string // the release file (--release); "" for none
	AllowedSigners string // the allowed signers file (--allowed-signers); "" for no policy
	RevokedKeys    string // keys revoked (--revoked-keys: a KRL or a key list); "" for none
}

// Enforced: every input must be covered by a validly signed release.
func (p Policy) Enforced() bool { return p.AllowedSigners != "" }

// ErrNotCovered is wrapped when an input file is not covered by the
// release, or differs from it, or there is no release under a policy.
var ErrNotCovered = errors.New("not as released")

// ErrNoSigners is wrapped when revoked keys are given without the
// allowed signers they would restrict.
var ErrNoSigners = errors.New("no allowed signers")

// Check is the one gate between the files a command read and the device:
// every command that burns, or writes a plan or script that burns, passes
// it before the device is opened. inputs are the files read with the
// digests of the bytes parsed (manifest.Manifest.Inputs), so what is
// checked is exactly what is planned. It returns the release to record,
// nil when there is none (unsigned).
//
// With allowed signers: the release's signature must verify (Verify: the
// namespace, the signer's line and validity, the release's window), the
// manifest must be one the release lists as a manifest, and every input
// must be a file it covers with the same SHA-256. Revoked keys are
// checked by Verify (AllowedSigners.Revoked), as in release verify.
func (p Policy) Check(inputs []manifest.Input, now time.Time) (*planner.Release, error) {
	if p.RevokedKeys != "" && !p.Enforced() {
		// A revocation list without allowed signers would check nothing:
		// saying so beats a station that believes it revokes a key.
		return nil, fmt.Errorf("%w: revoked keys %s are checked against a release's signer, and no allowed signers were given: the signature would not be checked at all",
			ErrNoSigners, yamldoc.Quote(p.RevokedKeys))
	}
	if p.Release == "" {
		if !p.Enforced() {
			return nil, nil
		}
		var named string
		for _, in := range inputs {
			if in.Role == manifest.RoleManifest {
				named = " (" + in.Role + " " + in.Path + ")"
			}
		}
		return nil, fmt.Errorf("%w: the station's policy (allowed signers %s) burns only what a signed release covers, and no release was given: nothing%s is covered",
			ErrNotCovered, yamldoc.Quote(p.AllowedSigners), named)
	}
	var r *Release
	rec := &planner.Release{Status: planner.ReleaseUnverified}
	if p.Enforced() {
		allowed, err := LoadSigners(p.AllowedSigners, p.RevokedKeys)
		if err != nil {
			return nil, err
		}
		v, err := Verify(p.Release, allowed, now)
		if err != nil {
			return nil, err
		}
		r = v.Release
		rec = &planner.Release{Status: planner.ReleaseSigned, Signer: v.Signer.Principals, KeyType: v.KeyType, Fingerprint: v.Fingerprint}
	} else {
		b, err := inputfile.Read(p.Release, MaxSize)
		if err != nil {
			return nil, err
		}
		if r, err = Parse(p.Release, b); err != nil {
			return nil, err
		}
		if err := r.ValidAt(now); err != nil {
			return nil, err
		}
	}
	rec.Name, rec.Digest = r.Name, r.Digest
	if problems := r.Covers(inputs); len(problems) > 0 {
		return nil, fmt.Errorf("%w: release %s (%s) does not cover what this command read, nothing was read from or written to the device:\n%s",
			ErrNotCovered, r.Name, p.Release, strings.Join(problems, "\n"))
	}
	return rec, nil
}

// ValidAt checks the release's notBefore and notAfter.
func (r *Release) ValidAt(now time.Time) error {
	switch {
	case !r.NotBefore.IsZero() && now.Before(r.NotBefore):
		return fmt.Errorf("release %s is not valid before %s (now %s)", r.Name, r.NotBefore.Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	case !r.NotAfter.IsZero() && now.After(r.NotAfter):
		return fmt.Errorf("release %s expired at %s (now %s)", r.Name, r.NotAfter.Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	return nil
}

// Covers says, one line each, which inputs the release does not cover as
// they were read: a file it does not list (found relative to the
// release's directory, as Make names them), one whose bytes differ, and a
// manifest it lists only as a file another manifest needs (a base is not
// released to be burned on its own).
func (r *Release) Covers(inputs []manifest.Input) []string {
	dir, err := filepath.Abs(filepath.Dir(r.File))
	if err != nil {
		return []string{err.Error()}
	}
	files := make(map[string]File, len(r.Files))
	for _, f := range r.Files {
		files[f.Path] = f
	}
	manifests := map[string]bool{}
	for _, m := range r.Manifests {
		manifests[m] = true
	}
	var out []string
	for _, in := range inputs {
		what := in.Role + " " + in.Path
		rel, err := relPath(dir, in.Path)
		if err != nil {
			out = append(out, fmt.Sprintf("%s is not covered: it %v", what, err))
			continue
		}
		f, ok := files[rel]
		switch {
		case !ok:
			out = append(out, fmt.Sprintf("%s is not covered: the release lists no %s", what, rel))
		case f.SHA256 != in.SHA256:
			out = append(out, fmt.Sprintf("%s differs from the release: its sha256 is %s, the release says %s (changed after the release was made)", what, in.SHA256, f.SHA256))
		case in.Role == manifest.RoleManifest && !manifests[rel]:
			out = append(out, fmt.Sprintf("%s is covered only as a file another manifest needs, not as a manifest released to burn", what))
		}
	}
	return out
}
