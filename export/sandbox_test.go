package export

import (
	"bytes"
	"flag"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/otpprov/otpprov/internal/ubootsandbox"
	"github.com/otpprov/otpprov/manifest"
	"github.com/otpprov/otpprov/nvmem"
	"github.com/otpprov/otpprov/planner"
)

// The U-Boot scripts and uuu lists run in a real U-Boot: the sandbox of
// internal/ubootsandbox (make uboot-sandbox), whose fuses keep the i.MX
// OCOTP controller's rules.

var (
	cutsAll    = flag.Bool("cuts.all", false, "cut test: run every prefix of every script (make test-uboot-cuts-all)")
	cutsEvery  = flag.String("cuts.every", "", "cut test: run every prefix of this case's scripts (NAME) or one of them (NAME.uboot, NAME.uuu), a sample of the others' (make test-uboot-cuts)")
	cutsSample = flag.Int("cuts.sample", 24, "cut test: how many random prefixes of each script, besides those ending in its last line")
	cutsSeed   = flag.Uint64("cuts.seed", 1, "cut test: the seed of the sample")
)

// sandboxCase is a plan with what its operator gives to run it: the
// security confirmation as a U-Boot command (uboot) and as the host's
// environment (uuu).
type sandboxCase struct {
	name  string
	plan  *planner.Plan
	setup string
	env   []string
	// session: U-Boot commands run before the script in its session
	// (both formats).
	session string
}

// uboot is what a U-Boot script's session runs before it.
func (c sandboxCase) uboot() string {
	if c.session == "" || c.setup == "" {
		return c.session + c.setup
	}
	return c.session + "; " + c.setup
}

func examplePlan(t *testing.T, file string, state func(n int) []uint32) *planner.Plan {
	t.Helper()
	m, err := manifest.Load(filepath.Join("..", "examples", "imx8mm", file))
	if err != nil {
		t.Fatal(err)
	}
	return planManifest(t, m, state(m.SoC.Words))
}

func planManifest(t *testing.T, m *manifest.Manifest, state []uint32) *planner.Plan {
	t.Helper()
	p := makePlan(t, planner.Source{Name: m.Name, File: filepath.Base(m.File), Digest: m.Digest}, m.Map, state, m.Targets...)
	if p.Rejected() || len(p.Writes()) == 0 {
		t.Fatalf("%s: rejected %v, %d writes", m.File, p.Rejected(), len(p.Writes()))
	}
	return p
}

// multiManifest burns many words of a blank board: both MAC addresses
// (three words, one shared), GP1 and GP2, boot configuration, and the
// GP1 write lock, which must burn after GP1.
const multiManifest = `apiVersion: otpprov/v1
kind: FuseManifest
metadata: {name: multi-word}
soc: imx8mm
fuses:
  - {field: MAC_ADDR0, value: "00:04:9f:01:02:03"}
  - {field: MAC_ADDR1, value: "00:04:9f:01:02:04"}
  - {bank: 14, word: 0, value: 0x00000203}
  - {bank: 14, word: 1, value: "0x00c0ffee"}
  - {bank: 14, word: 2, value: 0x12345678}
  - {bank: 14, word: 3, value: 0x0000a5a5, mask: 0x0000ffff}
  - {field: BOOT_CFG, value: 0x2022}
  - {field: GP1_LOCK, value: 1}
`

func sandboxCases(t *testing.T) []sandboxCase {
	t.Helper()
	digi := func(int) []uint32 { return nvmem.Words(digiImage(t)) }
	blank := func(n int) []uint32 { return make([]uint32, n) }
	m, err := manifest.Parse("multi-word.yaml", []byte(multiManifest))
	if err != nil {
		t.Fatal(err)
	}
	const security = "SRK_LOCK,SEC_CONFIG_CLOSE"
	return []sandboxCase{
		{name: "board", plan: examplePlan(t, "board.yaml", digi)},
		{name: "secure-boot", plan: examplePlan(t, "secure-boot.yaml", blank),
			setup: "setenv otpprov_confirm_security " + security, env: []string{"OTPPROV_CONFIRM_SECURITY=" + security}},
		{name: "multi-word", plan: planManifest(t, m, blank(m.SoC.Words)),
			setup: "setenv otpprov_confirm_security GP1_LOCK", env: []string{"OTPPROV_CONFIRM_SECURITY=GP1_LOCK"}},
	}
}

func boardOf(p *planner.Plan) ubootsandbox.Board { return ubootsandbox.NewBoard(p.Map, p.State) }

// runIn runs a script of format f in the sandbox.
func runIn(s *ubootsandbox.Sandbox, f Format, b ubootsandbox.Board, script []byte, c sandboxCase) (ubootsandbox.Result, error) {
	if f == UUU {
		return s.UUU(b, script, c.session, c.env...)
	}
	return s.Script(b, script, c.uboot())
}

// mustRun is runIn of the case's whole script, failing the test on a run
// that did not finish, and on exit status 0 when wantFail.
func mustRun(t *testing.T, s *ubootsandbox.Sandbox, f Format, b ubootsandbox.Board, c sandboxCase, wantFail bool) ubootsandbox.Result {
	t.Helper()
	r, err := runIn(s, f, b, render(t, f, c.plan, opts), c)
	if err != nil {
		t.Fatal(err)
	}
	if (r.Exit != 0) != wantFail {
		t.Errorf("%s: exit %d\n%s", f, r.Exit, r.Console)
	}
	return r
}

// runFast is runIn with a U-Boot script's text run as source runs its
// image, without mkimage: half the time, for the cut test's thousands of
// runs (TestSandboxScriptTextMatchesSource holds the two together).
func runFast(s *ubootsandbox.Sandbox, f Format, b ubootsandbox.Board, script []byte, c sandboxCase) (ubootsandbox.Result, error) {
	if f == UUU {
		return s.UUU(b, script, c.session, c.env...)
	}
	return s.ScriptText(b, script, c.uboot())
}

// wantWords fails the test unless the run left exactly want.
func wantWords(t *testing.T, what string, b ubootsandbox.Board, r ubootsandbox.Result, want []uint32) {
	t.Helper()
	for k := range want {
		if r.Words[k] != want[k] {
			t.Errorf("%s: word %d holds 0x%08x, want 0x%08x (burned: %s)\n%s", what, k, r.Words[k], want[k], r.Burned(b), r.Console)
			return
		}
	}
}

// The whole script burns exactly the plan, and exits 0; with 40 words,
// through a tree of run variables.
func TestSandboxWholeScriptBurnsThePlan(t *testing.T) {
	s := ubootsandbox.Require(t)
	for _, c := range append(sandboxCases(t), sandboxCase{name: "many-words", plan: manyPlan(t)}) {
		for _, f := range []Format{UBoot, UUU} {
			t.Run(c.name+"."+string(f), func(t *testing.T) {
				b := boardOf(c.plan)
				r := mustRun(t, s, f, b, c, false)
				wantWords(t, "whole script", b, r, c.plan.After())
			})
		}
	}
}

// A script cut anywhere before the end of its last line burns nothing: a
// hush script and a uuu list run as they are read, and a prefix of one
// that burned would burn what nobody asked for (a value cut short).
// make test runs the prefixes ending in the last line and a seeded
// sample of the others; make test-uboot-cuts runs every one.
func TestSandboxCutScriptsBurnNothing(t *testing.T) {
	s := ubootsandbox.Require(t)
	start := time.Now()
	runs := 0
	for _, c := range sandboxCases(t) {
		for _, f := range []Format{UBoot, UUU} {
			script := render(t, f, c.plan, opts)
			arm := armed(t, f, script)
			every := *cutsAll || *cutsEvery == c.name || *cutsEvery == c.name+"."+string(f)
			cuts := sandboxCutPoints(script, arm, every)
			runs += len(cuts)
			t.Run(c.name+"."+string(f), func(t *testing.T) {
				b := boardOf(c.plan)
				failures := runCuts(s, f, b, script, arm, c, cuts)
				for i, msg := range failures {
					if i == 5 {
						t.Errorf("and %d more cuts burned", len(failures)-5)
						break
					}
					t.Error(msg)
				}
				if len(failures) > 0 {
					t.Logf("re-run: go test ./export -run '^TestSandboxCutScriptsBurnNothing$' -args -cuts.seed=%d (or -cuts.all)", *cutsSeed)
				}
			})
		}
	}
	t.Logf("%d prefixes run in %v (every byte: %v %q, seed %d)", runs, time.Since(start).Round(time.Millisecond), *cutsAll, *cutsEvery, *cutsSeed)
}

// armed is where the line that runs the burns ends in script: "run
// otpprov_go", the last line of a U-Boot script (with no newline after
// it) and the last FB: ucmd line of a uuu list, before the FB: done that
// uuu needs to end.
func armed(t *testing.T, f Format, script []byte) int {
	t.Helper()
	run, after := "\nrun "+goVar, ""
	if f == UUU {
		run, after = "\nFB: ucmd run "+goVar, "\nFB: done\n"
	}
	if !bytes.HasSuffix(script, []byte(run+after)) {
		t.Fatalf("the %s script does not end with %q", f, run+after)
	}
	return len(script) - len(after)
}

// sandboxCutPoints are the prefix lengths to run: all of [0, len) when
// every, else every cut from the start of the line that runs the
// burns and a seeded sample of those before. The whole script is run
// by TestSandboxWholeScriptBurnsThePlan.
func sandboxCutPoints(script []byte, arm int, every bool) []int {
	n := len(script)
	if every {
		cuts := make([]int, n)
		for i := range cuts {
			cuts[i] = i
		}
		return cuts
	}
	line := bytes.LastIndexByte(script[:arm], '\n') + 1
	set := map[int]bool{}
	for i := line; i < n; i++ {
		set[i] = true
	}
	rng := rand.New(rand.NewPCG(*cutsSeed, uint64(n)))
	for i := 0; i < *cutsSample; i++ {
		set[rng.IntN(line)] = true
	}
	var cuts []int
	for i := range set {
		cuts = append(cuts, i)
	}
	sort.Ints(cuts)
	return cuts
}

// runCuts runs each prefix of script, two at a time per core, and
// returns what went wrong. A prefix that ends before arm burns nothing;
// one that holds the whole line that runs the burns burns the plan,
// unless uuu refuses the list (a cut inside FB: done).
func runCuts(s *ubootsandbox.Sandbox, f Format, b ubootsandbox.Board, script []byte, arm int, c sandboxCase, cuts []int) []string {
	var (
		mu       sync.Mutex
		failures []string
		wg       sync.WaitGroup
		next     = make(chan int)
	)
	fail := func(format string, args ...any) {
		mu.Lock()
		failures = append(failures, fmt.Sprintf(format, args...))
		mu.Unlock()
	}
	after := c.plan.After()
	for w := 0; w < 2*runtime.GOMAXPROCS(0); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range next {
				prefix := script[:n]
				r, err := runFast(s, f, b, prefix, c)
				if err != nil {
					fail("cut at byte %d: %v", n, err)
					continue
				}
				want, what := b.Words, "nothing"
				if n >= arm {
					want, what = after, "the plan"
					if _, err := ubootsandbox.ParseUUU(prefix, c.env...); f == UUU && err != nil {
						want, what = b.Words, "nothing: "+err.Error()
					}
				}
				for k := range want {
					if r.Words[k] != want[k] {
						fail("cut at byte %d of %d (%s): burned %s, want %s\n--- the prefix ends:\n%s\n--- console:\n%s", n, len(script),
							lastLineOf(prefix), r.Burned(b), what, lastLines(string(prefix), 3), lastLines(r.Console, 8))
						break
					}
				}
			}
		}()
	}
	for _, n := range cuts {
		next <- n
	}
	close(next)
	wg.Wait()
	sort.Strings(failures)
	return failures
}

func lastLineOf(b []byte) string {
	i := bytes.LastIndexByte(b, '\n')
	return fmt.Sprintf("%q", b[i+1:])
}

func lastLines(s string, lines int) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(l) > lines {
		l = l[len(l)-lines:]
	}
	return strings.Join(l, "\n")
}

// A board whose words differ from the plan's before-values burns
// nothing, and the script fails.
func TestSandboxChangedBoardBurnsNothing(t *testing.T) {
	s := ubootsandbox.Require(t)
	for _, c := range sandboxCases(t) {
		for _, f := range []Format{UBoot, UUU} {
			t.Run(c.name+"."+string(f), func(t *testing.T) {
				b := boardOf(c.plan)
				o := originals(c.plan)
				b.Words[o[len(o)-1].Index] |= 0x80000000 // the last word checked
				r := mustRun(t, s, f, b, c, true)
				wantWords(t, "changed board", b, r, b.Words)
			})
		}
	}
}

// Fuses programmed earlier in the same U-Boot session leave the shadow
// registers stale: the script then checks nothing and burns nothing.
func TestSandboxSessionAlreadyBurnedBurnsNothing(t *testing.T) {
	s := ubootsandbox.Require(t)
	c := sandboxCases(t)[1]
	c.session = "setenv otpprov_burned yes"
	b := boardOf(c.plan)
	for _, f := range []Format{UBoot, UUU} {
		r := mustRun(t, s, f, b, c, true)
		if f == UBoot && !strings.Contains(r.Console, "reset, then run this script again") {
			t.Errorf("uboot: no reset, then run this script again\n%s", r.Console)
		}
		wantWords(t, string(f), b, r, b.Words)
	}
}

// A burn the controller refuses (a write-locked word) stops the script:
// the burns before it are done, none after, and the script fails.
func TestSandboxRefusedBurnStops(t *testing.T) {
	s := ubootsandbox.Require(t)
	c := sandboxCases(t)[2]
	writes := c.plan.Writes()
	refused := writes[3]
	want := append([]uint32(nil), c.plan.State...)
	for _, w := range writes[:3] {
		want[w.Index] |= w.Delta
	}
	for _, f := range []Format{UBoot, UUU} {
		t.Run(string(f), func(t *testing.T) {
			b := boardOf(c.plan)
			b.Locked = append(b.Locked, refused.WriteIndex)
			r := mustRun(t, s, f, b, c, true)
			if !strings.Contains(r.Console, "Access protect error") {
				t.Errorf("no error from the controller\n%s", r.Console)
			}
			if f == UBoot && !strings.Contains(r.Console, "otpprov: stopped after a burn") {
				t.Errorf("no stop message\n%s", r.Console)
			}
			wantWords(t, "refused burn", b, r, want)
		})
	}
}

// Pasted at the prompt of a U-Boot whose console keeps 254 characters a
// line (CONFIG_SYS_CBSIZE 256), the whole script burns exactly the plan;
// an empty line (which repeats a repeatable command at the prompt) burns
// nothing more. The comment lines are left out of the paste: hush ignores
// them, and the sandbox's serial input waits 0.1 ms a character.
func TestSandboxPastedScriptBurnsThePlan(t *testing.T) {
	s := ubootsandbox.Require(t)
	for _, c := range sandboxCases(t) {
		t.Run(c.name, func(t *testing.T) {
			b := boardOf(c.plan)
			var text []byte
			if c.setup != "" {
				text = append(text, c.setup+"\n"...)
			}
			for _, line := range strings.SplitAfter(string(render(t, UBoot, c.plan, opts)), "\n") {
				if !strings.HasPrefix(line, "#") {
					text = append(text, line...)
				}
			}
			text = append(text, "\n\n"...)
			r, err := s.Paste(b, text)
			if err != nil {
				t.Fatal(err)
			}
			wantWords(t, "pasted", b, r, c.plan.After())
		})
	}
}

// A script's text run by -c does what its mkimage image does when
// sourced: the same exit status, fuses and console after the image's
// "## Executing script" line, for the whole script and a sample of its
// prefixes.
func TestSandboxScriptTextMatchesSource(t *testing.T) {
	s := ubootsandbox.Require(t)
	for _, c := range sandboxCases(t) {
		t.Run(c.name, func(t *testing.T) {
			b := boardOf(c.plan)
			script := render(t, UBoot, c.plan, opts)
			rng := rand.New(rand.NewPCG(*cutsSeed, 2))
			cuts := []int{len(script), len(script) - 1}
			for i := 0; i < 6; i++ {
				cuts = append(cuts, 1+rng.IntN(len(script)-1))
			}
			for _, n := range cuts {
				src, err := s.Script(b, script[:n], c.uboot())
				if err != nil {
					t.Fatal(err)
				}
				txt, err := s.ScriptText(b, script[:n], c.uboot())
				if err != nil {
					t.Fatal(err)
				}
				_, srcOut, ok1 := strings.Cut(src.Console, "## Executing script at 00100000\n")
				_, txtOut, ok2 := strings.Cut(txt.Console, "Net:   No ethernet found.\n")
				if !ok1 || !ok2 || src.Exit != txt.Exit || srcOut != txtOut || src.Burned(b) != txt.Burned(b) {
					t.Errorf("cut at %d: source exit %d, burned %q; text exit %d, burned %q\n--- source:\n%s\n--- text:\n%s",
						n, src.Exit, src.Burned(b), txt.Exit, txt.Burned(b), src.Console, txt.Console)
				}
			}
		})
	}
}

// Every variable takes an entry of U-Boot's environment table, which is
// sized when the environment is imported and may fill up: with the table
// full but for 0, 1, 2... entries, and the variables of an earlier script
// still there, a script burns the whole plan or nothing, never part of
// it (otpprov_go is deleted first and defined last, so it is missing
// whenever a step could not be defined).
func TestSandboxFullEnvironmentBurnsAllOrNothing(t *testing.T) {
	s := ubootsandbox.Require(t)
	c := sandboxCases(t)[2]
	var fill, free strings.Builder
	for i := 1; i <= 300; i++ {
		fmt.Fprintf(&fill, " %d", i)
	}
	for _, f := range []Format{UBoot, UUU} {
		t.Run(string(f), func(t *testing.T) {
			b := boardOf(c.plan)
			script := render(t, f, c.plan, opts)
			free.Reset()
			nothing, plan := 0, 0
			for j := 0; j <= 40; j++ {
				if j > 0 {
					fmt.Fprintf(&free, "; setenv fill%d", j)
				}
				// Left by an earlier script in this session, then the table filled.
				stale := "setenv otpprov_go true; setenv otpprov_run true; setenv otpprov_stopped true; "
				setup := stale + "for i in" + fill.String() + "; do setenv fill$i x; done" + free.String()
				c.session = setup
				r, err := runFast(s, f, b, script, c)
				if err != nil {
					t.Fatal(err)
				}
				switch burned := r.Burned(b); {
				case burned == "":
					nothing++
				case equalWords(r.Words, c.plan.After()):
					plan++
				default:
					t.Errorf("%d entries free: burned part of the plan:\n%s\n%s", j, burned, lastLines(r.Console, 10))
				}
			}
			if nothing == 0 || plan == 0 {
				t.Errorf("burned nothing %d times, the plan %d times: the table never ran out, or never sufficed", nothing, plan)
			}
		})
	}
}

func equalWords(a, b []uint32) bool {
	for k := range b {
		if a[k] != b[k] {
			return false
		}
	}
	return len(a) == len(b)
}

// otherPart is the board of plan p with another part in it: the same
// fuses but for the first word of its UNIQUE_ID, read from the map.
func otherPart(t *testing.T, p *planner.Plan) ubootsandbox.Board {
	t.Helper()
	b := boardOf(p)
	f := p.Map.Identity()
	if f == nil {
		t.Fatalf("the %s map has no identity field", p.SoC.Name)
	}
	b.Words[p.SoC.ReadIndex(f.Parts[0].Bank, f.Parts[0].Word)] ^= 0x00010001
	return b
}

// A script made for one part, run on another (another UNIQUE_ID, every
// other fuse the same, so every word it burns still holds its planned
// value), burns nothing: the fuse file is left as it was, byte for byte.
func TestSandboxOtherPartBurnsNothing(t *testing.T) {
	s := ubootsandbox.Require(t)
	for _, c := range sandboxCases(t) {
		for _, f := range []Format{UBoot, UUU} {
			t.Run(c.name+"."+string(f), func(t *testing.T) {
				b := otherPart(t, c.plan)
				r := mustRun(t, s, f, b, c, true)
				wantWords(t, "other part", b, r, b.Words)
			})
		}
	}
}

// A script planned against an assumed blank board is bound to no part:
// it says so, checks no identity, and burns a blank part whatever its
// UNIQUE_ID; on a part whose target words are not blank it burns nothing.
func TestSandboxAssumeBlankIsBoundToNoPart(t *testing.T) {
	s := ubootsandbox.Require(t)
	c := sandboxCases(t)[2] // planned on a blank board
	o := Options{ToolVersion: "v1.2.3", AssumeBlank: true}
	for _, f := range []Format{UBoot, UUU} {
		t.Run(string(f), func(t *testing.T) {
			script := render(t, f, c.plan, o)
			if !bytes.Contains(script, []byte("planned for: NO PART")) {
				t.Errorf("the header does not say the script is bound to no part:\n%s", script)
			}
			b := otherPart(t, c.plan)
			r, err := runIn(s, f, b, script, c)
			if err != nil {
				t.Fatal(err)
			}
			want := append([]uint32(nil), c.plan.After()...)
			want[c.plan.SoC.ReadIndex(0, 1)] = b.Words[c.plan.SoC.ReadIndex(0, 1)]
			wantWords(t, "blank part, any UNIQUE_ID", b, r, want)
			used := boardOf(c.plan)
			used.Words[originals(c.plan)[0].Index] |= 0x40000000
			r, err = runIn(s, f, used, script, c)
			if err != nil {
				t.Fatal(err)
			}
			if r.Exit == 0 {
				t.Errorf("exit 0 on a part whose words are not blank\n%s", r.Console)
			}
			wantWords(t, "a target word not blank", used, r, used.Words)
		})
	}
}

// console checks a run's exit status and console: every string of has
// must be there, none of lacks.
func console(t *testing.T, what string, r ubootsandbox.Result, exit int, has, lacks []string) {
	t.Helper()
	if r.Exit != exit {
		t.Errorf("%s: exit %d, want %d\n%s", what, r.Exit, exit, r.Console)
	}
	for _, s := range has {
		if !strings.Contains(r.Console, s) {
			t.Errorf("%s: the console lacks %q\n%s", what, s, r.Console)
		}
	}
	for _, s := range lacks {
		if strings.Contains(r.Console, s) {
			t.Errorf("%s: the console says %q\n%s", what, s, r.Console)
		}
	}
}

// The U-Boot script says one true thing in each path: what failed, then
// either that this run burned nothing or that it stopped after a burn;
// never success after a burn it could not check (a stuck bit), and run
// again after a reset it verifies the burns without asking again for
// the security confirmation.
func TestSandboxUBootMessages(t *testing.T) {
	s := ubootsandbox.Require(t)
	c := sandboxCases(t)[1] // secure-boot: a confirmation, a lock, the close
	script := render(t, UBoot, c.plan, opts)
	after := c.plan.After()
	const (
		nothing    = "otpprov: this run burned nothing"
		partial    = "otpprov: stopped after a burn: the board may be partially programmed"
		programmed = "burns programmed, NOT verified yet"
		verified   = "otpprov: verified: the 10 words hold their planned values"
		confirm    = "otpprov: error: this script burns security fuses: confirm them first: setenv otpprov_confirm_security SRK_LOCK,SEC_CONFIG_CLOSE"
	)
	run := func(b ubootsandbox.Board, text []byte, setup string) ubootsandbox.Result {
		t.Helper()
		r, err := s.ScriptText(b, text, setup)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	blank := boardOf(c.plan)

	r := run(blank, script, "")
	console(t, "no confirmation", r, 1, []string{confirm, nothing}, []string{partial, programmed, "verified:"})
	wantWords(t, "no confirmation", blank, r, blank.Words)

	r = run(blank, script, c.setup)
	console(t, "the burns", r, 0, []string{programmed}, []string{"error", nothing, partial, "otpprov: verified", "done"})
	wantWords(t, "the burns", blank, r, after)

	// Again in the same session, without a reset.
	r = run(blank, append(append(append([]byte(nil), script...), '\n'), script...), c.setup)
	console(t, "again, same session", r, 1, []string{programmed, "otpprov: error: fuses were programmed in this session", nothing},
		[]string{partial, "otpprov: verified", confirm})
	wantWords(t, "again, same session", blank, r, after)

	// After a reset: the burned board, no confirmation set.
	burned := boardOf(c.plan)
	burned.Words = after
	r = run(burned, script, "")
	console(t, "after a reset", r, 0, []string{verified}, []string{"error", confirm, programmed})
	wantWords(t, "after a reset", burned, r, after)

	// A stuck bit in the SRK hash: the burn run cannot tell, and must not
	// claim success; after a reset the script names the word and burns
	// nothing more.
	stuck := boardOf(c.plan)
	k := c.plan.Writes()[0].Index
	stuck.Stuck = map[int]uint32{k: c.plan.Writes()[0].Delta & -c.plan.Writes()[0].Delta}
	r = run(stuck, script, c.setup)
	console(t, "stuck bit", r, 0, []string{programmed}, []string{"otpprov: verified", "done"})
	reset := boardOf(c.plan)
	reset.Words = r.Words
	if reset.Words[k] == after[k] {
		t.Fatalf("the stuck bit burned: word %d holds 0x%08x", k, reset.Words[k])
	}
	r = run(reset, script, c.setup)
	console(t, "stuck bit, after a reset", r, 1, []string{"otpprov: error: the words differ from the state the plan was made from", nothing},
		[]string{"otpprov: verified", programmed, partial})
	wantWords(t, "stuck bit, after a reset", reset, r, reset.Words)

	// The lock word write-locked: the SRK hash burns, then the script
	// stops before the close.
	locked := boardOf(c.plan)
	lock := c.plan.Writes()[len(c.plan.Writes())-2]
	locked.Locked = append(locked.Locked, lock.WriteIndex)
	r = run(locked, script, c.setup)
	console(t, "write-locked", r, 1, []string{"otpprov: error: a burn failed", partial}, []string{nothing, programmed, "otpprov: verified"})
	want := append([]uint32(nil), blank.Words...)
	for _, w := range c.plan.Writes()[:len(c.plan.Writes())-2] {
		want[w.Index] |= w.Delta
	}
	wantWords(t, "write-locked", locked, r, want)
}

// A uuu list that burns security fuses takes the confirmation from the
// host's environment through uuu's own @ and IF, no host shell: unset,
// uuu refuses the whole list; another list of names, or one uuu's IF
// would misread, stops it before any burn; the exact list burns the plan.
func TestSandboxUUUConfirmation(t *testing.T) {
	s := ubootsandbox.Require(t)
	c := sandboxCases(t)[1]
	list := render(t, UUU, c.plan, opts)
	if bytes.Contains(list, []byte("\nFB: sh")) || bytes.Contains(list, []byte("\nFB: shell")) {
		t.Errorf("the list runs a host shell:\n%s", list)
	}
	b := boardOf(c.plan)
	for _, tc := range []struct {
		env  []string
		exit int
		want []uint32
	}{
		{nil, 1, b.Words},
		{[]string{"OTPPROV_CONFIRM_SECURITY=SEC_CONFIG_CLOSE,SRK_LOCK"}, 1, b.Words},
		{[]string{"OTPPROV_CONFIRM_SECURITY=SRK_LOCK"}, 1, b.Words},
		{[]string{"OTPPROV_CONFIRM_SECURITY=SRK_LOCK==SEC_CONFIG_CLOSE"}, 1, b.Words},
		{[]string{"OTPPROV_CONFIRM_SECURITY="}, 1, b.Words},
		{c.env, 0, c.plan.After()},
	} {
		r, err := s.UUU(b, list, "", tc.env...)
		if err != nil {
			t.Fatal(err)
		}
		if r.Exit != tc.exit {
			t.Errorf("%q: exit %d, want %d\n%s", tc.env, r.Exit, tc.exit, r.Console)
		}
		wantWords(t, fmt.Sprintf("%q", tc.env), b, r, tc.want)
	}
}
