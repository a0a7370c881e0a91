package nvmem

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/otpprov/otpprov/fusemap"
	"github.com/otpprov/otpprov/internal/yamldoc"
)

// Which chip is behind a device decides every per-bit rule: two SoCs with
// the same number of words (i.MX8MM, 8MN, 8MQ: 256) put their security
// fuses in different places, so a manifest or plan for one, applied to
// the other, burns bits whose meaning nobody checked. A board says which
// it is; otpprov asks it, and refuses any claim that disagrees.
var (
	// ErrWrongSoC: a manifest, saved plan or --soc names another SoC than
	// the board's.
	ErrWrongSoC = errors.New("wrong SoC")
	// ErrSoCUnknown: the device cannot say which SoC it belongs to (a
	// plain image file) and the operator did not say either.
	ErrSoCUnknown = errors.New("the SoC is not known")
	// ErrNotOCOTP: the device's device tree node is not an i.MX OCOTP
	// otpprov has a fuse map for (an EEPROM's nvmem file, a newer SoC),
	// or an nvmem file on sysfs has no node at all.
	ErrNotOCOTP = errors.New("not an i.MX OCOTP otpprov knows")
	// ErrChipInDoubt: the kernel names two SoCs for the board (its OCOTP
	// node and soc0/soc_id disagree).
	ErrChipInDoubt = errors.New("the board's SoC is in doubt")
)

// socIDFile is where the kernel names the machine's SoC
// (drivers/soc/imx): read only for a device on sysfs, the real board.
const socIDFile = "/sys/devices/soc0/soc_id"

// maxIdentityFile caps what is read of a compatible or soc_id file: both
// are a few dozen bytes.
const maxIdentityFile = 4096

// Chip is which SoC a device belongs to, as the device itself says.
type Chip struct {
	// SoC is the fuse map's name, "" when the device cannot say.
	SoC string
	// Evidence says what said so, for the operator: "sim.yaml",
	// "of_node/compatible fsl,imx8mm-ocotp", "soc0/soc_id i.MX8MM".
	Evidence string
	// err is set when the device's own statements disagree or name no
	// OCOTP: nothing may be decided with it.
	err error
	// why says, for a chip not known, why the device cannot say.
	why string
}

// Known reports whether the device said which SoC it is.
func (c Chip) Known() bool { return c.SoC != "" }

// Err is the problem found while asking the device, if any.
func (c Chip) Err() error { return c.err }

func (c Chip) String() string {
	switch {
	case c.err != nil:
		return "SoC unclear: " + c.err.Error()
	case c.SoC == "":
		return "SoC not said by the device"
	}
	return c.SoC + " (" + c.Evidence + ")"
}

// probeChip asks the files beside an nvmem file which SoC it belongs to:
// dir/of_node/compatible, the compatible strings of the OCOTP's device
// tree node, which the kernel links into every nvmem device's directory
// (drivers/nvmem/core.c gives the nvmem device its parent's of_node;
// drivers/base/core.c links it as of_node), with dir/device/of_node as a
// fallback; and, on the real board, socID. ocotp-emu serves the same
// of_node/compatible beside its nvmem file. needNode: the file is on
// sysfs, so it must have an OCOTP node (an nvmem file without one is
// another device); soc_id, which names the machine and not the file,
// only confirms the node. When both are there they must name the same
// map: the node says which driver parameters (and so which geometry) the
// kernel uses, soc_id (on i.MX6/7 read from the silicon) which part it is.
func probeChip(dir, socID string, needNode bool) Chip {
	var node Chip
	for _, p := range []string{filepath.Join(dir, "of_node", "compatible"), filepath.Join(dir, "device", "of_node", "compatible")} {
		b, err := readIdentity(p)
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			continue
		}
		if err != nil {
			return Chip{err: fmt.Errorf("%w: reading %s: %v", ErrNotOCOTP, p, err)}
		}
		strs := splitCompatible(b)
		soc, matched := fusemap.ByCompatible(strs)
		if soc == "" {
			return Chip{err: fmt.Errorf("%w: its device tree node (%s) is %s", ErrNotOCOTP, p, quoteList(strs))}
		}
		node = Chip{SoC: soc, Evidence: "of_node/compatible " + matched}
		break
	}
	if needNode && !node.Known() {
		return Chip{err: fmt.Errorf("%w: there is no device tree node beside it (%s): the i.MX OCOTP's nvmem file has one", ErrNotOCOTP, filepath.Join(dir, "of_node"))}
	}
	if socID == "" {
		return node
	}
	b, err := readIdentity(socID)
	if err != nil {
		return node // no soc0 (an older kernel): the node alone
	}
	id := strings.TrimSpace(string(b))
	soc := fusemap.BySoCID(id)
	switch {
	case soc == "":
		return node // "Unknown" or another family: nothing to compare
	case node.SoC != soc:
		return Chip{err: fmt.Errorf("%w: the kernel disagrees with itself: the OCOTP's device tree node says %s (%s) but %s says %s (%s); "+
			"a board whose device tree is for another SoC must not be programmed", ErrChipInDoubt, node.SoC, node.Evidence, socID, soc, yamldoc.Quote(id))}
	}
	node.Evidence += ", soc0/soc_id " + id
	return node
}

// readIdentity reads a small identity file whole. It must be a regular
// file, as sysfs's and the device tree's are: a FIFO put there would
// block the open (O_NONBLOCK keeps it from doing so) and a device could
// be endless.
func readIdentity(path string) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		return nil, fmt.Errorf("not a regular file")
	}
	b, err := io.ReadAll(io.LimitReader(f, maxIdentityFile+1))
	if err == nil && len(b) > maxIdentityFile {
		err = fmt.Errorf("more than %d bytes", maxIdentityFile)
	}
	return b, err
}

// splitCompatible splits a device tree string list: NUL-terminated strings.
func splitCompatible(b []byte) []string {
	var out []string
	for _, s := range bytes.Split(b, []byte{0}) {
		if len(s) > 0 {
			out = append(out, string(s))
		}
	}
	return out
}

func quoteList(strs []string) string {
	if len(strs) == 0 {
		return "empty"
	}
	q := make([]string, len(strs))
	for i, s := range strs {
		q[i] = yamldoc.Quote(s)
	}
	return strings.Join(q, ", ")
}

// Claim is a statement of which SoC the board is: the operator's --soc,
// a manifest's soc, a saved plan's.
type Claim struct {
	SoC string
	By  string // who says so, for messages: "--soc", "the manifest board.yaml"
	// Operator marks what the person at the station said: on a device
	// that cannot say which SoC it is, only the operator can.
	Operator bool
}

// Resolve checks every claim against the chip and against each other, and
// returns the chip to decode the device with: the device's own, or on a
// device that says nothing (a plain image) the operator's claim, with
// Evidence naming who made it. A claim with an empty SoC is no claim. A
// manifest alone cannot vouch for an image: an operator's claim is
// required.
func (c Chip) Resolve(spec string, claims ...Claim) (Chip, error) {
	if c.err != nil {
		return Chip{}, c.err
	}
	var said *Claim
	for i := range claims {
		cl := &claims[i]
		switch {
		case cl.SoC == "":
			continue
		case c.Known() && cl.SoC != c.SoC:
			return Chip{}, fmt.Errorf("%w: %s names %s, but %s is an %s (%s)", ErrWrongSoC, cl.By, cl.SoC, spec, c.SoC, c.Evidence)
		case said != nil && said.SoC != cl.SoC:
			return Chip{}, fmt.Errorf("%w: %s names %s but %s names %s", ErrWrongSoC, said.By, said.SoC, cl.By, cl.SoC)
		}
		if said == nil || cl.Operator {
			said = cl
		}
	}
	switch {
	case c.Known():
		return c, nil
	case said != nil && said.Operator:
		return Chip{SoC: said.SoC, Evidence: said.By}, nil
	case said != nil:
		return Chip{}, fmt.Errorf("%w: %s does not say which SoC it is (%s): "+
			"%s names %s, but only the operator can vouch for the board: add --soc %s", ErrSoCUnknown, spec, c.reason(), said.By, said.SoC, said.SoC)
	}
	return Chip{}, fmt.Errorf("%w: %s does not say which SoC it is (%s): name it with --soc", ErrSoCUnknown, spec, c.reason())
}

func (c Chip) reason() string {
	if c.why == "" {
		return "it has no device tree node"
	}
	return c.why
}
