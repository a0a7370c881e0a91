package main

import (
	"errors"
	"fmt"
	"slices"

	"github.com/urfave/cli/v2"

	"github.com/otpprov/otpprov/fusemap"
	"github.com/otpprov/otpprov/internal/yamldoc"
	"github.com/otpprov/otpprov/manifest"
	"github.com/otpprov/otpprov/nvmem"
)

// operatorClaim is --soc: what the operator says the board is. It names
// a known SoC or is a usage error, found before any device is opened.
func operatorClaim(c *cli.Context) (nvmem.Claim, error) {
	soc := c.String("soc")
	if soc == "" {
		return nvmem.Claim{}, nil
	}
	if !fusemap.Known(soc) {
		return nvmem.Claim{}, unknownSoC("--soc: ", soc)
	}
	return nvmem.Claim{SoC: soc, By: "--soc", Operator: true}, nil
}

// manifestClaim is the manifest's soc key (nil: no manifest, no claim).
func manifestClaim(m *manifest.Manifest) nvmem.Claim {
	if m == nil {
		return nvmem.Claim{}
	}
	return nvmem.Claim{SoC: m.SoC.Name, By: "the manifest " + m.File}
}

// openDevice opens --device as --device-kind says.
func openDevice(c *cli.Context, mode nvmem.Mode) (*nvmem.Device, error) {
	kind := nvmem.Kind(c.String("device-kind"))
	if kind == "" {
		kind = nvmem.KindAuto // OTPPROV_DEVICE_KIND set empty counts as unset, as every OTPPROV_ variable does
	}
	if !slices.Contains(nvmem.Kinds, kind) {
		return nil, usageError{fmt.Sprintf("--device-kind %s: want one of auto, nvmem, image", yamldoc.Quote(string(kind)))}
	}
	return nvmem.OpenKind(c.String("device"), mode, kind)
}

// openBoard opens --device and decides which SoC it is: the device's own
// word (nvmem.Chip), which claims (a manifest's, a saved plan's) and
// --soc must agree with; on a device that cannot say, --soc.
func openBoard(c *cli.Context, mode nvmem.Mode, claims ...nvmem.Claim) (*nvmem.Device, nvmem.Chip, error) {
	op, err := operatorClaim(c)
	if err != nil {
		return nil, nvmem.Chip{}, err
	}
	dev, err := openDevice(c, mode)
	if err != nil {
		return nil, nvmem.Chip{}, err
	}
	chip, err := dev.Chip().Resolve(dev.Spec, append(claims, op)...)
	if err != nil {
		dev.Close()
		return nil, dev.Chip(), err // what the board said, for the journal
	}
	return dev, chip, nil
}

// readBoard is openBoard, then one full read of the device.
func readBoard(c *cli.Context, mode nvmem.Mode, claims ...nvmem.Claim) (*nvmem.Device, nvmem.Chip, []uint32, error) {
	dev, chip, err := openBoard(c, mode, claims...)
	if err != nil {
		return nil, chip, nil, err
	}
	state, err := readState(dev)
	if err != nil {
		dev.Close()
		return nil, chip, nil, err
	}
	return dev, chip, state, nil
}

// openBoardMap opens the board for a command that takes no manifest and
// returns its SoC's map, with the --fusemap overlays where the command
// takes them.
func openBoardMap(c *cli.Context, mode nvmem.Mode) (*nvmem.Device, *fusemap.Map, nvmem.Chip, error) {
	dev, chip, err := openBoard(c, mode)
	if err != nil {
		return nil, nil, chip, err
	}
	m, err := maps(c)(chip.SoC)
	if err != nil {
		dev.Close()
		return nil, nil, chip, err
	}
	return dev, m, chip, nil
}

// openWord opens the board for a command on one word, BANK WORD, checked
// against the geometry of the SoC the board says it is.
func openWord(c *cli.Context, mode nvmem.Mode, bankArg, wordArg string) (dev *nvmem.Device, soc *fusemap.Map, chip nvmem.Chip, bank, word int, err error) {
	b, err1 := parseNumber(bankArg)
	w, err2 := parseNumber(wordArg)
	if err := errors.Join(err1, err2); err != nil {
		return nil, nil, chip, 0, 0, usageError{err.Error()}
	}
	if dev, soc, chip, err = openBoardMap(c, mode); err != nil {
		return nil, nil, chip, 0, 0, err
	}
	if b >= uint64(soc.Banks()) || w >= uint64(soc.WordsPerBank) {
		dev.Close()
		return nil, nil, chip, 0, 0, usageError{fmt.Sprintf("bank %d word %d is outside %s (banks 0..%d, words 0..%d)",
			b, w, soc.Name, soc.Banks()-1, soc.WordsPerBank-1)}
	}
	return dev, soc, chip, int(b), int(w), nil
}

// readState reads the whole device, once.
func readState(dev *nvmem.Device) ([]uint32, error) {
	b, err := dev.ReadAll()
	if err != nil {
		return nil, err
	}
	return nvmem.Words(b), nil
}

// boardArgs is how a later command names this board: --device, and
// --device-kind and --soc where this one needed them.
func boardArgs(c *cli.Context, dev *nvmem.Device, chip nvmem.Chip) []string {
	args := []string{"--device", dev.Spec}
	if k := c.String("device-kind"); k != "" && k != string(nvmem.KindAuto) {
		args = append(args, "--device-kind", k)
	}
	if chip.Evidence == "--soc" {
		args = append(args, "--soc", chip.SoC)
	}
	return args
}

// where names the device and how its SoC is known, for the plan's header.
func where(dev *nvmem.Device, chip nvmem.Chip) string {
	return fmt.Sprintf("%s (%s, from %s)", dev.Spec, chip.SoC, chip.Evidence)
}
