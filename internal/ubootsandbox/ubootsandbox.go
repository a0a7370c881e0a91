// Package ubootsandbox runs U-Boot scripts and uuu lists in a real U-Boot
// for tests: U-Boot's sandbox (U-Boot as a Linux program, Debian's
// 2023.01 source with its old hush parser, the one NXP's U-Boot has),
// built by build.sh with sandbox.patch, whose fuse command works on a
// host file with the i.MX OCOTP controller's rules:
//
//   - fuse read and fuse cmp read the shadow registers, loaded at reset
//     (each run is a reset) and never reloaded: fuse prog does not;
//   - fuse sense reads the fuses; fuse prog ORs its bits into them;
//   - a write-locked word refuses fuse prog with an error status and
//     burns nothing; a stuck bit never burns, and fuse prog succeeds.
//
// A uuu list is parsed as uuu parses it (the whole list before anything
// runs; a line uuu does not know fails the list; @VAR@ is read from the
// host's environment then) and its FB: ucmd and FB: sh lines run in order
// in one U-Boot session: each ucmd is one run_command(), as fastboot's
// run_ucmd does, FB: sh runs on the host, an ERROR (from an IF, decided
// as uuu decides it) fails, and the run stops at the first failure, as
// uuu does.
package ubootsandbox

import (
	"bytes"
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/otpprov/otpprov/fusemap"
)

var (
	//go:embed build.sh
	buildScript []byte
	//go:embed sandbox.patch
	patch []byte
	//go:embed sandbox.config
	config []byte
)

// Upstream is the U-Boot release build.sh builds.
const Upstream = "2023.01"

// EnvDir names a sandbox directory to use instead of the cache.
const EnvDir = "OTPPROV_UBOOT_SANDBOX"

// Dir is where build.sh puts the sandbox for these sources: the name
// changes with build.sh, the patch or the config, as its does.
func Dir() string {
	if d := os.Getenv(EnvDir); d != "" {
		return d
	}
	h := sha256.New()
	h.Write(buildScript)
	h.Write(patch)
	h.Write(config)
	cache := os.Getenv("XDG_CACHE_HOME")
	if cache == "" {
		cache = filepath.Join(os.Getenv("HOME"), ".cache")
	}
	return filepath.Join(cache, "otpprov", "u-boot-"+Upstream+"-"+hex.EncodeToString(h.Sum(nil))[:12])
}

// Sandbox is a built sandbox.
type Sandbox struct {
	UBoot, MkImage string
	// Timeout bounds each run (default 30 s): a U-Boot waiting for
	// console input would otherwise hang the test.
	Timeout time.Duration
}

// ErrMissing: the sandbox is not built for these sources.
var ErrMissing = errors.New("the U-Boot sandbox is not built (make uboot-sandbox)")

// Find returns the sandbox in Dir().
func Find() (*Sandbox, error) {
	d := Dir()
	s := &Sandbox{UBoot: filepath.Join(d, "u-boot"), MkImage: filepath.Join(d, "mkimage")}
	for _, f := range []string{s.UBoot, s.MkImage} {
		if _, err := os.Stat(f); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrMissing, err)
		}
	}
	return s, nil
}

// Require returns the sandbox, or ends the test: it fails where CI is set
// (CI builds the sandbox and must run these tests), and skips with a loud
// NOT RUN line elsewhere.
func Require(t testing.TB) *Sandbox {
	t.Helper()
	s, err := Find()
	if err == nil {
		return s
	}
	msg := fmt.Sprintf("U-BOOT SANDBOX TESTS NOT RUN: %v", err)
	if os.Getenv("CI") != "" {
		t.Fatalf("%s (CI must run them)", msg)
	}
	fmt.Fprintf(os.Stderr, "\n*** %s ***\n\n", msg)
	t.Skip(msg)
	return nil
}

// Board is the fuses a run starts from.
type Board struct {
	// Words are the fuses, word k = bank*WordsPerBank + word: the
	// emulator's words on i.MX8M, whose reads and writes agree.
	Words        []uint32
	WordsPerBank int
	// Locked are write-locked words: fuse prog fails, burns nothing.
	Locked []int
	// Stuck bits never burn; fuse prog still succeeds.
	Stuck map[int]uint32
}

// NewBoard is a board holding words, with the write locks m finds burned
// in them. The sandbox keeps them for the whole run: they are the locks
// as at reset.
func NewBoard(m *fusemap.Map, words []uint32) Board {
	b := Board{Words: append([]uint32(nil), words...), WordsPerBank: m.WordsPerBank}
	for k := range words {
		if m.WriteLockedBy(words, k/m.WordsPerBank, k%m.WordsPerBank) != nil {
			b.Locked = append(b.Locked, k)
		}
	}
	return b
}

// Result is what a run did.
type Result struct {
	Exit    int    // U-Boot's exit status: the last command's
	Console string // U-Boot's console (stdout and stderr), "\r\n" as "\n"
	Words   []uint32
}

// Burned lists the words that differ from the board's, as "k: before
// -> after" lines, "" when none does.
func (r Result) Burned(b Board) string {
	var out []string
	for k, w := range r.Words {
		if k < len(b.Words) && w != b.Words[k] {
			out = append(out, fmt.Sprintf("word %d: 0x%08x -> 0x%08x", k, b.Words[k], w))
		}
	}
	return strings.Join(out, "\n")
}

// scriptAddr is where a script image is loaded, clear of U-Boot's own
// memory at the top of the sandbox's 64 MiB.
const scriptAddr = "0x100000"

// Script runs script in U-Boot as a board does: made into an image by
// mkimage (-T script), loaded and sourced, after the U-Boot commands of
// setup ("" for none: an operator's setenv). env is added to the host
// environment U-Boot runs in. A script mkimage refuses (an empty one)
// never reaches U-Boot: the result has exit status 1, mkimage's message
// as its console and the board's words.
func (s *Sandbox) Script(b Board, script []byte, setup string, env ...string) (Result, error) {
	return s.run(b, env, func(dir string) (string, []byte, error) {
		txt := filepath.Join(dir, "script.txt")
		if err := os.WriteFile(txt, script, 0o644); err != nil {
			return "", nil, err
		}
		mk := exec.Command(s.MkImage, "-A", "arm", "-T", "script", "-C", "none", "-d", txt, filepath.Join(dir, "script.scr"))
		if out, err := mk.CombinedOutput(); err != nil {
			return "", nil, &refused{fmt.Sprintf("mkimage: %v: %s", err, out)}
		}
		cmd := "load hostfs - " + scriptAddr + " script.scr && source " + scriptAddr
		if setup != "" {
			cmd = setup + "; " + cmd
		}
		return cmd, nil, nil
	})
}

// ScriptText runs script's text the way `source` runs its image, without
// mkimage and load: source passes the image's data to
// run_command_list(data, len, 0) (cmd/source.c), and the sandbox passes
// its -c argument to run_command_list(cmd, -1, 0) (arch/sandbox/cpu/
// start.c); both parse it with parse_string_outer(FLAG_PARSE_SEMICOLON)
// and return its status. It takes half the time of Script (mkimage costs
// as much as a U-Boot run), and a test holds the two to the same result.
// The text must hold no NUL byte.
func (s *Sandbox) ScriptText(b Board, script []byte, setup string) (Result, error) {
	if bytes.IndexByte(script, 0) >= 0 {
		return Result{}, errors.New("a script with a NUL byte cannot be a command line")
	}
	return s.run(b, nil, func(string) (string, []byte, error) {
		cmd := string(script)
		if setup != "" {
			cmd = setup + "\n" + cmd
		}
		if cmd == "" {
			// The sandbox takes -c "" for no command at all and starts a
			// console; an empty script runs nothing.
			cmd = "#"
		}
		return cmd, nil, nil
	})
}

// Paste types text at the U-Boot prompt, as an operator pasting a
// script into the serial console, then powers off. Lines longer than
// the console buffer (CONFIG_SYS_CBSIZE) lose their tail, as on a board.
func (s *Sandbox) Paste(b Board, text []byte) (Result, error) {
	return s.run(b, nil, func(string) (string, []byte, error) {
		in := append(append([]byte(nil), text...), "\npoweroff\n"...)
		return "", in, nil
	})
}

// Command runs U-Boot commands (one line of hush).
func (s *Sandbox) Command(b Board, cmd string, env ...string) (Result, error) {
	return s.run(b, env, func(string) (string, []byte, error) { return cmd, nil, nil })
}

// UUU runs a uuu list as uuu does against the board's U-Boot in fastboot
// mode (see the package comment), after the U-Boot commands of setup (""
// for none: the session the board is in). A list uuu refuses runs
// nothing: the result has exit status 1, uuu's error as its console and
// the board's words.
func (s *Sandbox) UUU(b Board, list []byte, setup string, env ...string) (Result, error) {
	cmds, err := ParseUUU(list, env...)
	if errors.Is(err, ErrUUURefuses) {
		return Result{Exit: 1, Console: "uuu: " + err.Error(), Words: append([]uint32(nil), b.Words...)}, nil
	}
	if err != nil {
		return Result{}, err
	}
	return s.run(b, env, func(dir string) (string, []byte, error) {
		var run bytes.Buffer
		for _, c := range cmds {
			fmt.Fprintf(&run, "%s %s\n", c.Kind, c.Arg)
		}
		if err := os.WriteFile(filepath.Join(dir, "fbrun.txt"), run.Bytes(), 0o644); err != nil {
			return "", nil, err
		}
		if setup != "" {
			return setup + "; fbrun fbrun.txt", nil, nil
		}
		return "fbrun fbrun.txt", nil, nil
	})
}

// run starts U-Boot in a fresh directory with the board's fuse file:
// with -c cmd when cmd is not "", else reading stdin.
func (s *Sandbox) run(b Board, env []string, prepare func(dir string) (cmd string, stdin []byte, err error)) (Result, error) {
	dir, err := os.MkdirTemp("", "otpprov-uboot-")
	if err != nil {
		return Result{}, err
	}
	defer os.RemoveAll(dir)
	if err := writeBoard(filepath.Join(dir, "fuses.bin"), b); err != nil {
		return Result{}, err
	}
	cmd, stdin, err := prepare(dir)
	var r *refused
	if errors.As(err, &r) {
		return Result{Exit: 1, Console: r.msg, Words: append([]uint32(nil), b.Words...)}, nil
	}
	if err != nil {
		return Result{}, err
	}
	timeout := s.Timeout
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	args := []string{"--fuses", "fuses.bin"}
	if cmd != "" {
		args = append(args, "-c", cmd)
	}
	u := exec.CommandContext(ctx, s.UBoot, args...)
	u.Dir = dir
	u.Env = append([]string{"PATH=" + os.Getenv("PATH"), "LC_ALL=C"}, env...)
	u.Stdin = bytes.NewReader(stdin)
	var out bytes.Buffer
	u.Stdout, u.Stderr = &out, &out
	err = u.Run()
	res := Result{Console: strings.ReplaceAll(out.String(), "\r\n", "\n")}
	var exit *exec.ExitError
	switch {
	case ctx.Err() != nil:
		return res, fmt.Errorf("U-Boot did not finish in %v:\n%s", timeout, res.Console)
	case errors.As(err, &exit) && exit.Exited():
		res.Exit = exit.ExitCode()
	case err != nil:
		return res, fmt.Errorf("U-Boot: %v\n%s", err, res.Console)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "fuses.bin"))
	if err != nil {
		return res, err
	}
	if len(raw) != 4*len(b.Words) {
		return res, fmt.Errorf("the fuse file has %d bytes after the run, %d before", len(raw), 4*len(b.Words))
	}
	res.Words = make([]uint32, len(b.Words))
	for k := range res.Words {
		res.Words[k] = binary.LittleEndian.Uint32(raw[4*k:])
	}
	return res, nil
}

// refused is a script or list that never reaches U-Boot.
type refused struct{ msg string }

func (r *refused) Error() string { return r.msg }

// writeBoard writes the fuse file and its rules (sandbox.patch,
// board/sandbox/otpprov.c).
func writeBoard(path string, b Board) error {
	raw := make([]byte, 4*len(b.Words))
	for k, w := range b.Words {
		binary.LittleEndian.PutUint32(raw[4*k:], w)
	}
	if err := os.WriteFile(path, raw, 0o644); err != nil {
		return err
	}
	var rules bytes.Buffer
	if b.WordsPerBank != 0 {
		fmt.Fprintf(&rules, "words-per-bank %d\n", b.WordsPerBank)
	}
	for _, k := range b.Locked {
		fmt.Fprintf(&rules, "locked %d\n", k)
	}
	for k, m := range b.Stuck {
		fmt.Fprintf(&rules, "stuck %d 0x%08x\n", k, m)
	}
	return os.WriteFile(path+".rules", rules.Bytes(), 0o644)
}
