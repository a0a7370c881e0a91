package main

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/txtar"

	"github.com/otpprov/otpprov/fusemap"
	"github.com/otpprov/otpprov/internal/escfile"
	"github.com/otpprov/otpprov/internal/termtext"
	"github.com/otpprov/otpprov/nvmem"
)

// The hostile-input corpus: testdata/hostile holds one case per file, each
// a txtar archive whose comment says what the input attacks, which command
// takes it, and what the error must say. Every case is run in-process
// against an emulated board, and for every one the same contract holds:
// exit code exactly 1, the expected messages, every line of stderr in
// otpprov's voice, no panic, no hang, bounded memory and output, and the
// board untouched: no write call, fuses.bin byte-identical, and (unless
// the case says otherwise) not even a read, since bad input is refused
// before the device is opened.
//
// A case's name starts with the input channel it attacks: manifest-,
// extends- (a base of a chain), valuefrom-, var- (--var), varfile-
// (--var-file), env- (OTPPROV_VAR_), overlay- (--fusemap), plan- (a saved
// plan, or --state), journal- (--journal, which must keep its records),
// output- (standard output that fails: a full disk, a reader gone), out-
// (an --out FILE that cannot be written whole), release- (a station's
// policy of signed releases: --release and --allowed-signers).
//
// The comment's first line says what the case attacks. Then, one per line:
//
//	run ARGS...          the command line (required, once); $SIM is sim:DIR
//	                     of the emulated board, $DIR the case's directory,
//	                     ${file:NAME} the content of file NAME, and an
//	                     argument in double quotes is a Go string ("5\n")
//	want TEXT            stderr contains TEXT (at least one)
//	nowant TEXT          stderr does not contain TEXT (a secret, a flood)
//	env NAME=VALUE       an environment variable for the run; a VALUE in
//	                     double quotes is a Go string
//	reads any            the case may read the device (a saved plan checks
//	                     the board before refusing)
//	board SOC            the board is a blank SOC (with UNIQUE_ID
//	                     0x0123456789abcdef where the map has one), not the
//	                     Digi document's i.MX8MM
//	stdout full N        standard output takes N bytes, then every write
//	                     fails with ENOSPC (buffered as the process's is);
//	                     stdout then holds at most those N bytes
//	stdout gone          standard output's reader went away: every write
//	                     fails with EPIPE
//	keeps NAME           NAME holds the same bytes after the run as before
//	absent NAME          NAME does not exist after the run
//	gen KIND ARGS...     make an input that cannot or must not be committed:
//	  fifo NAME              a named pipe with no writer
//	  symlink NAME TARGET    a symbolic link (loops, /dev/zero, escapes)
//	  mkdir NAME             a directory
//	  rename NAME NEW        rename a file or directory (to a name no
//	                         archive can hold: "o\x1b[2Jther")
//	  grow NAME BYTES        append blank lines to NAME until it holds more
//	                         than BYTES: valid in YAML, JSON and dumps alike,
//	                         so only the size is wrong
//	  append NAME N TEXT     append TEXT (a Go string) N times
//	  expand NAME            replace $DIR in NAME with the case's directory
//	  plan NAME MANIFEST [DEVICE]
//	                         save a real plan of MANIFEST for the board (or
//	                         for DEVICE, e.g. a sim made with gen sim)
//	  sim DIR SOC            another emulated board, a blank SOC, in DIR
//	  edit NAME OLD NEW      replace OLD with NEW (Go strings) in NAME, once
//	  cut NAME TEXT          end NAME right after the first TEXT (a copy
//	                         interrupted)
//	  seal NAME              recompute a plan file's checksum, as a forger
//	                         would
//	  key NAME               an ed25519 key pair, NAME and NAME.pub
//	                         (ssh-keygen; the case is skipped without it,
//	                         outside CI)
//	  allowed FILE PRINCIPAL KEY
//	                         an allowed signers file: KEY.pub may sign
//	                         releases for PRINCIPAL
//	  release OUT ARGS...    otpprov release make --out OUT ARGS...
//	  sign KEY NAMESPACE FILE
//	                         ssh-keygen -Y sign: FILE.sig
//
// A file whose name ends in .esc is written without the suffix, each line
// read as the inside of a Go string: \x00, \r, \ufeff, \xff stand for the
// bytes a reviewer could not see in the file itself.
func TestHostileInputs(t *testing.T) {
	files, err := filepath.Glob("testdata/hostile/*.txtar")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no cases in testdata/hostile")
	}
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	image := digiImage(t)
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".txtar")
		t.Run(name, func(t *testing.T) {
			c := readHostileCase(t, file)
			runHostileCase(t, c, image, wd)
		})
	}
}

type hostileCase struct {
	file     string
	attacks  string
	args     []string
	wants    []string
	nowants  []string
	env      map[string]string
	gens     [][]string
	anyReads bool
	board    string // the board's SoC; "" for the Digi i.MX8MM
	stdout   *brokenStdout
	keeps    []string
	absent   []string
	archive  *txtar.Archive
}

func readHostileCase(t *testing.T, file string) *hostileCase {
	a, err := txtar.ParseFile(file)
	if err != nil {
		t.Fatal(err)
	}
	c := &hostileCase{file: file, archive: a, env: map[string]string{}}
	for n, line := range strings.Split(string(a.Comment), "\n") {
		line = strings.TrimSpace(line)
		if n == 0 {
			if !strings.HasPrefix(line, "# ") {
				t.Fatalf("%s: the first line must say, as a # comment, what the case attacks", file)
			}
			c.attacks = strings.TrimPrefix(line, "# ")
			continue
		}
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		verb, rest, _ := strings.Cut(line, " ")
		switch verb {
		case "run":
			if c.args != nil {
				t.Fatalf("%s: more than one run line", file)
			}
			c.args = splitArgs(t, rest)
		case "want":
			c.wants = append(c.wants, rest)
		case "nowant":
			c.nowants = append(c.nowants, rest)
		case "env":
			k, v, ok := strings.Cut(rest, "=")
			if !ok {
				t.Fatalf("%s: env NAME=VALUE", file)
			}
			if strings.HasPrefix(v, `"`) {
				u, err := strconv.Unquote(v)
				if err != nil {
					t.Fatalf("%s: env %s: %v", file, k, err)
				}
				v = u
			}
			c.env[k] = v
		case "reads":
			c.anyReads = rest == "any"
		case "board":
			c.board = rest
		case "stdout":
			c.stdout = parseBrokenStdout(t, file, rest)
		case "keeps":
			c.keeps = append(c.keeps, rest)
		case "absent":
			c.absent = append(c.absent, rest)
		case "gen":
			c.gens = append(c.gens, splitArgs(t, rest))
		default:
			t.Fatalf("%s: unknown directive %q", file, line)
		}
	}
	if c.args == nil || len(c.wants) == 0 {
		t.Fatalf("%s: a case needs a run line and at least one want", file)
	}
	return c
}

// splitArgs splits on spaces; an argument in double quotes is a Go string.
func splitArgs(t *testing.T, s string) []string {
	var out []string
	for s = strings.TrimSpace(s); s != ""; s = strings.TrimSpace(s) {
		if s[0] == '"' {
			q, err := strconv.QuotedPrefix(s)
			if err != nil {
				t.Fatalf("bad quoted argument in %q: %v", s, err)
			}
			u, _ := strconv.Unquote(q)
			out = append(out, u)
			s = s[len(q):]
			continue
		}
		f, rest, _ := strings.Cut(s, " ")
		out = append(out, f)
		s = rest
	}
	return out
}

// digiImage is the Digi document's board: burned words, a UNIQUE_ID, a
// MAC, so that a stray write would change something visible.
func digiImage(t testing.TB) *nvmem.Image {
	soc, err := fusemap.Load("imx8mm")
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open("../../examples/imx8mm/digi-cc8mm.dump")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := nvmem.ParseDump(f, "digi-cc8mm.dump", soc.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// blankBoard is a blank part of soc with a UNIQUE_ID, so that a saved
// plan is bound to it as to a real part.
func blankBoard(t *testing.T, soc string) *nvmem.Image {
	m, err := fusemap.Load(soc)
	if err != nil {
		t.Fatal(err)
	}
	var img *nvmem.Image
	if m.Identity() != nil {
		if err := setUniqueID(m, &img, "0x0123456789abcdef"); err != nil {
			t.Fatal(err)
		}
	}
	return img
}

// hostileLimits: what a refusal may cost. Refusing a 1 MiB input may
// allocate a few hundred MiB in passing (a position for every node) but
// takes well under a second and prints a screenful, not a flood.
// hostileBudget catches work that grows faster than the input (quadratic
// conflict checks): it is CPU time the test process spent on the run, not
// time on the clock, so that other processes loading the machine do not
// count (a loaded line's CI took 6-9 s of clock for the alias flood's
// 1-2 s of work). hostileTimeout is only the safety net for a hang, so
// that one shows as a failure rather than a stuck test binary: no case
// may rely on it firing.
const (
	hostileBudget    = 5 * time.Second
	hostileTimeout   = 60 * time.Second
	hostileMaxAlloc  = 256 << 20
	hostileMaxStderr = 16 << 10
)

func runHostileCase(t *testing.T, c *hostileCase, img *nvmem.Image, wd string) {
	dir := t.TempDir()
	simDir := filepath.Join(t.TempDir(), "board")
	if c.board != "" {
		img = blankBoard(t, c.board)
	}
	soc, err := fusemap.Load(cmp.Or(c.board, "imx8mm"))
	if err != nil {
		t.Fatal(err)
	}
	if err := nvmem.InitSim(simDir, soc.SoC, img); err != nil {
		t.Fatal(err)
	}
	s := &session{t: t, dir: dir, sim: simDir, environ: c.env}
	for _, f := range c.archive.Files {
		name, data := f.Name, f.Data
		if n, ok := strings.CutSuffix(name, ".esc"); ok {
			name, data = n, unescape(t, data)
		}
		writeCaseFile(t, filepath.Join(dir, name), data)
	}
	chdir(t, dir, wd)
	for _, g := range c.gens {
		generate(t, s, dir, g)
	}
	args := make([]string, len(c.args))
	for i, a := range c.args {
		a = strings.ReplaceAll(a, "$SIM", "sim:"+simDir)
		a = strings.ReplaceAll(a, "$DIR", dir)
		args[i] = expandFiles(t, a)
	}
	before, err := os.ReadFile(filepath.Join(simDir, "fuses.bin"))
	if err != nil {
		t.Fatal(err)
	}
	start, err := nvmem.ReadSimCounters(simDir)
	if err != nil {
		t.Fatal(err)
	}
	kept := map[string][]byte{}
	for _, name := range c.keeps {
		kept[name] = readCaseFile(t, name)
	}

	s.brokenStdout = c.stdout // the gen runs above had a working one
	code, panicked, alloc, elapsed, work := runGuarded(t, s, args)
	t.Logf("%s: exit %d in %v (%v of CPU), %d KiB allocated", c.attacks, code, elapsed.Round(time.Millisecond), work.Round(time.Millisecond), alloc>>10)
	if panicked != "" {
		t.Fatalf("panic on hostile input (%s):\n%s", c.attacks, panicked)
	}
	stderr := s.stderr.String()
	t.Logf("stderr:\n%s", clip(stderr))
	if code != exitError {
		t.Errorf("exit %d, want exactly %d; stderr:\n%s", code, exitError, clip(stderr))
	}
	for _, w := range c.wants {
		if !strings.Contains(stderr, w) {
			t.Errorf("stderr lacks %q:\n%s", w, clip(stderr))
		}
	}
	for _, w := range c.nowants {
		if strings.Contains(stderr, w) {
			t.Errorf("stderr holds %q, which it must not:\n%s", w, clip(stderr))
		}
	}
	if !strings.Contains(stderr, "otpprov: error: ") {
		t.Errorf("no error line on stderr:\n%s", clip(stderr))
	}
	// Nothing that acts on a terminal reaches it, whatever the input held:
	// an escape sequence, a carriage return, a bidi override.
	if r, ok := termtext.First(strings.ReplaceAll(stderr, "\n", "")); ok {
		t.Errorf("stderr holds control character %s: %q", termtext.Name(r), clip(stderr))
	}
	for _, line := range strings.Split(strings.TrimSuffix(stderr, "\n"), "\n") {
		if !strings.HasPrefix(line, "otpprov: ") {
			t.Errorf("stderr line not in otpprov's voice (a multi-line error pasted into one?): %q", line)
			break
		}
	}
	if len(stderr) > hostileMaxStderr {
		t.Errorf("stderr is %d bytes: a flood, not a message", len(stderr))
	}
	if room := c.stdout.room(); s.stdout.Len() > room {
		t.Errorf("stdout holds %d bytes, want at most %d:\n%s", s.stdout.Len(), room, clip(s.stdout.String()))
	}
	for name, b := range kept {
		if !bytes.Equal(readCaseFile(t, name), b) {
			t.Errorf("%s changed", name)
		}
	}
	for _, name := range c.absent {
		if _, err := os.Lstat(name); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s exists: %v", name, err)
		}
	}
	if work > hostileBudget {
		t.Errorf("took %v of CPU (%v on the clock) to refuse the input: work that grows faster than the input?", work.Round(time.Millisecond), elapsed.Round(time.Millisecond))
	}
	if alloc > hostileMaxAlloc {
		t.Errorf("allocated %d MiB to refuse the input", alloc>>20)
	}

	end, err := nvmem.ReadSimCounters(simDir)
	if err != nil {
		t.Fatal(err)
	}
	if end.Writes != start.Writes {
		t.Errorf("%d write calls reached the board", end.Writes-start.Writes)
	}
	if !c.anyReads && end.Reads != start.Reads {
		t.Errorf("the board was read %d times: bad input must be refused before the device is opened", end.Reads-start.Reads)
	}
	after, err := os.ReadFile(filepath.Join(simDir, "fuses.bin"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) {
		t.Error("fuses.bin changed")
	}
}

// runGuarded runs otpprov in-process, turning a panic into a report and a
// hang into a failure (the blocked goroutine is left behind: it cannot be
// killed, and the test binary ends soon anyway).
// brokenStdout is a case's failing standard output.
type brokenStdout struct {
	limit int   // bytes it takes
	err   error // then
	w     io.Writer
	took  int
}

func parseBrokenStdout(t *testing.T, file, rest string) *brokenStdout {
	if rest == "gone" {
		return &brokenStdout{err: syscall.EPIPE}
	}
	if n, ok := strings.CutPrefix(rest, "full "); ok {
		if k, err := strconv.Atoi(n); err == nil && k >= 0 {
			return &brokenStdout{limit: k, err: syscall.ENOSPC}
		}
	}
	t.Fatalf("%s: stdout full N, or stdout gone", file)
	return nil
}

// room is what the case's stdout may hold: nothing, unless it is full.
func (b *brokenStdout) room() int {
	if b == nil {
		return 0
	}
	return b.limit
}

func (b *brokenStdout) Write(p []byte) (int, error) {
	if b.took+len(p) <= b.limit {
		b.took += len(p)
		return b.w.Write(p)
	}
	n, _ := b.w.Write(p[:b.limit-b.took])
	b.took = b.limit
	return n, &os.PathError{Op: "write", Path: "/dev/stdout", Err: b.err}
}

func runGuarded(t *testing.T, s *session, args []string) (code int, panicked string, alloc uint64, elapsed, work time.Duration) {
	type result struct {
		code     int
		panicked string
	}
	done := make(chan result, 1)
	runtime.GC()
	var m0 runtime.MemStats
	runtime.ReadMemStats(&m0)
	cpu0 := processCPU(t)
	start := time.Now()
	go func() {
		defer func() {
			if r := recover(); r != nil {
				done <- result{panicked: fmt.Sprintf("%v\n%s", r, debug.Stack())}
			}
		}()
		done <- result{code: s.run(context.Background(), nil, args...)}
	}()
	select {
	case r := <-done:
		elapsed = time.Since(start)
		var m1 runtime.MemStats
		runtime.ReadMemStats(&m1)
		return r.code, r.panicked, m1.TotalAlloc - m0.TotalAlloc, elapsed, processCPU(t) - cpu0
	case <-time.After(hostileTimeout):
		t.Fatalf("otpprov %s: still running after %v: a hang on hostile input", strings.Join(args, " "), hostileTimeout)
	}
	return
}

// processCPU is the CPU time (user and system) the test process has spent:
// the hostile cases run one at a time, so what one run adds is its own
// work (its garbage collection included), whatever else loads the machine.
func processCPU(t *testing.T) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func chdir(t *testing.T, dir, back string) {
	if err := os.Chdir(dir); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := os.Chdir(back); err != nil {
			panic(err) // every later test would run in the wrong directory
		}
	})
}

func writeCaseFile(t *testing.T, path string, data []byte) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// unescape reads an .esc file of the corpus.
func unescape(t *testing.T, data []byte) []byte {
	b, err := escfile.Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var fileRef = regexp.MustCompile(`\$\{file:([^}]+)\}`)

func expandFiles(t *testing.T, arg string) string {
	return fileRef.ReplaceAllStringFunc(arg, func(m string) string {
		b, err := os.ReadFile(fileRef.FindStringSubmatch(m)[1])
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	})
}

func generate(t *testing.T, s *session, dir string, g []string) {
	need := func(n int) {
		if len(g) != n+1 {
			t.Fatalf("gen %s takes %d arguments: %q", g[0], n, g)
		}
	}
	switch g[0] {
	case "fifo":
		need(1)
		if err := syscall.Mkfifo(g[1], 0o644); err != nil {
			t.Fatal(err)
		}
	case "symlink":
		need(2)
		if err := os.Symlink(g[2], g[1]); err != nil {
			t.Fatal(err)
		}
	case "rename":
		need(2)
		if err := os.Rename(g[1], g[2]); err != nil {
			t.Fatal(err)
		}
	case "mkdir":
		need(1)
		if err := os.MkdirAll(g[1], 0o755); err != nil {
			t.Fatal(err)
		}
	case "grow":
		need(2)
		size, err := strconv.Atoi(g[2])
		if err != nil {
			t.Fatal(err)
		}
		b := readCaseFile(t, g[1])
		line := strings.Repeat(" ", 1023) + "\n"
		for len(b) <= size {
			b = append(b, line...)
		}
		writeCaseFile(t, g[1], b)
	case "append":
		need(3)
		n, err := strconv.Atoi(g[2])
		if err != nil {
			t.Fatal(err)
		}
		b := append(readCaseFile(t, g[1]), strings.Repeat(g[3], n)...)
		writeCaseFile(t, g[1], b)
	case "expand":
		need(1)
		writeCaseFile(t, g[1], bytes.ReplaceAll(readCaseFile(t, g[1]), []byte("$DIR"), []byte(dir)))
	case "sim":
		need(2)
		if code := s.run(context.Background(), nil, "sim", "init", "--soc", g[2], "--unique-id", "0x0123456789abcdef", g[1]); code != exitOK {
			t.Fatalf("gen sim: exit %d: %s", code, &s.stderr)
		}
		s.stdout.Reset()
		s.stderr.Reset()
	case "plan":
		device := "sim:" + s.sim
		if len(g) == 4 {
			device = g[3]
		} else {
			need(2)
		}
		if code := s.run(context.Background(), nil, "plan", "--device", device, "--out", g[1], g[2]); code != exitOK {
			t.Fatalf("gen plan: exit %d: %s", code, &s.stderr)
		}
		s.stdout.Reset()
		s.stderr.Reset()
	case "edit":
		need(3)
		b := readCaseFile(t, g[1])
		if !bytes.Contains(b, []byte(g[2])) {
			t.Fatalf("gen edit: %s does not contain %q", g[1], g[2])
		}
		writeCaseFile(t, g[1], bytes.Replace(b, []byte(g[2]), []byte(g[3]), 1))
	case "cut":
		need(2)
		b := readCaseFile(t, g[1])
		i := bytes.Index(b, []byte(g[2]))
		if i < 0 {
			t.Fatalf("gen cut: %s does not contain %q", g[1], g[2])
		}
		writeCaseFile(t, g[1], b[:i+len(g[2])])
	case "seal":
		need(1)
		writeCaseFile(t, g[1], seal(t, readCaseFile(t, g[1])))
	case "key":
		need(1)
		sshKeygen(t, "-q", "-t", "ed25519", "-N", "", "-C", g[1], "-f", g[1])
	case "allowed":
		need(3)
		line := g[2] + ` namespaces="otpprov-release" ` + string(readCaseFile(t, g[3]+".pub"))
		writeCaseFile(t, g[1], []byte(line))
	case "release":
		if len(g) < 3 {
			t.Fatalf("gen release OUT ARGS...: %q", g)
		}
		if code := s.run(context.Background(), nil, append([]string{"release", "make", "--out", g[1]}, g[2:]...)...); code != exitOK {
			t.Fatalf("gen release: exit %d: %s", code, &s.stderr)
		}
		s.stdout.Reset()
		s.stderr.Reset()
	case "sign":
		need(3)
		sshKeygen(t, "-Y", "sign", "-n", g[2], "-f", g[1], g[3])
	default:
		t.Fatalf("unknown gen %q", g[0])
	}
}

// sshKeygen runs OpenSSH's ssh-keygen, the tool release engineers sign
// with. Outside CI a machine without it skips the case; CI installs it.
func sshKeygen(t *testing.T, args ...string) {
	if _, err := exec.LookPath("ssh-keygen"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("ssh-keygen is missing in CI")
		}
		t.Skip("ssh-keygen is missing (Debian openssh-client)")
	}
	if out, err := exec.Command("ssh-keygen", args...).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen %q: %v\n%s", args, err, out)
	}
}

func readCaseFile(t *testing.T, name string) []byte {
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var checksumField = regexp.MustCompile(`"checksum": "sha256:[0-9a-f]*"`)

// seal recomputes a plan file's checksum the way planner.Encode does: the
// SHA-256 of the compact encoding with the checksum empty. Compacting the
// indented file gives exactly that encoding as long as the edit kept the
// keys in their order; a plan whose checksum this gets wrong is refused
// for its checksum, which the case's want would show.
func seal(t *testing.T, b []byte) []byte {
	if len(checksumField.FindAll(b, -1)) != 1 {
		t.Fatal("seal: the plan must hold exactly one checksum")
	}
	empty := checksumField.ReplaceAll(b, []byte(`"checksum": ""`))
	var compact bytes.Buffer
	if err := json.Compact(&compact, bytes.TrimSpace(empty)); err != nil {
		t.Fatalf("seal: %v", err)
	}
	sum := sha256.Sum256(compact.Bytes())
	return checksumField.ReplaceAll(b, []byte(`"checksum": "sha256:`+hex.EncodeToString(sum[:])+`"`))
}

func clip(s string) string {
	if len(s) > 4000 {
		return s[:4000] + fmt.Sprintf("\n... (%d bytes more)", len(s)-4000)
	}
	return s
}
