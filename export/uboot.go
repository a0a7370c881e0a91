package export

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/otpprov/otpprov/planner"
)

// okVar gates every burn of a U-Boot script: set once the checks pass,
// cleared by any failure. burnedVar marks a U-Boot session in which fuses
// were programmed: its shadow registers are stale until the next reset, so
// no `fuse cmp` check can be trusted in it any more.
const (
	okVar      = "otpprov_ok"
	burnedVar  = "otpprov_burned"
	confirmVar = "otpprov_confirm_security"
)

// maxUCmd is the longest U-Boot command a uuu FB: ucmd line can carry: a
// fastboot command is at most 64 bytes, and uuu sends "UCmd:" first.
const maxUCmd = 64 - len("UCmd:")

// uuuVersion is the oldest uuu the list needs: FB: ucmd and FB: sh.
const uuuVersion = "1.0.1"

func writeUBoot(b *bytes.Buffer, p *planner.Plan, opts Options) error {
	comment(b, header(p, opts, "U-Boot script")...)
	writes := p.Writes()
	if len(writes) == 0 {
		b.WriteString("\necho \"otpprov: nothing to burn: this board already satisfies " + echoSafe(p.Source.Name) + "\"\n")
		return nil
	}
	comment(b, "",
		"Run it with `source` (mkimage -A arm -T script -C none -d FILE FILE.scr, load",
		"it, source ADDR) or paste it at the U-Boot prompt. It needs the hush parser",
		"(CONFIG_HUSH_PARSER): with the simple parser every line fails, and nothing",
		"is burned. It also uses `env exists` and, for security fuses, `test`; where",
		"they are missing, the checks fail and nothing is burned.",
		"",
		"How it checks (U-Boot cmd/fuse.c, drivers/misc/mxc_ocotp.c):",
		"- `fuse cmp` compares with the shadow registers, which hold the fuses as they",
		"  were at reset: `fuse prog` burns the fuse but does not reload them. So the",
		"  words are compared with the values the plan was made from before the first",
		"  burn, never after.",
		"- `fuse sense` reads the fuse itself, but only prints it: after each burn,",
		"  compare what it prints with the value echoed just before it.",
		"- A failed command does not stop a hush script: every burn runs only while",
		"  "+okVar+" is set, and any failure clears it.",
		"- After the burns, reset: the shadow registers then hold the new fuses, and",
		"  the `fuse cmp` lines at the end of this file (or otpprov verify) check them.",
	)
	comment(b, sense8MQ(p)...)

	b.WriteString("\nsetenv " + okVar + " yes\n")
	fmt.Fprintf(b, "if env exists %s; then setenv %s; echo \"otpprov: error: fuses were programmed since the last reset, so the shadow registers are stale: reset first\"; fi\n", burnedVar, okVar)
	if sec := securityNames(p); len(sec) > 0 {
		list := strings.Join(sec, ",")
		comment(b, "",
			"Security fuses: name each one first, as with otpprov apply --confirm-security:",
			"  setenv "+confirmVar+" "+list)
		fmt.Fprintf(b, "test \"${%s}\" = \"%s\" || setenv %s\n", confirmVar, list, okVar)
		fmt.Fprintf(b, "env exists %s || echo \"otpprov: error: this script burns security fuses: setenv %s %s to confirm them\"\n", okVar, confirmVar, list)
	}
	orig := originals(p)
	fmt.Fprintf(b, "echo \"otpprov: checking that %d %s still hold the values the plan was made from\"\n", len(orig), plural(len(orig), "word", "words"))
	for _, o := range orig {
		fmt.Fprintf(b, "fuse cmp %d %d 0x%08x || setenv %s\n", o.Bank, o.Word, o.Before, okVar)
	}
	fmt.Fprintf(b, "env exists %s || echo \"otpprov: error: nothing was burned\"\n", okVar)
	fmt.Fprintf(b, "env exists %s && setenv %s yes\n", okVar, burnedVar)

	for i, c := range writes {
		b.WriteString("\n")
		comment(b, burnComment(p, c, i, len(writes), "sense")...)
		fmt.Fprintf(b, "env exists %s && fuse prog -y %d %d 0x%08x || setenv %s\n", okVar, c.Bank, c.Word, c.Delta, okVar)
		fmt.Fprintf(b, "env exists %s && echo \"otpprov: bank %d word %d must now sense 0x%08x:\" && fuse sense %d %d || setenv %s\n",
			okVar, c.Bank, c.Word, c.After(), c.Bank, c.Word, okVar)
	}

	b.WriteString("\n")
	fmt.Fprintf(b, "env exists %s || echo \"otpprov: error: stopped: the board may be partially programmed: reset, then run otpprov plan to see what remains\"\n", okVar)
	fmt.Fprintf(b, "env exists %s && echo \"otpprov: %d %s done: compare each sensed value above, then reset and check\"\n",
		okVar, len(writes), plural(len(writes), "burn", "burns"))
	b.WriteString("\n")
	comment(b, afterReset(p)...)
	return nil
}

func writeUUU(b *bytes.Buffer, p *planner.Plan, opts Options) error {
	// uuu reads a file that does not start with "uuu_version" as a boot
	// image to download: this line must come first, before any comment.
	b.WriteString("uuu_version " + uuuVersion + "\n")
	comment(b, header(p, opts, "uuu script (NXP mfgtools)")...)
	writes := p.Writes()
	if len(writes) == 0 {
		b.WriteString("\nFB: ucmd echo otpprov: nothing to burn\nFB: done\n")
		return nil
	}
	comment(b, "",
		"Run it with `uuu FILE` while the board runs U-Boot in fastboot mode",
		"(`fastboot usb 0`), or put your SDP: boot lines first. Each FB: ucmd line",
		"runs one U-Boot command; uuu stops at the first one that fails.",
		"",
		"For "+p.SoC.Name+" only. No chip guard: uuu's CFG: lines only tell uuu which USB",
		"IDs speak which protocol, and U-Boot has no variable naming the SoC that",
		"every board sets (soc_type is set by some board files only). The checks",
		"below stop the script on a board whose words differ from the plan.",
		"",
		"How it checks (U-Boot cmd/fuse.c, drivers/misc/mxc_ocotp.c):",
		"- `fuse cmp` compares with the shadow registers, which `fuse prog` does not",
		"  reload: every word is compared with the value the plan was made from",
		"  before the first burn, never after.",
		"- `fuse sense` reads the fuse itself, but prints it on the board's serial",
		"  console, not in uuu: compare it there with the value in the comment.",
		"- After the burns, reset: the `fuse cmp` lines at the end of this file (or",
		"  otpprov verify) then check the fuses.",
	)
	comment(b, sense8MQ(p)...)
	ucmd := func(format string, args ...any) error {
		cmd := fmt.Sprintf(format, args...)
		if len(cmd) > maxUCmd {
			return fmt.Errorf("uuu: %q is %d bytes, more than the %d a fastboot command can carry", cmd, len(cmd), maxUCmd)
		}
		b.WriteString("FB: ucmd " + cmd + "\n")
		return nil
	}
	b.WriteString("\n")
	comment(b, "Fuses programmed earlier in this U-Boot session leave stale shadow registers.")
	if err := ucmd("if env exists %s; then false; fi", burnedVar); err != nil {
		return err
	}
	if sec := securityNames(p); len(sec) > 0 {
		list := strings.Join(sec, ",")
		comment(b, "Security fuses: name each one first, as with otpprov apply --confirm-security:",
			"  OTPPROV_CONFIRM_SECURITY="+list+" uuu FILE",
			"(FB: sh runs on the host, with /bin/sh.)")
		for _, name := range sec {
			fmt.Fprintf(b, "FB: sh case \",$OTPPROV_CONFIRM_SECURITY,\" in *,%s,*) ;; *) echo \"otpprov: error: this script burns %s: set OTPPROV_CONFIRM_SECURITY=%s to confirm\" >&2; exit 1;; esac\n",
				name, name, list)
		}
	}
	comment(b, "The words hold the values the plan was made from:")
	for _, o := range originals(p) {
		if err := ucmd("fuse cmp %d %d 0x%08x", o.Bank, o.Word, o.Before); err != nil {
			return err
		}
	}
	if err := ucmd("setenv %s yes", burnedVar); err != nil {
		return err
	}
	for i, c := range writes {
		b.WriteString("\n")
		comment(b, burnComment(p, c, i, len(writes), "sense")...)
		if err := ucmd("fuse prog -y %d %d 0x%08x", c.Bank, c.Word, c.Delta); err != nil {
			return err
		}
		if err := ucmd("fuse sense %d %d", c.Bank, c.Word); err != nil {
			return err
		}
	}
	b.WriteString("\nFB: done\n\n")
	comment(b, afterReset(p)...)
	return nil
}

// burnComment describes burn i of n.
// verb says how the script reads the word back: "sense" in U-Boot.
func burnComment(p *planner.Plan, c planner.Change, i, n int, verb string) []string {
	return []string{
		fmt.Sprintf("%d/%d bank %d word %d: %s", i+1, n, c.Bank, c.Word, label(p, c)),
		fmt.Sprintf("    0x%08x -> 0x%08x: burns 0x%08x, must then %s 0x%08x", c.Before, c.After(), c.Delta, verb, c.After()),
	}
}

// sense8MQ warns that U-Boot refuses `fuse sense` on i.MX8MQ rev 2.1
// (mxc_ocotp.c fuse_sense): there the sense after the first burn fails,
// and the script stops. "" elsewhere.
func sense8MQ(p *planner.Plan) []string {
	if p.SoC.Name != "imx8mq" {
		return nil
	}
	return []string{"- i.MX8MQ rev 2.1: U-Boot disables `fuse sense`: there the first sense fails,",
		"  and the script stops after the first burn."}
}

// afterReset lists the checks that hold once the board has been reset.
func afterReset(p *planner.Plan) []string {
	lines := []string{"After a reset, every burned word must compare equal:"}
	after := map[int]uint32{}
	for _, c := range p.Writes() {
		after[c.Index] |= c.After()
	}
	for _, o := range originals(p) {
		lines = append(lines, fmt.Sprintf("  fuse cmp %d %d 0x%08x", o.Bank, o.Word, after[o.Index]))
	}
	return lines
}

// echoSafe keeps text inside a double-quoted U-Boot echo: no quotes,
// variables, separators or control characters.
func echoSafe(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r < 0x20 || r == 0x7f, strings.ContainsRune("\"'$;\\`", r):
			return '?'
		}
		return r
	}, s)
}
