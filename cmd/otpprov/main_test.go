package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

// The end-to-end tests are testscript scenarios in testdata/script, one per
// file, run against the OTP emulator (sim:DIR) and raw image files through
// the same binary entry point as main.
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"otpprov": main,
	})
}

func TestScripts(t *testing.T) {
	examples, err := filepath.Abs("../../examples")
	if err != nil {
		t.Fatal(err)
	}
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Setup: func(e *testscript.Env) error {
			e.Setenv("EXAMPLES", examples)
			e.Setenv("DUMP", filepath.Join(examples, "imx8mm", "digi-cc8mm.dump"))
			e.Setenv("NO_COLOR", "")
			return nil
		},
		Condition: func(cond string) (bool, error) {
			// [coreutils] gates the cross-checks that run the Digi
			// document's od/dd/printf; CI installs them.
			if cond == "coreutils" {
				for _, tool := range []string{"od", "dd", "bash"} {
					if _, err := exec.LookPath(tool); err != nil {
						return false, nil
					}
				}
				return true, nil
			}
			return false, nil
		},
		RequireExplicitExec: true,
		UpdateScripts:       os.Getenv("UPDATE_SCRIPTS") == "1",
	})
}
