package main

import (
	"fmt"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/otpprov/otpprov/manifest"
	"github.com/otpprov/otpprov/planner"
	"github.com/otpprov/otpprov/release"
)

// The station policy of signed releases: --release names the release the
// command's files must be covered by, --allowed-signers the keys that may
// sign it. A line sets both in the station's environment.
var (
	releaseFlag = &cli.StringFlag{Name: "release", EnvVars: []string{"OTPPROV_RELEASE"},
		Usage: "the release `FILE` (otpprov release make, signed beside it as FILE.sig) covering every file this command reads"}
	allowedSignersFlag = &cli.StringFlag{Name: "allowed-signers", EnvVars: []string{"OTPPROV_ALLOWED_SIGNERS"},
		Usage: "the OpenSSH allowed signers `FILE` (ssh-keygen(1), ALLOWED SIGNERS) whose keys may sign releases; " +
			"with it, plan, apply and verify refuse any file no validly signed release covers"}
)

func policy(c *cli.Context) release.Policy {
	return release.Policy{Release: c.String("release"), AllowedSigners: c.String("allowed-signers"), RevokedKeys: c.String("revoked-keys")}
}

// checkRelease holds the files m was loaded from to the station's
// policy, before the device is opened, and returns the release the plan
// records (nil: unsigned).
func checkRelease(c *cli.Context, m *manifest.Manifest) (*planner.Release, error) {
	// The clock the signer's key and the release must be valid at is this
	// machine's, now.
	return policy(c).Check(m.Inputs, time.Now())
}

// savedUnderPolicy: a saved plan reads no manifest, so no release can
// cover what it burns, and its checksum is no signature: anyone can write
// one. Under a policy it is refused; without one it applies as before,
// its release shown as what the file says, not checked.
func savedUnderPolicy(c *cli.Context, file string, saved *planner.Plan) error {
	pol := policy(c)
	switch {
	case pol.Enforced():
		return &exit{code: exitError, err: fmt.Errorf("%w: %s is a saved plan, which no release covers (its checksum is no signature), and the station's policy (allowed signers %s) burns only what a signed release covers: nothing was read or written",
			release.ErrNotCovered, file, pol.AllowedSigners),
			hint: "apply the released manifest with --release RELEASE on this station; a saved plan applies only where no --allowed-signers is set"}
	case pol.Release != "":
		return usageError{"--release checks the files a manifest reads; a saved plan reads none: apply the released manifest, or leave out --release"}
	}
	if r := saved.Source.Release; r != nil {
		r.Status = planner.ReleaseAsSaved
	}
	return nil
}

// writeUnderPolicy: a word typed on the command line is in no release,
// so a station whose policy burns only signed releases does not write
// one either.
func writeUnderPolicy(c *cli.Context) error {
	if pol := policy(c); pol.Enforced() {
		return &exit{code: exitError, err: fmt.Errorf("%w: write burns a word given on the command line, which no release covers, and the station's policy (allowed signers %s) burns only what a signed release covers: nothing was read or written",
			release.ErrNotCovered, pol.AllowedSigners),
			hint: "burn it through a manifest in a signed release (apply --release), or, for a repair outside the line's policy, run write without --allowed-signers (unset OTPPROV_ALLOWED_SIGNERS)"}
	}
	return nil
}
