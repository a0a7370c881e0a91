package main

import (
	"slices"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/otpprov/otpprov/export"
	"github.com/otpprov/otpprov/fusemap"
	"github.com/otpprov/otpprov/nvmem"
)

// The shell completions and the man page are written from the command tree
// newApp builds, never from a second list: a command or flag added there is
// completed and documented with no other edit, and one removed disappears.

// node is a visible command, or otpprov itself at the root.
type node struct {
	path        []string // names from the top, e.g. sim init; empty at the root
	names       []string // the name, then its aliases
	spellings   []string // the ways to write path, aliases included: help, h
	usage       string
	args        string // ArgsUsage: MANIFEST, SOC [FIELD]...
	description string
	offers      []offer // what to complete for each positional argument
	repeats     bool    // the last positional argument repeats (MANIFEST...)
	flags       []flagDoc
	subs        []*node
}

// flagDoc is a visible flag of one command.
type flagDoc struct {
	names []string // as urfave has them, long first: device, d
	value string   // the placeholder of its value (FILE, value); "" for a switch
	usage string   // without urfave's placeholder backticks
	def   string   // the default value, if not empty
	env   []string
	offer offer // what to complete for its value
}

// offer is what to complete for a flag's value or a positional argument.
type offer struct {
	words []string // one of these
	files bool     // a file name
	dirs  bool     // a directory name
}

func (o offer) empty() bool { return len(o.words) == 0 && !o.files && !o.dirs }

// completionShells are the shells 'otpprov completion' writes for.
var completionShells = []string{"bash", "zsh", "fish"}

// flagOffers are the fixed value sets of flags, by name; flags whose value
// is a FILE, and --device, complete file names.
var flagOffers = map[string]func() []string{
	"soc":         fusemap.Names,
	"device-kind": func() []string { return strs(nvmem.Kinds) },
	"format":      func() []string { return append([]string{"text", "json"}, strs(export.Formats())...) },
}

// argNames are what the upper-case names in ArgsUsage stand for; a
// lower-case name (schema's [manifest|fusemap]) is a word to type as is,
// and any other name (BANK, FIELD) a value to type: nothing to offer.
var argNames = map[string]offer{
	"MANIFEST": {files: true},
	"PLANFILE": {files: true},
	"RELEASE":  {files: true},
	"FILE":     {files: true},
	"DIR":      {dirs: true},
	"SOC":      {words: fusemap.Names()},
	"SHELL":    {words: completionShells},
}

func strs[T ~string](v []T) []string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = string(x)
	}
	return s
}

// commandTree returns the visible commands of app as it runs, with what
// urfave adds at run time: the help command at the top and --help on every
// command. app must be new (newApp), not one that ran: urfave appends help
// commands and flags to the tree as it runs. The groups' own help
// subcommands (otpprov sim help) are left out: with them, `otpprov sim
// <TAB>` could not complete init at once, and `otpprov sim --help` says
// the same.
func commandTree(app *cli.App) *node {
	app.Setup()
	root := &node{names: []string{app.Name}, spellings: []string{""}, usage: app.Usage,
		description: app.Description, flags: flagDocs(app.VisibleFlags())}
	for _, c := range app.VisibleCommands() {
		root.subs = append(root.subs, commandNode(root, c))
	}
	// urfave's help takes a [command]: one of ours.
	for _, n := range root.subs {
		if n.names[0] == "help" {
			o := offer{}
			for _, s := range root.subs {
				o.words = append(o.words, s.names[0])
			}
			n.offers = []offer{o}
		}
	}
	return root
}

func commandNode(parent *node, c *cli.Command) *node {
	n := &node{path: append(slices.Clone(parent.path), c.Name), names: c.Names(), usage: c.Usage,
		args: c.ArgsUsage, description: c.Description}
	n.offers, n.repeats = argOffers(c.ArgsUsage)
	for _, p := range parent.spellings {
		for _, name := range n.names {
			n.spellings = append(n.spellings, strings.TrimSpace(p+" "+name))
		}
	}
	flags := c.VisibleFlags()
	if !c.HideHelp && cli.HelpFlag != nil && !slices.Contains(flags, cli.HelpFlag) {
		flags = append(flags, cli.HelpFlag)
	}
	n.flags = flagDocs(flags)
	for _, s := range c.VisibleCommands() {
		if s.Name == "help" {
			continue // urfave's, see commandTree
		}
		n.subs = append(n.subs, commandNode(n, s))
	}
	return n
}

func flagDocs(flags []cli.Flag) []flagDoc {
	var docs []flagDoc
	for _, f := range flags {
		d := flagDoc{names: f.Names()}
		if df, ok := f.(cli.DocGenerationFlag); ok {
			d.value, d.usage = placeholder(df.GetUsage())
			if !df.TakesValue() {
				d.value = ""
			} else {
				d.def = df.GetValue()
			}
			d.env = df.GetEnvVars()
		}
		if d.value != "" {
			switch values, ok := flagOffers[d.names[0]]; {
			case ok:
				d.offer.words = values()
			case d.value == "FILE" || d.names[0] == "device":
				d.offer.files = true
			}
		}
		docs = append(docs, d)
	}
	return docs
}

// placeholder splits urfave's usage text into the value's placeholder,
// the text between backticks (value if none), and the text without them.
func placeholder(usage string) (string, string) {
	before, rest, ok := strings.Cut(usage, "`")
	if !ok {
		return "value", usage
	}
	name, after, ok := strings.Cut(rest, "`")
	if !ok {
		return "value", usage
	}
	return name, before + name + after
}

// argOffers returns what to complete for each positional argument that
// an ArgsUsage names, and whether the last one repeats (MANIFEST...).
func argOffers(usage string) (each []offer, repeats bool) {
	for _, a := range strings.Fields(usage) {
		a = strings.Trim(a, "[]")
		a, repeats = strings.CutSuffix(a, "...")
		var o offer
		for _, alt := range strings.Split(a, "|") {
			if alt != strings.ToUpper(alt) {
				o.words = append(o.words, alt)
				continue
			}
			m := argNames[alt]
			o.words = append(o.words, m.words...)
			o.files = o.files || m.files
			o.dirs = o.dirs || m.dirs
		}
		each = append(each, o)
	}
	return each, repeats
}

// name is n's path as one string: "sim init"; "" at the root.
func (n *node) name() string { return strings.Join(n.path, " ") }

// walk calls fn for n and every command below it, parents first.
func (n *node) walk(fn func(*node)) {
	fn(n)
	for _, s := range n.subs {
		s.walk(fn)
	}
}
