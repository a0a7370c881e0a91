package export

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/otpprov/otpprov/fusemap"
	"github.com/otpprov/otpprov/internal/ubootsandbox"
	"github.com/otpprov/otpprov/manifest"
	"github.com/otpprov/otpprov/nvmem"
	"github.com/otpprov/otpprov/planner"
)

// exampleCase is an example manifest as a station would plan it: on the
// Digi board's dump, or on a blank part that has a UNIQUE_ID (as every
// real part has: a script made there is bound to it).
type exampleCase struct {
	file, overlay, vars string
	digi                bool
}

var exampleCases = []exampleCase{
	{file: "imx8mm/board.yaml", digi: true},
	{file: "imx8mm/secure-boot.yaml"},
	{file: "imx8mm/mac.yaml"},
	{file: "imx8mm/mac-board.yaml", overlay: "imx8mm/acme-fusemap.yaml"},
	{file: "family/gateway-std.yaml", vars: "family/unit-1001.yaml"},
	{file: "family/gateway-secure.yaml", vars: "family/unit-1001.yaml"},
}

// Every example manifest is in exampleCases, or named here with why not:
// the list cannot silently fall behind examples/.
var notExamples = map[string]string{
	"imx8mm/acme-fusemap.yaml":      "a fuse map overlay",
	"imx8mm/digi-cc8m-fusemap.yaml": "a fuse map overlay",
	"line/pools.yaml":               "an identity pools file",
	"line/unit.yaml":                "its values come from a ledger (cmd/otpprov/testdata/script/ledger.txtar, make demo)",
	"family/base.yaml":              "the base of the gateway manifests, which are planned",
	"family/unit-1001.yaml":         "a --var-file",
}

func examplesDir() string { return filepath.Join("..", "examples") }

// blankPart is a blank part of m's SoC whose UNIQUE_ID words are not 0.
func blankPart(m *fusemap.Map) []uint32 {
	state := make([]uint32, m.Words)
	for i, part := range m.Identity().Parts {
		state[m.ReadIndex(part.Bank, part.Word)] |= (0x5a17c0de + uint32(i)*0x01010101) & part.Mask()
	}
	return state
}

func (e exampleCase) plan(t *testing.T) *planner.Plan {
	t.Helper()
	maps := fusemap.Load
	if e.overlay != "" {
		o, err := fusemap.LoadOverlay(filepath.Join(examplesDir(), e.overlay))
		if err != nil {
			t.Fatal(err)
		}
		maps = func(soc string) (*fusemap.Map, error) {
			base, err := fusemap.Load(soc)
			if err != nil {
				return nil, err
			}
			return o.Apply(base)
		}
	}
	opts := manifest.Options{Maps: maps}
	if e.vars != "" {
		path := filepath.Join(examplesDir(), e.vars)
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		vars, ds := manifest.ParseVarFile(path, b)
		if len(ds) > 0 {
			t.Fatal(ds)
		}
		opts.Vars = vars
	}
	m, err := manifest.LoadOpts(filepath.Join(examplesDir(), e.file), opts)
	if err != nil {
		t.Fatal(err)
	}
	state := blankPart(m.Map)
	if e.digi {
		state = nvmem.Words(digiImage(t))
	}
	p := planManifest(t, m, state)
	if _, text := p.Binding(); !strings.Contains(text, "UNIQUE_ID") {
		t.Fatalf("%s: the plan is bound to %s", e.file, text)
	}
	return p
}

func TestExampleCasesCoverExamples(t *testing.T) {
	listed := map[string]bool{}
	for _, e := range exampleCases {
		listed[e.file] = true
	}
	files, err := filepath.Glob(filepath.Join(examplesDir(), "*", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatal(files, err)
	}
	for _, f := range files {
		rel, _ := filepath.Rel(examplesDir(), f)
		rel = filepath.ToSlash(rel)
		if !listed[rel] && notExamples[rel] == "" {
			t.Errorf("%s is neither run in the sandbox (exampleCases) nor excused (notExamples)", rel)
		}
	}
}

// scenario is a board a script is run on, and what it must leave.
type scenario struct {
	name  string
	board ubootsandbox.Board
	// session: U-Boot commands run first in the same session; again runs
	// the script twice in it (U-Boot scripts).
	session string
	again   bool
	confirm bool // the operator gives the security confirmation
	exit    int
	want    []uint32
	// U-Boot script console: has and lacks.
	has, lacks []string
}

const (
	sayNothing    = "otpprov: this run burned nothing"
	sayPartial    = "otpprov: stopped after a burn: the board may be partially programmed"
	sayProgrammed = "programmed, NOT verified yet"
	sayVerified   = "otpprov: verified: the "
)

// scenarios are the boards every example's script is run on: the happy
// path, re-runs (same session; after a reset), a missing confirmation,
// another part, a word burned differently, a write-locked word, a stuck
// bit. With a plan that closes the part, the write locked is the one
// before the close, which then must not burn.
func scenarios(p *planner.Plan, f Format) []scenario {
	writes := p.Writes()
	after := p.After()
	fresh := func() ubootsandbox.Board { return boardOf(p) }
	out := []scenario{{name: "happy path", board: fresh(), confirm: true, want: after,
		has: []string{sayProgrammed}, lacks: []string{"error", sayVerified}}}

	again := fresh()
	if f == UBoot {
		out = append(out, scenario{name: "re-run, same session", board: again, again: true, confirm: true, exit: 1, want: after,
			has: []string{sayProgrammed, "fuses were programmed in this session", sayNothing}, lacks: []string{sayPartial, sayVerified}})
	} else {
		out = append(out, scenario{name: "re-run, same session", board: again, session: "setenv otpprov_burned yes", confirm: true, exit: 1, want: again.Words})
	}
	reset := fresh()
	reset.Words = append([]uint32(nil), after...)
	if f == UBoot {
		out = append(out, scenario{name: "re-run after a reset", board: reset, want: after, has: []string{sayVerified}, lacks: []string{"error", sayProgrammed}})
	} else {
		// A uuu list checks the before-values as it reads them: run again
		// on the burned part it stops there (verify with otpprov verify).
		out = append(out, scenario{name: "re-run after a reset", board: reset, confirm: true, exit: 1, want: after})
	}
	if len(p.Security()) > 0 {
		b := fresh()
		out = append(out, scenario{name: "missing confirmation", board: b, exit: 1, want: b.Words,
			has: []string{"this script burns security fuses", sayNothing}, lacks: []string{sayPartial, sayProgrammed}})
	}
	other := fresh()
	id := p.Map.Identity().Parts[0]
	other.Words[p.SoC.ReadIndex(id.Bank, id.Word)] ^= 0x00000100
	out = append(out, scenario{name: "another part", board: other, confirm: true, exit: 1, want: other.Words,
		has: []string{"this is not the part the script was made for", sayNothing}, lacks: []string{sayPartial, sayProgrammed}})

	differ := fresh()
	o := originals(p)[0]
	free := ^after[o.Index]
	differ.Words[o.Index] |= free & -free
	out = append(out, scenario{name: "a word burned differently", board: differ, confirm: true, exit: 1, want: differ.Words,
		has: []string{"the words differ from the state the plan was made from", sayNothing}, lacks: []string{sayPartial, sayProgrammed}})

	at := len(writes) / 2
	if closesPart(p, writes[len(writes)-1]) && len(writes) > 1 {
		at = len(writes) - 2
	}
	locked := fresh()
	locked.Locked = append(locked.Locked, writes[at].WriteIndex)
	want := append([]uint32(nil), locked.Words...)
	for _, w := range writes[:at] {
		want[w.Index] |= w.Delta
	}
	out = append(out, scenario{name: fmt.Sprintf("write %d of %d write-locked", at+1, len(writes)), board: locked, confirm: true, exit: 1, want: want,
		has: []string{"otpprov: error: a burn failed", sayPartial}, lacks: []string{sayNothing, sayProgrammed, sayVerified}})

	last := writes[len(writes)-1]
	stuck := fresh()
	bit := last.Delta & -last.Delta
	stuck.Stuck = map[int]uint32{last.WriteIndex: bit}
	want = append([]uint32(nil), after...)
	want[last.Index] &^= bit
	out = append(out, scenario{name: "a stuck bit in the last write", board: stuck, confirm: true, want: want,
		has: []string{sayProgrammed}, lacks: []string{sayVerified, "error"}})
	return out
}

// closesPart: the write burns bits of a field that closes the part.
func closesPart(p *planner.Plan, c planner.Change) bool {
	_, _, closes := p.Map.Classes(c.Bank, c.Word)
	return c.Delta&closes != 0
}

// Every example manifest's U-Boot script and uuu list, on every board of
// scenarios: the fuse file afterwards holds exactly the planned bits, or
// none, or those before the write that failed; the U-Boot script says
// which, truly.
func TestSandboxExampleScenarios(t *testing.T) {
	s := ubootsandbox.Require(t)
	for _, e := range exampleCases {
		p := e.plan(t)
		sec := strings.Join(securityNames(p), ",")
		for i, c := range p.Writes() {
			if closesPart(p, c) && i != len(p.Writes())-1 {
				t.Errorf("%s: write %d closes the part, before the last", e.file, i+1)
			}
		}
		for _, f := range []Format{UBoot, UUU} {
			script := render(t, f, p, opts)
			for _, sc := range scenarios(p, f) {
				t.Run(e.file+"."+string(f)+"/"+sc.name, func(t *testing.T) {
					t.Parallel()
					var r ubootsandbox.Result
					var err error
					if f == UUU {
						var env []string
						if sc.confirm && sec != "" {
							env = []string{"OTPPROV_CONFIRM_SECURITY=" + sec}
						}
						r, err = s.UUU(sc.board, script, sc.session, env...)
					} else {
						setup := sc.session
						if sc.confirm && sec != "" {
							setup = "setenv " + confirmVar + " " + sec
						}
						text := script
						if sc.again {
							text = append(append(append([]byte(nil), script...), '\n'), script...)
						}
						r, err = s.ScriptText(sc.board, text, setup)
					}
					if err != nil {
						t.Fatal(err)
					}
					wantWords(t, sc.name, sc.board, r, sc.want)
					if f == UUU {
						if r.Exit != sc.exit {
							t.Errorf("exit %d, want %d\n%s", r.Exit, sc.exit, r.Console)
						}
						return
					}
					console(t, sc.name, r, sc.exit, sc.has, sc.lacks)
				})
			}
		}
	}
}

// uuuTool is Debian's uuu (NXP mfgtools), or the test ends: it fails
// where CI is set (.ci/run installs it), and skips loudly elsewhere.
func uuuTool(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("uuu")
	if err == nil {
		return path
	}
	if os.Getenv("CI") != "" {
		t.Fatal("uuu is not installed, and CI must run this test (.ci/run installs Debian's uuu)")
	}
	fmt.Fprintf(os.Stderr, "\n*** UUU SYNTAX CHECK NOT RUN: uuu is not installed (apt-get install uuu) ***\n\n")
	t.Skip("uuu is not installed: this test did not run")
	return ""
}

// uuuDry runs uuu -dry on list: uuu parses the whole list as it would
// before a run (every line, @VAR@ from the environment, the uuu_version)
// and prints it, with no device. A list it refuses exits non-zero.
func uuuDry(t *testing.T, uuu string, list []byte, env ...string) (string, int) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "burn.uuu")
	if err := os.WriteFile(file, list, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(uuu, "-dry", file)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}, env...)
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return string(out), 0
	case errors.As(err, &exit):
		return string(out), exit.ExitCode()
	}
	t.Fatalf("uuu -dry: %v\n%s", err, out)
	return "", 0
}

// Debian's uuu, in its dry-run mode, parses every example's list as it
// would before running it: it accepts each (with the confirmation for a
// list that burns security fuses, and refuses that list without it), and
// dumps every command of it, up to the last FB: ucmd. A list with a line
// uuu does not know is refused: the check can fail.
func TestUUUDryRun(t *testing.T) {
	uuu := uuuTool(t)
	for _, e := range exampleCases {
		p := e.plan(t)
		list := render(t, UUU, p, opts)
		var env []string
		if sec := securityNames(p); len(sec) > 0 {
			env = []string{"OTPPROV_CONFIRM_SECURITY=" + strings.Join(sec, ",")}
			if out, code := uuuDry(t, uuu, list); code == 0 || !strings.Contains(out, "variable 'OTPPROV_CONFIRM_SECURITY' is not defined") {
				t.Errorf("%s: without the confirmation uuu -dry exits %d:\n%s", e.file, code, out)
			}
		}
		out, code := uuuDry(t, uuu, list, env...)
		if code != 0 {
			t.Errorf("%s: uuu -dry exits %d:\n%s", e.file, code, out)
			continue
		}
		for _, line := range strings.Split(string(list), "\n") {
			if strings.HasPrefix(line, "FB: ") && !strings.Contains(out, line) {
				t.Errorf("%s: uuu -dry does not show %q", e.file, line)
			}
		}
		bad := strings.Replace(string(list), "\nFB: ucmd run "+goVar, "\nFB: ucmdrun "+goVar, 1)
		if out, code := uuuDry(t, uuu, []byte(bad), env...); code == 0 || !strings.Contains(out, "Unknown Command") {
			t.Errorf("%s: a list with an unknown command: uuu -dry exits %d:\n%s", e.file, code, out)
		}
	}
}
