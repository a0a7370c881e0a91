package export

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/otpprov/otpprov/fusemap"
	"github.com/otpprov/otpprov/manifest"
	"github.com/otpprov/otpprov/nvmem"
	"github.com/otpprov/otpprov/planner"
)

// A sh script cut short (a full disk while it was written, a transfer
// interrupted) must burn nothing: every exported script is cut, and each
// prefix is run by dash and by busybox sh against an image of the board it
// was made for, with every security field confirmed, so that a prefix able
// to burn would. The image must stay byte-identical, and every prefix
// longer than the shebang line must exit non-zero; once the guard line is
// whole, with status 1 and the script's own message. The whole script, run
// the same way, does exactly what the plan says.
//
// CUTS=all (make test-cuts, which CI runs) cuts every script at every
// byte: about 122,000 processes, minutes on a 2-core machine where one
// costs 2-8 ms. Without it (make test) four of the scripts (the Digi
// board's, the secure-boot one, the i.MX6 one and the one with nothing to
// burn) are cut where a prefix can be a whole program (after every
// newline, and at every byte of the last line), at every byte of the
// opening of otpprov_main, and at every 101st byte; the first two lines,
// the same in every script, are cut at every byte once.
func TestShellCutAtEveryByte(t *testing.T) {
	shells := cutShells(t)
	// CUTS=all (make test-cuts-all): every byte of every script. CUTS=one
	// (make test-cuts, in CI): every byte of the i.MX6 multi-word script,
	// which has every construct (two burns of one word, a security field
	// to confirm, write and read offsets that differ), and make test's
	// sample of the others.
	level := os.Getenv("CUTS")
	scripts := cutScripts(t)
	guard := lines(scripts[0].script, 2)
	for i, sc := range scripts {
		if !bytes.Equal(lines(sc.script, 2), guard) {
			t.Fatalf("%s: the first two lines differ from %s's", sc.name, scripts[0].name)
		}
		every := level == "all" || (level == "one" && sc.name == everyByteInCI)
		if !every && !sc.sampled {
			continue // make test-cuts-all
		}
		t.Run(sc.name, func(t *testing.T) {
			cuts := cutPoints(sc.script, every, i == 0)
			for _, sh := range shells {
				dir := t.TempDir()
				if err := runCut(sh, sc, len(sc.script), dir); err != nil {
					t.Fatalf("%s, the whole script: %v", sh.name, err)
				}
				var failed []string
				var mu sync.Mutex
				forEach(t, cuts, func(n int, dir string) {
					if err := runCut(sh, sc, n, dir); err != nil {
						mu.Lock()
						failed = append(failed, fmt.Sprintf("cut after byte %d (%q): %v", n, tail(sc.script[:n]), err))
						mu.Unlock()
					}
				})
				if len(failed) > 0 {
					// Burns first: the worst a cut can do.
					sort.SliceStable(failed, func(i, j int) bool {
						return strings.Contains(failed[i], "image changed") && !strings.Contains(failed[j], "image changed")
					})
					n := len(failed)
					if n > 10 {
						failed = append(failed[:10], fmt.Sprintf("... and %d more", n-10))
					}
					t.Errorf("%s: %d of %d cuts:\n%s", sh.name, n, len(cuts), strings.Join(failed, "\n"))
				}
				t.Logf("%s: %d cuts of %d bytes", sh.name, len(cuts), len(sc.script))
			}
		})
	}
}

// lines is the first n lines of b, newlines included.
func lines(b []byte, n int) []byte {
	end := 0
	for ; n > 0; n-- {
		i := bytes.IndexByte(b[end:], '\n')
		if i < 0 {
			return b
		}
		end += i + 1
	}
	return b[:end]
}

// everyByteInCI is the script CI cuts at every byte (CUTS=one).
const everyByteInCI = "imx6q multi-word"

// cutScript is a script to cut, with the board it was made for.
type cutScript struct {
	name    string
	sampled bool // cut by make test too
	script  []byte
	plan    *planner.Plan
	image   []byte // the board when planned, as an image file
	confirm string // OTPPROV_CONFIRM_SECURITY for every field it burns
}

type cutShell struct {
	name string
	argv []string // the shell, before the script's path
	path string   // PATH for the script's tools
}

// cutShells are dash and busybox sh. CI installs both (dash is Debian's
// /bin/sh, .ci/run installs busybox-static) and fails without them;
// elsewhere the test says loudly that it did not run.
func cutShells(t *testing.T) []cutShell {
	var shells []cutShell
	var missing []string
	if dash, err := exec.LookPath("dash"); err == nil {
		shells = append(shells, cutShell{"dash", []string{dash}, os.Getenv("PATH")})
	} else {
		missing = append(missing, "dash")
	}
	if bb, err := exec.LookPath("busybox"); err == nil {
		// busybox alone, as on a board's minimal rootfs.
		bin := t.TempDir()
		for _, applet := range []string{"sh", "dd", "od", "tr", "cat", "wc", "printf"} {
			if err := os.Symlink(bb, filepath.Join(bin, applet)); err != nil {
				t.Fatal(err)
			}
		}
		shells = append(shells, cutShell{"busybox sh", []string{filepath.Join(bin, "sh")}, bin})
	} else {
		missing = append(missing, "busybox")
	}
	if len(missing) > 0 {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s missing: CI must run this test (.ci/run installs busybox-static; dash is Debian's /bin/sh)", strings.Join(missing, " and "))
		}
		t.Skipf("NOT RUN: %s not installed (apt-get install dash busybox-static)", strings.Join(missing, " and "))
	}
	return shells
}

// cutScripts: the plan of every example manifest, as a script, against
// the board it makes sense on (the Digi document's for board.yaml, a blank
// part for the others, which burn what the Digi board holds already), a
// multi-word i.MX6 plan whose bank 6 words are written and read at
// different offsets, and a plan with nothing to burn.
func cutScripts(t *testing.T) []cutScript {
	blank := func(m *fusemap.Map) []uint32 {
		state := make([]uint32, m.Words)
		if id := m.Identity(); id != nil {
			for _, p := range id.Parts {
				state[m.ReadIndex(p.Bank, p.Word)] = 0x50d00200 & p.Mask() // a part has one
			}
		}
		return state
	}
	digi := func(*fusemap.Map) []uint32 { return nvmem.Words(digiImage(t)) }
	examples, err := filepath.Abs(filepath.Join("..", "examples"))
	if err != nil {
		t.Fatal(err)
	}
	overlay, err := fusemap.LoadOverlay(filepath.Join(examples, "imx8mm", "acme-fusemap.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	unit := map[string]manifest.VarValue{
		"mac0":   {Text: "00:04:9f:01:02:03", From: "--var"},
		"serial": {Text: "1001", From: "--var"},
	}
	var out []cutScript
	for _, ex := range []struct {
		file    string
		state   func(*fusemap.Map) []uint32
		vars    []string
		maps    manifest.MapSource
		sampled bool
	}{
		{file: "imx8mm/board.yaml", state: digi, sampled: true},
		{file: "imx8mm/mac.yaml", state: blank},
		{file: "imx8mm/mac-board.yaml", state: blank, maps: func(soc string) (*fusemap.Map, error) {
			m, err := fusemap.Load(soc)
			if err != nil {
				return nil, err
			}
			return overlay.Apply(m)
		}},
		{file: "imx8mm/secure-boot.yaml", state: blank, sampled: true},
		{file: "family/base.yaml", state: blank, vars: []string{"mac0"}},
		{file: "family/gateway-std.yaml", state: blank, vars: []string{"mac0", "serial"}},
		{file: "family/gateway-secure.yaml", state: blank, vars: []string{"mac0", "serial"}},
	} {
		vars := map[string]manifest.VarValue{}
		for _, v := range ex.vars {
			vars[v] = unit[v]
		}
		m, err := manifest.LoadOpts(filepath.Join(examples, ex.file), manifest.Options{Maps: ex.maps, Vars: vars})
		if err != nil {
			t.Fatalf("%s: %v", ex.file, err)
		}
		p := makePlan(t, planner.Source{Name: m.Name, File: ex.file, Digest: m.Digest}, m.Map, ex.state(m.Map), m.Targets...)
		if len(p.Writes()) == 0 {
			t.Fatalf("%s burns nothing on its board: choose another board for it", ex.file)
		}
		out = append(out, newCutScript(t, ex.file, p, ex.sampled))
	}
	out = append(out, newCutScript(t, "imx6q multi-word", imx6MultiPlan(t), true))
	m := loadMap(t, "imx8mm")
	out = append(out, newCutScript(t, "nothing to burn", makePlan(t, gpSource, m, digi(m), target(m, 14, 0, 0, 0xf)), true))
	return out
}

func newCutScript(t *testing.T, name string, p *planner.Plan, sampled bool) cutScript {
	img := make([]byte, 4*len(p.State))
	for k, w := range p.State {
		binary.LittleEndian.PutUint32(img[4*k:], w)
	}
	return cutScript{name: name, sampled: sampled, script: render(t, Shell, p, opts), plan: p, image: img,
		confirm: strings.Join(securityNames(p), ",")}
}

// imx6MultiPlan burns a blank i.MX6Q: a data bit and SJC_DISABLE in one
// word (two burns, the security one later), a MAC word of bank 4, the
// GP1 lock, and two words of bank 6, each written 16 words before where
// it is read.
func imx6MultiPlan(t *testing.T) *planner.Plan {
	m := loadMap(t, "imx6q")
	targets := []manifest.Target{
		target(m, 0, 0, 1<<10, 1<<10, "GP1_LOCK"),
		target(m, 0, 6, 1<<8|1<<20, 1<<8|1<<20, "boot-option", "SJC_DISABLE"),
		target(m, 4, 2, 0x9f010203, 0xffffffff, "mac-low"),
		target(m, 6, 0, 0x0000a53c, 0x0000ffff, "board-id"),
		target(m, 6, 1, 0x12345678, 0xffffffff, "serial"),
	}
	for _, tg := range targets[3:] {
		if tg.Index-tg.WriteIndex != 16 {
			t.Fatalf("imx6q bank 6 word %d: read index %d, write index %d; want 16 apart", tg.Word, tg.Index, tg.WriteIndex)
		}
	}
	p := makePlan(t, planner.Source{Name: "imx6-board", File: "imx6.yaml"}, m, make([]uint32, m.Words), targets...)
	if len(p.Writes()) != 6 || len(p.Security()) != 2 {
		t.Fatalf("imx6 plan: %d writes, %d fields to acknowledge; want 6 and 2 (GP1_LOCK, SJC_DISABLE)", len(p.Writes()), len(p.Security()))
	}
	return p
}

// cutPoints are the lengths of the prefixes to run, past the first two
// lines unless guard: every one with all.
func cutPoints(script []byte, all, guard bool) []int {
	from := len(lines(script, 2))
	if guard {
		from = 0
	}
	last := bytes.LastIndexByte(script, '\n') + 1
	mainAt := bytes.Index(script, []byte("\notpprov_main() {\n")) + 1
	opening := len(lines(script[mainAt:], 2)) // the line and its check of the last line's word
	var cuts []int
	for n := from; n < len(script); n++ {
		if all || n < len(guard2(script)) || script[n-1] == '\n' || n >= last ||
			n >= mainAt && n < mainAt+opening || n%101 == 0 {
			cuts = append(cuts, n)
		}
	}
	return cuts
}

// guard2 is the shebang and the guard line.
func guard2(script []byte) []byte { return lines(script, 2) }

// forEach runs f for every n, two at a time per CPU (each runs a process),
// each worker in its own directory.
func forEach(t *testing.T, ns []int, f func(n int, dir string)) {
	work := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < 2*runtime.GOMAXPROCS(0); w++ {
		wg.Add(1)
		dir := t.TempDir()
		go func() {
			defer wg.Done()
			for n := range work {
				f(n, dir)
			}
		}()
	}
	for _, n := range ns {
		work <- n
	}
	close(work)
	wg.Wait()
}

// runCut runs the first n bytes of the script with the shell against a
// fresh image of the board, in dir, and says what was wrong, if anything.
func runCut(sh cutShell, sc cutScript, n int, dir string) error {
	img, script := filepath.Join(dir, "nvmem"), filepath.Join(dir, "burn.sh")
	if err := os.WriteFile(img, sc.image, 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(script, sc.script[:n], 0o644); err != nil {
		return err
	}
	cmd := exec.Command(sh.argv[0], append(sh.argv[1:], script)...)
	cmd.Env = []string{"PATH=" + sh.path, "NVMEM=" + img, "LC_ALL=C", "OTPPROV_CONFIRM_SECURITY=" + sc.confirm}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	status := 0
	if err := cmd.Run(); err != nil {
		var exit *exec.ExitError
		if !errors.As(err, &exit) {
			return err
		}
		status = exit.ExitCode()
	}
	after, err := os.ReadFile(img)
	if err != nil {
		return err
	}
	if n == len(sc.script) {
		return wholeRun(sc, status, after, stderr.String())
	}
	line1 := len(lines(sc.script, 1))
	line2 := len(guard2(sc.script)) - 1 // the guard, without its newline
	switch {
	case !bytes.Equal(after, sc.image):
		return fmt.Errorf("the image changed (exit %d): %s", status, changed(sc.image, after))
	case n > line1 && status == 0:
		return errors.New("exit 0")
	case n >= line2 && (status != 1 || !strings.Contains(stderr.String(), "otpprov: error: this script is incomplete")):
		return fmt.Errorf("exit %d, want 1 and the script's message; stderr:\n%s", status, stderr.String())
	}
	return nil
}

// wholeRun checks a whole script's run on a plain file. A plain file is
// not a fuse array: dd replaces a word with the delta where the controller
// ORs it in, and it has one layout, where an i.MX6 reads bank 6 and up 16
// words after where it writes them. So the script must do, burn by burn,
// what the plan says on such a file, and stop (exit 3) at the first
// read-back the file cannot give; where none, exit 0 with the plan's
// after state. The FUSE scenario script-burns.txtar runs such scripts
// whole on the emulator, which has the controller's rules.
func wholeRun(sc cutScript, status int, after []byte, stderr string) error {
	want := bytes.Clone(sc.image)
	wantStatus := 0
	for _, c := range sc.plan.Writes() {
		binary.LittleEndian.PutUint32(want[4*c.WriteIndex:], c.Delta)
		if got := binary.LittleEndian.Uint32(want[4*c.Index:]); got != c.After() {
			wantStatus = 3
			break
		}
	}
	if status != wantStatus {
		return fmt.Errorf("exit %d, want %d; stderr:\n%s", status, wantStatus, stderr)
	}
	if !bytes.Equal(after, want) {
		return errors.New("the board is not the plan's: " + changed(want, after))
	}
	return nil
}

// changed names the first word that differs.
func changed(want, got []byte) string {
	for k := 0; k+4 <= len(want) && k+4 <= len(got); k += 4 {
		if !bytes.Equal(want[k:k+4], got[k:k+4]) {
			return fmt.Sprintf("word %d is 0x%08x, want 0x%08x", k/4, binary.LittleEndian.Uint32(got[k:]), binary.LittleEndian.Uint32(want[k:]))
		}
	}
	return fmt.Sprintf("%d bytes, want %d", len(got), len(want))
}

// tail is the end of a prefix, to show where it was cut.
func tail(b []byte) string {
	if len(b) > 40 {
		b = b[len(b)-40:]
	}
	return string(b)
}
