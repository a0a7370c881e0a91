package nvmem

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

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
		soc, evidence               string
		err                         error
	}{
		{name: "node", ofNode: mm, soc: "imx8mm", evidence: "of_node/compatible fsl,imx8mm-ocotp"},
		{name: "node decides by its first string", ofNode: mn, soc: "imx8mn", evidence: "of_node/compatible fsl,imx8mn-ocotp"},
		{name: "parent's node", deviceOfNode: mm, soc: "imx8mm", evidence: "of_node/compatible fsl,imx8mm-ocotp"},
		{name: "node and soc_id agree", ofNode: mm, socID: "i.MX8MM\n", soc: "imx8mm", evidence: "of_node/compatible fsl,imx8mm-ocotp, soc0/soc_id i.MX8MM"},
		{name: "6DL uses the 6Q map", ofNode: "fsl,imx6q-ocotp\x00syscon\x00", socID: "i.MX6DL\n", soc: "imx6q"},
		{name: "soc_id alone", socID: "i.MX8MN\n", soc: "imx8mn", evidence: "soc0/soc_id i.MX8MN"},
		{name: "unknown soc_id is no evidence", ofNode: mm, socID: "Unknown\n", soc: "imx8mm", evidence: "of_node/compatible fsl,imx8mm-ocotp"},
		{name: "nothing", soc: ""},
		// An i.MX8MN board booted with an i.MX8MM device tree: the kernel
		// drives the controller as an 8MM, the silicon is an 8MN.
		{name: "node and soc_id disagree", ofNode: mm, socID: "i.MX8MN\n", err: ErrWrongSoC},
		{name: "an EEPROM", ofNode: "atmel,24c02\x00", err: ErrNotOCOTP},
		{name: "an empty node", ofNode: "\x00", err: ErrNotOCOTP},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir, socID := board(t, c.ofNode, c.deviceOfNode, c.socID)
			chip := probeChip(dir, socID)
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
// sim.yaml, a file driven as nvmem from the node beside it (as ocotp-emu
// serves it), a plain image not at all.
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
	if err := os.WriteFile(file, make([]byte, m.Bytes()), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		spec string
		kind Kind
		soc  string
	}{
		{"sim:" + simDir, KindAuto, "imx8mn"},
		{file, KindNvmem, "imx8mn"},
		{file, KindImage, ""},
		{file, KindAuto, ""}, // a regular file off sysfs is an image
	} {
		d, err := OpenKind(c.spec, ReadOnly, c.kind)
		if err != nil {
			t.Fatal(err)
		}
		if got := d.Chip(); got.SoC != c.soc || got.Err() != nil {
			t.Errorf("%s as %s: chip %v, want %q", c.spec, c.kind, got, c.soc)
		}
		d.Close()
	}
}
