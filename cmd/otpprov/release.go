package main

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/otpprov/otpprov/internal/yamldoc"
	"github.com/otpprov/otpprov/release"
)

// releaseCommand is `otpprov release ...`: the signed releases of issue
// 15. The station policy (plan and apply refusing what no release
// covers) is not wired in yet.
func releaseCommand(e env, usage cli.OnUsageErrorFunc, overlay cli.Flag) *cli.Command {
	return &cli.Command{Name: "release", Usage: "signed releases: what a release engineer signed, for a line to burn",
		Subcommands: []*cli.Command{
			{Name: "make", Usage: "write a release covering MANIFEST... and every file they read, for ssh-keygen -Y sign -n " + release.Namespace, ArgsUsage: "MANIFEST...",
				Flags: []cli.Flag{overlay,
					&cli.StringFlag{Name: "out", Usage: "write the release to `FILE` (required: its paths are relative to its directory), whole or not at all"},
					&cli.StringFlag{Name: "name", Usage: "the release's `NAME` (default: the first manifest's metadata.name)"},
					&cli.StringFlag{Name: "description", Usage: "a `TEXT` for reviewers"},
					&cli.StringFlag{Name: "pools", Usage: "cover the identity pools `FILE` too"},
					&cli.StringFlag{Name: "not-before", Usage: "the release is not valid before `TIME` (RFC 3339)"},
					&cli.StringFlag{Name: "not-after", Usage: "the release is not valid after `TIME` (RFC 3339)"}},
				OnUsageError: usage, Before: checkOut,
				Action: func(c *cli.Context) error { return cmdReleaseMake(c, e) }},
			{Name: "verify", Usage: "check a release's signature (RELEASE.sig beside it) against the allowed signers, and every file it covers", ArgsUsage: "RELEASE",
				Flags: []cli.Flag{&cli.StringFlag{Name: "allowed-signers", EnvVars: []string{"OTPPROV_ALLOWED_SIGNERS"},
					Usage: "the OpenSSH allowed signers `FILE` (ssh-keygen(1), ALLOWED SIGNERS) whose keys may sign releases"},
					revokedKeysFlag},
				OnUsageError: usage,
				Action:       func(c *cli.Context) error { return cmdReleaseVerify(c, e) }}}}
}

// revokedKeysFlag is --revoked-keys: what ssh-keygen -Y verify -r takes.
var revokedKeysFlag = &cli.StringFlag{Name: "revoked-keys", EnvVars: []string{"OTPPROV_REVOKED_KEYS"},
	Usage: "refuse a signing key listed in `FILE`: an OpenSSH KRL (ssh-keygen -k) or public keys, one a line (as ssh-keygen -Y verify -r)"}

func rfc3339Flag(c *cli.Context, name string) (time.Time, error) {
	v := c.String(name)
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, usageError{fmt.Sprintf("--%s %s is not an RFC 3339 time: write 2026-12-05T00:00:00Z", name, yamldoc.Quote(v))}
	}
	return t, nil
}

func cmdReleaseMake(c *cli.Context, e env) error {
	if c.Args().Len() == 0 {
		return usageError{"release make takes MANIFEST..."}
	}
	out := c.String("out")
	if out == "" {
		return usageError{"release make needs --out FILE: the release names its files relative to its own directory"}
	}
	if p := c.String("pools"); p != "" {
		if err := outClash(out, used{what: "--pools", path: p}); err != nil {
			return err
		}
	}
	nb, err := rfc3339Flag(c, "not-before")
	if err != nil {
		return err
	}
	na, err := rfc3339Flag(c, "not-after")
	if err != nil {
		return err
	}
	b, err := release.Make(release.MakeOptions{Out: out, Name: c.String("name"), Description: c.String("description"),
		NotBefore: nb, NotAfter: na, Manifests: c.Args().Slice(), Overlays: c.StringSlice("fusemap"),
		Pools: c.String("pools"), Maps: maps(c)})
	if err != nil {
		return err
	}
	// What is released, for the engineer about to sign it; shown whole
	// before it is saved, as a saved plan is.
	r, err := release.Parse(out, b)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "Release  %s, SoCs %s: %d files\n", r.Name, strings.Join(r.SoCs, ", "), len(r.Files))
	for _, f := range r.Files {
		fmt.Fprintf(e.stdout, "  %s  %s\n", f.SHA256, f.Path)
	}
	if err := e.Flush(); err != nil {
		return fmt.Errorf("%w; the release was not shown whole, so it was not saved", err)
	}
	if err := saveFile(out, b); err != nil {
		return err
	}
	if _, err := os.Stat(out + release.SigSuffix); err == nil {
		// ssh-keygen -Y sign asks before it overwrites a .sig: without a
		// terminal it does not, and the old signature stays beside a
		// release it does not sign.
		fmt.Fprintf(e.stderr, "otpprov: warning: %s is the signature of the release as it was: remove it, then sign the new one\n", out+release.SigSuffix)
	}
	fmt.Fprintf(e.stderr, "otpprov: wrote the release %s; sign it: ssh-keygen -Y sign -n %s -f KEY %s\n", out, release.Namespace, out)
	return nil
}

func cmdReleaseVerify(c *cli.Context, e env) error {
	a, err := args(c, "RELEASE")
	if err != nil {
		return err
	}
	as := c.String("allowed-signers")
	if as == "" {
		return usageError{"--allowed-signers FILE (or OTPPROV_ALLOWED_SIGNERS) names the keys that may sign releases"}
	}
	allowed, err := release.LoadSigners(as, c.String("revoked-keys"))
	if err != nil {
		return err
	}
	// The time the signer's key and the release must be valid at: this
	// machine's clock, now.
	v, err := release.Verify(a[0], allowed, time.Now())
	if err != nil {
		return err
	}
	// On stderr: the report on stdout is the same for the same files,
	// to compare and keep.
	fmt.Fprintf(e.stderr, "otpprov: validity checked at %s, this machine's clock\n", v.At.UTC().Format(time.RFC3339))
	fmt.Fprintf(e.stdout, "Release     %s (%s)\n", v.Name, v.Digest)
	fmt.Fprintf(e.stdout, "Signed by   %s (%s:%d)\n", v.Signer.Principals, allowed.File, v.Signer.Line)
	fmt.Fprintf(e.stdout, "Key         %s %s\n", v.KeyType, v.Fingerprint)
	if allowed.Revoked != nil {
		fmt.Fprintf(e.stdout, "Revoked     no: not in %s\n", allowed.Revoked)
	}
	fmt.Fprintf(e.stdout, "SoCs        %s\n", strings.Join(v.SoCs, ", "))
	problems := v.CheckFiles()
	bad := map[string]bool{}
	for _, p := range problems {
		bad[p.Path] = true
	}
	for _, f := range v.Files {
		mark := "ok      "
		if bad[f.Path] {
			mark = "NOT OK  "
		}
		fmt.Fprintf(e.stdout, "  %s%s\n", mark, f.Path)
	}
	if len(problems) > 0 {
		msgs := make([]string, len(problems))
		errs := make([]error, len(problems))
		for i, p := range problems {
			msgs[i], errs[i] = p.Error(), p
		}
		return &exit{code: exitError, err: fmt.Errorf("release %s: %d of %d files are not as released:\n%s", v.Name, len(problems), len(v.Files), strings.Join(msgs, "\n")),
			hint: "restore the files from the release's source (version control), or make and sign a new release"}
	}
	fmt.Fprintf(e.stdout, "Files       %d of %d as released\n", len(v.Files), len(v.Files))
	return nil
}

// releaseHint says what to do about a release's signature.
func releaseHint(err error) string {
	switch {
	case errors.Is(err, release.ErrRevoked):
		return "the key is revoked: have the release signed again with a key that is not, and take the revoked key's line out of the allowed signers"
	case errors.Is(err, release.ErrNoSigners):
		return "give --allowed-signers FILE (or OTPPROV_ALLOWED_SIGNERS) with --revoked-keys, or leave out --revoked-keys"
	case errors.Is(err, release.ErrRevocationFile):
		return "--revoked-keys takes what ssh-keygen -Y verify -r takes: a KRL (ssh-keygen -k -f FILE KEY.pub...) or public keys, KEYTYPE BASE64 a line"
	case errors.Is(err, release.ErrNotCovered):
		return "give the release that covers these files with --release RELEASE (or OTPPROV_RELEASE); " +
			"restore a changed file from the release's source (version control), or have a new release made (otpprov release make) and signed (ssh-keygen -Y sign -n " + release.Namespace + ")"
	case errors.Is(err, release.ErrNotAllowed):
		return "have a signer of the allowed signers file sign the release, or add the signer's key there (PRINCIPAL namespaces=\"" + release.Namespace + "\" KEYTYPE BASE64)"
	case errors.Is(err, release.ErrSignature):
		return "a release is signed with ssh-keygen -Y sign -n " + release.Namespace + " -f KEY RELEASE (it writes RELEASE.sig); " +
			"if the release or its signature changed after signing, restore both from their source, or have the release reviewed and signed again"
	}
	return ""
}
