package view

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/otpprov/otpprov/applier"
	"github.com/otpprov/otpprov/fusemap"
	"github.com/otpprov/otpprov/internal/golden"
	"github.com/otpprov/otpprov/internal/termtext"
	"github.com/otpprov/otpprov/manifest"
	"github.com/otpprov/otpprov/nvmem"
	"github.com/otpprov/otpprov/planner"
)

var imx8mm, _ = fusemap.Load("imx8mm")

func target(bank, word int, value, mask uint32, names ...string) manifest.Target {
	t := manifest.NewTarget(imx8mm.SoC, bank, word, value, mask)
	t.Names = names
	return t
}

func mixedPlan(t *testing.T) *planner.Plan {
	state := make([]uint32, imx8mm.Words)
	state[imx8mm.ReadIndex(1, 3)] = 0x08000000
	state[imx8mm.ReadIndex(9, 0)] = 0x14100009
	state[imx8mm.ReadIndex(4, 0)] = nvmem.ReadProtected
	p, err := planner.Make(planner.Source{Name: "mixed", File: "mixed.yaml"}, imx8mm, state, []manifest.Target{
		target(1, 3, 0x08000000, 0x08000000, "vendor-boot-cfg"),
		target(4, 0, 1, 1, "key"),
		target(9, 0, 0x6, 0xf),
		target(14, 0, 0x203, 0xfff, "board-rev", "hw-variant"),
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPlanText(t *testing.T) {
	var b bytes.Buffer
	Style{}.Plan(&b, mixedPlan(t), "sim:board")
	golden.Check(t, "plan-rejected.txt", b.Bytes())

	p, _ := planner.Make(planner.Source{Name: "ok", File: "ok.yaml"}, imx8mm, make([]uint32, imx8mm.Words),
		[]manifest.Target{target(14, 1, 0x00c0ffee, 0xffffffff, "serial")})
	b.Reset()
	Style{}.Plan(&b, p, "/sys/bus/nvmem/devices/imx-ocotp0/nvmem")
	golden.Check(t, "plan-program.txt", b.Bytes())

	b.Reset()
	Style{Color: true}.Plan(&b, p, "sim:board")
	if !strings.Contains(b.String(), "\x1b[32m+\x1b[0m") {
		t.Errorf("colour style has no green +:\n%q", b.String())
	}
	b.Reset()
	Style{}.Plan(&b, p, "sim:board")
	if strings.Contains(b.String(), "\x1b[") {
		t.Errorf("plain style has escape codes")
	}
}

func TestApplyText(t *testing.T) {
	c := func(bank, word int, before, delta uint32) planner.Change {
		return planner.Change{Target: target(bank, word, before|delta, 0xffffffff), Action: planner.Program, Before: before, Delta: delta}
	}
	otp := nvmem.NewOTP(imx8mm.Words)
	otp.WriteLocked[imx8mm.ReadIndex(14, 2)] = true
	locked := nvmem.NewDevice("sim:board", otp).WriteWord(imx8mm.ReadIndex(14, 2), 0x111)
	if !errors.Is(locked, nvmem.ErrLocked) {
		t.Fatalf("emulator: %v", locked)
	}
	r := &applier.Result{Words: []applier.Word{
		{Change: c(14, 0, 0, 0x1), Status: applier.Verified, ReadBack: 0x1, Read: true},
		{Change: c(14, 1, 0, 0x11), Status: applier.Mismatch, ReadBack: 0x21, Read: true},
		{Change: c(14, 2, 0, 0x111), Status: applier.WriteFailed, ReadBack: 0, Read: true, Err: locked},
		{Change: c(14, 3, 0, 0x1), Status: applier.Skipped},
	}, Strays: []int{3}}
	var b bytes.Buffer
	Style{}.Apply(&b, r)
	golden.Check(t, "apply-partial.txt", b.Bytes())
}

func TestBits(t *testing.T) {
	if got := Bits(0x8000000f); got != "1000 0000 0000 0000 0000 0000 0000 1111" {
		t.Errorf("Bits = %q", got)
	}
	if got := Marks(0x00000101); got != ".... .... .... .... .... ...1 .... ...1" {
		t.Errorf("Marks = %q", got)
	}
}

// securePlan burns an SRK hash, its lock and the close bit on a board with
// a UNIQUE_ID: the plan must show the decoded hash, the burn order with
// closing last, and the warnings with the acknowledgement to give.
func securePlan(t *testing.T) *planner.Plan {
	state := make([]uint32, imx8mm.Words)
	state[imx8mm.ReadIndex(0, 1)] = 0x89abcdef
	state[imx8mm.ReadIndex(0, 2)] = 0x01234567
	targets := []manifest.Target{
		target(0, 0, 1<<9, 1<<9, "SRK_LOCK"),
		// SEC_CONFIG_CLOSE and BOOT_CFG share word 1/3: the boot config
		// bits burn first, the close bit last.
		target(1, 3, 1<<25|0x2022, 1<<25|0xffff, "SEC_CONFIG_CLOSE", "BOOT_CFG"),
	}
	for i := 0; i < 8; i++ {
		bank, word := 6+i/4, i%4
		targets = append(targets, target(bank, word, 0x11111111*uint32(i+1), 0xffffffff))
	}
	p, err := planner.Make(planner.Source{Name: "secure", File: "secure.yaml"}, imx8mm, state, targets)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPlanSecurityText(t *testing.T) {
	var b bytes.Buffer
	Style{}.Plan(&b, securePlan(t), "sim:board")
	golden.Check(t, "plan-secure.txt", b.Bytes())
}

func TestShowText(t *testing.T) {
	state := make([]uint32, imx8mm.Words)
	state[imx8mm.ReadIndex(0, 0)] = 1 << 2 // BOOT_CFG_LOCK write lock
	state[imx8mm.ReadIndex(9, 0)] = 0x9f010203
	state[imx8mm.ReadIndex(9, 1)] = 0x00000004
	state[imx8mm.ReadIndex(0, 1)] = 0x89abcdef
	state[imx8mm.ReadIndex(0, 2)] = 0x01234567
	state[imx8mm.ReadIndex(9, 3)] = 1<<4 | 1   // a key revoked, and a bit beyond SRK_REVOKE
	state[imx8mm.ReadIndex(6, 0)] = 0x11111111 // an SRK hash with a zero word
	var fields []fusemap.FieldState
	for _, n := range []string{"UNIQUE_ID", "BOOT_CFG0", "MAC_ADDR0", "SRK_HASH"} {
		fields = append(fields, imx8mm.DecodeField(imx8mm.Field(n), state))
	}
	sum := imx8mm.Summarize(state)
	var b bytes.Buffer
	Style{}.Show(&b, imx8mm, "sim:board", planner.UniqueID(imx8mm, state), &sum, fields)
	golden.Check(t, "show.txt", b.Bytes())
}

// A word with bits of several classes is burned once per class: the
// summaries count burns and words apart where they differ (here the
// secure plan's 11 burns into 10 words), and as words where they agree.
func TestBurnsAndWords(t *testing.T) {
	p := securePlan(t)
	var words []applier.Word
	for _, w := range p.Writes() {
		words = append(words, applier.Word{Change: w, Status: applier.Verified, ReadBack: w.After(), Read: true})
	}
	r := &applier.Result{Words: words, Final: make([]uint32, imx8mm.Words)}
	if got, want := (Style{}).ApplySummary(r), "Apply complete: 11 burns into 10 words, programmed and verified."; got != want {
		t.Errorf("%q, want %q", got, want)
	}
	r.Words[10].Status = applier.Skipped
	r.Words[9].Status = applier.Mismatch
	if got, want := (Style{}).ApplySummary(r), "Apply stopped: 9 of 11 burns (into 10 words) verified, 1 failed, 1 not attempted."; !strings.HasPrefix(got, want) {
		t.Errorf("%q, want %q...", got, want)
	}
	r.Words = r.Words[2:9] // one burn per word
	r.Words[0].Status = applier.Verified
	if got, want := (Style{}).ApplySummary(r), "Apply complete: 7 words programmed and verified."; got != want {
		t.Errorf("%q, want %q", got, want)
	}
}

// Every escape sequence a coloured rendering writes is one of Sequences,
// which the output writer lets through: colour survives it unchanged.
func TestSequencesCoverPaint(t *testing.T) {
	var b bytes.Buffer
	s := Style{Color: true}
	s.Plan(&b, securePlan(t), "sim:board")
	s.Plan(&b, mixedPlan(t), "sim:board")
	s.Verify(&b, mixedPlan(t))
	var out bytes.Buffer
	w := termtext.NewWriter(&out, Sequences()...)
	if _, err := w.Write(b.Bytes()); err != nil || w.Flush() != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "\x1b[31m") || out.String() != b.String() {
		t.Errorf("colour did not pass the writer unchanged:\n%q\nbecame\n%q", b.String(), out.String())
	}
}
