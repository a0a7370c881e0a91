package export

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/otpprov/otpprov/manifest"
	"github.com/otpprov/otpprov/planner"
)

// manyPlan burns 40 words of a blank board: more steps than one `run`
// takes, so both formats run them through a tree of variables.
func manyPlan(t *testing.T) *planner.Plan {
	m := loadMap(t, "imx8mm")
	var targets []manifest.Target
	for k := 80; k < 120; k++ {
		targets = append(targets, target(m, k/4, k%4, uint32(k)<<8|0x5a, 0xffffffff))
	}
	p := makePlan(t, planner.Source{Name: "many-words", File: "many.yaml"}, m, make([]uint32, m.Words), targets...)
	if len(p.Writes()) != 40 || p.Rejected() {
		t.Fatalf("many plan: %d writes, rejected %v", len(p.Writes()), p.Rejected())
	}
	return p
}

// decoded is a U-Boot script or a uuu list read back as U-Boot would:
// the commands run as they are read, in order, and the variables they
// define.
type decoded struct {
	direct []string // U-Boot commands run as read, setenv of a step included
	vars   map[string]string
	last   string // the last U-Boot command
	lines  []string
}

var (
	setenvEscaped = regexp.MustCompile(`^setenv (\S+)(?: (.*))?$`)
	setenvQuoted  = regexp.MustCompile(`^setenv (\S+) '([^']*)'$`)
	setenvAppend  = regexp.MustCompile(`^setenv (\S+) "\$\{(\S+)\} && ([^"$]*)"$`)
)

func decode(t *testing.T, f Format, script []byte) decoded {
	t.Helper()
	d := decoded{vars: map[string]string{}}
	for _, line := range strings.Split(string(script), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		d.lines = append(d.lines, line)
		cmd := line
		if f == UUU {
			if _, then, ok := strings.Cut(line, " then ucmd "); ok && strings.HasPrefix(line, "FB: @ IF ") {
				cmd = then // an IF's U-Boot command
			} else if cmd, ok = strings.CutPrefix(line, "FB: ucmd "); !ok {
				continue // uuu_version, an IF's ERROR, FB: done
			}
			if m := setenvQuoted.FindStringSubmatch(cmd); m != nil {
				d.vars[m[1]] = m[2]
			}
			if m := setenvAppend.FindStringSubmatch(cmd); m != nil && m[1] == m[2] {
				d.vars[m[1]] += " && " + m[3]
			}
		} else if m := setenvEscaped.FindStringSubmatch(cmd); m != nil {
			d.vars[m[1]] = unescape(m[2])
		}
		d.direct = append(d.direct, cmd)
		d.last = cmd
	}
	return d
}

// unescape is what old hush makes of a word of backslash-escaped
// characters.
func unescape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// order expands `run` of variables (and runs joined by &&), as U-Boot
// runs them, into the step commands in the order they run; it fails the
// test on a run of more variables than CONFIG_SYS_MAXARGS allows, or of
// one undefined.
func (d decoded) order(t *testing.T, name string) []string {
	t.Helper()
	v, ok := d.vars[name]
	if !ok {
		t.Fatalf("%s is not defined", name)
	}
	runs := strings.Split(v, " && ")
	for _, r := range runs {
		if !strings.HasPrefix(r, "run ") {
			return []string{v} // a step
		}
	}
	var out []string
	for _, r := range runs {
		names := strings.Fields(strings.TrimPrefix(r, "run "))
		if len(names) > maxRun {
			t.Errorf("%q: run of %d variables, more than CONFIG_SYS_MAXARGS 16 allows", r, len(names))
		}
		for _, n := range names {
			out = append(out, d.order(t, n)...)
		}
	}
	return out
}

func exportPlans(t *testing.T) map[string]*planner.Plan {
	return map[string]*planner.Plan{"gp": gpPlan(t), "secure": securePlan(t), "many": manyPlan(t)}
}

var progRE = regexp.MustCompile(`fuse prog -y \d+ \d+ 0x[0-9a-f]{8}`)

// Nothing burns before the last line: every command before it only
// defines a variable, or checks (uuu: fuse cmp, the session guard); no
// fuse prog is outside a definition; the last line runs otpprov_go, no
// variable defined is a prefix of its name (a last line cut there must
// find nothing to run), and the first command deletes it (a script cut
// short leaves none to run by hand).
func TestNothingRunsBeforeTheLastLine(t *testing.T) {
	for name, p := range exportPlans(t) {
		for _, f := range []Format{UBoot, UUU} {
			script := render(t, f, p, opts)
			d := decode(t, f, script)
			if d.last != "run "+goVar {
				t.Errorf("%s.%s: the last command is %q", name, f, d.last)
			}
			if d.direct[0] != "setenv "+goVar {
				t.Errorf("%s.%s: the first command is %q, want the deletion of %s", name, f, d.direct[0], goVar)
			}
			for _, cmd := range d.direct[:len(d.direct)-1] {
				switch {
				case strings.HasPrefix(cmd, "setenv "):
				case f == UUU && (strings.HasPrefix(cmd, "fuse cmp ") || cmd == "test x$"+burnedVar+" = x" || cmd == "test x$"+confirmedVar+" = xyes"):
				default:
					t.Errorf("%s.%s: %q runs before the last line", name, f, cmd)
				}
			}
			for n := range d.vars {
				if n != goVar && strings.HasPrefix(goVar, n) {
					t.Errorf("%s.%s: %s is a prefix of %s", name, f, n, goVar)
				}
			}
			for _, line := range d.lines {
				if strings.Contains(line, "fuse prog") && !strings.Contains(line, "setenv "+stepVar) {
					t.Errorf("%s.%s: burn outside a definition: %q", name, f, line)
				}
			}
		}
	}
}

// The last line runs every burn in the plan's order, closing last, each
// delta once, after the checks: the session guard first, the part's
// identity, the security confirmation, every word compared with its value
// when planned (U-Boot; uuu compares them as it reads them), then the
// session marker.
func TestBurnOrder(t *testing.T) {
	for name, p := range exportPlans(t) {
		var want []string
		for _, c := range p.Writes() {
			want = append(want, fmt.Sprintf("fuse prog -y %d %d 0x%08x", c.Bank, c.Word, c.Delta))
		}
		for _, f := range []Format{UBoot, UUU} {
			d := decode(t, f, render(t, f, p, opts))
			if f == UBoot && (!strings.HasPrefix(d.vars[goVar], "if run "+preVar+"; then run "+mainVar+";") ||
				!strings.Contains(d.vars[mainVar], "elif run "+runVar+"; then")) {
				t.Fatalf("%s.%s: %s = %q, %s = %q", name, f, goVar, d.vars[goVar], mainVar, d.vars[mainVar])
			}
			if f == UUU && d.vars[goVar] != "run "+runVar {
				t.Fatalf("%s.%s: %s = %q", name, f, goVar, d.vars[goVar])
			}
			steps := d.order(t, runVar)
			var got []string
			firstProg := -1
			for i, s := range steps {
				for _, prog := range progRE.FindAllString(s, -1) {
					got = append(got, prog)
					if firstProg < 0 {
						firstProg = i
					}
				}
			}
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("%s.%s burns\n%s\nwant\n%s", name, f, strings.Join(got, "\n"), strings.Join(want, "\n"))
				continue
			}
			var pre []string
			if f == UBoot {
				pre = d.order(t, preVar)
			}
			before := strings.Join(append(pre, steps[:firstProg]...), "\n")
			if f == UUU {
				all := strings.Join(d.direct, "\n")
				before = all[:strings.Index(all, "setenv "+stepVar+"1 ")]
			}
			checks := []string{"setenv " + burnedVar + " yes"}
			if f == UBoot {
				checks = append(checks, "test x$"+burnedVar+" = x")
				if len(p.Security()) > 0 {
					checks = append(checks, "test x$"+confirmVar+" = xSRK_LOCK,SEC_CONFIG_CLOSE")
				}
			} else {
				checks = []string{"test x$" + burnedVar + " = x"}
				if !strings.HasPrefix(steps[0], "setenv "+burnedVar+" yes") {
					t.Errorf("%s.uuu: the first step is %q, want the session marker", name, steps[0])
				}
			}
			for _, o := range append(originals(p), identity(p, opts)...) {
				checks = append(checks, fmt.Sprintf("fuse cmp %d %d 0x%08x", o.Bank, o.Word, o.Before))
			}
			for _, c := range checks {
				if !strings.Contains(before, c) {
					t.Errorf("%s.%s: no %q before the first burn", name, f, c)
				}
			}
		}
	}
	if w := securePlan(t).Writes(); w[len(w)-1].Bank != 1 || w[len(w)-1].Word != 3 || w[len(w)-1].Delta != 0x02000000 {
		t.Errorf("the last burn is %+v, want the close", w[len(w)-1])
	}
}

// Every line fits where it goes: a U-Boot line in the 254 characters a
// console keeps (CONFIG_SYS_CBSIZE 256), as three arguments (setenv,
// name, value: CONFIG_SYS_MAXARGS is 16), with no quote or ${ a cut
// could leave open; a uuu FB: ucmd in a 64-byte fastboot command with
// "UCmd:". The uuu list starts with uuu_version (else uuu boots the
// file) and ends with FB: done (else uuu waits for the next device); the
// U-Boot script ends without a newline.
func TestLineLimits(t *testing.T) {
	open := regexp.MustCompile(`(^|[^\\])(['"]|\$\{)`)
	words := regexp.MustCompile(`(?:\\.|[^ \\])+`)
	for name, p := range exportPlans(t) {
		script := string(render(t, UBoot, p, opts))
		if strings.HasSuffix(script, "\n") {
			t.Errorf("%s.uboot ends with a newline", name)
		}
		for _, line := range decode(t, UBoot, []byte(script)).lines {
			if len(line) > maxLine {
				t.Errorf("%s.uboot: %d characters: %q", name, len(line), line)
			}
			if open.MatchString(line) {
				t.Errorf("%s.uboot: a quote or ${ outside a backslash: %q", name, line)
			}
			if n := len(words.FindAllString(line, -1)); n > 3 {
				t.Errorf("%s.uboot: %d arguments: %q", name, n, line)
			}
		}
		list := string(render(t, UUU, p, opts))
		if !strings.HasPrefix(list, "uuu_version ") || !strings.HasSuffix(list, "\nFB: ucmd run "+goVar+"\nFB: done\n") {
			t.Errorf("%s.uuu: begins %q, ends %q", name, list[:20], list[len(list)-40:])
		}
		for _, line := range strings.Split(list, "\n") {
			cmd, ok := strings.CutPrefix(line, "FB: ucmd ")
			if !ok {
				if line != "" && !strings.HasPrefix(line, "#") && !strings.HasPrefix(line, "uuu_version ") &&
					!strings.HasPrefix(line, "FB: @ IF @OTPPROV_CONFIRM_SECURITY@ ") && line != "FB: done" {
					t.Errorf("%s.uuu: line %q is not a uuu command", name, line)
				}
				continue
			}
			if len("UCmd:"+cmd) > 64 {
				t.Errorf("%s.uuu: %q is longer than a fastboot command", name, cmd)
			}
		}
	}
}

// A step longer than a line can carry is an error, not a cut line.
func TestLineTooLong(t *testing.T) {
	s := &steps{b: new(bytes.Buffer), limit: 40, escape: true}
	s.add("echo " + strings.Repeat("x", 40))
	if s.err == nil || !strings.Contains(s.err.Error(), "more than the 40 a line can carry") {
		t.Errorf("error %v", s.err)
	}
}
