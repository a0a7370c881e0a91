package main

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/urfave/cli/v2"

	"github.com/otpprov/otpprov/internal/termtext"
	"github.com/otpprov/otpprov/internal/yamldoc"
)

// refuseUnsafe refuses a command line or environment that holds a
// character acting on a terminal (termtext.Unsafe) where otpprov may show
// it: a path, a name, a --var name, OTPPROV_DEVICE. The values of --var
// and OTPPROV_VAR_name are left to the manifest's types, which refuse such
// a value without showing a secret one; their names are checked here.
func refuseUnsafe(app *cli.App, args []string, e env) error {
	bad := func(what, text string, r rune) error {
		if r == utf8.RuneError {
			// Output escapes such bytes as \xNN: a path in a script on
			// standard output would then name another file than with --out.
			return &exit{code: exitError, err: fmt.Errorf("%s %s holds bytes that are not UTF-8: nothing was read or written", what, yamldoc.Quote(text)),
				hint: "rename the file, or give its name in UTF-8: otpprov shows and writes names as UTF-8 text"}
		}
		return &exit{code: exitError, err: fmt.Errorf("%s %s holds control character %s: nothing was read or written", what, yamldoc.Quote(text), termtext.Name(r)),
			hint: "retype it without that character: names and paths are shown on terminals, where it would act"}
	}
	for i := 1; i < len(args); i++ {
		a := args[i]
		name, value, inline := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if strings.HasPrefix(a, "-") && name == "var" {
			if !inline {
				if i+1 >= len(args) {
					break
				}
				i++
				value = args[i]
			}
			v, _, _ := strings.Cut(value, "=")
			if r, ok := unsafeOrNotUTF8(v); ok {
				return bad("--var name", v, r)
			}
			continue
		}
		if r, ok := unsafeOrNotUTF8(a); ok {
			return bad(fmt.Sprintf("argument %d", i), a, r)
		}
	}
	envs := map[string]bool{}
	var walk func([]*cli.Command)
	walk = func(cmds []*cli.Command) {
		for _, c := range cmds {
			for _, f := range c.Flags {
				if df, ok := f.(cli.DocGenerationFlag); ok {
					for _, v := range df.GetEnvVars() {
						envs[v] = true
					}
				}
			}
			walk(c.Subcommands)
		}
	}
	walk(app.Commands)
	for _, kv := range e.environ() {
		k, v, _ := strings.Cut(kv, "=")
		text := v
		if name, ok := strings.CutPrefix(k, varEnvPrefix); ok {
			text = name
		} else if !envs[k] {
			continue
		}
		if r, ok := unsafeOrNotUTF8(text); ok {
			return bad(k, text, r)
		}
	}
	return nil
}

// unsafeOrNotUTF8 is termtext.First, and utf8.RuneError for text that is
// not UTF-8.
func unsafeOrNotUTF8(text string) (rune, bool) {
	if !utf8.ValidString(text) {
		return utf8.RuneError, true
	}
	return termtext.First(text)
}
