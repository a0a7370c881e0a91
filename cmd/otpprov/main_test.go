package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

// The end-to-end tests are testscript scenarios in testdata/script, one per
// file, run against the OTP emulator (sim:DIR) and raw image files through
// the same binary entry point as main.
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"otpprov":   main,
		"ocotp-emu": ocotpEmuMain,
	})
}

func TestScripts(t *testing.T) {
	testscript.Run(t, scriptParams(t, "testdata/script"))
}

// scriptParams are the scenarios' common setup: $EXAMPLES and $DUMP, the
// conditions and the custom commands.
func scriptParams(t *testing.T, dir string) testscript.Params {
	examples, err := filepath.Abs("../../examples")
	if err != nil {
		t.Fatal(err)
	}
	return testscript.Params{
		Dir: dir,
		Setup: func(e *testscript.Env) error {
			e.Setenv("EXAMPLES", examples)
			e.Setenv("DUMP", filepath.Join(examples, "imx8mm", "digi-cc8mm.dump"))
			e.Setenv("NO_COLOR", "")
			return nil
		},
		// [have:a,b] gates scenarios that run other programs (the Digi
		// document's od/dd/printf, flock). CI installs them, so there a
		// missing one fails the run instead of skipping a check unseen.
		// [fuse]: this machine can mount FUSE (required in CI too).
		Condition: func(cond string) (bool, error) {
			if cond == "fuse" {
				return fuseCondition()
			}
			tools, ok := strings.CutPrefix(cond, "have:")
			if !ok {
				return false, fmt.Errorf("unknown condition %q", cond)
			}
			for _, tool := range strings.Split(tools, ",") {
				if _, err := exec.LookPath(tool); err != nil {
					if os.Getenv("CI") != "" {
						return false, fmt.Errorf("%s is missing in CI", tool)
					}
					return false, nil
				}
			}
			return true, nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"exits": exits,
			"fuse":  fuseCmd,
		},
		RequireExplicitExec: true,
		UpdateScripts:       os.Getenv("UPDATE_SCRIPTS") == "1",
	}
}

// exits CODE COMMAND [ARGS...] runs a command like exec and asserts its
// exact exit code: the exit codes are a contract, and "!" only says
// "non-zero".
func exits(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: exits CODE COMMAND [ARGS...]")
	}
	want, err := strconv.Atoi(args[0])
	if err != nil {
		ts.Fatalf("exits: bad code %q", args[0])
	}
	got := 0
	if err := ts.Exec(args[1], args[2:]...); err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			ts.Fatalf("exits: %v", err)
		}
		got = ee.ExitCode()
	}
	if got != want {
		ts.Fatalf("exit code %d, want %d", got, want)
	}
}
