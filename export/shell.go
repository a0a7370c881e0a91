package export

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/otpprov/otpprov/internal/shquote"
	"github.com/otpprov/otpprov/planner"
)

// shellGuard is the script's second line. Until the last line is run the
// script only defines functions: the burns are in otpprov_main, which the
// last line calls. A copy cut short (a full disk, a transfer interrupted)
// therefore burns nothing, and this EXIT trap makes it fail, saying why,
// instead of exiting 0 having done nothing. The braces make the line all
// or nothing too: cut inside them it is a syntax error (status 2), where a
// bare "trap" cut after its name would list the traps and exit 0. The
// variable is set here so that one from the environment cannot pass for
// the last line.
const shellGuard = `{ otpprov_complete=no; trap '[ "$otpprov_complete" = yes ] || { echo "otpprov: error: this script is incomplete: it was cut short before its last line, so it burned nothing; make it again with otpprov plan --format sh" >&2; exit 1; }' EXIT; }
`

// shellEnd is the script's last line, and its last bytes: no newline
// follows it. sh runs a last line that has no newline, so with one a copy
// that lost only that newline would still burn; without it, a copy cut
// anywhere on this line calls nothing (o, otpprov_mai: not found) or
// passes otpprov_main a word other than end-of-script, which it refuses.
const shellEnd = "otpprov_main end-of-script"

// shellPrelude is the part of every sh script that does not depend on the
// plan: messages, the exit status contract and the word reader. It only
// defines functions: nothing runs before the last line.
const shellPrelude = `
# Exit status: 0 every burn done and read back as planned; 1 refused,
# nothing written (or the script is incomplete); 3 stopped after writing:
# the device is (or may be) partially programmed, run otpprov plan to see
# what remains.
fail() {
	echo "otpprov: error: $*" >&2
	if [ "$written" = yes ]; then
		echo "otpprov: the device may be partially programmed: run otpprov plan to see what remains" >&2
		exit 3
	fi
	echo "otpprov: nothing was written" >&2
	exit 1
}

# word INDEX prints the word at read index INDEX as 8 hex digits. od -t x4
# reads in the host's byte order: little-endian, as on every i.MX (checked
# below).
word() {
	w=$(dd if="$NVMEM" bs=4 count=1 skip="$1" 2>/dev/null | od -A n -t x4 | tr -d ' \n')
	case $w in
	[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]) echo "$w" ;;
	*) return 1 ;;
	esac
}

# before BANK WORD INDEX VALUE: refuse unless the word holds VALUE, the
# value the plan was made from.
before() {
	v=$(word "$3") || fail "cannot read bank $1 word $2 at offset $(($3 * 4)) of $NVMEM"
	[ "$v" = "$4" ] || fail "bank $1 word $2 reads 0x$v, but the plan was made when it read 0x$4: this is not the board, or not the state, the script was made for"
}

# identity BANK WORD INDEX VALUE: refuse unless the word of the part's
# UNIQUE_ID holds VALUE, as on the part the script was made for.
identity() {
	v=$(word "$3") || fail "cannot read bank $1 word $2 (UNIQUE_ID) at offset $(($3 * 4)) of $NVMEM"
	[ "$v" = "$4" ] || fail "bank $1 word $2 (UNIQUE_ID) reads 0x$v, but on the part this script was made for it read 0x$4: this is another part"
}

# after BANK WORD INDEX VALUE: stop unless the word now reads VALUE.
after() {
	v=$(word "$3") || fail "bank $1 word $2: written, but it cannot be read back at offset $(($3 * 4))"
	[ "$v" = "$4" ] || fail "bank $1 word $2 reads 0x$v after the burn, want 0x$4"
}

# write_failed BANK WORD INDEX OUTPUT: the driver can fail after the fuse
# burned (ETIMEDOUT, even EPERM): say what the word holds now.
write_failed() {
	v=0x$(word "$3") || v="(unreadable)"
	fail "bank $1 word $2: the write failed: $4
the fuse may have burned all the same: the word now reads $v"
}
`

// shellMainStart opens otpprov_main: it runs only when called with the
// last line's word, and marks the script complete for the EXIT trap.
const shellMainStart = `
# Everything that reads or writes the device is here, run by the last line.
otpprov_main() {
	[ "$#" = 1 ] && [ "$1" = end-of-script ] || exit 1
	otpprov_complete=yes
	set -eu
`

func writeShell(b *bytes.Buffer, p *planner.Plan, opts Options) error {
	device := opts.Device
	if device == "" {
		device = DefaultDevice
	}
	if strings.ContainsFunc(device, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return fmt.Errorf("device path %q has a control character", device)
	}
	b.WriteString("#!/bin/sh\n")
	b.WriteString(shellGuard)
	comment(b, header(p, opts, "POSIX sh script")...)
	comment(b, "",
		"A copy cut short burns nothing and exits 1: until its last line, which",
		"calls otpprov_main and has no newline after it, the script only defines",
		"functions.")
	writes := p.Writes()
	if len(writes) == 0 {
		b.WriteString(shellMainStart)
		b.WriteString("\techo \"otpprov: nothing to burn: this board already satisfies the manifest\"\n}\n\n" + shellEnd)
		return nil
	}
	comment(b, "",
		"Run it as root on the board: sh FILE (NVMEM=PATH to name another nvmem file).",
		"It needs only a POSIX sh, dd, od, tr, cat and wc (busybox has them all).",
		"",
		"How it burns: the Digi document's recipe, one word at a time. Each word is",
		"checked to hold the value the plan was made from, written with printf | dd",
		"at its WRITE offset (seek=, in words), and read back at its READ offset",
		"(skip=, in words); on i.MX6, from bank 6 on, the two differ. The driver",
		"reloads the shadow registers after a burn, so the read-back sees the fuse.",
		"printf gets octal escapes (\\NNN): \\xNN is not POSIX, and dash would write",
		"the four characters '\\x03' instead of the byte 0x03.",
		"Only the delta is written: the controller ORs it into the fuses. A plain",
		"file is not a fuse array: a word already holding bits would lose them.",
	)
	b.WriteString(shellPrelude)
	b.WriteString(shellMainStart)
	// The body is indented by a tab: it is otpprov_main's.
	body := &bytes.Buffer{}
	writeShellBody(body, p, opts, device)
	for _, line := range strings.SplitAfter(body.String(), "\n") {
		if line != "" && line != "\n" {
			b.WriteString("\t")
		}
		b.WriteString(line)
	}
	b.WriteString("}\n\n" + shellEnd)
	return nil
}

// writeShellBody writes otpprov_main's commands: the checks of the
// device, then each burn with its read-back.
func writeShellBody(b *bytes.Buffer, p *planner.Plan, opts Options, device string) {
	writes := p.Writes()
	b.WriteString("DEFAULT_NVMEM=" + shquote.Quoted(device) + "\n")
	b.WriteString("NVMEM=${NVMEM:-$DEFAULT_NVMEM}\nwritten=no\n")

	b.WriteString("\n")
	comment(b, "The device: there, the size of the "+p.SoC.Name+"'s nvmem file, and tools that give little-endian bytes.")
	b.WriteString(`[ -e "$NVMEM" ] || fail "$NVMEM not found: is the imx-ocotp driver loaded?"` + "\n")
	fmt.Fprintf(b, "size=$(cat \"$NVMEM\" | wc -c | tr -d ' ')\n")
	fmt.Fprintf(b, "[ \"$size\" = %d ] || fail \"$NVMEM has $size bytes, but the nvmem file of the %s has %d: this script is for %s\"\n",
		p.SoC.Bytes(), p.SoC.Name, p.SoC.Bytes(), p.SoC.Name)
	b.WriteString(`t=$(printf '\001\002\003\004' | od -A n -t x4 | tr -d ' \n')` + "\n")
	b.WriteString(`[ "$t" = 04030201 ] || fail "printf and od here do not give the little-endian word 04030201 for the bytes 01 02 03 04 (got '$t')"` + "\n")

	if ids := identity(p, opts); len(ids) > 0 {
		b.WriteString("\n")
		comment(b, "This script is for the part with UNIQUE_ID "+clean(p.UniqueID)+" only.")
		for _, w := range ids {
			fmt.Fprintf(b, "identity %d %d %d %08x\n", w.Bank, w.Word, w.Index, w.Before)
		}
	}

	if sec := securityNames(p); len(sec) > 0 {
		list := strings.Join(sec, ",")
		b.WriteString("\n")
		comment(b, "Security fuses: name each one, as with otpprov apply --confirm-security:",
			"  OTPPROV_CONFIRM_SECURITY="+list+" sh FILE")
		for _, name := range sec {
			fmt.Fprintf(b, "case \",${OTPPROV_CONFIRM_SECURITY:-},\" in\n*,%s,*) ;;\n*) fail \"this script burns %s: set OTPPROV_CONFIRM_SECURITY=%s to confirm\" ;;\nesac\n",
				name, name, list)
		}
	}

	b.WriteString("\n")
	comment(b, "Opening for writing writes nothing; it fails where the device tree makes the file read-only.")
	b.WriteString(`( : >>"$NVMEM" ) 2>/dev/null || fail "$NVMEM cannot be opened for writing: read-only in the device tree (&ocotp), or not root"` + "\n")

	b.WriteString("\n")
	comment(b, "Every word to burn holds the value the plan was made from.")
	for _, o := range originals(p) {
		fmt.Fprintf(b, "before %d %d %d %08x\n", o.Bank, o.Word, o.Index, o.Before)
	}

	for i, c := range writes {
		var le [4]byte
		binary.LittleEndian.PutUint32(le[:], c.Delta)
		var esc, hex strings.Builder
		for j, x := range le {
			fmt.Fprintf(&esc, `\%03o`, x)
			if j > 0 {
				hex.WriteString(" ")
			}
			fmt.Fprintf(&hex, "%02x", x)
		}
		b.WriteString("\n")
		comment(b, burnComment(p, c, i, len(writes), "read")...)
		comment(b, fmt.Sprintf("    bytes %s, written at offset 0x%03x, read at offset 0x%03x", hex.String(), c.WriteOffset(), c.Offset()))
		fmt.Fprintf(b, "before %d %d %d %08x\n", c.Bank, c.Word, c.Index, c.Before)
		b.WriteString("written=yes\n")
		fmt.Fprintf(b, "if ! out=$(printf '%s' | dd of=\"$NVMEM\" bs=4 count=1 seek=%d conv=notrunc 2>&1); then\n", esc.String(), c.WriteIndex)
		fmt.Fprintf(b, "\twrite_failed %d %d %d \"$out\"\nfi\n", c.Bank, c.Word, c.Index)
		fmt.Fprintf(b, "after %d %d %d %08x\n", c.Bank, c.Word, c.Index, c.After())
	}
	fmt.Fprintf(b, "\necho \"otpprov: %d %s done and read back as planned\"\n", len(writes), plural(len(writes), "burn", "burns"))
}
