// Command ocotp-emu serves an otpprov sim as a real nvmem file through the
// kernel (FUSE), for testing programs that drive the imx-ocotp sysfs file:
//
//	otpprov sim init --soc imx8mm board
//	ocotp-emu board /mnt/ocotp &
//	otpprov plan --device /mnt/ocotp/nvmem board.yaml
//
// It is a program of its own so that the otpprov binary never links FUSE.
package main

import (
	"os"

	"github.com/otpprov/otpprov/internal/ocotpemu"
)

func main() {
	os.Exit(ocotpemu.Main(os.Args[1:], os.Stdout, os.Stderr))
}
