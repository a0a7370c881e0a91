package nvmem

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/otpprov/otpprov/fusemap"
)

// board lays out what a kernel shows around an nvmem file: the OCOTP
// node's compatible (NUL-separated strings, as in
// /sys/firmware/devicetree), under of_node or device/of_node, and a
// soc_id file. An empty value leaves the file out.
func board(t *testing.T, ofNode, deviceOfNode, socID string) (dir, socIDPath string) {
	t.Helper()
	dir = t.TempDir()
	write := func(path, content string) {
		if content == "" {
			return
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(dir, "of_node", "compatible"), ofNode)
	write(filepath.Join(dir, "device", "of_node", "compatible"), deviceOfNode)
	socIDPath = filepath.Join(t.TempDir(), "soc_id")
	write(socIDPath, socID)
	return dir, socIDPath
}

func TestProbeChip(t *testing.T) {
	const mm = "fsl,imx8mm-ocotp\x00syscon\x00"
	const mn = "fsl,imx8mn-ocotp\x00fsl,imx8mm-ocotp\x00syscon\x00simple-mfd\x00"
	for _, c := range []struct {
		name                        string
		ofNode, deviceOfNode, socID string
		sysfs                       bool // on the board: the node is required, soc_id read
		soc, evidence               string
		err                         error
	}{
		{name: "node", ofNode: mm, soc: "imx8mm", evidence: "of_node/compatible fsl,imx8mm-ocotp"},
		{name: "node decides by its first string", ofNode: mn, soc: "imx8mn", evidence: "of_node/compatible fsl,imx8mn-ocotp"},
		{name: "parent's node", deviceOfNode: mm, soc: "imx8mm", evidence: "of_node/compatible fsl,imx8mm-ocotp"},
		{name: "node and soc_id agree", ofNode: mm, socID: "i.MX8MM\n", sysfs: true, soc: "imx8mm", evidence: "of_node/compatible fsl,imx8mm-ocotp, soc0/soc_id i.MX8MM"},
		{name: "6DL uses the 6Q map", ofNode: "fsl,imx6q-ocotp\x00syscon\x00", socID: "i.MX6DL\n", sysfs: true, soc: "imx6q"},
		{name: "unknown soc_id is no evidence", ofNode: mm, socID: "Unknown\n", sysfs: true, soc: "imx8mm", evidence: "of_node/compatible fsl,imx8mm-ocotp"},
		{name: "no soc_id on an older kernel", ofNode: mm, sysfs: true, soc: "imx8mm"},
		{name: "nothing off sysfs", soc: ""},
		// soc_id names the machine, not the file: an EEPROM's nvmem file
		// on an i.MX8MM board has no OCOTP node, and is no OCOTP.
		{name: "on sysfs without a node", socID: "i.MX8MM\n", sysfs: true, err: ErrNotOCOTP},
		// An i.MX6DL booted with an i.MX6SL device tree: the kernel drives
		// the controller as one SoC, the silicon (DIGPROG) is another.
		{name: "node and soc_id disagree", ofNode: "fsl,imx6sl-ocotp\x00", socID: "i.MX6DL\n", sysfs: true, err: ErrChipInDoubt},
		{name: "an EEPROM", ofNode: "atmel,24c02\x00", err: ErrNotOCOTP},
		{name: "an empty node", ofNode: "\x00", err: ErrNotOCOTP},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir, socID := board(t, c.ofNode, c.deviceOfNode, c.socID)
			if !c.sysfs {
				socID = ""
			}
			chip := probeChip(dir, socID, c.sysfs)
			if !errors.Is(chip.Err(), c.err) || (c.err == nil) != (chip.Err() == nil) {
				t.Fatalf("err %v, want %v", chip.Err(), c.err)
			}
			if chip.SoC != c.soc || (c.evidence != "" && chip.Evidence != c.evidence) {
				t.Errorf("got %q (%s), want %q (%s)", chip.SoC, chip.Evidence, c.soc, c.evidence)
			}
			if c.err != nil {
				if _, err := chip.Resolve("dev", Claim{SoC: "imx8mm", By: "--soc", Operator: true}); !errors.Is(err, c.err) {
					t.Errorf("Resolve of a chip in doubt: %v, want %v", err, c.err)
				}
			}
		})
	}
}

// What is put where a compatible file belongs must not hang otpprov nor
// pass for a node: a FIFO (opening it would block), a directory, a file
// where the device link should be.
func TestProbeChipOddFiles(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "of_node"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(dir, "of_node", "compatible"), 0o644); err != nil {
		t.Fatal(err)
	}
	done := make(chan Chip, 1)
	go func() { done <- probeChip(dir, "", false) }()
	select {
	case chip := <-done:
		if !errors.Is(chip.Err(), ErrNotOCOTP) {
			t.Errorf("a FIFO as of_node/compatible: %v, want ErrNotOCOTP", chip)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a FIFO as of_node/compatible blocks the probe")
	}

	dir = t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "of_node", "compatible"), 0o755); err != nil {
		t.Fatal(err)
	}
	if chip := probeChip(dir, "", false); !errors.Is(chip.Err(), ErrNotOCOTP) {
		t.Errorf("a directory as of_node/compatible: %v, want ErrNotOCOTP", chip)
	}

	// A PCI device's sysfs directory has a regular file named device.
	dir = t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "device"), []byte("0x1234\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if chip := probeChip(dir, "", false); chip.Err() != nil || chip.Known() {
		t.Errorf("a file named device beside it: %v, want nothing said", chip)
	}
	if chip := probeChip(dir, "", true); !errors.Is(chip.Err(), ErrNotOCOTP) || !strings.Contains(chip.Err().Error(), "no device tree node") {
		t.Errorf("on sysfs with no node: %v, want ErrNotOCOTP saying there is no node", chip.Err())
	}
}

func TestResolve(t *testing.T) {
	board := Chip{SoC: "imx8mm", Evidence: "sim.yaml"}
	image := Chip{}
	manifest := func(soc string) Claim { return Claim{SoC: soc, By: "the manifest m.yaml"} }
	operator := func(soc string) Claim { return Claim{SoC: soc, By: "--soc", Operator: true} }
	for _, c := range []struct {
		name   string
		chip   Chip
		claims []Claim
		soc    string
		err    error
		msg    string
	}{
		{"the board says", board, nil, "imx8mm", nil, ""},
		{"manifest agrees", board, []Claim{manifest("imx8mm")}, "imx8mm", nil, ""},
		{"manifest and --soc agree", board, []Claim{manifest("imx8mm"), operator("imx8mm")}, "imx8mm", nil, ""},
		{"manifest for another SoC", board, []Claim{manifest("imx8mn")}, "", ErrWrongSoC,
			"the manifest m.yaml names imx8mn, but dev is an imx8mm (sim.yaml)"},
		{"--soc contradicts the board", board, []Claim{operator("imx8mq")}, "", ErrWrongSoC, "--soc names imx8mq"},
		{"image: --soc", image, []Claim{operator("imx7d")}, "imx7d", nil, ""},
		{"image: manifest and --soc", image, []Claim{manifest("imx7d"), operator("imx7d")}, "imx7d", nil, ""},
		{"image: --soc first", image, []Claim{operator("imx7d"), manifest("imx7d")}, "imx7d", nil, ""},
		{"image: manifest alone", image, []Claim{manifest("imx7d")}, "", ErrSoCUnknown, "add --soc imx7d"},
		{"image: nothing", image, nil, "", ErrSoCUnknown, "name it with --soc"},
		{"image: manifest and --soc disagree", image, []Claim{manifest("imx7d"), operator("imx6sl")}, "", ErrWrongSoC,
			"the manifest m.yaml names imx7d but --soc names imx6sl"},
		{"an empty claim is none", image, []Claim{manifest(""), operator("imx6sl")}, "imx6sl", nil, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := c.chip.Resolve("dev", c.claims...)
			if soc := got.SoC; soc != c.soc || !errors.Is(err, c.err) || (c.err == nil) != (err == nil) {
				t.Fatalf("Resolve = %v, %v; want %q, %v", got, err, c.soc, c.err)
			}
			if c.msg != "" && !strings.Contains(err.Error(), c.msg) {
				t.Errorf("message %q does not say %q", err, c.msg)
			}
		})
	}
}

// The device says which SoC it is the way it can: the emulator from
// sim.yaml, any file from the node beside it (as ocotp-emu serves it),
// whatever --device-kind says; a plain image not at all.
func TestOpenKnowsTheChip(t *testing.T) {
	m, err := fusemap.Load("imx8mn")
	if err != nil {
		t.Fatal(err)
	}
	simDir := t.TempDir()
	if err := InitSim(simDir, m.SoC, nil); err != nil {
		t.Fatal(err)
	}
	dir, _ := board(t, "fsl,imx8mn-ocotp\x00fsl,imx8mm-ocotp\x00syscon\x00", "", "")
	file := filepath.Join(dir, "nvmem")
	plain := filepath.Join(t.TempDir(), "otp.bin")
	for _, f := range []string{file, plain} {
		if err := os.WriteFile(f, make([]byte, m.Bytes()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// Links placed where another SoC's node lies: the node that speaks is
	// the one beside the file itself, not beside the path typed.
	decoy, _ := board(t, "fsl,imx8mm-ocotp\x00", "", "")
	link := filepath.Join(decoy, "nvmem")
	if err := os.Symlink(file, link); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(dir, "of_node"), filepath.Join(decoy, "elsewhere")); err != nil {
		t.Fatal(err)
	}
	throughLink := decoy + "/elsewhere/../nvmem" // not Join, which would clean it: the kernel resolves .. after the link, to dir/nvmem
	for _, c := range []struct {
		spec string
		kind Kind
		soc  string
		why  string
	}{
		{"sim:" + simDir, KindAuto, "imx8mn", ""},
		{file, KindNvmem, "imx8mn", ""},
		{file, KindImage, "imx8mn", ""},
		{file, KindAuto, "imx8mn", ""},
		{link, KindNvmem, "imx8mn", ""},
		{throughLink, KindNvmem, "imx8mn", ""},
		{plain, KindAuto, "", "a plain image file has no device tree node"},
		{plain, KindNvmem, "", "there is no device tree node (of_node/compatible) beside it"},
	} {
		d, err := OpenKind(c.spec, ReadOnly, c.kind)
		if err != nil {
			t.Fatal(err)
		}
		if got := d.Chip(); got.SoC != c.soc || got.Err() != nil || (c.why != "" && got.why != c.why) {
			t.Errorf("%s as %s: chip %v (%s), want %q (%s)", c.spec, c.kind, got, got.why, c.soc, c.why)
		}
		d.Close()
	}
}

// A FIFO or a socket is refused as a device whatever the operator vouches:
// opening a FIFO blocks, and neither holds words at offsets.
func TestFIFONeverADevice(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, kind := range Kinds {
		done := make(chan error, 1)
		go func() {
			d, err := OpenKind(fifo, ReadOnly, kind)
			if err == nil {
				d.Close()
			}
			done <- err
		}()
		select {
		case err := <-done:
			if !errors.Is(err, ErrDeviceKind) {
				t.Errorf("a FIFO as %s: %v, want ErrDeviceKind", kind, err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("opening a FIFO as %s blocks", kind)
		}
	}
}
