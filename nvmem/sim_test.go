package nvmem

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
)

// newSim creates a blank imx8mm sim and, if config is not empty, replaces
// its sim.yaml with config.
func newSim(t *testing.T, config string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "board")
	if err := InitSim(dir, imx8mm(t), nil); err != nil {
		t.Fatal(err)
	}
	if config != "" {
		if err := os.WriteFile(filepath.Join(dir, simConfigFile), []byte(config), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func readFuses(t *testing.T, dir string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, simFusesFile))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func counters(t *testing.T, dir string) Counters {
	t.Helper()
	c, err := ReadSimCounters(dir)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestInitSimBlank(t *testing.T) {
	soc := imx8mm(t)
	dir := filepath.Join(t.TempDir(), "a", "b") // InitSim makes the parents
	if err := InitSim(dir, soc, nil); err != nil {
		t.Fatal(err)
	}
	if b := readFuses(t, dir); !bytes.Equal(b, make([]byte, soc.Bytes())) {
		t.Errorf("fuses.bin is %d bytes, not %d zero bytes", len(b), soc.Bytes())
	}
	if c := counters(t, dir); c != (Counters{}) {
		t.Errorf("counters = %+v, want zero", c)
	}
	cfg, got, err := ReadSimConfig(dir)
	if err != nil {
		t.Fatalf("ReadSimConfig of a fresh sim = %v", err)
	}
	if got.Name != "imx8mm" || cfg.SoC != "imx8mm" || cfg.ReadOnly ||
		len(cfg.ReadProtected)+len(cfg.WriteLocked)+len(cfg.Faults) != 0 {
		t.Errorf("fresh config = %+v (soc %s), want a plain imx8mm", cfg, got.Name)
	}

	d := openT(t, "sim:"+dir, ReadOnly)
	b, err := d.ReadAll()
	if err != nil || !bytes.Equal(b, make([]byte, soc.Bytes())) {
		t.Errorf("ReadAll of a blank sim = %d bytes, %v", len(b), err)
	}
}

func TestInitSimRefusesExisting(t *testing.T) {
	dir := newSim(t, "")
	d := openT(t, "sim:"+dir, ReadWrite)
	if err := d.WriteWord(37, 0xFF); err != nil {
		t.Fatal(err)
	}
	d.Close()
	before := readFuses(t, dir)

	err := InitSim(dir, imx8mm(t), nil)
	if err == nil || !strings.Contains(err.Error(), dir) {
		t.Fatalf("InitSim over a sim = %v, want an error naming %s", err, dir)
	}
	if !bytes.Equal(readFuses(t, dir), before) {
		t.Error("InitSim over a sim changed fuses.bin")
	}
}

func TestInitSimWrongImageSize(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "board")
	err := InitSim(dir, imx8mm(t), &Image{Bytes: make([]byte, 1536)})
	if err == nil {
		t.Fatal("InitSim with a 1536-byte image for imx8mm succeeded")
	}
	if _, err := os.Stat(filepath.Join(dir, simConfigFile)); err == nil {
		t.Error("a refused InitSim left a sim.yaml")
	}
}

func TestInitSimFromDump(t *testing.T) {
	soc := imx8mm(t)
	img, err := ParseDump(bytes.NewReader(readDigi(t)), digiDump, soc.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if len(img.Protected) == 0 {
		t.Fatal("the digi dump has no protected words")
	}
	dir := filepath.Join(t.TempDir(), "digi")
	if err := InitSim(dir, soc, img); err != nil {
		t.Fatal(err)
	}

	cfg, _, err := ReadSimConfig(dir)
	if err != nil {
		t.Fatalf("ReadSimConfig = %v", err)
	}
	var listed []int
	for _, w := range cfg.ReadProtected {
		listed = append(listed, soc.ReadIndex(w.Bank, w.Word))
	}
	if !slices.Equal(listed, img.Protected) {
		t.Errorf("sim.yaml protects words %v, want %v", listed, img.Protected)
	}

	// A protected word's value cannot be known: fuses.bin holds 0 for it.
	fuses := readFuses(t, dir)
	for k := range soc.Words {
		want := word(img.Bytes, k)
		if slices.Contains(img.Protected, k) {
			want = 0
		}
		if got := word(fuses, k); got != want {
			t.Errorf("fuses.bin word %d = %#08x, want %#08x", k, got, want)
		}
	}

	d := openT(t, "sim:"+dir, ReadOnly)
	for _, tc := range []struct {
		index int
		want  uint32
	}{
		{0, 0xfeafa9eb},
		{1, 0x50d00200},
		{15, 0x013c7b3a},
		{16, ReadProtected},
		{19, ReadProtected},
		{40, ReadProtected},
		{80, 0x55002001},
		{255, ReadProtected},
	} {
		if v, err := d.ReadWord(tc.index); v != tc.want || err != nil {
			t.Errorf("ReadWord(%d) = %#08x, %v; want %#08x", tc.index, v, err, tc.want)
		}
	}
	// The whole device reads back as the dump showed it.
	b, err := d.ReadAll()
	if err != nil || !bytes.Equal(b, img.Bytes) {
		t.Errorf("ReadAll of the sim differs from the dump (%v)", err)
	}
}

func TestSimBurnsPersist(t *testing.T) {
	dir := newSim(t, "")
	d := openT(t, "sim:"+dir, ReadWrite)
	if err := d.WriteWord(37, 0x12345678); err != nil {
		t.Fatal(err)
	}
	// On disk before Close: a killed process loses nothing.
	fuses := readFuses(t, dir)
	want := make([]byte, 1024)
	binary.LittleEndian.PutUint32(want[148:], 0x12345678)
	if !bytes.Equal(fuses, want) {
		t.Errorf("fuses.bin after the write is not the blank array with 78 56 34 12 at 148")
	}
	if err := d.WriteWord(37, 0x80000000); err != nil {
		t.Fatal(err)
	}
	if got := word(readFuses(t, dir), 37); got != 0x92345678 {
		t.Errorf("fuses.bin word 37 = %#08x after a second write, want 0x92345678", got)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}

	d2 := openT(t, "sim:"+dir, ReadOnly)
	if v, err := d2.ReadWord(37); v != 0x92345678 || err != nil {
		t.Errorf("ReadWord(37) after reopening = %#08x, %v", v, err)
	}
}

func TestSimReadOnlyConfig(t *testing.T) {
	dir := newSim(t, "soc: imx8mm\nreadOnly: true\n")
	d, err := Open("sim:"+dir, ReadWrite)
	if d != nil {
		d.Close()
	}
	wantKind(t, err, ErrReadOnly, syscall.EACCES)

	s, err := OpenSim(dir, ReadWrite)
	if s != nil {
		s.Close()
	}
	if !errors.Is(err, syscall.EACCES) {
		t.Errorf("OpenSim(readOnly sim, ReadWrite) = %v, want EACCES", err)
	}

	// Reading works.
	r := openT(t, "sim:"+dir, ReadOnly)
	if _, err := r.ReadAll(); err != nil {
		t.Errorf("ReadAll of a read-only sim = %v", err)
	}
}

func TestSimOpenedReadOnlyRefusesWrites(t *testing.T) {
	dir := newSim(t, "")
	d := openT(t, "sim:"+dir, ReadOnly)
	err := d.WriteWord(37, 1)
	wantKind(t, err, ErrIO, syscall.EBADF)
	if v, _ := d.ReadWord(37); v != 0 {
		t.Errorf("the refused write burned word 37 in memory: %#08x", v)
	}
	if !bytes.Equal(readFuses(t, dir), make([]byte, 1024)) {
		t.Error("the refused write reached fuses.bin")
	}
	d.Close()
	if c := counters(t, dir); c.Writes != 0 {
		t.Errorf("a write refused before the driver counted: %+v", c)
	}
}

func TestSimBusy(t *testing.T) {
	dir := newSim(t, "")
	first := openT(t, "sim:"+dir, ReadWrite)

	second, err := Open("sim:"+dir, ReadWrite)
	if second != nil {
		second.Close()
	}
	wantKind(t, err, ErrBusy, syscall.EWOULDBLOCK)

	// A plain ReadWrite open of its fuses.bin conflicts too.
	f, err := Open(filepath.Join(dir, simFusesFile), ReadWrite)
	if f != nil {
		f.Close()
	}
	wantKind(t, err, ErrBusy, syscall.EWOULDBLOCK)

	// Readers need no lock.
	r := openT(t, "sim:"+dir, ReadOnly)
	if _, err := r.ReadWord(0); err != nil {
		t.Errorf("ReadWord while locked = %v", err)
	}

	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	third := openT(t, "sim:"+dir, ReadWrite)
	if err := third.WriteWord(1, 1); err != nil {
		t.Errorf("WriteWord after the lock was released = %v", err)
	}
}

func TestSimCounters(t *testing.T) {
	dir := newSim(t, "")

	d := openT(t, "sim:"+dir, ReadOnly)
	for k := range 3 {
		if _, err := d.ReadWord(k); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if c := counters(t, dir); c != (Counters{Reads: 3}) {
		t.Fatalf("after 3 reads, counters = %+v", c)
	}

	d = openT(t, "sim:"+dir, ReadWrite)
	if _, err := d.ReadWord(0); err != nil {
		t.Fatal(err)
	}
	if err := d.WriteWord(4, 1); err != nil {
		t.Fatal(err)
	}
	if err := d.WriteWord(1000, 1); err == nil { // a failed call counts too
		t.Fatal("WriteWord(1000) succeeded")
	}
	// Writes are saved as they happen.
	if c := counters(t, dir); c.Writes != 2 {
		t.Errorf("before Close, counters = %+v, want 2 writes", c)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if c := counters(t, dir); c != (Counters{Reads: 4, Writes: 2}) {
		t.Errorf("after a second session, counters = %+v, want {4 2}", c)
	}

	// Two read-only sessions side by side add up.
	a := openT(t, "sim:"+dir, ReadOnly)
	b := openT(t, "sim:"+dir, ReadOnly)
	a.ReadWord(0)
	b.ReadWord(0)
	b.ReadWord(1)
	a.Close()
	b.Close()
	if c := counters(t, dir); c != (Counters{Reads: 7, Writes: 2}) {
		t.Errorf("after two concurrent sessions, counters = %+v, want {7 2}", c)
	}
}

func TestReadSimCountersMissing(t *testing.T) {
	dir := newSim(t, "")
	if err := os.Remove(filepath.Join(dir, simCountersFile)); err != nil {
		t.Fatal(err)
	}
	if c, err := ReadSimCounters(dir); err != nil || c != (Counters{}) {
		t.Errorf("ReadSimCounters without the file = %+v, %v", c, err)
	}
	// A sim without counters.json still opens and starts counting.
	d := openT(t, "sim:"+dir, ReadWrite)
	d.WriteWord(0, 1)
	d.Close()
	if c := counters(t, dir); c.Writes != 1 {
		t.Errorf("counters = %+v, want 1 write", c)
	}
}

func TestSimConfigApplied(t *testing.T) {
	dir := newSim(t, `soc: imx8mm
readOnly: false
readProtected:
  - {bank: 4, word: 0}
writeLocked:
  - {bank: 9, word: 1}
faults:
  - {kind: stuck-bit, bank: 10, word: 2, bit: 3}
  - {kind: eio, write: 2}
  - {kind: etimedout-after-burn, write: 4}
  - {kind: misdirect, write: 5, bank: 0, word: 1}
`)
	d := openT(t, "sim:"+dir, ReadWrite)
	if v, err := d.ReadWord(16); v != ReadProtected || err != nil {
		t.Errorf("ReadWord(bank 4 word 0) = %#08x, %v; want 0xbadabada", v, err)
	}
	// Write 1: bank 9 word 1 is locked.
	wantKind(t, d.WriteWord(37, 1), ErrLocked, syscall.EPERM)
	// Write 2: EIO.
	wantKind(t, d.WriteWord(38, 1), ErrIO, syscall.EIO)
	// Write 3: the stuck bit of bank 10 word 2 (index 42).
	if err := d.WriteWord(42, 0xFF); err != nil {
		t.Fatal(err)
	}
	// Write 4: burns, then times out.
	wantKind(t, d.WriteWord(43, 1), ErrTimedOut, syscall.ETIMEDOUT)
	// Write 5: burns bank 0 word 1 instead of word 44.
	if err := d.WriteWord(44, 0x10); err != nil {
		t.Fatal(err)
	}
	want := make([]uint32, 256)
	want[42], want[43], want[1] = 0xF7, 1, 0x10
	if got := Words(readFuses(t, dir)); !slices.Equal(got, want) {
		for k := range got {
			if got[k] != want[k] {
				t.Errorf("fuses.bin word %d = %#08x, want %#08x", k, got[k], want[k])
			}
		}
	}
}

// Faults fire on the Nth write call of the sim's life, across sessions.
func TestSimFaultAcrossSessions(t *testing.T) {
	dir := newSim(t, "soc: imx8mm\nfaults:\n  - {kind: etimedout, write: 2}\n")
	d := openT(t, "sim:"+dir, ReadWrite)
	if err := d.WriteWord(5, 1); err != nil {
		t.Fatalf("write 1 = %v", err)
	}
	d.Close()

	d = openT(t, "sim:"+dir, ReadWrite)
	wantKind(t, d.WriteWord(6, 1), ErrTimedOut, syscall.ETIMEDOUT)
	if err := d.WriteWord(6, 1); err != nil {
		t.Errorf("write 3 = %v", err)
	}
	d.Close()
	if got := Words(readFuses(t, dir)); got[5] != 1 || got[6] != 1 {
		t.Errorf("words 5, 6 = %#x, %#x; want 1, 1", got[5], got[6])
	}
}

func TestSimConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name, config string
		want         string // also in the message
	}{
		{"unknown key", "soc: imx8mm\nreadonly: true\n", "readonly"},
		{"unknown word key", "soc: imx8mm\nwriteLocked:\n  - {bank: 1, word: 1, bit: 2}\n", "bit"},
		{"unknown fault key", "soc: imx8mm\nfaults:\n  - {kind: eio, write: 1, count: 2}\n", "count"},
		{"no soc", "readOnly: false\n", "soc"},
		{"bad soc", "soc: imx5\n", "imx5"},
		{"bad readOnly", "soc: imx8mm\nreadOnly: maybe\n", "maybe"},
		{"bank out of range", "soc: imx8mm\nreadProtected:\n  - {bank: 64, word: 0}\n", "bank 64"},
		{"negative bank", "soc: imx8mm\nwriteLocked:\n  - {bank: -1, word: 0}\n", "bank -1"},
		{"word out of range", "soc: imx8mm\nwriteLocked:\n  - {bank: 3, word: 4}\n", "word 4"},
		{"negative word", "soc: imx8mm\nreadProtected:\n  - {bank: 3, word: -1}\n", "word -1"},
		{"imx8mp bank on imx8mm", "soc: imx8mm\nwriteLocked:\n  - {bank: 80, word: 0}\n", "bank 80"},
		{"stuck-bit out of range", "soc: imx8mm\nfaults:\n  - {kind: stuck-bit, bank: 64, word: 0, bit: 1}\n", "bank 64"},
		{"bit 32", "soc: imx8mm\nfaults:\n  - {kind: stuck-bit, bank: 9, word: 1, bit: 32}\n", "bit 32"},
		{"bit -1", "soc: imx8mm\nfaults:\n  - {kind: stuck-bit, bank: 9, word: 1, bit: -1}\n", "bit -1"},
		{"unknown fault kind", "soc: imx8mm\nfaults:\n  - {kind: melt, write: 1}\n", "melt"},
		{"fault without kind", "soc: imx8mm\nfaults:\n  - {write: 1}\n", "unknown kind"},
		{"eio without write", "soc: imx8mm\nfaults:\n  - {kind: eio}\n", "write: N"},
		{"etimedout without write", "soc: imx8mm\nfaults:\n  - {kind: etimedout}\n", "write: N"},
		{"after-burn without write", "soc: imx8mm\nfaults:\n  - {kind: etimedout-after-burn}\n", "write: N"},
		{"misdirect without write", "soc: imx8mm\nfaults:\n  - {kind: misdirect, bank: 0, word: 0}\n", "write: N"},
		{"write 0", "soc: imx8mm\nfaults:\n  - {kind: eio, write: 0}\n", "write: N"},
		{"negative write", "soc: imx8mm\nfaults:\n  - {kind: eio, write: -3}\n", "write: N"},
		{"misdirect out of range", "soc: imx8mm\nfaults:\n  - {kind: misdirect, write: 1, bank: 99, word: 0}\n", "bank 99"},
		{"not yaml", "soc: [imx8mm\n", ""},
		{"a list", "- soc: imx8mm\n", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := newSim(t, tc.config)
			_, _, err := ReadSimConfig(dir)
			if err == nil {
				t.Fatalf("ReadSimConfig accepted:\n%s", tc.config)
			}
			if !strings.Contains(err.Error(), filepath.Join(dir, simConfigFile)) {
				t.Errorf("message %q does not name %s", err, filepath.Join(dir, simConfigFile))
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("message %q lacks %q", err, tc.want)
			}
			// Opening refuses it too, whatever the mode, with the message.
			for _, mode := range []Mode{ReadOnly, ReadWrite} {
				d, oerr := Open("sim:"+dir, mode)
				if d != nil {
					d.Close()
				}
				if oerr == nil || !strings.Contains(oerr.Error(), simConfigFile) {
					t.Errorf("Open(mode %d) = %v, want the sim.yaml error", mode, oerr)
				}
			}
		})
	}
}

func TestSimConfigAccepts(t *testing.T) {
	for _, config := range []string{
		"soc: imx8mm\n",
		"soc: imx8mp\nwriteLocked:\n  - {bank: 95, word: 3}\n",
		"soc: imx8mm\nfaults:\n  - {kind: stuck-bit, bank: 63, word: 3, bit: 31}\n  - {kind: stuck-bit, bank: 0, word: 0, bit: 0}\n",
		"soc: imx8mm\nfaults:\n  - {kind: misdirect, write: 1, bank: 0, word: 0}\n",
		"# only a comment\nsoc: imx8mq\nreadOnly: true\nreadProtected: []\nwriteLocked: []\nfaults: []\n",
	} {
		dir := newSim(t, config)
		if _, _, err := ReadSimConfig(dir); err != nil {
			t.Errorf("ReadSimConfig(%q) = %v", config, err)
		}
	}
}

func TestOpenSimMissing(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "nothing")
	_, err := OpenSim(dir, ReadOnly)
	if err == nil || !strings.Contains(err.Error(), "not an otpprov sim") {
		t.Errorf("OpenSim(missing) = %v, want 'not an otpprov sim'", err)
	}
	d, err := Open("sim:"+dir, ReadOnly)
	if d != nil || err == nil {
		t.Fatalf("Open(sim:missing) = %v, %v", d, err)
	}
	var e *Error
	if !errors.As(err, &e) || e.Spec != "sim:"+dir {
		t.Errorf("Open(sim:missing) = %v, want an *Error for spec sim:%s", err, dir)
	}
}

func TestOpenSimBadFuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		size int
	}{
		{"short", 1020},
		{"long", 1028},
		{"empty", 0},
		{"imx8mp size", 1536},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := newSim(t, "")
			if err := os.WriteFile(filepath.Join(dir, simFusesFile), make([]byte, tc.size), 0o644); err != nil {
				t.Fatal(err)
			}
			s, err := OpenSim(dir, ReadWrite)
			if s != nil {
				s.Close()
			}
			if err == nil || !strings.Contains(err.Error(), simFusesFile) {
				t.Fatalf("OpenSim with a %d-byte fuses.bin = %v, want an error naming fuses.bin", tc.size, err)
			}
			// The failed open released its lock.
			s, err = OpenSim(newSimOver(t, dir), ReadWrite)
			if err != nil {
				t.Fatalf("after a failed open, OpenSim = %v", err)
			}
			s.Close()
		})
	}
}

// newSimOver repairs fuses.bin of dir so that it opens again.
func newSimOver(t *testing.T, dir string) string {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, simFusesFile), make([]byte, 1024), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestOpenSimBadCounters(t *testing.T) {
	dir := newSim(t, "")
	if err := os.WriteFile(filepath.Join(dir, simCountersFile), []byte("{reads: 1"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := OpenSim(dir, ReadOnly)
	if err == nil || !strings.Contains(err.Error(), simCountersFile) {
		t.Errorf("OpenSim with a broken counters.json = %v, want an error naming it", err)
	}
}

func TestFormatSimConfigRoundTrip(t *testing.T) {
	cfg := &SimConfig{
		SoC:           "imx8mp",
		ReadProtected: []SimWord{{4, 0}, {95, 3}},
		WriteLocked:   []SimWord{{9, 1}},
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, simConfigFile), formatSimConfig(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	got, soc, err := ReadSimConfig(dir)
	if err != nil {
		t.Fatalf("ReadSimConfig(formatSimConfig(...)) = %v", err)
	}
	if soc.Name != "imx8mp" || got.SoC != "imx8mp" ||
		!slices.Equal(got.ReadProtected, cfg.ReadProtected) || !slices.Equal(got.WriteLocked, cfg.WriteLocked) ||
		got.ReadOnly || len(got.Faults) != 0 {
		t.Errorf("round trip = %+v, want %+v", got, cfg)
	}
}

// TestSimFaultsNeedWrite: every kind that fires on a write call, the new
// ones included, is refused without one, and accepted with one.
func TestSimFaultsNeedWrite(t *testing.T) {
	for _, k := range FaultKinds {
		if !k.WriteFault() {
			continue
		}
		where := ""
		if k == FaultMisdirect {
			where = ", bank: 0, word: 0"
		}
		without := newSim(t, fmt.Sprintf("soc: imx8mm\nfaults:\n  - {kind: %s%s}\n", k, where))
		if _, _, err := ReadSimConfig(without); err == nil || !strings.Contains(err.Error(), "write: N") {
			t.Errorf("%s without write: %v, want 'needs write: N'", k, err)
		}
		with := newSim(t, fmt.Sprintf("soc: imx8mm\nfaults:\n  - {kind: %s, write: 2%s}\n", k, where))
		if _, _, err := ReadSimConfig(with); err != nil {
			t.Errorf("%s with write: 2: %v", k, err)
		}
	}
}
