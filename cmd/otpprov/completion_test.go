package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/otpprov/otpprov/export"
	"github.com/otpprov/otpprov/fusemap"
	"github.com/otpprov/otpprov/internal/shquote"
	"github.com/otpprov/otpprov/nvmem"
)

// The completion scripts are run by the shells themselves and asked, for
// every command of the app, what they offer. What they must offer comes
// from urfave's tree, walked here, not from commandTree: a command the
// generator drops, or a hidden one it lets through, fails the test.

// wantCmd is a visible command as urfave has it.
type wantCmd struct {
	words []string // otpprov sim init
	subs  []string // visible subcommands
	flags []string // every spelling of its visible flags: --device, -d
}

func spell(flags []cli.Flag) []string {
	var s []string
	for _, f := range flags {
		if v, ok := f.(cli.VisibleFlag); ok && !v.IsVisible() {
			continue
		}
		for _, n := range f.Names() {
			if len(n) == 1 {
				s = append(s, "-"+n)
			} else {
				s = append(s, "--"+n)
			}
		}
	}
	return s
}

// wantCommands walks the app as it runs: urfave adds the help command at
// the top and --help to every command that does not hide it.
func wantCommands() (visible []wantCmd, hidden [][]string) {
	app := newApp(context.Background(), env{}, nil)
	app.Setup()
	root := wantCmd{words: []string{"otpprov"}, flags: spell(app.Flags)}
	var walk func(parent []string, c *cli.Command)
	walk = func(parent []string, c *cli.Command) {
		words := append(slices.Clone(parent), c.Name)
		if c.Hidden {
			hidden = append(hidden, words)
			return
		}
		w := wantCmd{words: words, flags: spell(c.Flags)}
		if !c.HideHelp {
			w.flags = append(w.flags, "--help", "-h")
		}
		for _, s := range c.Subcommands {
			if !s.Hidden {
				w.subs = append(w.subs, s.Name)
			}
		}
		visible = append(visible, w)
		for _, s := range c.Subcommands {
			walk(words, s)
		}
	}
	for _, c := range app.Commands {
		if !c.Hidden {
			root.subs = append(root.subs, c.Name)
		}
	}
	visible = append(visible, root)
	for _, c := range app.Commands {
		walk(root.words, c)
	}
	return visible, hidden
}

// runOtpprov runs the CLI in-process.
func runOtpprov(args ...string) (code int, stdout, stderr string) {
	var out, errs bytes.Buffer
	e := env{stdin: strings.NewReader(""), stdout: &out, stderr: &errs,
		getenv: func(string) string { return "" }, environ: func() []string { return nil }}
	code = run(context.Background(), append([]string{"otpprov"}, args...), e)
	return code, out.String(), errs.String()
}

// requireTool returns the path of a program a test runs. Where it is
// missing the test is skipped, loudly; in CI, which installs it, it fails.
func requireTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s is missing in CI", name)
	}
	t.Skipf("NOT RUN: %s is not installed", name)
	return ""
}

// A completion query: the words typed, the last one being completed, and
// what must be offered (any order). @file and @dir stand for the file and
// directory names of the test's directory.
type query struct {
	words []string
	want  []string
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	sort.Strings(s)
	return s
}

func treeQueries() []query {
	var qs []query
	visible, _ := wantCommands()
	for _, c := range visible {
		if len(c.subs) > 0 {
			qs = append(qs, query{append(slices.Clone(c.words), ""), c.subs})
		}
		qs = append(qs, query{append(slices.Clone(c.words), "-"), c.flags})
	}
	return qs
}

func valueQueries() []query {
	socs := fusemap.Names()
	top, _ := wantCommands()
	var commands []string
	for _, c := range top {
		if len(c.words) == 1 {
			commands = c.subs
		}
	}
	return []query{
		{[]string{"otpprov", "completion", ""}, []string{"bash", "fish", "zsh"}},
		{[]string{"otpprov", "plan", "--device-kind", ""}, strs(nvmem.Kinds)},
		{[]string{"otpprov", "show", "--soc", ""}, socs},
		{[]string{"otpprov", "show", "--soc=imx8m"}, []string{"imx8mm", "imx8mn", "imx8mp", "imx8mq"}},
		{[]string{"otpprov", "plan", "--format", ""}, append([]string{"text", "json"}, strs(export.Formats())...)},
		{[]string{"otpprov", "plan", "--json", "--device", ""}, []string{"@file"}},
		{[]string{"otpprov", "plan", "-d", ""}, []string{"@file"}},
		{[]string{"otpprov", "plan", ""}, []string{"@file"}},
		// The value of --device is not a positional argument, even
		// when readline splits sim:board at the colon.
		{[]string{"otpprov", "plan", "--device", "sim:board", ""}, []string{"@file"}},
		{[]string{"otpprov", "plan", "--device=sim:board", ""}, []string{"@file"}},
		{[]string{"otpprov", "plan", "m.yaml", ""}, nil},
		{[]string{"otpprov", "apply", "m.yaml", "--json", ""}, nil},
		{[]string{"otpprov", "validate", "a.yaml", "b.yaml", ""}, []string{"@file"}},
		{[]string{"otpprov", "validate", "--", "-odd.yaml", ""}, []string{"@file"}},
		{[]string{"otpprov", "sim", "init", ""}, []string{"@dir"}},
		{[]string{"otpprov", "sim", "init", "--soc", "imx8mm", ""}, []string{"@dir"}},
		{[]string{"otpprov", "fusemap", "show", ""}, socs},
		{[]string{"otpprov", "fusemap", "show", "imx8mm", ""}, nil},
		{[]string{"otpprov", "read", "14", ""}, nil},
		{[]string{"otpprov", "schema", ""}, []string{"fusemap", "manifest"}},
		{[]string{"otpprov", "help", ""}, commands},
		{[]string{"otpprov", "h", "s"}, []string{"schema", "show", "sim"}},
		{[]string{"otpprov", "bogus", ""}, nil},
		{[]string{"otpprov", "sim", "bogus", ""}, nil},
	}
}

// offered is a shell's answer to a query as a sorted set: candidates that
// do not start with the word being completed are dropped (the zsh stubs
// below do not filter, zsh does), and so is the --flag= that fish repeats.
func offered(line string, q query, files map[string]string) []string {
	cur := q.words[len(q.words)-1]
	flagValue := strings.HasPrefix(cur, "-") && strings.Contains(cur, "=")
	if flagValue {
		cur = cur[strings.Index(cur, "=")+1:]
	}
	var got []string
	for _, w := range strings.Fields(line) {
		if flagValue {
			if _, v, ok := strings.Cut(w, "="); ok {
				w = v
			}
		}
		if strings.HasPrefix(w, cur) || strings.HasPrefix(w, "@") {
			got = append(got, w)
		}
	}
	got = sorted(got)
	if s, ok := files[strings.Join(got, " ")]; ok {
		return []string{s}
	}
	return got
}

// The test directory holds a file and a directory; each shell lists them
// its own way.
var completionShellTests = []struct {
	name, shell string
	files       map[string]string // a shell's listing of the test directory: @file or @dir
	run         func(t *testing.T, dir string, qs []query) []string
}{
	{"bash", "bash", bashFiles, func(t *testing.T, dir string, qs []query) []string {
		return bashQueries(t, dir, qs, readlineWords)
	}},
	// Some users take = and : out of COMP_WORDBREAKS: readline then
	// passes --device=sim:board as one word.
	{"bash-unbroken-words", "bash", bashFiles, func(t *testing.T, dir string, qs []query) []string {
		return bashQueries(t, dir, qs, func(words []string) []string { return words })
	}},
	{"zsh", "zsh", nil, zshQueries},
	{"fish", "fish", map[string]string{"boards/ m.yaml x:1.yaml": "@file", "boards/": "@dir"}, fishQueries},
}

var bashFiles = map[string]string{"boards m.yaml x:1.yaml": "@file", "boards": "@dir"}

func TestCompletionOffers(t *testing.T) {
	for _, sh := range completionShellTests {
		t.Run(sh.name, func(t *testing.T) {
			requireTool(t, sh.shell)
			code, script, stderr := runOtpprov("completion", sh.shell)
			if code != 0 || stderr != "" {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			dir := completionDirs(t)
			writeFile(t, filepath.Join(dir, "scripts", "completion."+sh.shell), script)
			qs := append(treeQueries(), valueQueries()...)
			lines := sh.run(t, dir, qs)
			if len(lines) != len(qs) {
				t.Fatalf("%d answers to %d queries:\n%s", len(lines), len(qs), strings.Join(lines, "\n"))
			}
			for i, q := range qs {
				got, want := offered(lines[i], q, sh.files), sorted(q.want)
				if !slices.Equal(got, want) {
					t.Errorf("%s<TAB>: offered %q, want %q", strings.Join(q.words, " "), got, want)
				}
			}
		})
	}
}

// completionDirs makes dir/work, where the shells complete file names (it
// holds two files and a directory), dir/scripts for the scripts, and
// dir/home for the shells' own files.
func completionDirs(t *testing.T) string {
	dir := t.TempDir()
	for _, d := range []string{"scripts", "home", "work/boards"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(t, filepath.Join(dir, "work", "m.yaml"), "")
	writeFile(t, filepath.Join(dir, "work", "x:1.yaml"), "")
	return dir
}

// shell runs a shell in dir/work and returns its lines of output.
func shell(t *testing.T, dir string, args ...string) []string {
	t.Helper()
	// A shell that waits for what never comes must not hang the tests.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Dir = filepath.Join(dir, "work")
	// fish keeps its history and variables under HOME: not the real one.
	home := filepath.Join(dir, "home")
	cmd.Env = append(os.Environ(), "HOME="+home, "XDG_CONFIG_HOME="+home, "XDG_DATA_HOME="+home)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil || stderr.Len() > 0 {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, &stderr)
	}
	return strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
}

// readlineWords splits words as bash's readline does before it calls the
// completion function: at = and : (COMP_WORDBREAKS), each a word itself.
func readlineWords(words []string) []string {
	var out []string
	for _, w := range words {
		start := len(out)
		for {
			i := strings.IndexAny(w, "=:")
			if i < 0 {
				break
			}
			if i > 0 {
				out = append(out, w[:i])
			}
			out = append(out, w[i:i+1])
			w = w[i+1:]
		}
		if w != "" || len(out) == start {
			out = append(out, w)
		}
	}
	return out
}

// bashQueries calls the completion function as bash does, with COMP_WORDS
// and COMP_CWORD (the words as split splits them), and prints COMPREPLY.
func bashQueries(t *testing.T, dir string, qs []query, split func([]string) []string) []string {
	var drv strings.Builder
	drv.WriteString(`source ../scripts/completion.bash
q() { COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMPREPLY=(); _otpprov; printf '%s\n' "${COMPREPLY[*]}"; }
`)
	for _, q := range qs {
		drv.WriteString("q")
		for _, w := range split(q.words) {
			drv.WriteString(" " + shquote.Quoted(w))
		}
		drv.WriteString("\n")
	}
	writeFile(t, filepath.Join(dir, "scripts", "driver"), drv.String())
	lines := shell(t, dir, "bash", "--norc", "--noprofile", "../scripts/driver")
	if len(lines) != len(qs) {
		return lines
	}
	// Readline puts a reply in place of its own last word, which must
	// start it (else it is marked !); what the command line then holds is
	// what the other shells answer: the whole word.
	for i, q := range qs {
		cur, words := q.words[len(q.words)-1], split(q.words)
		rl := words[len(words)-1]
		if rl == "=" || rl == ":" {
			rl = ""
		}
		var full []string
		for _, r := range strings.Fields(lines[i]) {
			if !strings.HasPrefix(r, rl) {
				r = "!" + r
			} else {
				r = strings.TrimSuffix(cur, rl) + r
			}
			full = append(full, r)
		}
		lines[i] = strings.Join(full, " ")
	}
	return lines
}

// Readline, which splits words at a colon, replaces only what follows
// it: bash must answer x:1.yaml as 1.yaml, but not where the colon does
// not split words. (fish completes after a colon itself; zsh does not
// split.)
func TestBashCompletionColon(t *testing.T) {
	requireTool(t, "bash")
	_, script, _ := runOtpprov("completion", "bash")
	dir := completionDirs(t)
	writeFile(t, filepath.Join(dir, "scripts", "completion.bash"), script)
	qs := []query{{[]string{"otpprov", "plan", "x:"}, nil}, {[]string{"otpprov", "plan", "--device", "x:1"}, nil}}
	for _, split := range []func([]string) []string{readlineWords, func(w []string) []string { return w }} {
		for i, line := range bashQueries(t, dir, qs, split) {
			if line != "x:1.yaml" {
				t.Errorf("%s<TAB> (as %q): offered %q, want x:1.yaml", strings.Join(qs[i].words, " "), split(qs[i].words), line)
			}
		}
	}
}

// zshQueries runs _otpprov with zsh's completion builtins replaced by
// functions that print what they are given, so that every query is exact;
// TestZshCompletionLive runs the real completion system once.
func zshQueries(t *testing.T, dir string, qs []query) []string {
	var drv strings.Builder
	drv.WriteString(`typeset -ga offered
compadd() { [[ $1 == -- ]] && shift; offered+=("$@") }
_files() { if [[ $1 == -/ ]]; then offered+=(@dir); else offered+=(@file); fi }
_describe() { local name=${@[-1]} item; for item in "${(@P)name}"; do offered+=("${item%%:*}"); done }
compset() { [[ $1 == -P ]] && PREFIX=${PREFIX#*=} }
compdef() { registered="$*" }
source ../scripts/completion.zsh
[[ $registered == '_otpprov otpprov' ]] || { print -u2 "sourced, the script did not register _otpprov: $registered"; exit 1 }
q() { words=("$@"); CURRENT=$#; PREFIX=$words[CURRENT]; offered=(); _otpprov; print -r -- "${(j: :)offered}" }
`)
	for _, q := range qs {
		drv.WriteString("q")
		for _, w := range q.words {
			drv.WriteString(" " + shquote.Quoted(w))
		}
		drv.WriteString("\n")
	}
	writeFile(t, filepath.Join(dir, "scripts", "driver"), drv.String())
	return shell(t, dir, "zsh", "-f", "../scripts/driver")
}

// fishQueries asks fish itself: complete -C completes a command line.
func fishQueries(t *testing.T, dir string, qs []query) []string {
	writeFile(t, filepath.Join(dir, "scripts", "driver"), `source ../scripts/completion.fish
for line in $argv
    set -l c (complete -C $line | string replace -r '\t.*' '')
    echo "$c"
end
`)
	args := []string{"fish", "--no-config", "../scripts/driver"}
	for _, q := range qs {
		args = append(args, strings.Join(q.words, " "))
	}
	return shell(t, dir, args...)
}

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// The scripts are syntax-checked by their shells (bash -n, zsh -n, fish -n).
func TestCompletionSyntax(t *testing.T) {
	for _, sh := range completionShells {
		t.Run(sh, func(t *testing.T) {
			requireTool(t, sh)
			_, script, _ := runOtpprov("completion", sh)
			dir := completionDirs(t)
			writeFile(t, filepath.Join(dir, "scripts", "script"), script)
			shell(t, dir, sh, "-n", "../scripts/script")
		})
	}
}

// commandTree and the scripts leave out hidden commands and flags. The
// app has none of the latter, so a small app stands in.
func TestCompletionHidesHidden(t *testing.T) {
	app := &cli.App{Name: "otpprov", Commands: []*cli.Command{
		{Name: "shown", Flags: []cli.Flag{&cli.BoolFlag{Name: "open"}, &cli.BoolFlag{Name: "secret", Hidden: true}},
			Subcommands: []*cli.Command{{Name: "inner"}, {Name: "ghost", Hidden: true}}},
		{Name: "gone", Hidden: true},
	}}
	root := commandTree(app)
	scripts := map[string]string{"bash": bashCompletion(root), "zsh": zshCompletion(root), "fish": fishCompletion(root),
		"man": manPage(root, "test")}
	for name, text := range scripts {
		for _, w := range []string{"shown", "inner", "open"} {
			if !strings.Contains(text, w) {
				t.Errorf("%s lacks %s", name, w)
			}
		}
		for _, w := range []string{"secret", "ghost", "gone"} {
			if strings.Contains(text, w) {
				t.Errorf("%s offers hidden %s", name, w)
			}
		}
	}
}

// The scripts know the flags that take a value by name alone, so a name
// must mean the same in every command; and flagOffers names real flags.
func TestCompletionFlagsByName(t *testing.T) {
	seen := map[string]flagDoc{}
	commandTree(newApp(context.Background(), env{}, nil)).walk(func(n *node) {
		for _, f := range n.flags {
			prev, ok := seen[f.names[0]]
			if ok && (prev.value == "") != (f.value == "") || ok && prev.offer.spec() != f.offer.spec() {
				t.Errorf("--%s differs between commands (otpprov %s)", f.names[0], n.name())
			}
			seen[f.names[0]] = f
		}
	})
	for name := range flagOffers {
		if f, ok := seen[name]; !ok || f.value == "" {
			t.Errorf("flagOffers has %s, which is no flag with a value", name)
		}
	}
}

func TestCompletionDeterministic(t *testing.T) {
	for _, sh := range completionShells {
		_, a, _ := runOtpprov("completion", sh)
		_, b, _ := runOtpprov("completion", sh)
		if a != b || len(a) < 1000 {
			t.Errorf("%s: %d and %d bytes, differing or too short", sh, len(a), len(b))
		}
	}
}

// The real zsh completion system, once: an interactive zsh on a pseudo
// terminal (zpty) autoloads the script from fpath as an installed one is,
// and each line is typed with TABs and run; otpprov is a function that
// prints the words it got. Each line has one completion, so that TAB
// inserts it.
func TestZshCompletionLive(t *testing.T) {
	requireTool(t, "zsh")
	_, script, _ := runOtpprov("completion", "zsh")
	dir := completionDirs(t)
	writeFile(t, filepath.Join(dir, "scripts", "_otpprov"), script)
	writeFile(t, filepath.Join(dir, "scripts", "live"), `zmodload zsh/zpty
zpty z 'TERM=xterm zsh -f -i'
# The quotes split the markers: the echo of a typed line never matches.
zpty -w z 'fpath=(../scripts $fpath); autoload -U compinit; compinit -u -D; otpprov() { print -r -- "R""AN:$*:E""ND" }; print "RE""ADY"'
zpty -r z out '*READY*'
for line in "$@"; do
  zpty -w -n z "$line"$'\n'
  zpty -r z out '*RAN:*:END*'
  print -r -- "${${out##*RAN:}%%:END*}"
done
zpty -d z
`)
	cases := []struct{ typed, want string }{
		{"otpprov sim \t", "sim init"},
		{"otpprov journal v\t", "journal verify"},
		{"otpprov plan --detailed-e\t", "plan --detailed-exitcode"},
		{"otpprov completion fi\t", "completion fish"},
		{"otpprov show --device-k\t au\t", "show --device-kind auto"},
		{"otpprov plan --device sim:board m.y\t", "plan --device sim:board m.yaml"},
		{"otpprov sim init boa\t", "sim init boards"},
		{"otpprov plan --format=ub\t", "plan --format=uboot"},
	}
	args := []string{"zsh", "-f", "../scripts/live"}
	for _, c := range cases {
		args = append(args, c.typed)
	}
	got := shell(t, dir, args...)
	if len(got) != len(cases) {
		t.Fatalf("%d lines for %d cases:\n%s", len(got), len(cases), strings.Join(got, "\n"))
	}
	for i, c := range cases {
		if got[i] != c.want {
			t.Errorf("%q ran otpprov %s, want otpprov %s", c.typed, got[i], c.want)
		}
	}
}
