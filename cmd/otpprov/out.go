package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/otpprov/otpprov/internal/atomicfile"
	"github.com/otpprov/otpprov/internal/yamldoc"
	"github.com/otpprov/otpprov/ledger"
	"github.com/otpprov/otpprov/manifest"
)

// --out FILE, for every command that writes a document or a script: the
// file is written whole or not at all (internal/atomicfile), where
// standard output, cut by a full disk or a reader gone, would hold a
// prefix.

const outUsage = "write to `FILE` instead of standard output, whole or not at all"

func outFlag(usage string) *cli.StringFlag { return &cli.StringFlag{Name: "out", Usage: usage} }

// checkOut refuses an --out FILE that cannot be written (a directory, a
// device, a missing directory), or that is a file the command uses
// otherwise, before any work: before the device is read.
func checkOut(c *cli.Context) error {
	out := c.String("out")
	if out == "" {
		return nil
	}
	if err := atomicfile.Check(out); err != nil {
		return err
	}
	return outClash(out, inUse(c)...)
}

// used is a file a command reads or writes, named for a message; dir: a
// directory none of whose files may be replaced (a sim's).
type used struct {
	what, path string
	dir        bool
}

// inUse lists the files a command uses besides --out: replacing one with
// the command's output would lose a manifest, a var file, the journal's
// records, an image's fuses or a sim's. Standard output and error are in
// the list: --out /dev/stdout would rename the plan over the file stdout
// writes to.
func inUse(c *cli.Context) []used {
	var u []used
	for _, a := range c.Args().Slice() {
		u = append(u, used{what: "a file named on the command line", path: a})
	}
	for _, f := range c.StringSlice("var-file") {
		u = append(u, used{what: "--var-file", path: f})
	}
	for _, f := range c.StringSlice("fusemap") {
		u = append(u, used{what: "--fusemap", path: f})
	}
	if db, ok := ledger.SQLiteFile(c.String("ledger")); ok && db != "" {
		u = append(u, used{what: "the --ledger database", path: db})
	}
	for _, flag := range []string{"state", "from-dump", "journal"} {
		if f := c.String(flag); f != "" {
			u = append(u, used{what: "--" + flag, path: f})
		}
	}
	if d := c.String("device"); d != "" {
		if dir, ok := strings.CutPrefix(d, "sim:"); ok {
			// The sim's files: replacing one would change the board.
			u = append(u, used{what: "in the sim's directory", path: dir, dir: true})
		} else {
			u = append(u, used{what: "the device", path: d})
		}
	}
	return append(u, used{what: "standard output itself (leave --out off to write there)", path: "/proc/self/fd/1"}, used{what: "standard error itself", path: "/proc/self/fd/2"})
}

// outClash refuses an --out FILE that is one of the files in use (or lies
// in a directory in use, a sim's).
func outClash(out string, files ...used) error {
	st, err := os.Stat(out)
	if err != nil {
		st = nil // a new file is none of those in use, but may lie in a sim's directory
	}
	dir, derr := os.Stat(filepath.Dir(out))
	for _, f := range files {
		fi, err := os.Stat(f.path)
		if err != nil {
			continue
		}
		if (st != nil && os.SameFile(st, fi)) || (f.dir && derr == nil && os.SameFile(dir, fi)) {
			return usageError{fmt.Sprintf("--out %s is %s (%s): writing the output there would replace it; name another file",
				yamldoc.Quote(out), f.what, yamldoc.Quote(f.path))}
		}
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

// outClashManifest refuses an --out FILE that is a file the manifest
// read (its extends chain, its valueFrom files), which only loading the
// manifest names: before the device is read.
func outClashManifest(c *cli.Context, m *manifest.Manifest) error {
	out := c.String("out")
	if out == "" {
		return nil
	}
	var files []used
	for _, f := range m.Files {
		files = append(files, used{what: "a file of the manifest's extends chain", path: f})
	}
	for _, f := range m.ValueFiles {
		files = append(files, used{what: "a file the manifest's valueFrom reads", path: f})
	}
	return outClash(out, files...)
}
