package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/otpprov/otpprov/ledger"
	"github.com/otpprov/otpprov/nvmem"
)

// The man page is roff written here from the command tree, not urfave's
// ToMan: that pulls go-md2man and blackfriday into the binary (which must
// stay small for the boards, and may be built with urfave_cli_no_docs),
// for a page we can write in a hundred lines.

const manDescription = `otpprov reads an i.MX SoC's fuses (OTP) through the Linux nvmem file, plans which bits a YAML manifest asks to burn, and burns that plan word by word, reading every word back. Fuses cannot be cleared: plan shows what apply would burn, and apply asks before it burns (only the answer yes proceeds) unless --auto-approve is given.
Flags may come before or after the positional arguments; an unknown flag is an error. Every command takes --help (-h). Errors go to standard error as "otpprov: error: ...", followed by "otpprov: hint: ..." where the fix is known.
The README of the otpprov sources describes the manifest, the safety rules, the fuse maps and the devices.`

func cmdMan(ctx context.Context, c *cli.Context, e env) error {
	if _, err := args(c); err != nil {
		return err
	}
	return deliver(c, e, []byte(manPage(commandTree(newApp(ctx, env{}, nil)), toolVersion())))
}

// roffText escapes s for roff text lines: a backslash is \e; a hyphen is
// \-, the hyphen-minus that copies as typed, as flags and commands must;
// and a line that starts with . or ' would be a request, so \& guards it.
func roffText(s string) string {
	s = strings.NewReplacer(`\`, `\e`, "-", `\-`).Replace(s)
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, ".") || strings.HasPrefix(l, "'") {
			lines[i] = `\&` + l
		}
	}
	return strings.Join(lines, "\n")
}

// roffArg is s as one quoted macro argument.
func roffArg(s string) string {
	return `"` + strings.ReplaceAll(roffText(s), `"`, `\(dq`) + `"`
}

func bold(s string) string   { return `\fB` + roffText(s) + `\fR` }
func italic(s string) string { return `\fI` + roffText(s) + `\fR` }

func manPage(root *node, version string) string {
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format+"\n", a...) }
	w(`.\" otpprov(1), written by 'otpprov man' (make man) from otpprov's command`)
	w(`.\" tree: edit cmd/otpprov, not this file.`)
	w(`.TH OTPPROV 1 "" %s "User Commands"`, roffArg("otpprov "+version))
	// No hyphenation, ragged right: the page is full of flags, paths and
	// variable names, which must not break (OTP-PROV_DEVICE) or stretch.
	w(".nh")
	w(".ad l")
	w(".SH NAME")
	w(`otpprov \- %s`, roffText(root.usage))
	w(".SH SYNOPSIS")
	w(`%s %s [%s] [%s]`, bold("otpprov"), italic("command"), italic("options"), italic("arguments"))
	w(".SH DESCRIPTION")
	for i, p := range strings.Split(manDescription, "\n") {
		if i > 0 {
			w(".PP")
		}
		w("%s", roffText(p))
	}

	w(".SH COMMANDS")
	var envs []string
	envFlag := map[string]flagDoc{}
	root.walk(func(n *node) {
		for _, f := range n.flags {
			for _, v := range f.env {
				if _, seen := envFlag[v]; !seen {
					envs = append(envs, v)
					envFlag[v] = f
				}
			}
		}
		if n == root {
			return
		}
		w(".SS %s", roffArg(n.name()))
		synopsis := bold("otpprov " + n.name())
		if len(n.subs) > 0 {
			synopsis += " " + italic("command")
		} else {
			synopsis += " [" + italic("options") + "]"
			if n.args != "" {
				synopsis += " " + italic(n.args)
			}
		}
		w("%s", synopsis)
		w(".PP")
		w("%s", roffText(n.usage))
		if n.description != "" {
			w(".PP")
			w(".nf")
			w("%s", roffText(n.description))
			w(".fi")
		}
		for _, f := range n.flags {
			if f.names[0] == "help" {
				continue // said once, in DESCRIPTION
			}
			w(".TP")
			w("%s", manFlag(f))
			text := f.usage
			if f.def != "" {
				text += fmt.Sprintf(" (default: %s)", f.def)
			}
			if len(f.env) > 0 {
				text += " (environment: " + strings.Join(f.env, ", ") + ")"
			}
			w("%s", roffText(text))
		}
	})

	w(".SH EXIT STATUS")
	for _, c := range exitCodes {
		w(".TP")
		w("%s", bold(fmt.Sprint(c.code)))
		w("%s", roffText(c.meaning))
	}

	w(".SH ENVIRONMENT")
	for _, v := range envs {
		w(".TP")
		w("%s", bold(v))
		w("%s", roffText(fmt.Sprintf("--%s when that flag is not given: %s", envFlag[v].names[0], envFlag[v].usage)))
	}
	w(".TP")
	w(`%s\fIname\fR`, bold(varEnvPrefix))
	w("%s", roffText("the value of the manifest's variable name, for plan, apply, verify and validate; "+
		"--var and --var-file win over it. Empty counts as unset."))
	w(".TP")
	w("%s", bold("OTPPROV_CONFIRM_SECURITY"))
	w("%s", roffText("read by the scripts that plan --format uboot, uuu or sh writes, not by otpprov: "+
		"the security fields (NAME,...) the operator confirms when the script runs."))
	w(".TP")
	w("%s", bold("OTPPROV_LEDGER_TIMEOUT"))
	w("%s", roffText(fmt.Sprintf("how long a PostgreSQL ledger may take to answer one request, connecting included, "+
		"before the operation fails (a Go duration: 30s, 1m); %v by default.", ledger.AnswerTimeout)))
	w(".TP")
	w("%s", bold("NO_COLOR"))
	w("%s", roffText("when set and not empty, the output is never coloured, as with --no-color."))

	w(".SH FILES")
	w(".TP")
	w("%s", italic(nvmem.DefaultPath))
	w("%s", roffText("the i.MX OCOTP's nvmem file: the default --device."))

	w(".SH SEE ALSO")
	w(`\fBod\fR(1), \fBdd\fR(1), \fBflock\fR(2)`)
	return b.String()
}

// manFlag is a flag's tag line: --device, -d value.
func manFlag(f flagDoc) string {
	var names []string
	for _, s := range flagSpellings(f) {
		names = append(names, bold(s))
	}
	tag := strings.Join(names, ", ")
	if f.value != "" {
		tag += " " + italic(f.value)
	}
	return tag
}
