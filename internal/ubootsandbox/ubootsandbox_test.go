package ubootsandbox

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/otpprov/otpprov/fusemap"
)

func imx8mm(t *testing.T) *fusemap.Map {
	t.Helper()
	m, err := fusemap.Load("imx8mm")
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func blank(t *testing.T) Board {
	m := imx8mm(t)
	return NewBoard(m, make([]uint32, m.Words))
}

func run(t *testing.T, s *Sandbox, b Board, cmd string, env ...string) Result {
	t.Helper()
	r, err := s.Command(b, cmd, env...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// The sandbox is what the tests assume of NXP's U-Boot: the old hush
// parser, the fuse command, legacy script images, and the least console
// buffer and argument count of U-Boot's i.MX defconfigs.
func TestConfig(t *testing.T) {
	Require(t)
	b, err := os.ReadFile(filepath.Join(Dir(), "config"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"CONFIG_HUSH_PARSER=y", "CONFIG_CMD_FUSE=y", "CONFIG_LEGACY_IMAGE_FORMAT=y",
		"CONFIG_SYS_CBSIZE=256", "CONFIG_SYS_MAXARGS=16", "CONFIG_CMD_ENV_EXISTS=y", "CONFIG_CMD_RUN=y"} {
		if !strings.Contains(string(b), "\n"+want+"\n") {
			t.Errorf("the sandbox's .config lacks %s", want)
		}
	}
}

// The fuse backend keeps the controller's rules: prog ORs bits into the
// fuses, read and cmp see the shadow registers as at reset, sense sees
// the fuses, override sets the shadow only.
func TestFuseShadowAndSense(t *testing.T) {
	s := Require(t)
	b := blank(t)
	b.Words[57] = 0x00000011 // bank 14 word 1
	r := run(t, s, b, `fuse prog -y 14 1 0x00000102 && fuse sense 14 1 && fuse cmp 14 1 0x00000011 && `+
		`fuse read 14 1 && fuse override 14 2 0xabcd && fuse cmp 14 2 0xabcd && fuse sense 14 2`)
	if r.Exit != 0 {
		t.Fatalf("exit %d\n%s", r.Exit, r.Console)
	}
	if r.Words[57] != 0x00000113 {
		t.Errorf("word 57 holds 0x%08x, want 0x00000113 (0x11 | 0x102)", r.Words[57])
	}
	if r.Words[58] != 0 {
		t.Errorf("override burned word 58: 0x%08x", r.Words[58])
	}
	for _, want := range []string{"Sensing bank 14:\n\nWord 0x00000001: 00000113", "Reading bank 14:\n\nWord 0x00000001: 00000011",
		"Sensing bank 14:\n\nWord 0x00000002: 00000000"} {
		if !strings.Contains(r.Console, want) {
			t.Errorf("console lacks %q:\n%s", want, r.Console)
		}
	}
	// fuse cmp against the burned value fails until a reset...
	if r := run(t, s, b, "fuse prog -y 14 1 0x102; fuse cmp 14 1 0x113"); r.Exit != 1 {
		t.Errorf("cmp after prog in the same session: exit %d, want 1 (stale shadow)\n%s", r.Exit, r.Console)
	}
	// ...and passes after one: a new run starts from the burned fuses.
	after := b
	after.Words = r.Words
	if r := run(t, s, after, "fuse cmp 14 1 0x113"); r.Exit != 0 {
		t.Errorf("cmp after reset: exit %d\n%s", r.Exit, r.Console)
	}
}

// A write-locked word refuses with an error status and keeps its bits; a
// stuck bit does not burn while prog succeeds; a word outside the fuses
// is an invalid argument.
func TestFuseLocksAndStuckBits(t *testing.T) {
	s := Require(t)
	m := imx8mm(t)
	words := make([]uint32, m.Words)
	words[0] = 1 << 9 // SRK_LOCK: SRK_HASH (banks 6 and 7) is write-locked
	b := NewBoard(m, words)
	if want := []int{24, 25, 26, 27, 28, 29, 30, 31}; !reflect.DeepEqual(b.Locked, want) {
		t.Fatalf("locked words %v, want %v", b.Locked, want)
	}
	b.Stuck = map[int]uint32{57: 0x10}
	r := run(t, s, b, "fuse prog -y 6 0 0xffffffff")
	if r.Exit != 1 || !strings.Contains(r.Console, "mxc_ocotp fuse_prog(): Access protect error") {
		t.Errorf("locked word: exit %d\n%s", r.Exit, r.Console)
	}
	if got := r.Burned(b); got != "" {
		t.Errorf("a locked word burned:\n%s", got)
	}
	r = run(t, s, b, "fuse prog -y 14 1 0x11 && fuse sense 14 1")
	if r.Exit != 0 || r.Words[57] != 0x01 || !strings.Contains(r.Console, "Word 0x00000001: 00000001") {
		t.Errorf("stuck bit: exit %d, word 0x%08x\n%s", r.Exit, r.Words[57], r.Console)
	}
	r = run(t, s, b, "fuse prog -y 64 0 1")
	if r.Exit != 1 || !strings.Contains(r.Console, "Invalid argument") || r.Burned(b) != "" {
		t.Errorf("bank 64: exit %d\n%s", r.Exit, r.Console)
	}
}

// A script is sourced as mkimage made it, and a script cut mid-value
// burns the cut value: what export must prevent.
func TestScriptCutMidValueBurns(t *testing.T) {
	s := Require(t)
	b := blank(t)
	r, err := s.Script(b, []byte("echo start\nfuse prog -y 14 3 0x000012"), "")
	if err != nil {
		t.Fatal(err)
	}
	if r.Exit != 0 || r.Words[59] != 0x12 || !strings.Contains(r.Console, "## Executing script at") {
		t.Errorf("exit %d, word 59 0x%08x\n%s", r.Exit, r.Words[59], r.Console)
	}
	// An empty script is no image: mkimage refuses it.
	r, err = s.Script(b, nil, "")
	if err != nil || r.Exit != 1 || !strings.Contains(r.Console, "empty") || r.Burned(b) != "" {
		t.Errorf("empty script: %v, exit %d\n%s", err, r.Exit, r.Console)
	}
}

// Old hush: an if whose condition fails and that has no else returns the
// condition's status (cli_hush.c run_list_real returns the last pipe's
// code; the then part never ran). uuu stops at such a ucmd.
func TestHushIfWithoutElse(t *testing.T) {
	s := Require(t)
	if r := run(t, s, blank(t), "if env exists nothing; then false; fi"); r.Exit != 1 {
		t.Errorf("if without else: exit %d, want 1 (old hush)", r.Exit)
	}
	if r := run(t, s, blank(t), "if env exists nothing; then false; else true; fi"); r.Exit != 0 {
		t.Errorf("if with else: exit %d, want 0", r.Exit)
	}
}

// A uuu list runs in one session, host lines in their place, and stops
// at the first failure; a ucmd over 64 bytes with "UCmd:" fails.
func TestUUURunsInOrderAndStops(t *testing.T) {
	s := Require(t)
	b := blank(t)
	list := "uuu_version 1.0.1\r\n# comment\nFB: ucmd setenv x 0x1\nFB: sh echo host $OTPPROV_T\n" +
		"FB: ucmd fuse prog -y 14 0 ${x}\nFB: sh test -n \"$OTPPROV_T\"\nFB: ucmd fuse prog -y 14 1 0x2\nFB: done\nFB: ucmd fuse prog -y 14 2 0x4"
	r, err := s.UUU(b, []byte(list), "", "OTPPROV_T=yes")
	if err != nil {
		t.Fatal(err)
	}
	if r.Exit != 0 || r.Words[56] != 1 || r.Words[57] != 2 || r.Words[58] != 0 || !strings.Contains(r.Console, "host yes") {
		t.Errorf("exit %d, burned %s\n%s", r.Exit, r.Burned(b), r.Console)
	}
	r, err = s.UUU(b, []byte(list), "") // no OTPPROV_T: the second sh fails
	if err != nil {
		t.Fatal(err)
	}
	if r.Exit != 1 || r.Words[56] != 1 || r.Words[57] != 0 || !strings.Contains(r.Console, "fbrun: FAIL: sh test") {
		t.Errorf("failing sh: exit %d, burned %s\n%s", r.Exit, r.Burned(b), r.Console)
	}
	long := "uuu_version 1.0.1\nFB: ucmd echo " + strings.Repeat("x", 55) + "\nFB: ucmd fuse prog -y 14 0 1\n"
	if r, err := s.UUU(b, []byte(long), ""); err != nil || r.Exit != 1 || r.Burned(b) != "" || !strings.Contains(r.Console, "longer than a fastboot command") {
		t.Errorf("65-byte command: %v, exit %d, burned %s\n%s", err, r.Exit, r.Burned(b), r.Console)
	}
	if r, err := s.UUU(b, []byte("uuu_version 1.0.1\nFB: ucmd if env exists y; then false; fi\nFB: ucmd fuse prog -y 14 0 1\n"), ""); err != nil || r.Exit != 1 || r.Burned(b) != "" {
		t.Errorf("if without else stops uuu: %v, exit %d, burned %s", err, r.Exit, r.Burned(b))
	}
}

func TestParseUUU(t *testing.T) {
	for _, tc := range []struct {
		list string
		want []UUUCommand
		err  error
	}{
		{"uuu_version 1.0.1\nFB: ucmd echo a\n#FB: ucmd x\nF\n\nFB: sh  exit 0\nFB:done\nFB: ucmd b",
			[]UUUCommand{{"ucmd", "echo a"}, {"sh", " exit 0"}}, nil},
		{"uuu_version 1.0.1\r\nfb: UCMD fuse prog -y 1 2 0x3", []UUUCommand{{"ucmd", "fuse prog -y 1 2 0x3"}}, nil},
		{"uuu_version 1.0.1\nFB: ucmd", []UUUCommand{{"ucmd", ""}}, nil},
		{"uuu_versio", nil, ErrUUURefuses},
		{"# a list\nuuu_version 1.0.1\n", nil, ErrUUURefuses},
		{"uuu_version 1.0.1\nFB: ucmd echo a\nFB: uc", nil, ErrUUURefuses},
		{"uuu_version 1.0.1\nFB: ucmd echo a\nFB: s", nil, ErrUUURefuses},
		{"uuu_version 1.0.1\nFB: ucmd echo a\nFB: do", nil, ErrUUURefuses},
		{"uuu_version 1.0.1\nFB", nil, ErrUUURefuses},
	} {
		got, err := ParseUUU([]byte(tc.list))
		if !errors.Is(err, tc.err) || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%q: %q, %v; want %q, %v", tc.list, got, err, tc.want, tc.err)
		}
	}
	// uuu's @ reads the host's environment while it parses the list, and
	// IF (CmdIf) compares its sides trimmed and upper-cased, "==" found
	// before "!=", the right side from one character past the operator.
	ifs := "uuu_version 1.4.149\nFB: @ IF @C@ != A,B then ERROR no\nFB: @ IF @C@ == A,B then ucmd setenv ok yes\nFB: ucmd echo end"
	for _, tc := range []struct {
		env  []string
		want []UUUCommand
		err  error
	}{
		{nil, nil, ErrUUURefuses},
		{[]string{"C=A,B"}, []UUUCommand{{"ucmd", "setenv ok yes"}, {"ucmd", "echo end"}}, nil},
		{[]string{"C=a,b\nx"}, []UUUCommand{{"ucmd", "setenv ok yes"}, {"ucmd", "echo end"}}, nil},
		{[]string{"C=B,A"}, []UUUCommand{{"error", "no"}, {"ucmd", "echo end"}}, nil},
		{[]string{"C="}, []UUUCommand{{"error", "no"}, {"ucmd", "echo end"}}, nil},
		// "==" in the value: the != line misreads it and passes, the ==
		// line confirms nothing.
		{[]string{"C=A==B"}, []UUUCommand{{"ucmd", "echo end"}}, nil},
	} {
		got, err := ParseUUU([]byte(ifs), tc.env...)
		if !errors.Is(err, tc.err) || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%q: %q, %v; want %q, %v", tc.env, got, err, tc.want, tc.err)
		}
	}
	if _, err := ParseUUU([]byte("uuu_version 1.0.1\nFB: flash all x.img\n")); err == nil || errors.Is(err, ErrUUURefuses) {
		t.Errorf("an unmodelled uuu command: %v, want a test error", err)
	}
}

// A pasted line keeps CONFIG_SYS_CBSIZE-2 characters (254 with the
// sandbox's 256, the smallest of U-Boot's i.MX defconfigs): the tail of
// a longer one is lost, as on a board's console.
func TestPasteKeepsConsoleBufferSize(t *testing.T) {
	s := Require(t)
	b := blank(t)
	pad := func(n int) string { return "setenv v " + strings.Repeat("a", n-len("setenv v ")) }
	r, err := s.Paste(b, []byte(pad(254)+"\nenv exists v && fuse prog -y 14 0 1\n"+pad(255)+"b; fuse prog -y 14 1 1\n"))
	if err != nil {
		t.Fatal(err)
	}
	if r.Words[56] != 1 || r.Words[57] != 0 {
		t.Errorf("burned %s\n%s", r.Burned(b), r.Console)
	}
}

// BenchmarkStart is one U-Boot run: start-up, one command, exit.
func BenchmarkStart(b *testing.B) {
	s := Require(b)
	m, err := fusemap.Load("imx8mm")
	if err != nil {
		b.Fatal(err)
	}
	board := NewBoard(m, make([]uint32, m.Words))
	for i := 0; i < b.N; i++ {
		if r, err := s.Command(board, "fuse read 0 0"); err != nil || r.Exit != 0 {
			b.Fatalf("%v %+v", err, r)
		}
	}
}
