package main

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// The strace note: one otpprov apply under
//
//	strace -f -qq -s 0 -e trace=%desc
//
// and what it did with the device's file descriptor. %desc is every
// system call that takes a descriptor, so a read or write of the device by
// any other call (read, readv, preadv2...) would show; -s 0 keeps data out
// of the log (paths are printed whole regardless).

// sysCall is one completed system call from the log.
type sysCall struct {
	Name string
	Args []string
	Ret  string // the return value's first word: "4", "-1", "0x8002"
}

var straceResumed = regexp.MustCompile(`^<\.\.\. (\w+) resumed>(.*)$`)

// parseStrace reads the log of strace -f -o: "PID name(args) = ret" lines,
// where a call another thread interrupted is split into "... <unfinished
// ...>" and "<... name resumed> ...". Signals, exits and calls that never
// completed are left out.
func parseStrace(log string) []sysCall {
	var calls []sysCall
	pending := map[string]string{} // pid -> the unfinished start of a call
	for _, line := range strings.Split(log, "\n") {
		pid, rest := "", line
		if f := strings.Fields(line); len(f) > 0 {
			if _, err := strconv.Atoi(f[0]); err == nil {
				pid = f[0]
				rest = strings.TrimLeft(line[len(f[0]):], " ")
			}
		}
		if head, ok := strings.CutSuffix(rest, " <unfinished ...>"); ok {
			pending[pid] = head
			continue
		}
		if m := straceResumed.FindStringSubmatch(rest); m != nil {
			head, ok := pending[pid]
			if !ok {
				continue
			}
			delete(pending, pid)
			rest = head + m[2]
		}
		if c, ok := parseCall(rest); ok {
			calls = append(calls, c)
		}
	}
	return calls
}

// parseCall splits "name(a, b, c) = ret ..." into its parts.
func parseCall(s string) (sysCall, bool) {
	open := strings.IndexByte(s, '(')
	if open <= 0 || strings.HasPrefix(s, "---") || strings.HasPrefix(s, "+++") {
		return sysCall{}, false
	}
	name := s[:open]
	for _, r := range name {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9') {
			return sysCall{}, false
		}
	}
	args, end := splitArgs(s[open+1:])
	if end < 0 {
		return sysCall{}, false
	}
	after := strings.TrimSpace(s[open+1+end+1:])
	ret, ok := strings.CutPrefix(after, "= ")
	ret, _, _ = strings.Cut(strings.TrimSpace(ret), " ")
	if !ok || ret == "?" {
		return sysCall{}, false // the call never returned (exit, or the process died in it)
	}
	return sysCall{Name: name, Args: args, Ret: ret}, true
}

// splitArgs splits s, which follows a call's "(", at its top-level commas
// up to the matching ")", whose index it returns (-1 if none). Quoted
// strings, structures {..} and arrays [..] are kept whole.
func splitArgs(s string) ([]string, int) {
	var args []string
	depth, start := 0, 0
	inQuote := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case inQuote && c == '\\':
			i++
		case c == '"':
			inQuote = !inQuote
		case inQuote:
		case c == '(' || c == '{' || c == '[':
			depth++
		case (c == '}' || c == ']') && depth > 0:
			depth--
		case c == ')' && depth > 0:
			depth--
		case c == ')':
			if a := strings.TrimSpace(s[start:i]); a != "" || len(args) > 0 {
				args = append(args, a)
			}
			return args, i
		case c == ',' && depth == 0:
			args = append(args, strings.TrimSpace(s[start:i]))
			start = i + 1
		}
	}
	return nil, -1
}

// deviceIO is what one process did with one file, from its strace log.
type deviceIO struct {
	Counts map[string]int // system calls on the file's descriptor, by name
	Ops    []ioOp         // its reads and writes, in order
}

// ioOp is one read or write of the device.
type ioOp struct {
	Call  string // pread64, pwrite64, read...
	Write bool
	Off   int64 // -1 for a call without an offset (read, write)
	Count int64 // bytes asked
	Ret   int64 // bytes done, or -1
}

func (o ioOp) String() string {
	at := "at the file position"
	if o.Off >= 0 {
		at = fmt.Sprintf("at %d", o.Off)
	}
	return fmt.Sprintf("%s of %d bytes %s = %d", o.Call, o.Count, at, o.Ret)
}

var (
	readCalls  = []string{"read", "pread64", "readv", "preadv", "preadv2"}
	writeCalls = []string{"write", "pwrite64", "writev", "pwritev", "pwritev2"}
)

// deviceCalls follows path through the calls: from the openat that opens
// it to the close of that descriptor, every call whose first argument is
// the descriptor is counted, and reads and writes are listed.
func deviceCalls(calls []sysCall, path string) deviceIO {
	io := deviceIO{Counts: map[string]int{}}
	quoted := strconv.Quote(path)
	open := map[string]bool{} // the device's descriptors
	for _, c := range calls {
		if c.Name == "openat" && len(c.Args) >= 2 && c.Args[1] == quoted {
			if !strings.HasPrefix(c.Ret, "-") {
				open[c.Ret] = true
			}
			io.Counts["openat"]++
			continue
		}
		if len(c.Args) == 0 || !open[c.Args[0]] {
			continue
		}
		io.Counts[c.Name]++
		if c.Name == "close" {
			delete(open, c.Args[0])
			continue
		}
		isRead, isWrite := slices.Contains(readCalls, c.Name), slices.Contains(writeCalls, c.Name)
		if !isRead && !isWrite {
			continue
		}
		op := ioOp{Call: c.Name, Write: isWrite, Off: -1, Count: -1, Ret: -1}
		if len(c.Args) >= 3 {
			op.Count, _ = strconv.ParseInt(c.Args[2], 10, 64)
		}
		if (c.Name == "pread64" || c.Name == "pwrite64") && len(c.Args) >= 4 {
			op.Off, _ = strconv.ParseInt(c.Args[3], 10, 64)
		}
		if n, err := strconv.ParseInt(c.Ret, 10, 64); err == nil {
			op.Ret = n
		}
		io.Ops = append(io.Ops, op)
	}
	return io
}

// reads and writes count the device's read and write calls.
func (d deviceIO) reads() int  { return countOps(d.Ops, false) }
func (d deviceIO) writes() int { return countOps(d.Ops, true) }

func countOps(ops []ioOp, write bool) int {
	n := 0
	for _, o := range ops {
		if o.Write == write {
			n++
		}
	}
	return n
}

// checkApplyIO compares what apply did with the device to what it must
// do: one full read (positioned reads from offset 0 until one returns 0,
// size bytes in all), then per word in order one 4-byte pwrite and one
// 4-byte pread at its offset (on an image, one 4-byte pread before the
// pwrite too: otpprov ORs in the current value itself), then one final
// full read, and nothing else. It returns the pattern it saw, in words,
// and every difference from the expectation.
func checkApplyIO(ops []ioOp, size int64, offsets []int64, image bool) (seen string, diffs []string) {
	i := 0
	var parts []string
	fullRead := func(what string) {
		start, got := i, int64(0)
		for i < len(ops) && !ops[i].Write && ops[i].Off == got && ops[i].Ret > 0 {
			got += ops[i].Ret
			i++
		}
		if i < len(ops) && !ops[i].Write && ops[i].Off == got && ops[i].Ret == 0 {
			i++
			parts = append(parts, fmt.Sprintf("%s: %d reads, %d bytes then EOF", what, i-start, got))
		} else {
			parts = append(parts, fmt.Sprintf("%s: %d reads, %d bytes, no EOF", what, i-start, got))
			diffs = append(diffs, fmt.Sprintf("%s: want reads from offset 0 to EOF, got %s", what, describeAt(ops, i)))
		}
		if got != size {
			diffs = append(diffs, fmt.Sprintf("%s: read %d bytes, want the whole device, %d", what, got, size))
		}
	}
	want := func(off int64, write bool) bool {
		call, verb := "pread64", "read"
		if write {
			call, verb = "pwrite64", "write"
		}
		if i < len(ops) && ops[i].Call == call && ops[i].Off == off && ops[i].Count == 4 && ops[i].Ret == 4 {
			i++
			return true
		}
		diffs = append(diffs, fmt.Sprintf("want a 4-byte %s (%s) at %d, got %s", verb, call, off, describeAt(ops, i)))
		return false
	}

	fullRead("initial read")
	words := 0
	for _, off := range offsets {
		ok := true
		if image {
			ok = want(off, false)
		}
		ok = ok && want(off, true) && want(off, false)
		if !ok {
			break
		}
		words++
	}
	per := "pwrite 4 B + pread 4 B"
	if image {
		per = "pread 4 B + pwrite 4 B + pread 4 B"
	}
	parts = append(parts, fmt.Sprintf("%d x (%s at the word's offset, in plan order)", words, per))
	if words == len(offsets) {
		fullRead("final read")
	}
	if i < len(ops) {
		diffs = append(diffs, fmt.Sprintf("%d more reads or writes after the expected ones, the first %s", len(ops)-i, ops[i]))
	}
	return strings.Join(parts, "; "), diffs
}

func describeAt(ops []ioOp, i int) string {
	if i >= len(ops) {
		return "nothing more"
	}
	return ops[i].String()
}

// formatCounts prints counts as "name N, ..." sorted by name.
func formatCounts(m map[string]int) string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	slices.Sort(names)
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = fmt.Sprintf("%s %d", n, m[n])
	}
	return strings.Join(parts, ", ")
}
