package journal

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/otpprov/otpprov/internal/shquote"
)

// Attempt is one apply's journal: Begin before anything else (the
// journal must be writable, its end intact), Intend before the first
// burn, Finish at the end. The caller fills Record as the attempt goes.
type Attempt struct {
	Record
	j      *File
	intent *written // the intent written; nil before Intend
}

// outcomeWait bounds how long the outcome of a burn waits for the
// journal's lock. No signal ends this wait (the fuses are burned, and
// only the outcome says how), so it must end by itself: long enough for
// other stations' appends (milliseconds each), short enough that a lock
// held by something else (a copy, a stuck script) does not keep the
// operator for good. A variable so that tests need not wait it out.
var outcomeWait = 30 * time.Second

// maxErrorText caps the error an outcome after a burn carries, so that
// the room reserved for it before the burn is enough.
const maxErrorText = 2048

// Begin opens the journal at path (creating it) and checks its end:
// torn bytes after the last record, a last record that is not one
// otpprov wrote or does not chain, a file that is no journal: all are
// refused, before the device is opened. It returns the intents of this
// host whose process is gone without an outcome (killed, power lost),
// having recorded them as interrupted, so that the next apply says so
// once. rec gives the attempt's host, tool version, command and device.
func Begin(ctx context.Context, path string, rec Record, notify func(string)) (*Attempt, []Unfinished, error) {
	return begin(ctx, path, rec, notify, nil)
}

func begin(ctx context.Context, path string, rec Record, notify func(string), onAppend func(Appended)) (*Attempt, []Unfinished, error) {
	// The host name as a record read back holds it, so that this
	// station knows its own intents: JSON writes a byte of invalid UTF-8
	// as U+FFFD.
	rec.Host = asRead(rec.Host)
	j, err := openFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, notify)
	if err != nil {
		return nil, nil, err
	}
	j.onAppend = onAppend
	a := &Attempt{Record: rec, j: j}
	a.Start = time.Now().UTC()
	if a.Variables == nil {
		a.Variables = []Variable{}
	}
	if a.Words == nil {
		a.Words = []Word{}
	}
	var found []Unfinished
	err = j.locked(ctx, nil, func(t *tail) error {
		dead, err := j.dead(t, rec.Host)
		if err != nil {
			return err
		}
		for _, d := range dead {
			now := time.Now().UTC()
			r := &Record{Kind: KindOutcome, IntentSeq: d.intent.Seq, Start: now, End: &now, Host: rec.Host,
				ToolVersion: rec.ToolVersion, Command: d.intent.Command, Device: d.intent.Device, SoC: d.intent.SoC,
				UniqueID: d.intent.UniqueID, Manifest: d.intent.Manifest, Release: d.intent.Release, Variables: []Variable{}, Words: []Word{},
				Outcome: OutcomeInterrupted,
				Error: fmt.Sprintf("no outcome was written: the process (pid %d) ended during the attempt (killed, or the station lost power); found by pid %d",
					d.intent.Process.PID, os.Getpid())}
			if _, err := j.write(t, r, 0, false); err != nil {
				return err
			}
			u := d.Unfinished
			u.MarkedBy = r.Seq
			found = append(found, u)
		}
		return nil
	})
	if err != nil {
		j.Close()
		return nil, nil, err
	}
	return a, found, nil
}

type deadIntent struct {
	Unfinished
	intent *Record
}

// dead reads the open intents the journal's last record lists and
// returns those of host whose process no longer runs. Another host's are
// left alone: this one cannot see its processes.
func (j *File) dead(t *tail, host string) ([]deadIntent, error) {
	var out []deadIntent
	for _, o := range t.last.carried() {
		line, err := lineAt(j.f, o.At)
		r, perr := parse(line)
		if err != nil || perr != nil || r.Kind != KindIntent || r.Seq != o.Seq {
			return nil, fmt.Errorf("journal %s: the last record lists an open intent, seq %d, at byte %d, but that is not where it is: the file was edited (otpprov journal verify %s shows where)",
				j.path, o.Seq, o.At, shquote.Arg(j.path))
		}
		if r.Host != host || r.Process == nil {
			continue
		}
		if running, known := r.Process.running(); running || !known {
			continue
		}
		out = append(out, deadIntent{unfinished(r, r.Seq), r})
	}
	return out, nil
}

// lineAt reads the line that starts at offset at, without its newline.
func lineAt(f *os.File, at int64) ([]byte, error) {
	var line []byte
	buf := make([]byte, 4<<10)
	for len(line) <= maxLine {
		n, err := f.ReadAt(buf, at+int64(len(line)))
		if i := bytes.IndexByte(buf[:n], '\n'); i >= 0 {
			return trimEOL(append(line, buf[:i+1]...)), nil
		}
		line = append(line, buf[:n]...)
		if err != nil {
			return nil, err
		}
		if len(buf) < 256<<10 {
			buf = make([]byte, 4*len(buf))
		}
	}
	return nil, fmt.Errorf("no line at byte %d", at)
}

// Intend writes the intent record before the first burn: the words
// planned, the board, the manifest. It reserves on the disk the room for
// the intent and for the outcome (of this attempt and of every other one
// still open), so that a full disk refuses the attempt here, before any
// fuse burns, instead of after.
func (a *Attempt) Intend(ctx context.Context) error {
	r := a.Record
	r.Kind, r.IntentSeq, r.End, r.Outcome, r.ExitCode, r.Error = KindIntent, 0, nil, "", nil, ""
	r.Process = self()
	r.Words = make([]Word, len(a.Words))
	for i, w := range a.Words {
		w.Status, w.After = Planned, ""
		r.Words[i] = w
	}
	return a.j.locked(ctx, nil, func(t *tail) error {
		// The outcome repeats the intent, plus a read-back and a longer
		// status per word, the outcome's own fields, an error and
		// intents other stations may open meanwhile.
		probe := r
		line, err := seal(&probe, t.lastLine, 1, probe.version())
		if err != nil {
			return err
		}
		need := int64(len(line) + 32*len(r.Words) + 256 + 6*maxErrorText + 64*64)
		at, err := a.j.write(t, &r, need, false)
		if err != nil {
			return err
		}
		a.intent = &written{seq: r.Seq, at: at, line: append(slices.Clip(t.lastLine), '\n')}
		return nil
	})
}

// Intended tells whether the intent is written: from then on the board
// may change.
func (a *Attempt) Intended() bool { return a.intent != nil }

// IntentSeq is the seq of the intent written, 0 before Intend.
func (a *Attempt) IntentSeq() int {
	if a.intent == nil {
		return 0
	}
	return a.intent.seq
}

// Path is the journal's file name.
func (a *Attempt) Path() string { return a.j.path }

// Finish writes the attempt's outcome: after the intent, chained to it;
// without one (a refusal, an error before any burn), as the attempt's
// only record. After the intent no signal ends the wait for the lock
// (ctx's cancellation is ignored): it is bounded by outcomeWait alone,
// and the outcome is written only if the journal is still the file the
// intent went to, with the intent where it was written.
func (a *Attempt) Finish(ctx context.Context, outcome string, exitCode int, errText string) error {
	r := a.Record
	end := time.Now().UTC()
	r.Kind, r.Process, r.End, r.Outcome, r.ExitCode, r.Error = KindOutcome, nil, &end, outcome, &exitCode, errText
	if a.intent != nil {
		r.IntentSeq = a.intent.seq
		r.Error = capText(errText, maxErrorText)
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), outcomeWait)
		defer cancel()
	}
	return a.j.locked(ctx, a.intent, func(t *tail) error {
		_, err := a.j.write(t, &r, 0, a.intent != nil)
		return err
	})
}

// asRead is s as a record read back holds it.
func asRead(s string) string {
	b, _ := json.Marshal(s)
	var back string
	if json.Unmarshal(b, &back) != nil {
		return s
	}
	return back
}

// Close releases the journal.
func (a *Attempt) Close() error { return a.j.Close() }

// capText cuts s to at most n bytes, on a character boundary, saying how
// much was left out.
func capText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - 32
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%s... (%d bytes more)", s[:cut], len(s)-cut)
}

// self is this process, as an intent records it; nil where /proc cannot
// tell.
func self() *Process {
	boot, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return nil
	}
	_, start, err := procStat(os.Getpid())
	if err != nil {
		return nil
	}
	return &Process{PID: os.Getpid(), Start: start, Boot: strings.TrimSpace(string(boot))}
}

// running tells whether p still runs; known is false where this process
// cannot tell (no /proc).
func (p *Process) running() (running, known bool) {
	me := self()
	if me == nil {
		return false, false
	}
	if p.Boot != me.Boot {
		return false, true // the station rebooted since: power loss
	}
	state, start, err := procStat(p.PID)
	if err != nil {
		return false, true
	}
	return state != 'Z' && state != 'X' && start == p.Start, true
}

// procStat reads a process's state and start time from /proc/PID/stat.
func procStat(pid int) (state byte, start uint64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, err
	}
	// "pid (comm) state ppid ...": comm may hold spaces and parentheses;
	// starttime is field 22, the 20th after the comm.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, fmt.Errorf("/proc/%d/stat: no comm", pid)
	}
	fs := strings.Fields(string(b[i+1:]))
	if len(fs) < 20 || len(fs[0]) != 1 {
		return 0, 0, fmt.Errorf("/proc/%d/stat: too short", pid)
	}
	start, err = strconv.ParseUint(fs[19], 10, 64)
	return fs[0][0], start, err
}
