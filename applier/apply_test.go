package applier

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/otpprov/otpprov/fusemap"
	"github.com/otpprov/otpprov/manifest"
	"github.com/otpprov/otpprov/nvmem"
	"github.com/otpprov/otpprov/planner"
)

var imx8mm, _ = fusemap.Load("imx8mm")

// board is an emulated i.MX8MM: the tests fake the hardware, not the
// device layer, so every write goes through nvmem.Device as in production.
func board(t *testing.T, setup func(*nvmem.OTP)) (*nvmem.OTP, *nvmem.Device) {
	t.Helper()
	otp := nvmem.NewOTP(imx8mm.Words)
	if setup != nil {
		setup(otp)
	}
	return otp, nvmem.NewDevice("emulator", otp)
}

func plan(t *testing.T, dev *nvmem.Device, targets ...manifest.Target) *planner.Plan {
	t.Helper()
	b, err := dev.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	p, err := planner.Make(planner.Source{Name: "test"}, imx8mm, nvmem.Words(b), targets)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func word(bank, w int, value uint32) manifest.Target {
	return manifest.NewTarget(imx8mm.SoC, bank, w, value, 0xffffffff)
}

func statuses(r *Result) []Status {
	var s []Status
	for _, w := range r.Words {
		s = append(s, w.Status)
	}
	return s
}

var three = []manifest.Target{word(14, 0, 0x1), word(14, 1, 0x11), word(14, 2, 0x111)}

func TestApply(t *testing.T) {
	cases := []struct {
		name     string
		setup    func(*nvmem.OTP)
		statuses []Status
		ok       bool
		changed  bool
		final    [3]uint32 // bank 14 words 0..2 after
		strays   int
		wire     []nvmem.WordWrite // what reached the controller
	}{
		{name: "all verified", statuses: []Status{Verified, Verified, Verified}, ok: true, changed: true, final: [3]uint32{1, 0x11, 0x111},
			wire: []nvmem.WordWrite{nvmem.WordWrite{Word: 56, Value: 0x1}, nvmem.WordWrite{Word: 57, Value: 0x11}, nvmem.WordWrite{Word: 58, Value: 0x111}}},
		{name: "stuck bit stops", setup: func(o *nvmem.OTP) {
			o.Faults = []nvmem.Fault{{Kind: nvmem.FaultStuckBit, Word: imx8mm.ReadIndex(14, 1), Bit: 4}}
		}, statuses: []Status{Verified, Mismatch, Skipped}, changed: true, final: [3]uint32{1, 0x01, 0},
			wire: []nvmem.WordWrite{nvmem.WordWrite{Word: 56, Value: 0x1}, nvmem.WordWrite{Word: 57, Value: 0x11}}},
		{name: "locked first word: nothing written", setup: func(o *nvmem.OTP) {
			o.WriteLocked[imx8mm.ReadIndex(14, 0)] = true
		}, statuses: []Status{WriteFailed, Skipped, Skipped},
			wire: []nvmem.WordWrite{nvmem.WordWrite{Word: 56, Value: 0x1}}},
		{name: "timeout after burn: burned, reported, stopped", setup: func(o *nvmem.OTP) {
			o.Faults = []nvmem.Fault{{Kind: nvmem.FaultTimeoutAfterBurn, Write: 2}}
		}, statuses: []Status{Verified, WriteFailed, Skipped}, changed: true, final: [3]uint32{1, 0x11, 0},
			wire: []nvmem.WordWrite{nvmem.WordWrite{Word: 56, Value: 0x1}, nvmem.WordWrite{Word: 57, Value: 0x11}}},
		{name: "EIO on the last word", setup: func(o *nvmem.OTP) {
			o.Faults = []nvmem.Fault{{Kind: nvmem.FaultEIO, Write: 3}}
		}, statuses: []Status{Verified, Verified, WriteFailed}, changed: true, final: [3]uint32{1, 0x11, 0},
			wire: []nvmem.WordWrite{nvmem.WordWrite{Word: 56, Value: 0x1}, nvmem.WordWrite{Word: 57, Value: 0x11}, nvmem.WordWrite{Word: 58, Value: 0x111}}},
		{name: "misdirected write is caught", setup: func(o *nvmem.OTP) {
			o.Faults = []nvmem.Fault{{Kind: nvmem.FaultMisdirect, Write: 1, Word: 3}}
		}, statuses: []Status{Mismatch, Skipped, Skipped}, changed: true, strays: 1,
			wire: []nvmem.WordWrite{{Word: 56, Value: 0x1}}}, // as addressed
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			otp, dev := board(t, c.setup)
			r, err := Apply(context.Background(), dev, plan(t, dev, three...))
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(statuses(r), c.statuses) {
				t.Fatalf("statuses %v, want %v", statuses(r), c.statuses)
			}
			if r.OK() != c.ok || r.Changed() != c.changed || len(r.Strays) != c.strays {
				t.Fatalf("OK %v Changed %v strays %v, want %v %v %d", r.OK(), r.Changed(), r.Strays, c.ok, c.changed, c.strays)
			}
			if !slices.Equal(otp.Log, c.wire) {
				t.Errorf("writes on the wire %v, want %v", otp.Log, c.wire)
			}
			for i, want := range c.final {
				if got := otp.Fuses[imx8mm.ReadIndex(14, i)]; got != want {
					t.Errorf("bank 14 word %d = %#x, want %#x", i, got, want)
				}
			}
			// The read-back reported is what the device holds.
			for _, w := range r.Words {
				if w.Status != Skipped && w.Read && w.ReadBack != otp.Fuses[w.Index] {
					t.Errorf("word %d: reported %#x, device holds %#x", w.Index, w.ReadBack, otp.Fuses[w.Index])
				}
			}
		})
	}
}

func TestApplyRefusesRejectedPlan(t *testing.T) {
	otp, dev := board(t, func(o *nvmem.OTP) { o.Fuses[imx8mm.ReadIndex(14, 1)] = 0x2 })
	p := plan(t, dev, word(14, 0, 1), manifest.NewTarget(imx8mm.SoC, 14, 1, 0, 0x2))
	if _, err := Apply(context.Background(), dev, p); err == nil {
		t.Fatal("a rejected plan was applied")
	}
	if otp.Writes != 0 {
		t.Fatalf("%d writes", otp.Writes)
	}
}

func TestApplyInterrupted(t *testing.T) {
	otp, dev := board(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r, err := Apply(ctx, dev, plan(t, dev, three...))
	if err != nil {
		t.Fatal(err)
	}
	if !r.Interrupted || otp.Writes != 0 || r.Changed() || !slices.Equal(statuses(r), []Status{Skipped, Skipped, Skipped}) {
		t.Fatalf("interrupted %v writes %d changed %v statuses %v", r.Interrupted, otp.Writes, r.Changed(), statuses(r))
	}
}

func TestResultOutcome(t *testing.T) {
	_, dev := board(t, func(o *nvmem.OTP) { o.WriteLocked[imx8mm.ReadIndex(14, 0)] = true })
	r, _ := Apply(context.Background(), dev, plan(t, dev, three...))
	if r.Outcome() != "nothing-written" {
		t.Fatalf("outcome %q", r.Outcome())
	}
	var de *nvmem.Error
	if !errors.As(r.Words[0].Err, &de) || !errors.Is(r.Words[0].Err, nvmem.ErrLocked) {
		t.Fatalf("locked word error: %v", r.Words[0].Err)
	}
}
