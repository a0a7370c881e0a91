// Command procbench times otpprov as whole processes against the Digi
// document's shell commands on the same emulated device, in the same run:
//
//	dump   otpprov dump               vs  od -A x -t x4 -v DEV
//	read   otpprov read 9 1           vs  sh -c 'dd ... skip=37 | od -v -t x4'
//	plan   otpprov plan MANIFEST      vs  od -A x -t x4 -v DEV (target: <= 2x)
//	apply  otpprov apply, 8 words     vs  bash -c: od, then printf|dd and
//	                                      dd|od per word (target: >= 10x faster)
//
// Each run is one fork+exec+wait, wall clock, stdout and stderr to pipes
// for both sides; the sides are interleaved run by run, so that a change
// in the machine's load hits both. It builds nothing: `make bench-process`
// builds bin/otpprov and bin/ocotp-emu first. The device is an ocotp-emu
// FUSE mount (root and /dev/fuse), else a raw image file, and the output
// says which.
//
// Exit status: 0, also when a target is missed; 1 when the measurement
// itself failed (a command failed, outputs differ, the device does not
// hold what was burned); 2 with -check when a target is missed or apply's
// I/O is not the expected pattern.
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/otpprov/otpprov/internal/shquote"
	"github.com/otpprov/otpprov/nvmem"
)

func main() { os.Exit(run()) }

// config is the command line.
type config struct {
	otpprov, emu   string
	floor          string
	dump, manifest string
	runs           int
	device         string // auto, fuse or image
	applyOD        bool
	strace         string
	check          bool
}

// procTimeout bounds one process run: a hung device must not hang the
// benchmark.
const procTimeout = 2 * time.Minute

// uniqueID is the blank boards' UNIQUE_ID: fixed, so that every fresh
// board is the same board.
const uniqueID = "0x1122334455667788"

func run() int {
	var c config
	flag.StringVar(&c.otpprov, "otpprov", "bin/otpprov", "the otpprov binary to time")
	flag.StringVar(&c.emu, "emu", "bin/ocotp-emu", "the ocotp-emu binary that serves the device")
	flag.StringVar(&c.floor, "floor", "", "a program doing only apply's device I/O (internal/procbench/floor), timed as the floor; \"\" to skip it")
	flag.StringVar(&c.dump, "dump", "examples/imx8mm/digi-cc8mm.dump", "dump of the board the read-only comparisons use")
	flag.StringVar(&c.manifest, "manifest", "examples/imx8mm/board.yaml", "manifest for otpprov plan")
	flag.IntVar(&c.runs, "n", 30, "timed runs per command")
	flag.StringVar(&c.device, "device", "auto", "auto (FUSE if possible, else an image file), fuse or image")
	flag.BoolVar(&c.applyOD, "apply-od", true, "the shell loop starts with one od of the device, as otpprov's plan reads it whole first")
	flag.StringVar(&c.strace, "strace", "strace", "strace for the I/O note; \"\" to skip it")
	flag.BoolVar(&c.check, "check", false, "exit 2 when a target is missed")
	flag.Parse()
	if flag.NArg() != 0 || c.runs < 1 || !slices.Contains([]string{"auto", "fuse", "image"}, c.device) {
		flag.Usage()
		return 1
	}
	b, err := newBench(c)
	if err != nil {
		fmt.Fprintf(os.Stderr, "procbench: error: %v\n", err)
		return 1
	}
	// A signal must not leave a mount behind.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		<-sigs
		b.cleanup()
		os.Exit(130)
	}()
	defer b.cleanup()

	missed, err := b.all()
	if err != nil {
		fmt.Printf("\nFAILED: %v\n", err)
		return 1
	}
	if missed && c.check {
		return 2
	}
	return 0
}

// bench is one benchmark run.
type bench struct {
	config
	tmp      string
	env      []string // the children's environment
	od, sh   string   // absolute paths
	bash     string
	kind     string // --device-kind for otpprov: nvmem on FUSE, image on a file
	fuse     bool
	why      string // why not FUSE, when not
	view     []byte // the Digi board as read through the device
	blankDir string // the blank sim every apply run starts from
	blank    []byte // its fuses
	digi     *emu   // the mount of the Digi board (FUSE)
	digiDev  string // the Digi board's device path
}

func newBench(c config) (*bench, error) {
	b := &bench{config: c}
	var err error
	for _, p := range []*string{&b.otpprov, &b.emu, &b.dump, &b.manifest} {
		if *p, err = filepath.Abs(*p); err != nil {
			return nil, err
		}
	}
	if _, err := os.Stat(b.otpprov); err != nil {
		return nil, fmt.Errorf("%v (run `make build` first)", err)
	}
	if b.floor != "" {
		if b.floor, err = filepath.Abs(b.floor); err != nil {
			return nil, err
		}
		if _, err := os.Stat(b.floor); err != nil {
			return nil, fmt.Errorf("%v (go build -o %s ./internal/procbench/floor)", err, b.floor)
		}
	}
	for name, p := range map[string]*string{"od": &b.od, "sh": &b.sh, "bash": &b.bash} {
		if *p, err = exec.LookPath(name); err != nil {
			return nil, err
		}
	}
	// The children never see a terminal (stdin is /dev/null, stdout a
	// pipe), never colour, and take no device or variables from our
	// environment.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "OTPPROV_") && !strings.HasPrefix(kv, "NO_COLOR=") {
			b.env = append(b.env, kv)
		}
	}
	b.env = append(b.env, "NO_COLOR=1")
	if b.tmp, err = os.MkdirTemp("", "procbench-"); err != nil {
		return nil, err
	}
	return b, nil
}

func (b *bench) cleanup() {
	killAll()
	if b.tmp != "" {
		os.RemoveAll(b.tmp)
	}
}

// all runs every comparison and prints the report; missed is true when a
// target is missed or apply's I/O is not as expected.
func (b *bench) all() (missed bool, err error) {
	if err := b.setup(); err != nil {
		return false, err
	}
	b.header()

	fmt.Println()
	fmt.Println("Read-only commands on the Digi board, one device for all runs:")
	ro, err := b.readOnly()
	if err != nil {
		return false, err
	}
	if b.digi != nil {
		if err := b.digi.stop(); err != nil {
			return false, err
		}
		b.digi = nil
	}

	fmt.Println()
	prep := "mounted, unmounted and checked outside the timing"
	if !b.fuse {
		prep = "an image file, made and checked outside the timing"
	}
	fmt.Printf("Apply of %d words, each run on a fresh blank device (%s):\n", len(applyWords), prep)
	ap, err := b.apply()
	if err != nil {
		return false, err
	}

	ioOK := true
	if b.strace != "" {
		fmt.Println()
		if ioOK, err = b.straceNote(); err != nil {
			return false, err
		}
	}

	// The targets, in the direction each is stated.
	planVsOD := ratio(median(ro["plan"].times), median(ro["od"].times))
	speedup := ratio(median(ap["shell"].times), median(ap["otpprov"].times))
	v1 := verdict(planVsOD, 2, true)
	v2 := verdict(speedup, 10, false)
	fmt.Println()
	fmt.Println("Targets:")
	fmt.Printf("  plan within 2x of one od of the device:       plan/od = %-8s %s\n", formatRatio(planVsOD), v1)
	fmt.Printf("  apply of 8 words >= 10x faster than the loop: loop/apply = %-6s %s\n", formatRatio(speedup), v2)
	if b.strace != "" {
		io := "as expected"
		if !ioOK {
			io = "DIFFERS (see above)"
		}
		fmt.Printf("  apply's I/O on the device (strace):           %s\n", io)
	}
	fmt.Printf("\nload average at the end: %s\n", loadAverage())
	return v1 != "PASS" || v2 != "PASS" || !ioOK, nil
}

// setup makes the Digi board and the blank board, and the device the
// read-only commands use: a FUSE mount of the Digi sim if it can, else an
// image file of what the sim reads.
func (b *bench) setup() error {
	digiDir := filepath.Join(b.tmp, "digi")
	if r := b.runOnce(b.otpprov, "sim", "init", "--soc", "imx8mm", "--from-dump", b.dump, digiDir); r.err != nil {
		return r.failure("otpprov sim init")
	}
	b.blankDir = filepath.Join(b.tmp, "blank")
	if r := b.runOnce(b.otpprov, "sim", "init", "--soc", "imx8mm", "--unique-id", uniqueID, b.blankDir); r.err != nil {
		return r.failure("otpprov sim init")
	}
	var err error
	if b.blank, err = os.ReadFile(filepath.Join(b.blankDir, "fuses.bin")); err != nil {
		return err
	}
	if b.view, err = readView(digiDir); err != nil {
		return err
	}

	b.fuse = b.device != "image"
	switch {
	case b.device == "image":
		b.why = "-device image"
	case os.Geteuid() != 0:
		b.fuse, b.why = false, "not root"
	default:
		if _, err := os.Stat("/dev/fuse"); err != nil {
			b.fuse, b.why = false, err.Error()
		}
	}
	if b.fuse {
		b.digi, err = startEmu(b.emu, digiDir, filepath.Join(b.tmp, "digi-mnt"))
		if err != nil {
			b.fuse, b.why = false, err.Error()
		}
	}
	if !b.fuse && b.device == "fuse" {
		return fmt.Errorf("FUSE is not available: %s", b.why)
	}
	if b.fuse {
		b.kind, b.digiDev = "nvmem", b.digi.path()
		return nil
	}
	b.kind, b.digiDev = "image", filepath.Join(b.tmp, "digi.img")
	return os.WriteFile(b.digiDev, b.view, 0o644)
}

// readView reads the sim in dir as the driver would show it: read
// protected words as 0xbadabada.
func readView(dir string) ([]byte, error) {
	s, err := nvmem.OpenSim(dir, nvmem.ReadOnly)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	buf := make([]byte, deviceBytes)
	if n, err := s.ReadAt(buf, 0); n != deviceBytes {
		return nil, fmt.Errorf("reading sim %s: %d bytes: %v", dir, n, err)
	}
	return buf, nil
}

func (b *bench) header() {
	fmt.Println("otpprov procbench: whole processes, wall clock per run (fork+exec+wait), stdout and stderr to pipes, stdin /dev/null")
	if b.fuse {
		fmt.Printf("device:   FUSE: ocotp-emu serves an imx8mm sim as %s (--device-kind nvmem)\n", b.digiDev)
	} else {
		fmt.Printf("device:   IMAGE FILE, NOT FUSE (%s): %s (--device-kind image). These are image-file numbers.\n", b.why, b.digiDev)
	}
	fmt.Printf("runs:     %d timed runs per command after 1 untimed warm-up; the order of the commands rotates every run\n", b.runs)
	osr, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	fmt.Printf("machine:  %d CPUs, Linux %s, load average %s at the start\n", runtime.NumCPU(), strings.TrimSpace(string(osr)), loadAverage())
	v := b.runOnce(b.otpprov, "version")
	fmt.Printf("otpprov:  %s (%s)\n", b.otpprov, strings.TrimSpace(string(v.stdout)))
	odv := b.runOnce(b.od, "--version")
	line, _, _ := strings.Cut(string(odv.stdout), "\n")
	sh, _ := filepath.EvalSymlinks(b.sh)
	fmt.Printf("shell:    %s (%s) for the read, %s for the apply loop (the document's printf '\\xNN' needs bash or busybox; dash's printf has no \\x); %s\n", b.sh, sh, b.bash, line)
}

func loadAverage() string {
	la, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(la))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// result is one process run.
type result struct {
	argv           []string
	d              time.Duration
	stdout, stderr []byte
	err            error
}

func (r result) failure(what string) error {
	return fmt.Errorf("%s: %v\n  command: %s\n  stderr: %s", what, r.err, strings.Join(r.argv, " "), strings.TrimSpace(string(r.stderr)))
}

// time runs argv once and times it from before the fork to after the
// wait, with stdout and stderr read through pipes.
func (b *bench) time(argv []string) result {
	r := result{argv: argv}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = b.env
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	cmd.WaitDelay = 5 * time.Second // a killed shell's children may hold the pipes
	start := time.Now()
	if r.err = cmd.Start(); r.err == nil {
		t := time.AfterFunc(procTimeout, func() { cmd.Process.Kill() })
		r.err = cmd.Wait()
		r.d = time.Since(start)
		t.Stop()
	}
	r.stdout, r.stderr = out.Bytes(), errOut.Bytes()
	return r
}

func (b *bench) runOnce(argv ...string) result { return b.time(argv) }

// side is one command of a comparison and its timings.
type side struct {
	key, label string
	argv       []string
	check      func(r result) error // every run's output is checked
	times      []time.Duration
}

// interleave runs every side once untimed, then runs times rounds, each
// running every side once, starting one later each round. prepare and
// finish, if set, run around each run, outside its time.
func (b *bench) interleave(sides []*side, prepare func(s *side) ([]string, error), finish func(s *side, r result) error) error {
	one := func(s *side, timed bool) error {
		argv := s.argv
		if prepare != nil {
			var err error
			if argv, err = prepare(s); err != nil {
				return err
			}
		}
		r := b.time(argv)
		if finish != nil {
			if err := finish(s, r); err != nil {
				return err
			}
		}
		if r.err != nil {
			return r.failure(s.label)
		}
		if err := s.check(r); err != nil {
			return fmt.Errorf("%s: %v\n  command: %s", s.label, err, strings.Join(argv, " "))
		}
		if timed {
			s.times = append(s.times, r.d)
		}
		return nil
	}
	for _, s := range sides {
		if err := one(s, false); err != nil {
			return err
		}
	}
	for i := range b.runs {
		for j := range sides {
			if err := one(sides[(i+j)%len(sides)], true); err != nil {
				return err
			}
		}
	}
	return nil
}

// readOnly compares dump, read and plan, and times otpprov's start-up,
// all on one device, and prints their rows.
func (b *bench) readOnly() (map[string]*side, error) {
	dev, kind := b.digiDev, b.kind
	off := readWord.offset()
	want := b.view[4*off : 4*off+4]
	wantWord := uint32(want[0]) | uint32(want[1])<<8 | uint32(want[2])<<16 | uint32(want[3])<<24
	var odRef []byte
	exit0 := func(r result) error { return nil }
	sides := []*side{
		{key: "od", label: "od -A x -t x4 -v DEV", argv: odDevice(b.od, dev), check: func(r result) error {
			if odRef == nil {
				odRef = r.stdout
			}
			if !bytes.Equal(r.stdout, odRef) {
				return errors.New("od printed something else than on its first run")
			}
			return nil
		}},
		{key: "dump", label: "otpprov dump", argv: []string{b.otpprov, "dump", "--device", dev, "--device-kind", kind}, check: func(r result) error {
			if !bytes.Equal(r.stdout, odRef) {
				return fmt.Errorf("OUTPUT DIFFERS from od -A x -t x4 -v:\n--- otpprov dump\n%s--- od\n%s", r.stdout, odRef)
			}
			return nil
		}},
		{key: "sh-read", label: fmt.Sprintf("sh -c 'dd ... skip=%d | od -v -t x4'", off), argv: []string{b.sh, "-c", readScript(dev, off)}, check: func(r result) error {
			if got := odWords(string(r.stdout)); !slices.Equal(got, []string{fmt.Sprintf("%08x", wantWord)}) {
				return fmt.Errorf("read %q, want %08x", r.stdout, wantWord)
			}
			return nil
		}},
		{key: "read", label: fmt.Sprintf("otpprov read %d %d", readWord.Bank, readWord.Word), argv: []string{b.otpprov, "read", "--device", dev, "--device-kind", kind, "--soc", "imx8mm", fmt.Sprint(readWord.Bank), fmt.Sprint(readWord.Word)}, check: func(r result) error {
			if string(r.stdout) != fmt.Sprintf("0x%08x\n", wantWord) {
				return fmt.Errorf("read %q, want 0x%08x", r.stdout, wantWord)
			}
			return nil
		}},
		{key: "plan", label: "otpprov plan " + filepath.Base(b.manifest), argv: []string{b.otpprov, "plan", "--device", dev, "--device-kind", kind, "--soc", "imx8mm", b.manifest}, check: func(r result) error {
			if !bytes.Contains(r.stdout, []byte("\nPlan: ")) {
				return fmt.Errorf("no plan summary in its output:\n%s", r.stdout)
			}
			return nil
		}},
		{key: "version", label: "otpprov version", argv: []string{b.otpprov, "version"}, check: exit0},
		{key: "validate", label: "otpprov validate " + filepath.Base(b.manifest), argv: []string{b.otpprov, "validate", b.manifest}, check: exit0},
	}
	if err := b.interleave(sides, nil, nil); err != nil {
		return nil, err
	}
	by := map[string]*side{}
	for _, s := range sides {
		by[s.key] = s
	}
	fmt.Printf("  DEV = %s\n", dev)
	printHead()
	printRow(by["od"], nil, "")
	printRow(by["dump"], by["od"], "od")
	printRow(by["sh-read"], nil, "")
	printRow(by["read"], by["sh-read"], "sh dd|od")
	printRow(by["plan"], by["od"], "od")
	fmt.Println("  where the time goes (same runs): start-up alone, then with the manifest loaded and checked")
	printRow(by["version"], by["od"], "od")
	printRow(by["validate"], by["od"], "od")
	fmt.Printf("  checks: otpprov dump byte-identical to od on all %d runs (the warm-up included); both reads gave 0x%08x on every run\n", b.runs+1, wantWord)
	return by, nil
}

func printHead() {
	fmt.Printf("  %-44s %10s   %-21s %s\n", "command", "median", "q1 .. q3", "ratio")
}

// printRow prints one side's median and spread, and its ratio to base.
func printRow(s, base *side, baseName string) {
	q := fmt.Sprintf("%.2f .. %.2f ms", ms(quantile(s.times, 0.25)), ms(quantile(s.times, 0.75)))
	r := "baseline"
	if base != nil {
		r = formatRatio(ratio(median(s.times), median(base.times))) + " " + baseName
	}
	fmt.Printf("  %-44s %10s   %-21s %s\n", s.label, formatMs(median(s.times)), q, r)
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// freshBlank makes a fresh copy of the blank board for one run and
// returns its device path, and finish, which stops its emulator and
// returns what the board then holds and the emulator's counts ("" on an
// image). name must be unique in the run.
func (b *bench) freshBlank(name string) (dev string, finish func() ([]byte, string, error), err error) {
	dir := filepath.Join(b.tmp, "apply", name)
	if !b.fuse {
		img := dir + ".img"
		if err := os.MkdirAll(filepath.Dir(img), 0o755); err != nil {
			return "", nil, err
		}
		if err := os.WriteFile(img, b.blank, 0o644); err != nil {
			return "", nil, err
		}
		return img, func() ([]byte, string, error) {
			got, err := os.ReadFile(img)
			os.Remove(img)
			return got, "", err
		}, nil
	}
	sim := filepath.Join(dir, "sim")
	if err := os.MkdirAll(sim, 0o755); err != nil {
		return "", nil, err
	}
	for _, f := range []string{"sim.yaml", "fuses.bin", "counters.json"} {
		data, err := os.ReadFile(filepath.Join(b.blankDir, f))
		if err != nil {
			return "", nil, err
		}
		if err := os.WriteFile(filepath.Join(sim, f), data, 0o644); err != nil {
			return "", nil, err
		}
	}
	e, err := startEmu(b.emu, sim, filepath.Join(dir, "mnt"))
	if err != nil {
		return "", nil, err
	}
	return e.path(), func() ([]byte, string, error) {
		if err := e.stop(); err != nil {
			return nil, "", err
		}
		got, err := os.ReadFile(filepath.Join(sim, "fuses.bin"))
		if err != nil {
			return nil, "", err
		}
		c, err := nvmem.ReadSimCounters(sim)
		if err != nil {
			return nil, "", err
		}
		os.RemoveAll(dir)
		return got, fmt.Sprintf("reads %d, writes %d", c.Reads, c.Writes), nil
	}, nil
}

// apply compares otpprov apply of the 8 words with the document's shell
// loop, each run on a fresh blank board, and prints their rows.
func (b *bench) apply() (map[string]*side, error) {
	manifestPath := filepath.Join(b.tmp, "8-words.yaml")
	if err := os.WriteFile(manifestPath, []byte(manifestText(applyWords)), 0o644); err != nil {
		return nil, err
	}
	want := burned(b.blank, applyWords)
	var wantOut []string
	for _, w := range applyWords {
		wantOut = append(wantOut, fmt.Sprintf("%08x", w.Value))
	}
	loop := "bash -c: " + fmt.Sprintf("%d x (printf|dd, dd|od)", len(applyWords))
	if b.applyOD {
		loop = "bash -c: od, " + fmt.Sprintf("%d x (printf|dd, dd|od)", len(applyWords))
	}
	sides := []*side{
		{key: "otpprov", label: fmt.Sprintf("otpprov apply --auto-approve (%d words)", len(applyWords)), check: func(r result) error { return nil }},
		{key: "shell", label: loop, check: func(r result) error {
			if got := odWords(string(r.stdout)); !slices.Equal(got, wantOut) {
				return fmt.Errorf("the loop's read-backs are %q, want %q", got, wantOut)
			}
			return nil
		}},
	}
	if b.floor != "" {
		sides = append(sides, &side{key: "floor", label: fmt.Sprintf("floor: only apply's I/O (%d words)", len(applyWords)), check: func(r result) error { return nil }})
	}
	counts := map[string]map[string]int{"otpprov": {}, "shell": {}, "floor": {}}
	var finish func() ([]byte, string, error)
	runs := 0
	var script, lastDev string
	prepare := func(s *side) ([]string, error) {
		runs++
		dev, f, err := b.freshBlank(fmt.Sprintf("%03d-%s", runs, s.key))
		if err != nil {
			return nil, err
		}
		finish = f
		if s.key == "otpprov" {
			return []string{b.otpprov, "apply", "--auto-approve", "--device", dev, "--device-kind", b.kind, "--soc", "imx8mm", manifestPath}, nil
		}
		if s.key == "floor" {
			argv := []string{b.floor, dev}
			for _, w := range applyWords {
				argv = append(argv, fmt.Sprintf("%d=%08x", w.offset(), w.Value))
			}
			return argv, nil
		}
		script, lastDev = applyScript(dev, applyWords, b.applyOD), dev
		return []string{b.bash, "-c", script}, nil
	}
	check := func(s *side, r result) error {
		got, c, err := finish()
		if err != nil {
			return err
		}
		if r.err == nil && !bytes.Equal(got, want) {
			return fmt.Errorf("%s: the device does not hold exactly the %d words afterwards", s.label, len(applyWords))
		}
		if c != "" {
			counts[s.key][c]++
		}
		return nil
	}
	if err := b.interleave(sides, prepare, check); err != nil {
		return nil, err
	}
	printHead()
	printRow(sides[1], nil, "")
	printRow(sides[0], sides[1], "the loop")
	if len(sides) > 2 {
		printRow(sides[2], sides[1], "the loop")
	}
	speedup := ratio(median(sides[1].times), median(sides[0].times))
	fmt.Printf("  apply is %s faster than the loop (loop median / apply median)\n", formatRatio(speedup))
	if len(sides) > 2 {
		fmt.Printf("  the floor is %s faster than the loop: the most a Go program can gain on this device, before it reads a manifest\n",
			formatRatio(ratio(median(sides[1].times), median(sides[2].times))))
	}
	fmt.Printf("  checks: after every run (both sides, the warm-up included) the device held exactly the %d words; the loop read each back\n", len(applyWords))
	if b.fuse {
		// The expectation: two full reads of 2 calls each (the data, then
		// EOF), and a write and a read-back per word.
		wantCounts := fmt.Sprintf("reads %d, writes %d", 2*2+len(applyWords), len(applyWords))
		for _, k := range []string{"otpprov", "shell"} {
			note := ""
			if k == "otpprov" {
				note = "  (expected: " + wantCounts + ")"
				if len(counts[k]) != 1 || counts[k][wantCounts] == 0 {
					note = "  DIFFERS from the expected " + wantCounts
				}
			}
			fmt.Printf("  emulator's counts per run, %-8s %s%s\n", k+":", formatRuns(counts[k]), note)
		}
	}
	fmt.Println("  the loop's script, for one board (DEV = that board's device file):")
	for _, l := range strings.Split(strings.TrimSpace(script), "\n") {
		fmt.Printf("    %s\n", strings.ReplaceAll(l, shquote.Quoted(lastDev), "DEV"))
	}
	out := map[string]*side{"otpprov": sides[0], "shell": sides[1]}
	if len(sides) > 2 {
		out["floor"] = sides[2]
	}
	return out, nil
}

// formatRuns prints how many runs gave each count, most frequent first.
func formatRuns(m map[string]int) string {
	keys := make([]string, 0, len(m))
	total := 0
	for k, n := range m {
		keys = append(keys, k)
		total += n
	}
	slices.SortFunc(keys, func(a, b string) int { return m[b] - m[a] })
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s in %d of %d runs", k, m[k], total)
	}
	return strings.Join(parts, "; ")
}

// straceNote runs one apply of the 8 words under strace on a fresh blank
// board and prints what it did with the device, against the expectation
// and against the emulator's own counts. ok is false when they differ.
func (b *bench) straceNote() (ok bool, err error) {
	st, err := exec.LookPath(b.strace)
	if err != nil {
		fmt.Printf("strace note: skipped, %v\n", err)
		return true, nil
	}
	manifestPath := filepath.Join(b.tmp, "8-words.yaml")
	dev, finish, err := b.freshBlank("strace")
	if err != nil {
		return false, err
	}
	log := filepath.Join(b.tmp, "strace.log")
	r := b.time([]string{st, "-f", "-qq", "-s", "0", "-e", "trace=%desc", "-o", log,
		b.otpprov, "apply", "--auto-approve", "--device", dev, "--device-kind", b.kind, "--soc", "imx8mm", manifestPath})
	got, counts, ferr := finish()
	if r.err != nil {
		return false, r.failure("otpprov apply under strace")
	}
	if ferr != nil {
		return false, ferr
	}
	if !bytes.Equal(got, burned(b.blank, applyWords)) {
		return false, errors.New("otpprov apply under strace: the device does not hold exactly the words afterwards")
	}
	text, err := os.ReadFile(log)
	if err != nil {
		return false, err
	}
	calls := parseStrace(string(text))
	io := deviceCalls(calls, dev)
	var offsets []int64
	for _, w := range applyWords {
		offsets = append(offsets, int64(4*w.offset()))
	}
	seen, diffs := checkApplyIO(io.Ops, deviceBytes, offsets, !b.fuse)

	fmt.Printf("strace note: one otpprov apply of the %d words under strace -f -e trace=%%desc (every call taking a descriptor)\n", len(applyWords))
	fmt.Printf("  calls on the device's descriptor: %s\n", formatCounts(io.Counts))
	fmt.Printf("  reads %d, writes %d: %s\n", io.reads(), io.writes(), seen)
	if len(diffs) == 0 {
		per := "one 4-byte pwrite and one 4-byte pread"
		if !b.fuse {
			per = "one 4-byte pread (the image's OR), one 4-byte pwrite and one 4-byte pread"
		}
		fmt.Printf("  as expected: one full read, then per word %s, then one final full read; nothing else\n", per)
	} else {
		fmt.Println("  DIFFERS from the expectation:")
		for _, d := range diffs {
			fmt.Printf("    %s\n", d)
		}
	}
	if counts != "" {
		agree := "agree with strace"
		if counts != fmt.Sprintf("reads %d, writes %d", io.reads(), io.writes()) {
			agree = "DIFFER from strace's"
			diffs = append(diffs, "counts")
		}
		fmt.Printf("  the emulator counted %s that reached it through FUSE: %s\n", counts, agree)
	}
	// A hint of where time goes: how otpprov writes its report.
	n, bytesOut := 0, 0
	for _, c := range calls {
		if c.Name == "write" && len(c.Args) >= 3 && c.Args[0] == "1" {
			n++
			var k int
			fmt.Sscan(c.Ret, &k)
			bytesOut += k
		}
	}
	fmt.Printf("  (stdout: %d write calls for %d bytes of report)\n", n, bytesOut)
	return len(diffs) == 0, nil
}
