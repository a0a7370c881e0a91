package applier

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/otpprov/otpprov/fusemap"
	"github.com/otpprov/otpprov/manifest"
	"github.com/otpprov/otpprov/nvmem"
	"github.com/otpprov/otpprov/planner"
)

// mapped is an emulated board of soc whose controller knows the fuse map:
// it enforces the LOCK fields and the SoC's read/write offsets.
func mapped(t *testing.T, soc string) (*fusemap.Map, *nvmem.OTP, *nvmem.Device) {
	t.Helper()
	m, err := fusemap.Load(soc)
	if err != nil {
		t.Fatal(err)
	}
	otp := nvmem.NewOTP(m.Words)
	otp.Map = m
	return m, otp, nvmem.NewDevice("emulator", otp)
}

func planOn(t *testing.T, m *fusemap.Map, dev *nvmem.Device, targets ...manifest.Target) *planner.Plan {
	t.Helper()
	b, err := dev.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	p, err := planner.Make(planner.Source{Name: "test"}, m, nvmem.Words(b), targets)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// The secure-boot recipe on the wire: the SRK hash and boot config first,
// then the SRK lock, and the close bit alone as the very last write.
func TestApplySecureOrderOnTheWire(t *testing.T) {
	m, otp, dev := mapped(t, "imx8mm")
	targets := []manifest.Target{
		manifest.NewTarget(m.SoC, 0, 0, 1<<9, 1<<9),                 // SRK_LOCK
		manifest.NewTarget(m.SoC, 1, 3, 1<<25|0x2022, 1<<25|0xffff), // SEC_CONFIG_CLOSE + BOOT_CFG
	}
	for i := 0; i < 8; i++ {
		targets = append(targets, manifest.NewTarget(m.SoC, 6+i/4, i%4, uint32(0x01010101*(i+1)), 0xffffffff))
	}
	p := planOn(t, m, dev, targets...)
	r, err := Apply(context.Background(), dev, p)
	if err != nil || !r.OK() {
		t.Fatalf("apply: %v %+v", err, r)
	}
	want := []nvmem.WordWrite{{Word: 7, Value: 0x2022}}
	for i := 0; i < 8; i++ {
		want = append(want, nvmem.WordWrite{Word: 24 + i, Value: uint32(0x01010101 * (i + 1))})
	}
	want = append(want, nvmem.WordWrite{Word: 0, Value: 1 << 9}, nvmem.WordWrite{Word: 7, Value: 1 << 25})
	if len(otp.Log) != len(want) {
		t.Fatalf("wire: %+v\nwant %+v", otp.Log, want)
	}
	for i := range want {
		if otp.Log[i] != want[i] {
			t.Errorf("write %d: %+v, want %+v", i+1, otp.Log[i], want[i])
		}
	}
}

// A lock that protects a word the plan burns security bits into must come
// after that burn: on the emulator, which enforces locks like the
// controller, the other order would fail with EPERM.
func TestApplyLockAfterTheWordsItLocks(t *testing.T) {
	m, otp, dev := mapped(t, "imx8mm")
	p := planOn(t, m, dev,
		manifest.NewTarget(m.SoC, 0, 0, 1<<2, 1<<2),   // BOOT_CFG_LOCK write lock
		manifest.NewTarget(m.SoC, 1, 3, 1<<21, 1<<21), // SJC_DISABLE, in BOOT_CFG0
	)
	r, err := Apply(context.Background(), dev, p)
	if err != nil || !r.OK() {
		t.Fatalf("apply: %v %+v", err, r.Words)
	}
	if len(otp.Log) != 2 || otp.Log[0].Word != 7 || otp.Log[1].Word != 0 {
		t.Fatalf("wire %+v: want 1/3 (index 7) before the lock word", otp.Log)
	}
}

// i.MX6: a fuse of bank 6 is written at offset/4 = 48 and read back at
// the shadow register's index 64; the apply verifies through the read
// offset and leaves the write offset's shadow untouched.
func TestApplyIMX6Offsets(t *testing.T) {
	m, otp, dev := mapped(t, "imx6q")
	p := planOn(t, m, dev, manifest.NewTarget(m.SoC, 6, 0, 0xa5, 0xff))
	r, err := Apply(context.Background(), dev, p)
	if err != nil || !r.OK() {
		t.Fatalf("apply: %v %+v", err, r.Words)
	}
	if len(otp.Log) != 1 || otp.Log[0].Word != 48 || otp.Log[0].Value != 0xa5 {
		t.Fatalf("wire %+v: want one write to index 48", otp.Log)
	}
	if otp.Fuses[64] != 0xa5 || otp.Fuses[48] != 0 {
		t.Fatalf("read index 64 = %#x, 48 = %#x", otp.Fuses[64], otp.Fuses[48])
	}
}

// A plain image cannot stand in for an i.MX6 above bank 5: apply refuses
// before writing anything.
func TestApplyRefusesImageWithTwoLayouts(t *testing.T) {
	m, err := fusemap.Load("imx6q")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "ocotp.img")
	if err := os.WriteFile(path, make([]byte, m.Bytes()), 0o644); err != nil {
		t.Fatal(err)
	}
	dev, err := nvmem.Open(path, nvmem.ReadWrite)
	if err != nil {
		t.Fatal(err)
	}
	defer dev.Close()
	p := planOn(t, m, dev, manifest.NewTarget(m.SoC, 4, 6, 1, 1), manifest.NewTarget(m.SoC, 6, 0, 1, 1))
	_, err = Apply(context.Background(), dev, p)
	if err == nil || !strings.Contains(err.Error(), "plain image") || !strings.Contains(err.Error(), "bank 6 word 0") {
		t.Fatalf("err = %v", err)
	}
	b, _ := os.ReadFile(path)
	for i, x := range b {
		if x != 0 {
			t.Fatalf("byte %d of the image was written", i)
		}
	}
}

// A read lock the plan burns hides the words it protects: they read
// 0xBADABADA afterwards, as the plan warned, and are not strays. Found by
// the model test: the apply used to end "partial" (exit 3) on a healthy
// board.
func TestApplyPlannedReadLockIsNotAStray(t *testing.T) {
	m, otp, dev := mapped(t, "imx8mm")
	p := planOn(t, m, dev,
		manifest.NewTarget(m.SoC, 0, 0, 1<<10, 1<<10),           // SJC_RESP_LOCK: write, override and read lock
		manifest.NewTarget(m.SoC, 8, 0, 0x12345678, 0xffffffff), // SJC_RESP, burned before its lock
	)
	r, err := Apply(context.Background(), dev, p)
	if err != nil || !r.OK() || len(r.Strays) != 0 {
		t.Fatalf("apply: %v, outcome %s, strays %v", err, r.Outcome(), r.Strays)
	}
	if otp.Fuses[32] != 0x12345678 || r.Final[32] != nvmem.ReadProtected || r.Final[33] != nvmem.ReadProtected {
		t.Fatalf("SJC_RESP holds %#x and reads %#x, %#x", otp.Fuses[32], r.Final[32], r.Final[33])
	}
}

// The same read lock burned by a misdirected write, not by the plan: the
// words it hides are strays, and so is the lock word.
func TestApplyStrayReadLockIsAStray(t *testing.T) {
	m, otp, dev := mapped(t, "imx8mm")
	otp.Faults = []nvmem.Fault{{Kind: nvmem.FaultMisdirect, Write: 1, Word: 0}}
	p := planOn(t, m, dev, manifest.NewTarget(m.SoC, 14, 0, 1<<10, 1<<10)) // GP1 bit 10, burned into 0/0 bit 10
	r, err := Apply(context.Background(), dev, p)
	if err != nil || r.OK() {
		t.Fatalf("apply: %v, outcome %s", err, r.Outcome())
	}
	if want := []int{0, 32, 33}; !slices.Equal(r.Strays, want) {
		t.Fatalf("strays %v, want %v", r.Strays, want)
	}
}

// A misdirected burn that lands on a word the plan would program later,
// but never reached, is a stray: apply must not say "nothing written".
// Found by the model test.
func TestApplyStrayIntoASkippedWord(t *testing.T) {
	m, otp, dev := mapped(t, "imx8mm")
	otp.Faults = []nvmem.Fault{{Kind: nvmem.FaultMisdirect, Write: 1, Word: m.WriteIndex(14, 1)}}
	p := planOn(t, m, dev,
		manifest.NewTarget(m.SoC, 14, 0, 0x1, 0xffffffff),
		manifest.NewTarget(m.SoC, 14, 1, 0x2, 0xffffffff),
	)
	r, err := Apply(context.Background(), dev, p)
	if err != nil || r.OK() {
		t.Fatalf("apply: %v, outcome %s", err, r.Outcome())
	}
	if !slices.Equal(statuses(r), []Status{Mismatch, Skipped}) || otp.Fuses[m.ReadIndex(14, 1)] != 0x1 {
		t.Fatalf("statuses %v, 14/1 holds %#x", statuses(r), otp.Fuses[m.ReadIndex(14, 1)])
	}
	if want := []int{m.ReadIndex(14, 1)}; !slices.Equal(r.Strays, want) || !r.Changed() || r.Outcome() != "partial" {
		t.Fatalf("strays %v (want %v), changed %v, outcome %s", r.Strays, want, r.Changed(), r.Outcome())
	}
}
