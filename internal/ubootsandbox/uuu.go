package ubootsandbox

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
)

// UUUCommand is one command of a uuu list that reaches U-Boot ("ucmd"),
// the host's shell ("sh"), or stops uuu with a message ("error", uuu's
// ERROR, run by an IF whose condition holds).
type UUUCommand struct {
	Kind string
	Arg  string
}

// ErrUUURefuses: uuu would run nothing of the list.
var ErrUUURefuses = errors.New("uuu refuses the list")

// uuuCommands are the command keys uuu knows (libuuu/cmd.cpp,
// CmdObjCreateMap): a line naming none is an error that fails the whole
// list before anything runs. Of these the runner models FB: ucmd, sh and
// done; a list using another one is a test error, not a refusal.
var uuuCommands = map[string]bool{}

func init() {
	for _, k := range strings.Fields(`SDP:DCD SDP:JUMP SDP:RDMEM SDP:WRMEM SDP:WRITE SDP:STATUS SDP:BOOT SDP:BLOG
		SDPU:JUMP SDPU:WRITE SDPU:BLOG SDPV:JUMP SDPV:WRITE SDPV:BLOG
		FB:GETVAR FB:UCMD FB:CRC FB:WRITE FB:ACMD FB:DOWNLOAD FB:UPLOAD FB:FLASH FB:ERASE FB:REBOOT FB:OEM
		FB:FLASHING FB:SET_ACTIVE FB:BOOT FB:CONTINUE FB:UPDATE-SUPER FB:CREATE-LOGICAL-PARTITION
		FB:DELETE-LOGICAL-PARTITION FB:RESIZE-LOGICAL-PARTITION FBK:UCMD FBK:ACMD FBK:SYNC FBK:UCP
		_ALL:DONE _ALL:DELAY _ALL:SH _ALL:SHELL _ALL:< _ALL:@ _ALL:ERROR _ALL:IF`) {
		uuuCommands[k] = true
		if p, c, ok := strings.Cut(k, ":"); ok && p == "FB" {
			uuuCommands["FASTBOOT:"+c] = true
		}
	}
}

// ParseUUU reads a list as uuu does (libuuu/cmd.cpp): a file that does
// not start with "uuu_version" is no list (uuu sends it as a boot
// image); every line is parsed before any runs, and an unknown command
// fails the list; '\r' is dropped, a line of one character or starting
// with '#' is skipped, and the last line counts without its newline.
// The commands come back in order, up to the first "done". env is the
// host's environment (KEY=VALUE), which uuu's @ command reads while it
// parses the list (libuuu/cmd.cpp CmdEnv): a @KEY@ it does not find
// fails the whole list. An IF (CmdIf) depends on nothing but its text,
// so it is decided here: its command, or nothing.
func ParseUUU(list []byte, env ...string) ([]UUUCommand, error) {
	if !bytes.HasPrefix(list, []byte("uuu_version")) {
		return nil, fmt.Errorf("%w: it does not start with uuu_version, so uuu takes it for a boot image", ErrUUURefuses)
	}
	var cmds []UUUCommand
	done := false
	var line []byte
	for i, c := range list {
		if c == '\r' {
			continue
		}
		if c != '\n' {
			line = append(line, c)
		}
		if c != '\n' && c != 0 && i != len(list)-1 {
			continue
		}
		s := string(line)
		line = line[:0]
		if strings.HasPrefix(s, "uuu_version") || len(s) <= 1 || s[0] == '#' {
			continue
		}
		cmd, err := parseUUULine(s, env)
		if err != nil {
			return nil, err
		}
		if done || cmd.Kind == "" {
			continue
		}
		if cmd.Kind == "done" {
			done = true
			continue
		}
		cmds = append(cmds, cmd)
	}
	return cmds, nil
}

// parseUUULine follows create_cmd_obj, get_next_param and the parsers of
// FBCmd, CmdShell, CmdEnv and CmdIf. An IF whose condition fails is the
// command of no Kind.
func parseUUULine(s string, env []string) (UUUCommand, error) {
	pos := 0
	proto := nextParam(s, &pos, ':')
	if i := strings.IndexByte(proto, '['); i >= 0 {
		return UUUCommand{}, fmt.Errorf("uuu line %q: protocol options are not modelled", s)
	}
	proto = strings.ToUpper(proto) + ":"
	name := strings.ToUpper(nextParam(s, &pos, ' '))
	key := proto + name
	if !uuuCommands[key] {
		key = "_ALL:" + name
	}
	if !uuuCommands[key] {
		return UUUCommand{}, fmt.Errorf("%w: Unknown Command:%s", ErrUUURefuses, s)
	}
	rest := ""
	if pos < len(s) {
		rest = s[pos:]
	}
	switch {
	case proto != "FB:":
		return UUUCommand{}, fmt.Errorf("uuu line %q: only FB: commands are modelled", s)
	case key == "FB:UCMD":
		return UUUCommand{"ucmd", rest}, nil
	case key == "_ALL:SH" || key == "_ALL:SHELL":
		return UUUCommand{"sh", rest}, nil
	case key == "_ALL:DONE":
		return UUUCommand{Kind: "done"}, nil
	case key == "_ALL:ERROR":
		return UUUCommand{"error", rest}, nil
	case key == "_ALL:@":
		unfolded, err := unfold(rest, env)
		if err != nil {
			return UUUCommand{}, err
		}
		return parseUUULine("FB: "+unfolded, env)
	case key == "_ALL:IF":
		return uuuIf(s, pos, env)
	}
	return UUUCommand{}, fmt.Errorf("uuu line %q: %s is not modelled", s, key)
}

// nextParam is uuu's get_next_param: skip separators, take up to the
// next separator outside double quotes, and move pos past it.
func nextParam(s string, pos *int, sep byte) string {
	if *pos >= len(s) {
		return ""
	}
	for *pos < len(s) && s[*pos] == sep {
		*pos++
	}
	end := len(s)
	quote := false
	for i := *pos; i < len(s); i++ {
		if s[i] == '"' {
			quote = !quote
		}
		if !quote && s[i] == sep {
			end = i
			break
		}
	}
	p := s[*pos:end]
	*pos = end + 1
	return p
}

// unfold replaces each @KEY@ of s with the host's KEY, as CmdEnv::parser
// does (getenv; a \r or \n ends the value): an undefined KEY fails the
// list before anything runs.
func unfold(s string, env []string) (string, error) {
	var err error
	out := uuuVar().ReplaceAllStringFunc(s, func(m string) string {
		key := m[1 : len(m)-1]
		for i := len(env) - 1; i >= 0; i-- {
			if k, v, ok := strings.Cut(env[i], "="); ok && k == key {
				if j := strings.IndexAny(v, "\r\n"); j >= 0 {
					v = v[:j]
				}
				return v
			}
		}
		if err == nil {
			err = fmt.Errorf("%w: variable '%s' is not defined", ErrUUURefuses, key)
		}
		return m
	})
	return out, err
}

var uuuVar = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`@[0-9a-zA-Z_]+@`) })

// uuuIf is CmdIf: "IF LEFT OP RIGHT then CMD", pos just after "IF". The
// parser skips one parameter and takes the condition up to the next
// "then"; run looks for "==" before "!=", takes RIGHT from one character
// after the operator, trims and upper-cases both sides, and runs "FB: CMD"
// when the condition holds. uuu's own keys (@VID@, @PID@, @BCD@, @CHIP@)
// are not modelled: a side naming one is a test error.
func uuuIf(s string, pos int, env []string) (UUUCommand, error) {
	lc := pos
	nextParam(s, &pos, ' ')
	if pos > len(s) {
		pos = len(s)
	}
	end := strings.Index(s[pos:], "then")
	if end < 0 {
		return UUUCommand{"error", "missed key word: then"}, nil
	}
	end += pos
	cond, then := s[lc:end], s[end+4:]
	op := ""
	for _, o := range []string{"==", "!="} {
		if strings.Contains(cond, o) {
			op = o
			break
		}
	}
	if op == "" {
		return UUUCommand{"error", "unknown if condition"}, nil
	}
	i := strings.Index(cond, op)
	l, r := cond[:i], ""
	if j := i + len(op) + 1; j < len(cond) {
		r = cond[j:]
	}
	l, r = strings.ToUpper(strings.TrimSpace(l)), strings.ToUpper(strings.TrimSpace(r))
	for _, k := range []string{"@VID@", "@PID@", "@BCD@", "@CHIP@"} {
		if l == k || r == k {
			return UUUCommand{}, fmt.Errorf("uuu line %q: IF on %s is not modelled", s, k)
		}
	}
	if (op == "==") != (l == r) {
		return UUUCommand{}, nil
	}
	return parseUUULine("FB: "+then, env)
}
