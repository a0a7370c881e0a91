package main

import (
	"github.com/urfave/cli/v2"

	"github.com/otpprov/otpprov/internal/atomicfile"
)

// --out FILE, for every command that writes a document or a script: the
// file is written whole or not at all (internal/atomicfile), where
// standard output, cut by a full disk or a reader gone, would hold a
// prefix.

const outUsage = "write to `FILE` instead of standard output, whole or not at all"

func outFlag(usage string) *cli.StringFlag { return &cli.StringFlag{Name: "out", Usage: usage} }

// checkOut refuses an --out FILE that cannot be written (a directory, a
// device, a missing directory) before any work: before the device is read.
func checkOut(c *cli.Context) error {
	if out := c.String("out"); out != "" {
		return atomicfile.Check(out)
	}
	return nil
}

// deliver writes a command's whole document to --out FILE, or to
// standard output.
func deliver(c *cli.Context, e env, b []byte) error {
	if out := c.String("out"); out != "" {
		return saveFile(out, b)
	}
	_, err := e.stdout.Write(b)
	return err
}

// saveFile writes FILE whole, durably; on failure it keeps its old content.
func saveFile(path string, b []byte) error { return atomicfile.Write(path, b, 0o644) }
