package export

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/otpprov/otpprov/planner"
)

// The U-Boot variables of the scripts. Every step is defined into a
// variable otpprov_N first; runVar chains them in order; goVar, defined
// last, runs the chain, and the script's last command alone runs goVar.
// burnedVar marks a U-Boot session in which fuses were programmed: its
// shadow registers are stale until the next reset, so no `fuse cmp`
// check can be trusted in it any more.
const (
	stepVar    = "otpprov_"
	runVar     = "otpprov_run"
	goVar      = "otpprov_go"
	stoppedVar = "otpprov_stopped"
	burnedVar  = "otpprov_burned"
	confirmVar = "otpprov_confirm_security"
	// The U-Boot script's other chains and messages: preVar checks the
	// session and the part, doneVar whether the words already hold the
	// plan, whyVar holds what the step that failed was checking (each
	// check sets it first), wroteVar marks this run's first burn.
	preVar   = "otpprov_pre"
	doneVar  = "otpprov_done"
	mainVar  = "otpprov_main"
	whyVar   = "otpprov_why"
	wroteVar = "otpprov_wrote"
)

// maxLine is the longest command line of a U-Boot script: pasted at the
// prompt, a line keeps CONFIG_SYS_CBSIZE-2 characters (cli_readline.c),
// and 256 is the smallest CBSIZE of U-Boot's i.MX defconfigs.
const maxLine = 256 - 2

// maxUCmd is the longest U-Boot command a uuu FB: ucmd line can carry: a
// fastboot command is at most 64 bytes, and uuu sends "UCmd:" first.
const maxUCmd = 64 - len("UCmd:")

// maxRun is how many variables one `run` takes: CONFIG_SYS_MAXARGS is at
// least 16 in U-Boot's defconfigs, "run" included.
const maxRun = 15

// uuuVersion is the oldest uuu a list needs: FB: ucmd. A list that burns
// security fuses takes its confirmation from the host's environment with
// uuu's own commands, @ (libuuu/cmd.cpp CmdEnv, since 1.4.43) and IF
// (CmdIf, since 1.4.149): uuuIfVersion. An older uuu refuses the list
// ("too old") before it runs anything.
const (
	uuuVersion   = "1.0.1"
	uuuIfVersion = "1.4.149"
)

// confirmedVar is set, in a uuu list's U-Boot session, by the IF line
// that finds the host's OTPPROV_CONFIRM_SECURITY naming the list's
// security fields.
const confirmedVar = "otpprov_confirmed"

// steps writes the part of a script that burns: each step is a command
// defined into its own variable, and nothing runs until the last line.
// A hush script and a uuu list run as they are read, so a script cut
// short (a full disk) runs its prefix: with every burn deferred, a prefix
// only defines variables.
type steps struct {
	b      *bytes.Buffer
	limit  int    // the longest command a line may carry
	prefix string // what a line starts with before its command
	// escape: a value is one word of backslash-escaped characters, never
	// in quotes. Old hush, sourcing a script that ends inside a quote (one
	// cut there), reports a syntax error and then reads through a NULL
	// pointer (cli_hush.c parse_stream_outer, after inp->p = NULL): the
	// sandbox crashes, and a board reads whatever lies at address 0 as
	// the rest of the script. A script cut after a backslash is no syntax
	// error. uuu sends each line whole to run_command, which stops at a
	// syntax error: its values are quoted, which is shorter.
	escape bool
	names  []string
	err    error
}

// line writes one command, refusing one longer than a line can carry:
// cut by the console or by fastboot, it would run differently.
func (s *steps) line(cmd string) {
	if s.err != nil {
		return
	}
	if len(cmd) > s.limit {
		s.err = fmt.Errorf("%q is %d bytes, more than the %d a line can carry", cmd, len(cmd), s.limit)
		return
	}
	s.b.WriteString(s.prefix + cmd + "\n")
}

// hushSpecial are the characters old hush splits or reads specially
// outside quotes, and that a step's value may hold: a backslash before
// each keeps it in the one word of the value. One word, because a
// command takes at most CONFIG_SYS_MAXARGS (16) arguments.
const hushSpecial = ` ;&|"'$\#`

// set is the command that sets variable name to value, as one argument.
func (s *steps) set(name, value string) string {
	if !s.escape {
		if strings.ContainsRune(value, '\'') && s.err == nil {
			s.err = fmt.Errorf("%q holds a single quote", value)
		}
		return "setenv " + name + " '" + value + "'"
	}
	var b strings.Builder
	for _, r := range value {
		if strings.ContainsRune(hushSpecial, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return "setenv " + name + " " + b.String()
}

// next names the next variable.
func (s *steps) next() string { return fmt.Sprintf("%s%d", stepVar, len(s.names)+1) }

// define sets the next variable to cmd and returns its name.
func (s *steps) define(cmd string) string {
	name := s.next()
	s.names = append(s.names, name)
	s.line(s.set(name, cmd))
	return name
}

// add defines cmd as the next step.
func (s *steps) add(cmd string) { s.define(cmd) }

// addAll defines cmds as steps, joined by && into as few as fit a line.
func (s *steps) addAll(cmds []string) {
	cur := ""
	for _, c := range cmds {
		if try := cur + " && " + c; cur != "" && len(s.set(s.next(), try)) <= s.limit {
			cur = try
			continue
		}
		if cur != "" {
			s.add(cur)
		}
		cur = c
	}
	if cur != "" {
		s.add(cur)
	}
}

// chain defines into, which runs the steps names in order: `run` takes as
// many variables as CONFIG_SYS_MAXARGS allows and stops at the first one
// that fails. Each variable takes an entry of U-Boot's environment table,
// which is sized when the environment is imported (CONFIG_ENV_MIN_ENTRIES
// + size/8: a few hundred on a board with its default environment), so
// the chain spends few: more steps than fit one run (or one line) are run
// by a tree of variables that run groups of them (U-Boot scripts), or, in
// a uuu list, whose 59 bytes hold only 3 names to a group, by runs joined
// with && and appended to into a line at a time (old hush skips the
// rest of an && list after a false operand).
func (s *steps) chain(names []string, into string) {
	fits := func(cmd string) bool { return len(cmd) <= s.limit }
	run := func(names []string) string { return "run " + strings.Join(names, " ") }
	if !s.escape {
		var group []string
		first := true
		text := func(group []string) string {
			if first {
				return s.set(into, run(group))
			}
			return "setenv " + into + " \"${" + into + "} && " + run(group) + "\""
		}
		for _, name := range names {
			if len(group) > 0 && (len(group) == maxRun || !fits(text(append(group, name)))) {
				s.line(text(group))
				first, group = false, nil
			}
			group = append(group, name)
		}
		s.line(text(group))
		return
	}
	level := names
	for {
		var groups [][]string
		for _, name := range level {
			if n := len(groups); n > 0 && len(groups[n-1]) < maxRun && fits(s.set(into, run(append(groups[n-1], name)))) {
				groups[n-1] = append(groups[n-1], name)
				continue
			}
			groups = append(groups, []string{name})
		}
		if len(groups) <= 1 {
			s.line(s.set(into, run(level)))
			return
		}
		level = nil
		for _, g := range groups {
			level = append(level, s.define(run(g)))
		}
	}
}

func writeUBoot(b *bytes.Buffer, p *planner.Plan, opts Options) error {
	comment(b, header(p, opts, "U-Boot script")...)
	writes := p.Writes()
	if len(writes) == 0 {
		b.WriteString("\necho otpprov: nothing to burn: this board already satisfies " + echoSafe(p.Source.Name) + "\n")
		return nil
	}
	nBurns := fmt.Sprintf("%d %s", len(writes), plural(len(writes), "burn", "burns"))
	orig := originals(p)
	nWords := fmt.Sprintf("%d %s", len(orig), plural(len(orig), "word", "words"))
	comment(b, "",
		"Run it with `source` (mkimage -A arm -T script -C none -d FILE FILE.scr, load",
		"it, source ADDR) or paste it at the U-Boot prompt. It needs the hush parser",
		"(CONFIG_HUSH_PARSER) and `run`; `test`, `true` and `false` come with hush.",
		"No line is longer than 254 characters, which a console keeps",
		"(CONFIG_SYS_CBSIZE 256).",
		"",
		"How it runs: every step is only defined here, into a variable "+stepVar+"N;",
		"the last line alone runs them, and `run` stops at the first that fails: a",
		"script cut short never reaches it, and burns nothing. In order: 1. refuse a",
		"session that programmed fuses; 2. check the part; 3. if every word already",
		"holds its planned value, say \"verified\"; 4. check every word holds the",
		"value the plan was made from, the confirmation, then burn.",
		"",
		"How it checks (U-Boot cmd/fuse.c, drivers/misc/mxc_ocotp.c): `fuse cmp`",
		"compares with the shadow registers, which `fuse prog` does not reload: all",
		"run before the first burn. `fuse sense` reads the fuse but only prints it:",
		"compare it with the value named before it. A burn run ends \"programmed, NOT",
		"verified yet\": reset, then run this script again; step 3 then checks every",
		"word, or `fuse cmp` shows the words that differ, and nothing burns.",
	)
	comment(b, sense8MQ(p)...)

	s := &steps{b: b, limit: maxLine, escape: true}
	why := func(msg string) { s.add(`setenv ` + whyVar + ` "` + msg + `"`) }
	b.WriteString("\n")
	comment(b, "A cut script leaves no "+goVar+" to run by hand; this run burned nothing yet.")
	s.line("setenv " + goVar)
	s.line("setenv " + wroteVar)

	comment(b, "", "1. Fuses programmed earlier in this U-Boot session leave the shadow registers stale.")
	first := len(s.names)
	why("fuses were programmed in this session, so fuse cmp reads stale values: reset, then run this script again")
	s.add(fmt.Sprintf("test x$%s = x", burnedVar))
	if ids := identity(p, opts); len(ids) > 0 {
		comment(b, "2. "+identityComment(p)[0])
		why("this is not the part the script was made for, UNIQUE_ID " + echoSafe(p.UniqueID) + ": its identity words differ (fuse cmp above)")
		var cmps []string
		for _, w := range ids {
			cmps = append(cmps, fmt.Sprintf("fuse cmp %d %d 0x%08x", w.Bank, w.Word, w.Before))
		}
		s.addAll(cmps)
	}
	pre := s.names[first:]

	comment(b, "", "3. Already burned? Every word compared with its planned value.")
	first = len(s.names)
	after := map[int]uint32{}
	for _, c := range writes {
		after[c.Index] |= c.After()
	}
	cmps := []string{`echo "otpprov: already burned? the ` + nWords + ` against their planned values, failed means not yet"`}
	for _, o := range orig {
		cmps = append(cmps, fmt.Sprintf("fuse cmp %d %d 0x%08x", o.Bank, o.Word, after[o.Index]))
	}
	s.addAll(cmps)
	done := s.names[first:]

	comment(b, "", "4. The words hold the values the plan was made from:")
	first = len(s.names)
	why("the words differ from the state the plan was made from (fuse cmp above): plan again, or see otpprov plan if this script burned here before")
	cmps = []string{`echo "otpprov: checking the ` + nWords + ` against the state the plan was made from"`}
	for _, o := range orig {
		cmps = append(cmps, fmt.Sprintf("fuse cmp %d %d 0x%08x", o.Bank, o.Word, o.Before))
	}
	s.addAll(cmps)
	if sec := securityNames(p); len(sec) > 0 {
		list := strings.Join(sec, ",")
		comment(b, "Security fuses: name each one first, as with otpprov apply --confirm-security:",
			"  setenv "+confirmVar+" "+list)
		msg := "this script burns security fuses: confirm them first: setenv " + confirmVar + " " + list + ", then run it again"
		if len(s.set(s.next(), `setenv `+whyVar+` "`+msg+`"`)) > s.limit {
			msg = "this script burns security fuses: confirm them first: setenv " + confirmVar + " to the list in its header"
		}
		why(msg)
		// x$name: with the variable unset, `test $name = LIST` would get no
		// empty argument, and `test = LIST` is true in U-Boot's test.
		s.add(fmt.Sprintf(`test x$%s = x%s`, confirmVar, list))
	}
	why("a burn failed (see above)")
	s.add(fmt.Sprintf("setenv %s yes && setenv %s yes", wroteVar, burnedVar))

	for i, c := range writes {
		b.WriteString("\n")
		comment(b, burnComment(p, c, i, len(writes), "sense")...)
		s.add(fmt.Sprintf(`fuse prog -y %d %d 0x%08x && echo "otpprov: bank %d word %d must now sense 0x%08x:" && fuse sense %d %d`,
			c.Bank, c.Word, c.Delta, c.Bank, c.Word, c.After(), c.Bank, c.Word))
	}
	burn := s.names[first:]

	b.WriteString("\n")
	comment(b, "The chains; run stops at the first step that fails.")
	s.chain(pre, preVar)
	s.chain(done, doneVar)
	s.chain(burn, runVar)
	comment(b, "What a run ends with: exactly one of these.")
	s.line(s.set("otpprov_partial", `echo "otpprov: stopped after a burn: the board may be partially programmed: reset, then run otpprov plan on it, or this script again: it names the words that differ"`))
	s.line(s.set(stoppedVar, fmt.Sprintf(`echo "otpprov: error: $%s"; if test x$%s = x; then echo "otpprov: this run burned nothing"; else run otpprov_partial; fi; false`, whyVar, wroteVar)))
	s.line(s.set("otpprov_verified", `echo "otpprov: verified: the `+nWords+` hold their planned values, read since the last reset: nothing to burn"`))
	s.line(s.set("otpprov_programmed", `echo "otpprov: `+nBurns+` programmed, NOT verified yet: each fuse sense above must print the value named before it; reset, then run this script again to verify"`))
	s.line(s.set(mainVar, fmt.Sprintf("if run %s; then run otpprov_verified; elif run %s; then run otpprov_programmed; else run %s; false; fi", doneVar, runVar, stoppedVar)))
	s.line(s.set(goVar, fmt.Sprintf("if run %s; then run %s; else run %s; false; fi", preVar, mainVar, stoppedVar)))
	b.WriteString("\n")
	comment(b, afterReset(p)...)
	comment(b, "", "The last line: it alone burns. No newline follows it: sourcing a script",
		"that ends with one, U-Boot runs an empty line last and returns its status, 0.")
	b.WriteString("run " + goVar)
	return s.err
}

func writeUUU(b *bytes.Buffer, p *planner.Plan, opts Options) error {
	// uuu reads a file that does not start with "uuu_version" as a boot
	// image to download: this line must come first, before any comment.
	version := uuuVersion
	if len(p.Security()) > 0 {
		version = uuuIfVersion
	}
	b.WriteString("uuu_version " + version + "\n")
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
		"How it runs: the checks run as they are read; the burns are only defined,",
		"into variables "+stepVar+"N, and the last FB: ucmd line alone runs them,",
		"in order (`run` stops at the first one that fails). A list cut short never",
		"reaches that line, and burns nothing; cut inside the final FB: done, uuu",
		"refuses the whole list. uuu needs FB: done to end.",
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
		"- After the burns, reset: the `fuse cmp` lines below (or otpprov verify)",
		"  then check the fuses.",
	)
	comment(b, sense8MQ(p)...)
	s := &steps{b: b, limit: maxUCmd, prefix: "FB: ucmd "}
	b.WriteString("\n")
	comment(b, "A cut list leaves no "+goVar+" behind to run by hand.")
	s.line("setenv " + goVar)
	comment(b, "Fuses programmed earlier in this U-Boot session leave stale shadow registers.",
		"(Not `if env exists ...; then false; fi`: in old hush an if without else whose",
		"test fails returns that failure, and uuu would stop here on every board.)")
	s.line(fmt.Sprintf("test x$%s = x", burnedVar))
	if ids := identity(p, opts); len(ids) > 0 {
		comment(b, identityComment(p)...)
		for _, w := range ids {
			s.line(fmt.Sprintf("fuse cmp %d %d 0x%08x", w.Bank, w.Word, w.Before))
		}
	}
	if sec := securityNames(p); len(sec) > 0 {
		list := strings.Join(sec, ",")
		comment(b, "Security fuses: name each one first, as with otpprov apply --confirm-security,",
			"in the host's environment: uuu -e OTPPROV_CONFIRM_SECURITY="+list+" FILE",
			"uuu reads it itself (@VAR@, libuuu/cmd.cpp CmdEnv) when it parses the list:",
			"unset, uuu refuses the whole list and runs nothing. No host shell is involved",
			"(uuu's FB: sh runs a command through popen: /bin/sh, or cmd.exe on Windows).",
			"IF compares it, as uuu compares (case aside), with the list below: the first",
			"line stops uuu with a message when it differs; the second sets "+confirmedVar,
			"in U-Boot only when it is equal, and U-Boot checks that: a value uuu's IF",
			"would misread (one holding ==) confirms nothing.")
		s.line("setenv " + confirmedVar)
		fmt.Fprintf(b, "FB: @ IF @OTPPROV_CONFIRM_SECURITY@ != %s then ERROR otpprov: error: this list burns security fuses: confirm them: uuu -e OTPPROV_CONFIRM_SECURITY=%s FILE\n", list, list)
		fmt.Fprintf(b, "FB: @ IF @OTPPROV_CONFIRM_SECURITY@ == %s then ucmd setenv %s yes\n", list, confirmedVar)
		s.line(fmt.Sprintf("test x$%s = xyes", confirmedVar))
	}
	comment(b, "The words hold the values the plan was made from:")
	for _, o := range originals(p) {
		s.line(fmt.Sprintf("fuse cmp %d %d 0x%08x", o.Bank, o.Word, o.Before))
	}
	b.WriteString("\n")
	comment(b, "The burns, defined here, run by the last FB: ucmd line.")
	s.add("setenv " + burnedVar + " yes")
	for i, c := range writes {
		b.WriteString("\n")
		comment(b, burnComment(p, c, i, len(writes), "sense")...)
		s.add(fmt.Sprintf("fuse prog -y %d %d 0x%08x", c.Bank, c.Word, c.Delta))
		s.add(fmt.Sprintf("fuse sense %d %d", c.Bank, c.Word))
	}
	b.WriteString("\n")
	comment(b, "The order; run stops at the first step that fails.")
	s.chain(s.names, runVar)
	s.line(s.set(goVar, "run "+runVar))
	b.WriteString("\n")
	comment(b, afterReset(p)...)
	comment(b, "", "The last FB: ucmd line: it alone burns.")
	s.line("run " + goVar)
	b.WriteString("FB: done\n")
	return s.err
}

// identityComment says why the identity check comes first and why
// `fuse cmp` can be trusted there: it reads the shadow registers, which
// hold the fuses as at reset and go stale after a `fuse prog` in the same
// session; the session check before it refuses such a session, and no
// burn of this script comes before it.
func identityComment(p *planner.Plan) []string {
	return []string{"The part with UNIQUE_ID " + clean(p.UniqueID) + " only (shadow registers: sound before any burn)."}
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

// echoSafe keeps text an unquoted argument of a U-Boot echo: letters,
// digits and a few marks; '?' for anything hush might read otherwise.
func echoSafe(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', strings.ContainsRune(" ._,:/+=@-", r):
			return r
		}
		return '?'
	}, s)
}
