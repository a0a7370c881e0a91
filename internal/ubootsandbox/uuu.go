package ubootsandbox

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
)

// UUUCommand is one command of a uuu list that reaches U-Boot ("ucmd")
// or the host's shell ("sh").
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
// The commands come back in order, up to the first "done".
func ParseUUU(list []byte) ([]UUUCommand, error) {
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
		cmd, err := parseUUULine(s)
		if err != nil {
			return nil, err
		}
		if done {
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
// FBCmd and CmdShell.
func parseUUULine(s string) (UUUCommand, error) {
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
