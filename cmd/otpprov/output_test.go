package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/otpprov/otpprov/fusemap"
	"github.com/otpprov/otpprov/internal/output"
	"github.com/otpprov/otpprov/internal/smallfs"
	"github.com/otpprov/otpprov/nvmem"
)

// Standard output that fails (a full disk, a reader gone) must never end
// in exit 0 with the output lost: every command that writes to stdout is
// run with a stdout that takes k bytes and then fails, for many k, and
// as a real process with stdout on /dev/full. The exception is a burn:
// once apply or write burned, the exit code says what the device holds
// (0 or 3), and the lost output is said on stderr. Before the first burn
// a lost plan stops the apply: nothing burns.

// outCase is a command that writes to standard output.
type outCase struct {
	args  []string
	burns bool   // it burns, on a board made anew ($FRESH) for each run
	tool  string // a program the fixture needed ("": none)
}

const outputLost = "otpprov: error: writing standard output: no space left on device: the output is incomplete"

// outCases are every command that writes to standard output, and the
// variants that write something else (JSON, scripts, help). $SIM is a
// board where the manifest's word is burned, $BLANK one where it is not,
// $FRESH a blank board made for each run, $NEW a path that does not exist
// (made anew for each run), $DIR the fixtures' directory.
func outCases() map[string]outCase {
	return map[string]outCase{
		"plan":                 {args: []string{"plan", "--device", "$BLANK", "$DIR/m.yaml"}},
		"plan --json":          {args: []string{"plan", "--json", "--device", "$BLANK", "$DIR/m.yaml"}},
		"plan --format sh":     {args: []string{"plan", "--format", "sh", "--device", "$BLANK", "$DIR/m.yaml"}},
		"plan --format uboot":  {args: []string{"plan", "--format", "uboot", "--device", "$BLANK", "$DIR/m.yaml"}},
		"plan --format uuu":    {args: []string{"plan", "--format", "uuu", "--assume-blank", "$DIR/m.yaml"}},
		"plan --out":           {args: []string{"plan", "--device", "$BLANK", "--out", "$NEW", "$DIR/m.yaml"}},
		"apply":                {args: []string{"apply", "--auto-approve", "--device", "$FRESH", "$DIR/m.yaml"}, burns: true},
		"apply --json":         {args: []string{"apply", "--json", "--auto-approve", "--device", "$FRESH", "$DIR/m.yaml"}, burns: true},
		"apply nothing to do":  {args: []string{"apply", "--auto-approve", "--device", "$SIM", "$DIR/m.yaml"}},
		"verify":               {args: []string{"verify", "--device", "$SIM", "$DIR/m.yaml"}},
		"verify --json":        {args: []string{"verify", "--json", "--device", "$SIM", "$DIR/m.yaml"}},
		"verify not satisfied": {args: []string{"verify", "--device", "$BLANK", "$DIR/m.yaml"}},
		"validate":             {args: []string{"validate", "$DIR/m.yaml"}},
		"journal verify":       {args: []string{"journal", "verify", "$DIR/j.jsonl"}},
		"journal repair":       {args: []string{"journal", "repair", "$DIR/j.jsonl"}},
		"ledger init":          {args: []string{"ledger", "init", "--ledger", "sqlite:$DIR/ledger.db", "$DIR/pools.yaml"}},
		"ledger status":        {args: []string{"ledger", "status", "--ledger", "sqlite:$DIR/ledger.db"}},
		"ledger import":        {args: []string{"ledger", "import", "--ledger", "sqlite:$DIR/ledger.db", "$DIR/j.jsonl"}},
		"ledger show":          {args: []string{"ledger", "show", "--ledger", "sqlite:$DIR/ledger.db", "--json", "--unique-id", "0x1"}},
		"ledger find":          {args: []string{"ledger", "find", "--ledger", "sqlite:$DIR/ledger.db", "--json", "5"}},
		"ledger export":        {args: []string{"ledger", "export", "--ledger", "sqlite:$DIR/ledger.db"}},
		"ledger scrap":         {args: []string{"ledger", "scrap", "--ledger", "sqlite:$DIR/ledger.db", "--unique-id", "0x9", "--reason", "test"}},
		"ledger release":       {args: []string{"ledger", "release", "--ledger", "sqlite:$DIR/ledger.db", "--device", "$FRESH", "$DIR/pooled.yaml"}},
		"ledger reserve":       {args: []string{"ledger", "reserve", "--ledger", "sqlite:$DIR/ledger.db", "--pool", "b", "--count", "1", "--station", "st1", "--out", "$NEW"}},
		"ledger import-block":  {args: []string{"ledger", "import-block", "--ledger", "$NEWDB", "--station", "st1", "$DIR/b.block"}},
		"ledger return-block":  {args: []string{"ledger", "return-block", "--ledger", "sqlite:$DIR/station.db", "$DIR/b.block"}},
		"ledger return":        {args: []string{"ledger", "return", "--ledger", "sqlite:$DIR/ledger.db", "$DIR/b.return"}},
		"release make":         {args: []string{"release", "make", "--out", "$NEW", "$DIR/m.yaml"}},
		"release verify":       {args: []string{"release", "verify", "--allowed-signers", "$DIR/allowed", "$DIR/rel.yaml"}, tool: "ssh-keygen"},
		"show":                 {args: []string{"show", "--device", "$SIM"}},
		"show --json":          {args: []string{"show", "--json", "--device", "$SIM"}},
		"import":               {args: []string{"import", "--device", "$SIM"}},
		"fusemap list":         {args: []string{"fusemap", "list"}},
		"fusemap list --json":  {args: []string{"fusemap", "list", "--json"}},
		"fusemap show":         {args: []string{"fusemap", "show", "imx8mm"}},
		"fusemap show --json":  {args: []string{"fusemap", "show", "--json", "imx8mm", "MAC_ADDR0"}},
		"dump":                 {args: []string{"dump", "--device", "$SIM"}},
		"read":                 {args: []string{"read", "--device", "$SIM", "14", "0"}},
		"write":                {args: []string{"write", "--auto-approve", "--device", "$FRESH", "14", "1", "0x3"}, burns: true},
		"schema":               {args: []string{"schema"}},
		"schema fusemap":       {args: []string{"schema", "fusemap"}},
		"sim init":             {args: []string{"sim", "init", "--soc", "imx8mm", "$NEW"}},
		"version":              {args: []string{"version"}},
		"completion bash":      {args: []string{"completion", "bash"}},
		"completion zsh":       {args: []string{"completion", "zsh"}},
		"completion fish":      {args: []string{"completion", "fish"}},
		"man":                  {args: []string{"man"}},
		"help":                 {args: []string{"help"}},
		"plan --help":          {args: []string{"plan", "--help"}},
	}
}

// outFixtures makes the boards, manifest and journal the cases use.
func outFixtures(t *testing.T) (dir string, expand func(args []string) []string) {
	dir = t.TempDir()
	soc, err := fusemap.Load("imx8mm")
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range []string{"sim", "blank"} {
		if err := nvmem.InitSim(filepath.Join(dir, b), soc.SoC, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "m.yaml"), []byte(oneWord), 0o644); err != nil {
		t.Fatal(err)
	}
	s := &session{t: t, environ: map[string]string{}}
	if code := s.run(context.Background(), nil, "apply", "--auto-approve", "--device", "sim:"+filepath.Join(dir, "sim"),
		"--journal", filepath.Join(dir, "j.jsonl"), filepath.Join(dir, "m.yaml")); code != exitOK {
		t.Fatalf("fixture apply: exit %d: %s", code, &s.stderr)
	}
	pools := "apiVersion: otpprov/v1\nkind: IdentityPools\nmetadata: {name: p}\npools:\n  s: {type: u32, ranges: [\"1-9\"]}\n  b: {type: u32, ranges: [\"1000-1999\"]}\n"
	if err := os.WriteFile(filepath.Join(dir, "pools.yaml"), []byte(pools), 0o644); err != nil {
		t.Fatal(err)
	}
	pooled := "apiVersion: otpprov/v1\nkind: FuseManifest\nmetadata: {name: pooled}\nsoc: imx8mm\nvariables:\n  n: {type: u32, pool: s}\nfuses:\n  - {bank: 14, word: 1, value: \"${n}\"}\n"
	if err := os.WriteFile(filepath.Join(dir, "pooled.yaml"), []byte(pooled), 0o644); err != nil {
		t.Fatal(err)
	}
	if code := s.run(context.Background(), nil, "ledger", "init", "--ledger", "sqlite:"+filepath.Join(dir, "ledger.db"), filepath.Join(dir, "pools.yaml")); code != exitOK {
		t.Fatalf("fixture ledger init: exit %d: %s", code, &s.stderr)
	}
	// Imported once here, so that every run of the case prints the same.
	if code := s.run(context.Background(), nil, "ledger", "import", "--ledger", "sqlite:"+filepath.Join(dir, "ledger.db"), filepath.Join(dir, "j.jsonl")); code != exitOK {
		t.Fatalf("fixture ledger import: exit %d: %s", code, &s.stderr)
	}
	releaseFixture(t, s, dir)
	blockFixture(t, s, dir)
	expand = func(args []string) []string {
		out := make([]string, len(args))
		for i, a := range args {
			switch a {
			case "$FRESH":
				fresh := filepath.Join(dir, "fresh")
				os.RemoveAll(fresh)
				if err := nvmem.InitSim(fresh, soc.SoC, nil); err != nil {
					t.Fatal(err)
				}
				a = "sim:" + fresh
			case "$NEW":
				a = filepath.Join(dir, "new")
				os.RemoveAll(a)
			case "$NEWDB":
				for _, f := range []string{"new.db", "new.db-wal", "new.db-shm"} {
					os.Remove(filepath.Join(dir, f))
				}
				a = "sqlite:" + filepath.Join(dir, "new.db")
			}
			a = strings.NewReplacer("$SIM", "sim:"+filepath.Join(dir, "sim"), "$BLANK", "sim:"+filepath.Join(dir, "blank"), "$DIR", dir).Replace(a)
			out[i] = a
		}
		return out
	}
	return dir, expand
}

// releaseFixture makes a release of m.yaml, rel.yaml, and where
// ssh-keygen is installed signs it and names the key in allowed (the
// cases that need them say so).
func releaseFixture(t *testing.T, s *session, dir string) {
	t.Helper()
	rel := filepath.Join(dir, "rel.yaml")
	if code := s.run(context.Background(), nil, "release", "make", "--out", rel, filepath.Join(dir, "m.yaml")); code != exitOK {
		t.Fatalf("fixture release make: exit %d: %s", code, &s.stderr)
	}
	keygen, err := exec.LookPath("ssh-keygen")
	if err != nil {
		return
	}
	key := filepath.Join(dir, "key")
	for _, args := range [][]string{{"-q", "-t", "ed25519", "-N", "", "-f", key}, {"-Y", "sign", "-n", "otpprov-release", "-f", key, rel}} {
		if out, err := exec.Command(keygen, args...).CombinedOutput(); err != nil {
			t.Fatalf("ssh-keygen %v: %v\n%s", args, err, out)
		}
	}
	pub, err := os.ReadFile(key + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "allowed"), append([]byte("rel@example "), pub...), 0o644); err != nil {
		t.Fatal(err)
	}
}

// Every command of the app (hidden ones too) has a case.
func TestOutCasesCoverEveryCommand(t *testing.T) {
	covered := map[string]bool{}
	for _, c := range outCases() {
		covered[c.args[0]] = true
		if len(c.args) > 1 {
			covered[c.args[0]+" "+c.args[1]] = true
		}
	}
	var walk func(prefix string, cmds []*cli.Command)
	var missing []string
	walk = func(prefix string, cmds []*cli.Command) {
		for _, c := range cmds {
			name := strings.TrimSpace(prefix + " " + c.Name)
			if len(c.Subcommands) > 0 {
				walk(name, c.Subcommands)
				continue
			}
			if !covered[name] {
				missing = append(missing, name)
			}
		}
	}
	walk("", newApp(context.Background(), env{}, nil).Commands)
	if len(missing) > 0 {
		t.Errorf("commands without an output case: %s", strings.Join(missing, ", "))
	}
}

// full takes room bytes, then fails with ENOSPC, as a disk does.
type full struct {
	room int
	got  bytes.Buffer
}

func (f *full) Write(p []byte) (int, error) {
	if f.got.Len()+len(p) <= f.room {
		return f.got.Write(p)
	}
	n := f.room - f.got.Len()
	f.got.Write(p[:n])
	return n, &os.PathError{Op: "write", Path: "/dev/stdout", Err: syscall.ENOSPC}
}

// runOut runs args in-process with stdout buffered, as the process's is,
// on w.
func runOut(w *full, args []string) (code int, stderr string) {
	var errb bytes.Buffer
	code = run(context.Background(), append([]string{"otpprov"}, args...), processEnv(w, &errb))
	return code, errb.String()
}

// processEnv is the env of a process whose standard output is w, buffered
// as terminal buffers it, and whose standard error is errb.
func processEnv(w io.Writer, errb *bytes.Buffer) env {
	out := output.New(w)
	return env{stdout: out, stderr: out.FlushFirstWriter(errb), getenv: func(string) string { return "" }, environ: func() []string { return nil },
		flush: out.Flush}
}

func TestOutputLostInProcess(t *testing.T) {
	dir, expand := outFixtures(t)
	cases := outCases()
	names := make([]string, 0, len(cases))
	for n := range cases {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, name := range names {
		c := cases[name]
		t.Run(name, func(t *testing.T) {
			if c.tool != "" {
				requireTool(t, c.tool)
			}
			whole := &full{room: 1 << 30}
			code, stderr := runOut(whole, expand(c.args))
			if code != exitOK && !(name == "verify not satisfied" && code == exitChanges) {
				t.Fatalf("with room: exit %d: %s", code, stderr)
			}
			n := whole.got.Len()
			if n == 0 {
				t.Fatalf("nothing on stdout")
			}
			regimes := map[bool]bool{} // burns: a run that burned, one that did not
			for _, k := range lostRooms(n) {
				w := &full{room: k}
				code, stderr := runOut(w, expand(c.args))
				lost := strings.Count(stderr, outputLost)
				if lost != 1 {
					t.Fatalf("room %d of %d: %d lines say the output is incomplete, want 1; stderr:\n%s", k, n, lost, stderr)
				}
				if !c.burns {
					if code != exitError {
						t.Fatalf("room %d of %d: exit %d, want 1; stderr:\n%s", k, n, code, stderr)
					}
					if !bytes.HasPrefix(whole.got.Bytes(), w.got.Bytes()) {
						t.Fatalf("room %d: stdout is not a prefix of the whole output", k)
					}
					continue
				}
				burned := burnedWords(t, filepath.Join(dir, "fresh"))
				regimes[burned > 0] = true
				switch {
				case burned == 0 && (code != exitError || !strings.Contains(stderr, "nothing was written")):
					t.Fatalf("room %d of %d: nothing burned, exit %d; stderr:\n%s", k, n, code, stderr)
				case burned > 0 && (code != exitOK || !strings.Contains(stderr, "the device's outcome stands: exit 0")):
					t.Fatalf("room %d of %d: burned, exit %d, want the device's 0; stderr:\n%s", k, n, code, stderr)
				}
			}
			if c.burns && (!regimes[true] || (!regimes[false] && !strings.Contains(name, "--json"))) {
				t.Errorf("the output was not lost both before and after the burn: %v", regimes)
			}
		})
	}
	if _, err := os.Stat(dir); err != nil {
		t.Fatal(err)
	}
}

// lostRooms: every room up to 64 bytes, and a spread up to one less than
// the whole output.
func lostRooms(n int) []int {
	var ks []int
	for k := 0; k < n; k++ {
		if k < 64 || n-k <= 2 || k%max(1, n/40) == 0 {
			ks = append(ks, k)
		}
	}
	return ks
}

func burnedWords(t *testing.T, sim string) int {
	c, err := nvmem.ReadSimCounters(sim)
	if err != nil {
		t.Fatal(err)
	}
	return c.Writes
}

// The real thing: each command as a process whose standard output is
// /dev/full. An apply that shows its plan first burns nothing (its plan
// was lost before the burn); apply --json shows nothing before the burn,
// so it burns, and keeps the device's exit code.
func TestOutputDevFull(t *testing.T) {
	bin, err := exec.LookPath("otpprov")
	if err != nil {
		t.Fatalf("the otpprov test binary is not on PATH: %v", err)
	}
	devFull, err := os.OpenFile("/dev/full", os.O_WRONLY, 0)
	if err != nil {
		t.Fatalf("/dev/full: %v", err)
	}
	defer devFull.Close()
	dir, expand := outFixtures(t)
	for name, c := range outCases() {
		t.Run(name, func(t *testing.T) {
			if c.tool != "" {
				requireTool(t, c.tool)
			}
			cmd := exec.Command(bin, expand(c.args)...)
			cmd.Stdout = devFull
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			cmd.Env = append(os.Environ(), "NO_COLOR=1")
			code := 0
			if err := cmd.Run(); err != nil {
				var ee *exec.ExitError
				if !errors.As(err, &ee) {
					t.Fatal(err)
				}
				code = ee.ExitCode()
			}
			want, burned := exitError, 0
			if c.burns {
				burned = burnedWords(t, filepath.Join(dir, "fresh"))
			}
			if name == "apply --json" {
				want = exitOK
				if burned != 1 {
					t.Errorf("apply --json burned %d words, want 1", burned)
				}
			} else if burned != 0 {
				t.Errorf("%d words burned with the plan lost", burned)
			}
			if code != want || !strings.Contains(stderr.String(), outputLost) {
				t.Errorf("exit %d, want %d; stderr:\n%s", code, want, &stderr)
			}
		})
	}
}

// --out on a full disk: every command that writes a document or script
// exits 1, says the file keeps its old content, and the file does, whole;
// no temporary file is left. Before, a saved plan or an imported manifest
// could be cut, and the other commands had no --out.
func TestOutFullDisk(t *testing.T) {
	small := smallfs.Mount(t, 256<<10)
	_, expand := outFixtures(t)
	old := []byte("the file as it was\n")
	for name, args := range map[string][]string{
		"plan --format sh": {"plan", "--format", "sh", "--device", "$BLANK", "--out", "@", "$DIR/m.yaml"},
		"plan --out":       {"plan", "--device", "$BLANK", "--out", "@", "$DIR/m.yaml"},
		"dump":             {"dump", "--device", "$SIM", "--out", "@"},
		"show":             {"show", "--device", "$SIM", "--out", "@"},
		"show --json":      {"show", "--json", "--device", "$SIM", "--out", "@"},
		"import":           {"import", "--device", "$SIM", "--out", "@"},
		"schema":           {"schema", "--out", "@"},
		"completion":       {"completion", "zsh", "--out", "@"},
		"man":              {"man", "--out", "@"},
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(small, "out")
			if err := os.WriteFile(path, old, 0o644); err != nil {
				t.Fatal(err)
			}
			smallfs.Fill(t, small, 0)
			defer smallfs.Unfill(t, small)
			for i, a := range args {
				if a == "@" {
					args[i] = path
				}
			}
			s := &session{t: t, environ: map[string]string{}}
			code := s.run(context.Background(), nil, expand(args)...)
			if code != exitError || !strings.Contains(s.stderr.String(), "otpprov: error: cannot write "+path+": no space left on device; it keeps its old content") {
				t.Fatalf("exit %d; stderr:\n%s", code, &s.stderr)
			}
			if b, _ := os.ReadFile(path); !bytes.Equal(b, old) {
				t.Errorf("the file holds %q, want its old content", b)
			}
			entries, _ := os.ReadDir(small)
			for _, e := range entries {
				if e.Name() != "out" && !strings.HasPrefix(e.Name(), "filler") {
					t.Errorf("left behind: %s", e.Name())
				}
			}
		})
	}
}

// lostAfter takes its first write call (the plan, flushed before the
// first burn) and fails every later one (the report) with ENOSPC.
type lostAfter struct {
	calls int
	got   bytes.Buffer
}

func (l *lostAfter) Write(p []byte) (int, error) {
	l.calls++
	if l.calls > 1 {
		return 0, &os.PathError{Op: "write", Path: "/dev/stdout", Err: syscall.ENOSPC}
	}
	return l.got.Write(p)
}

// The fault matrix again, with the report lost after the burn: whatever
// the device did, the exit code is the one the device's state gives (3,
// or 1 only when the device proved nothing changed), never 0 and never
// changed by the lost output; stderr says the output is incomplete, and
// the journal's outcome records the same code.
func TestFaultsWithOutputLost(t *testing.T) {
	for _, kind := range nvmem.FaultKinds {
		for pos := 1; pos <= len(matrixWords); pos++ {
			t.Run(fmt.Sprintf("%s/word%d", kind, pos), func(t *testing.T) {
				s := newSession(t)
				if err := os.WriteFile(s.manifest, []byte(matrixManifest), 0o644); err != nil {
					t.Fatal(err)
				}
				fault := fmt.Sprintf("{kind: %s, write: %d}", kind, pos)
				switch kind {
				case nvmem.FaultStuckBit:
					fault = fmt.Sprintf("{kind: stuck-bit, bank: 14, word: %d, bit: %d}", pos-1, lowestBit(matrixWords[pos-1]))
				case nvmem.FaultMisdirect:
					fault = fmt.Sprintf("{kind: misdirect, write: %d, bank: 15, word: 3}", pos)
				}
				setFaults(t, s.sim, fault)
				journalPath := filepath.Join(s.dir, "journal.jsonl")
				w := &lostAfter{}
				var errb bytes.Buffer
				code := run(context.Background(), []string{"otpprov", "apply", "--auto-approve", "--device", "sim:" + s.sim,
					"--journal", journalPath, s.manifest}, processEnv(w, &errb))
				if !strings.Contains(w.got.String(), "bank 14 word 3") || w.calls < 2 {
					t.Fatalf("the plan did not reach stdout before the burn, or the report was not written: %d calls:\n%s", w.calls, &w.got)
				}
				if strings.Count(errb.String(), outputLost) != 1 {
					t.Errorf("stderr does not say once that the output is incomplete:\n%s", &errb)
				}
				changed := !slices.Equal(simFuses(t, s.sim), make([]uint32, 256))
				switch {
				case code == exitOK:
					t.Errorf("exit 0 with a fault and the report lost")
				case code == exitError && changed:
					t.Errorf("exit 1 (nothing written) but the fuses changed")
				case code != exitError && code != exitPartial:
					t.Errorf("exit %d", code)
				}
				records := journalRecords(t, journalPath)
				if last := records[len(records)-1]; last.ExitCode == nil || *last.ExitCode != code {
					t.Errorf("the journal's outcome records exit %v, the process exits %d", last.ExitCode, code)
				}
			})
		}
	}
}
