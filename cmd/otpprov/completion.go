package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/otpprov/otpprov/internal/shquote"
	"github.com/otpprov/otpprov/internal/yamldoc"
)

// Completion scripts are static: the whole command tree is written into
// the script, which completes by itself. urfave/cli's own completion
// instead runs `otpprov ... --generate-bash-completion` at every TAB: a
// process per key press on a slow board, and a script that says nothing
// until run against the binary, so nothing to test as text. A static
// script is regenerated with the binary (its commands cannot drift: they
// come from newApp) and reads as what it offers.

const completionInstall = `Load it into this shell, or install it where the shell looks for it:
  bash: source <(otpprov completion bash)
        otpprov completion bash > /usr/share/bash-completion/completions/otpprov
  zsh:  otpprov completion zsh > "${fpath[1]}/_otpprov"   (compinit loaded)
  fish: otpprov completion fish > ~/.config/fish/completions/otpprov.fish`

func cmdCompletion(ctx context.Context, c *cli.Context, e env) error {
	hint := "name one of " + strings.Join(completionShells, ", ") + ", e.g. source <(otpprov completion bash)"
	a, err := args(c, "SHELL")
	if err != nil {
		return &exit{code: exitError, err: err, hint: hint}
	}
	var script string
	switch tree := commandTree(newApp(ctx, env{}, nil)); a[0] {
	case "bash":
		script = bashCompletion(tree)
	case "zsh":
		script = zshCompletion(tree)
	case "fish":
		script = fishCompletion(tree)
	default:
		return &exit{code: exitError, err: usageError{fmt.Sprintf("no completion for shell %s", yamldoc.Quote(a[0]))}, hint: hint}
	}
	return deliver(c, e, []byte(script))
}

// fishQuote quotes s for fish, whose single quotes know \' and \\.
func fishQuote(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

// spec is an offer as the bash and zsh scripts take it: @file, @dir, or
// the words to offer. A file name offer wins over words (none has both).
func (o offer) spec() string {
	switch {
	case o.files:
		return "@file"
	case o.dirs:
		return "@dir"
	}
	return strings.Join(o.words, " ")
}

// casePattern is a shell case pattern matching any spelling of n's path.
func casePattern(n *node) string {
	var p []string
	for _, s := range n.spellings {
		p = append(p, shquote.Quoted(s))
	}
	return strings.Join(p, "|")
}

func flagSpellings(f flagDoc) []string {
	var s []string
	for _, name := range f.names {
		if len(name) == 1 {
			s = append(s, "-"+name)
		} else {
			s = append(s, "--"+name)
		}
	}
	return s
}

// valueFlags are the flags of the whole tree that take a value, each with
// what to offer for it. A flag name means the same in every command (a test
// checks it), so the scripts know them by name alone.
func valueFlags(root *node) (names []string, offers map[string]offer) {
	offers = map[string]offer{}
	root.walk(func(n *node) {
		for _, f := range n.flags {
			if f.value == "" {
				continue
			}
			for _, s := range flagSpellings(f) {
				if _, seen := offers[s]; !seen {
					names = append(names, s)
					offers[s] = f.offer
				}
			}
		}
	})
	return names, offers
}

// valueCases groups the value flags by what they offer: each case is the
// flag spellings (a case pattern) that share an offer's spec. Flags whose
// value is typed, not chosen, are left out.
func valueCases(root *node) (patterns, specs []string) {
	names, offers := valueFlags(root)
	index := map[string]int{}
	for _, name := range names {
		s := offers[name].spec()
		if s == "" {
			continue
		}
		i, ok := index[s]
		if !ok {
			i = len(specs)
			index[s] = i
			specs = append(specs, s)
			patterns = append(patterns, "")
		} else {
			patterns[i] += "|"
		}
		patterns[i] += name
	}
	return patterns, specs
}

func bashCompletion(root *node) string {
	var b strings.Builder
	b.WriteString(`# bash completion for otpprov (bash 4 or later), written by 'otpprov
# completion bash' from otpprov's command tree: regenerate it with the binary.
# ` + strings.ReplaceAll(completionInstall, "\n", "\n# ") + `

# _otpprov_node CMD sets what command CMD (its words, space-separated)
# offers: subs, its subcommands; flags; args, one offer per positional
# argument; more, the offer for any further one. An unknown CMD returns 1.
_otpprov_node() {
	case $1 in
`)
	root.walk(func(n *node) {
		var subs, flags []string
		for _, s := range n.subs {
			subs = append(subs, s.names[0])
		}
		for _, f := range n.flags {
			flags = append(flags, flagSpellings(f)...)
		}
		args, more := shPositionals(n)
		fmt.Fprintf(&b, "\t%s) subs=%s flags=%s args=(%s) more=%s ;;\n", casePattern(n),
			shquote.Quoted(strings.Join(subs, " ")), shquote.Quoted(strings.Join(flags, " ")), strings.Join(args, " "), more)
	})
	names, _ := valueFlags(root)
	b.WriteString(`	*) return 1 ;;
	esac
}

# The flags that take a value: the next word is theirs.
_otpprov_valued=` + shquote.Quoted(" "+strings.Join(names, " ")+" ") + `

# _otpprov_value FLAG WORD completes WORD as FLAG's value.
_otpprov_value() {
	case $1 in
`)
	patterns, specs := valueCases(root)
	for i, p := range patterns {
		fmt.Fprintf(&b, "\t%s) _otpprov_offer %s \"$2\" ;;\n", p, shquote.Quoted(specs[i]))
	}
	b.WriteString(`	esac
}

# _otpprov_offer OFFER WORD completes WORD from OFFER: @file, @dir, or words.
_otpprov_offer() {
	case $1 in
	@file) compopt -o filenames 2>/dev/null; mapfile -t COMPREPLY < <(compgen -f -- "$2") ;;
	@dir) compopt -o filenames 2>/dev/null; mapfile -t COMPREPLY < <(compgen -d -- "$2") ;;
	*) mapfile -t COMPREPLY < <(compgen -W "$1" -- "$2") ;;
	esac
	# Readline replaces its own word, which is WORD's part after the last
	# = or : (COMP_WORDBREAKS), or, where those do not break words, WORD
	# and the --flag= before it.
	local rl=${COMP_WORDS[COMP_CWORD]}
	[[ $rl == [=:] ]] && rl=
	if [[ $2 == *"$rl" ]]; then
		COMPREPLY=("${COMPREPLY[@]#"${2%"$rl"}"}")
	else
		COMPREPLY=("${COMPREPLY[@]/#/"${rl%"$2"}"}")
	fi
}

_otpprov() {
	local -a ws=() args=()
	local w i k cmd= npos=0 dashdash= subs= flags= more=
	COMPREPLY=()
	# Readline splits words at = and : (COMP_WORDBREAKS), so that
	# --device=sim:board comes as five words: glue them back.
	for ((i = 0; i <= COMP_CWORD; i++)); do
		w=${COMP_WORDS[i]} k=$((${#ws[@]} - 1))
		if ((k > 0)) && [[ $w == [=:] || ${ws[k]} == *[=:] ]]; then
			ws[k]+=$w
		else
			ws+=("$w")
		fi
	done
	local n=$((${#ws[@]} - 1)) cur=${ws[${#ws[@]} - 1]}
	_otpprov_node ''
	for ((i = 1; i < n; i++)); do
		w=${ws[i]}
		if [[ -n $dashdash ]]; then
			npos=$((npos + 1))
			continue
		fi
		case $w in
		--) dashdash=1 ;;
		-*=*) ;;
		-*)
			if [[ $_otpprov_valued == *" $w "* ]]; then
				if ((i == n - 1)); then
					_otpprov_value "$w" "$cur"
					return
				fi
				i=$((i + 1))
			fi
			;;
		*)
			if ((npos == 0)) && _otpprov_node "${cmd:+$cmd }$w"; then
				cmd="${cmd:+$cmd }$w"
			else
				npos=$((npos + 1))
			fi
			;;
		esac
	done
	if [[ -z $dashdash && $cur == -*=* ]]; then
		_otpprov_value "${cur%%=*}" "${cur#*=}"
	elif [[ -z $dashdash && $cur == -* ]]; then
		_otpprov_offer "$flags" "$cur"
	elif ((npos == 0)) && [[ -n $subs ]]; then
		_otpprov_offer "$subs" "$cur"
	else
		_otpprov_offer "${args[npos]-$more}" "$cur"
	fi
}

complete -F _otpprov otpprov
`)
	return b.String()
}

// describe is a zsh _describe item: NAME:DESCRIPTION, colons in NAME escaped.
func describe(name, desc string) string {
	return shquote.Quoted(strings.ReplaceAll(name, ":", `\:`) + ":" + firstLine(desc))
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

func zshCompletion(root *node) string {
	var b strings.Builder
	b.WriteString(`#compdef otpprov
# zsh completion for otpprov, written by 'otpprov completion zsh' from
# otpprov's command tree: regenerate it with the binary.
# ` + strings.ReplaceAll(completionInstall, "\n", "\n# ") + `

# _otpprov_node CMD sets what command CMD (its words, space-separated)
# offers: subs, its subcommands; flags; args, one offer per positional
# argument; more, the offer for any further one. An unknown CMD returns 1.
_otpprov_node() {
	case $1 in
`)
	root.walk(func(n *node) {
		var subs, flags []string
		for _, s := range n.subs {
			subs = append(subs, describe(s.names[0], s.usage))
		}
		for _, f := range n.flags {
			for _, s := range flagSpellings(f) {
				flags = append(flags, describe(s, f.usage))
			}
		}
		args, more := shPositionals(n)
		fmt.Fprintf(&b, "\t(%s)\n\t\tsubs=(%s)\n\t\tflags=(%s)\n\t\targs=(%s) more=%s ;;\n", casePattern(n),
			strings.Join(subs, " "), strings.Join(flags, " "), strings.Join(args, " "), more)
	})
	names, _ := valueFlags(root)
	for i, n := range names {
		names[i] = shquote.Quoted(n)
	}
	b.WriteString(`	(*) return 1 ;;
	esac
}

# _otpprov_value FLAG completes the current word as FLAG's value.
_otpprov_value() {
	case $1 in
`)
	patterns, specs := valueCases(root)
	for i, p := range patterns {
		fmt.Fprintf(&b, "\t(%s) _otpprov_offer %s ;;\n", p, shquote.Quoted(specs[i]))
	}
	b.WriteString(`	esac
}

# _otpprov_offer OFFER completes the current word from OFFER: @file, @dir,
# or words.
_otpprov_offer() {
	case $1 in
	(@file) _files ;;
	(@dir) _files -/ ;;
	(?*) compadd -- ${=1} ;;
	esac
}

_otpprov() {
	local w i cmd= npos=0 dashdash= more=
	local -a subs flags args
	# The flags that take a value: the next word is theirs.
	local -a valued=(` + strings.Join(names, " ") + `)
	_otpprov_node ''
	for ((i = 2; i < CURRENT; i++)); do
		w=$words[i]
		if [[ -n $dashdash ]]; then
			(( npos++ ))
			continue
		fi
		case $w in
		(--) dashdash=1 ;;
		(-*=*) ;;
		(-*)
			if (( $valued[(Ie)$w] )); then
				if (( i == CURRENT - 1 )); then
					_otpprov_value $w
					return
				fi
				(( i++ ))
			fi
			;;
		(*)
			if (( npos == 0 )) && _otpprov_node "${cmd:+$cmd }$w"; then
				cmd="${cmd:+$cmd }$w"
			else
				(( npos++ ))
			fi
			;;
		esac
	done
	if [[ -z $dashdash && $PREFIX == -*=* ]]; then
		w=${PREFIX%%=*}
		compset -P '*='
		_otpprov_value $w
	elif [[ -z $dashdash && $PREFIX == -* ]]; then
		_describe -t options option flags
	elif (( npos == 0 && $#subs )); then
		_describe -t commands command subs
	else
		_otpprov_offer "${args[npos+1]-$more}"
	fi
}

# Autoloaded from fpath, this file is _otpprov's body: complete now.
# Sourced, it registers _otpprov.
if [[ $funcstack[1] == _otpprov ]]; then
	_otpprov "$@"
else
	compdef _otpprov otpprov
fi
`)
	return b.String()
}

func fishCompletion(root *node) string {
	var b strings.Builder
	names, _ := valueFlags(root)
	var paths, canon []string
	root.walk(func(n *node) {
		for _, s := range n.spellings {
			paths = append(paths, fishQuote(s))
			canon = append(canon, fishQuote(n.name()))
		}
	})
	b.WriteString(`# fish completion for otpprov, written by 'otpprov completion fish' from
# otpprov's command tree: regenerate it with the binary.
# ` + strings.ReplaceAll(completionInstall, "\n", "\n# ") + `

# Every way to write a command (aliases too), and the command it names.
set -g __otpprov_paths ` + strings.Join(paths, " ") + `
set -g __otpprov_canon ` + strings.Join(canon, " ") + `
# The flags that take a value: the next word is theirs.
set -g __otpprov_valued ` + strings.Join(names, " ") + `

# __otpprov_at CMD [N]: the command line so far names command CMD (its
# words, space-separated; '' for otpprov itself), followed by N positional
# arguments (N+: N or more).
function __otpprov_at
    set -l tokens (commandline -opc)
    set -l cmd ''
    set -l npos 0
    set -l dashdash
    set -l i 2
    while test $i -le (count $tokens)
        set -l w $tokens[$i]
        set i (math $i + 1)
        if set -q dashdash[1]
            set npos (math $npos + 1)
            continue
        end
        switch $w
            case --
                set dashdash 1
            case '-*=*'
            case '-*'
                contains -- $w $__otpprov_valued; and set i (math $i + 1)
            case '*'
                set -l k
                test $npos -eq 0; and set k (contains -i -- (string trim -- "$cmd $w") $__otpprov_paths)
                if set -q k[1]
                    set cmd $__otpprov_canon[$k]
                else
                    set npos (math $npos + 1)
                end
        end
    end
    test "$cmd" = "$argv[1]"; or return 1
    set -q argv[2]; or return 0
    switch $argv[2]
        case '*+'
            test $npos -ge (string trim -r -c + -- $argv[2])
        case '*'
            test $npos -eq $argv[2]
    end
end

# No file names unless an argument or flag takes one.
complete -c otpprov -f
`)
	root.walk(func(n *node) {
		at := "__otpprov_at " + fishQuote(n.name())
		if len(n.subs) > 0 || len(n.flags) > 0 {
			fmt.Fprintf(&b, "\n# otpprov %s\n", n.name())
		}
		for _, s := range n.subs {
			fmt.Fprintf(&b, "complete -c otpprov -n %s -a %s -d %s\n", fishQuote(at+" 0"), fishQuote(s.names[0]), fishQuote(firstLine(s.usage)))
		}
		for _, f := range n.flags {
			var opts []string
			for _, name := range f.names {
				if len(name) == 1 {
					opts = append(opts, "-s "+name)
				} else {
					opts = append(opts, "-l "+name)
				}
			}
			if f.value != "" {
				opts = append(opts, fishOffer(f.offer, true))
			}
			fmt.Fprintf(&b, "complete -c otpprov -n %s %s -d %s\n", fishQuote(at), strings.Join(opts, " "), fishQuote(firstLine(f.usage)))
		}
		each, repeats := n.offers, n.repeats
		for i, o := range each {
			if o.empty() {
				continue
			}
			pos := fmt.Sprint(i)
			if repeats && i == len(each)-1 {
				pos += "+"
			}
			fmt.Fprintf(&b, "complete -c otpprov -n %s %s\n", fishQuote(at+" "+pos), fishOffer(o, false))
		}
	})
	return b.String()
}

// fishOffer is the complete options for an offer; value says it is a
// flag's value (which the flag then requires).
func fishOffer(o offer, value bool) string {
	var opts []string
	switch {
	case o.files:
		opts = append(opts, "-F")
		if value {
			opts = append(opts, "-r")
		}
	case value:
		opts = append(opts, "-x")
	}
	if o.dirs && !o.files {
		opts = append(opts, "-a "+fishQuote("(__fish_complete_directories)"))
	}
	if len(o.words) > 0 && !o.files {
		opts = append(opts, "-a "+fishQuote(strings.Join(o.words, " ")))
	}
	return strings.Join(opts, " ")
}

// shPositionals is n's offers for its positional arguments as quoted shell
// words, and the offer for any further argument (” when none is taken).
func shPositionals(n *node) (args []string, more string) {
	for _, o := range n.offers {
		args = append(args, shquote.Quoted(o.spec()))
	}
	more = "''"
	if n.repeats && len(args) > 0 {
		more = args[len(args)-1]
	}
	return args, more
}
