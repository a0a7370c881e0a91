// Package journal keeps the station's audit trail: JSON lines, appended
// and fsynced, each carrying the digest of the line before it and of
// itself, so that a deleted or edited line breaks the chain and Verify
// finds it. The digests catch accidents and naive edits; they are not
// signatures: whoever can rewrite the file can recompute them.
//
// An attempt that burns writes two records: an intent before the first
// burn (what it will write, to which board) and an outcome after it. An
// intent without an outcome is an attempt that died (kill -9, power
// loss) with the board in an unknown state. Attempts that end before any
// burn (refusals, errors) write one outcome record.
package journal

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"time"
)

// FormatName and FormatVersion identify a journal record. Version 2 adds
// kinds (intent, outcome), the open intents and the writer's process;
// version 3 the release. Version 1 records (one per attempt, no kind) are
// still read and appended to: a station that upgrades keeps its file. A
// record is written in the lowest version that holds it (3 only when it
// names a release), so that stations not using releases keep a journal
// an older otpprov still reads.
const (
	FormatName    = "otpprov-journal"
	FormatVersion = 3
)

// The kinds of a version 2 record.
const (
	KindIntent  = "intent"
	KindOutcome = "outcome"
)

// OutcomeInterrupted is the outcome a later apply records for an intent
// whose process died without writing one.
const OutcomeInterrupted = "interrupted"

// maxLine bounds one record: a plan of every word of an i.MX8MP is well
// under this.
const maxLine = 4 << 20

// Record is one journal line.
type Record struct {
	Format        string `json:"format"`
	FormatVersion int    `json:"formatVersion"`
	Seq           int    `json:"seq"`  // 1 for the first record of the file
	Prev          string `json:"prev"` // digest of the previous record, "" for the first
	Kind          string `json:"kind,omitempty"`
	IntentSeq     int    `json:"intentSeq,omitempty"` // an outcome's intent, 0 if the attempt burned nothing
	// Open lists the intents that have no outcome after this record, so
	// that an apply finds them from the last line alone.
	Open        []Open     `json:"open,omitempty"`
	Start       time.Time  `json:"start"`
	End         *time.Time `json:"end,omitempty"` // absent in an intent
	Host        string     `json:"host"`
	Process     *Process   `json:"process,omitempty"` // the intent's writer
	ToolVersion string     `json:"toolVersion"`
	Command     string     `json:"command"`
	Device      string     `json:"device"`
	SoC         string     `json:"soc"`
	SoCFrom     string     `json:"socFrom,omitempty"` // how the board's SoC was known: "sim.yaml", "of_node/compatible ...", "--soc"
	UniqueID    string     `json:"uniqueId"`
	Manifest    Manifest   `json:"manifest"`
	Release     *Release   `json:"release,omitempty"` // version 3; absent: unsigned
	Variables   []Variable `json:"variables"`
	Words       []Word     `json:"words"`
	Outcome     string     `json:"outcome,omitempty"`  // applied, nothing-to-do, nothing-written, partial, refused, error, interrupted; absent in an intent
	ExitCode    *int       `json:"exitCode,omitempty"` // absent in an intent and an interrupted outcome
	Error       string     `json:"error,omitempty"`
	Digest      string     `json:"digest"` // of this record with Digest empty
}

// Open is an intent without an outcome: its seq, the byte offset of its
// line, and the bytes its outcome may take (which later attempts reserve
// too, so that a full disk cannot take its place).
type Open struct {
	Seq  int   `json:"seq"`
	At   int64 `json:"at"`
	Need int64 `json:"need"`
}

// Process tells whether an intent's writer still runs: a pid alone may
// have been reused, and one from another boot is certainly gone.
type Process struct {
	PID   int    `json:"pid"`
	Start uint64 `json:"start"` // clock ticks from boot to the process's start (/proc/PID/stat)
	Boot  string `json:"boot"`  // /proc/sys/kernel/random/boot_id
}

// Manifest names what was applied.
type Manifest struct {
	Name   string   `json:"name"`
	Files  []string `json:"files"`
	Digest string   `json:"digest"`
}

// Release is the release the attempt's files were checked against, and
// who signed it (see planner.Release for the statuses).
type Release struct {
	Status      string `json:"status"`
	Name        string `json:"name"`
	Digest      string `json:"digest"`
	Signer      string `json:"signer,omitempty"`
	KeyType     string `json:"keyType,omitempty"`
	Fingerprint string `json:"fingerprint,omitempty"`
}

// version is the lowest format version that holds r.
func (r *Record) version() int {
	if r.Release != nil {
		return 3
	}
	return 2
}

// Variable is a per-unit value; a secret one is a digest.
type Variable struct {
	Name  string `json:"name"`
	Type  string `json:"type"`
	Value string `json:"value"`
	From  string `json:"from"`
}

// Word is one burn: before, delta, what it read after, and its status
// ("planned" in an intent). Values of words holding secret bits are
// "secret".
type Word struct {
	Bank        int    `json:"bank"`
	Word        int    `json:"word"`
	Offset      int    `json:"offset"`
	WriteOffset int    `json:"writeOffset"`
	Before      string `json:"before"`
	Delta       string `json:"delta"`
	After       string `json:"after,omitempty"` // as read back; absent if unreadable
	Status      string `json:"status"`
}

// Planned is a word's status in an intent.
const Planned = "planned"

// seal makes r the record seq of the journal, after the line last (nil
// for the first), in format version, and returns its line. The digest is
// taken over the record as Verify will read it back: JSON writes invalid
// UTF-8 (a file name in Latin-1, say) as U+FFFD, and a digest of the
// bytes before that would never match the record read back.
func seal(r *Record, last []byte, seq, version int) ([]byte, error) {
	r.Format, r.FormatVersion = FormatName, version
	r.Seq, r.Prev, r.Digest = seq, "", ""
	if last != nil {
		r.Prev = digest(last)
	}
	body, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	var back Record
	if err := json.Unmarshal(body, &back); err != nil {
		return nil, err
	}
	if body, err = json.Marshal(&back); err != nil {
		return nil, err
	}
	back.Digest = digest(body)
	r.Digest = back.Digest
	return json.Marshal(&back)
}

func digest(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// errNewer: a record from a later otpprov, whose meaning this one cannot
// know; it neither verifies nor appends after it.
var errNewer = errors.New("written by a newer otpprov")

// parse checks that b is one record exactly as otpprov writes it: known
// keys only, its own digest right, and byte for byte the encoding of what
// it holds. It does not look at the chain.
func parse(b []byte) (*Record, error) {
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, errors.New("not a journal record: an empty line")
	}
	var r Record
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("not a journal record: %v", err)
	}
	if r.Format != FormatName {
		return nil, fmt.Errorf("not a journal record: format %q, want %q", r.Format, FormatName)
	}
	if r.FormatVersion > FormatVersion {
		return nil, fmt.Errorf("format version %d, %w (this one reads versions 1 to %d)", r.FormatVersion, errNewer, FormatVersion)
	}
	if r.FormatVersion < 1 {
		return nil, fmt.Errorf("format version %d, want 1 to %d", r.FormatVersion, FormatVersion)
	}
	self := r.Digest
	r.Digest = ""
	body, _ := json.Marshal(&r)
	if digest(body) != self {
		return nil, errors.New("the record was edited after it was written")
	}
	// The digest is of the record as decoded; the line must also be
	// exactly as otpprov writes it, or bytes no digest covers (data after
	// the record, a key repeated with another value, spaces) would pass:
	// a later line's prev covers them, the last line's nothing does.
	r.Digest = self
	if written, _ := json.Marshal(&r); !bytes.Equal(written, b) {
		return nil, errors.New("the record is not as otpprov writes it (reformatted, or data added to the line)")
	}
	if err := r.wellFormed(); err != nil {
		return nil, err
	}
	return &r, nil
}

// wellFormed checks the fields each kind of record has, and only those.
func (r *Record) wellFormed() error {
	if r.FormatVersion < 3 && r.Release != nil {
		return fmt.Errorf("a version %d record with a release (version 3)", r.FormatVersion)
	}
	if r.Release != nil && (r.Release.Status == "" || r.Release.Name == "" || r.Release.Digest == "") {
		return errors.New("a release without its status, name or digest")
	}
	if r.FormatVersion == 1 {
		if r.Kind != "" || r.IntentSeq != 0 || r.Open != nil || r.Process != nil {
			return errors.New("a version 1 record with version 2 fields")
		}
		if r.End == nil || r.ExitCode == nil || r.Outcome == "" {
			return errors.New("a version 1 record without its end, outcome or exit code")
		}
		return nil
	}
	switch r.Kind {
	case KindIntent:
		if r.IntentSeq != 0 || r.End != nil || r.Outcome != "" || r.ExitCode != nil || r.Error != "" {
			return errors.New("an intent with an outcome's fields")
		}
	case KindOutcome:
		if r.Process != nil || r.End == nil || r.Outcome == "" {
			return errors.New("an outcome without its end or outcome, or with a process")
		}
		if (r.ExitCode == nil) != (r.Outcome == OutcomeInterrupted) {
			return errors.New("an outcome's exit code is missing (or an interrupted one has one)")
		}
		if r.Outcome == OutcomeInterrupted && r.IntentSeq == 0 {
			return errors.New("an interrupted outcome names no intent")
		}
	default:
		return fmt.Errorf("kind %q, want %s or %s", r.Kind, KindIntent, KindOutcome)
	}
	return nil
}

// carried is the open list a record hands on to the next one. A version 1
// record carries none: its writer did not keep the list.
func (r *Record) carried() []Open {
	if r == nil || r.FormatVersion < 2 {
		return nil
	}
	return r.Open
}

// nextOpen is the open list after r, whose line starts at at, when the
// record before it carried prev.
func nextOpen(prev []Open, r *Record, at int64, need int64) []Open {
	out := slices.Clone(prev)
	switch {
	case r.Kind == KindIntent:
		out = append(out, Open{Seq: r.Seq, At: at, Need: need})
	case r.IntentSeq != 0:
		out = slices.DeleteFunc(out, func(o Open) bool { return o.Seq == r.IntentSeq })
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// Unfinished is an intent without an outcome of its own: the attempt died
// between planning its burns and recording what they did, so the board
// holds some, all or none of its words.
type Unfinished struct {
	Seq      int
	Line     int
	Host     string
	Device   string
	UniqueID string
	Words    int
	Start    time.Time
	Process  *Process
	// MarkedBy is the seq of the record a later apply wrote to say so;
	// 0 while no apply has.
	MarkedBy int
}

func unfinished(r *Record, line int) Unfinished {
	return Unfinished{Seq: r.Seq, Line: line, Host: r.Host, Device: r.Device, UniqueID: r.UniqueID,
		Words: len(r.Words), Start: r.Start, Process: r.Process}
}

// Report is what Verify found in a journal that verifies.
type Report struct {
	Records     int
	Interrupted []Unfinished // in journal order
}

// Verify checks every record, the chain between them and the intents'
// outcomes. The first problem found is returned as an *Error with its
// line.
func Verify(rd io.Reader) (Report, error) { return Walk(rd, nil) }

// Walk is Verify that hands each record, once it verified, to fn (nil:
// none), in journal order; an error from fn ends the walk and is
// returned as it is.
func Walk(rd io.Reader, fn func(Appended) error) (Report, error) {
	br := bufio.NewReaderSize(rd, 64<<10)
	var chain string
	var rep Report
	var prev []byte
	var last *Record
	intents := map[int]*Unfinished{}
	var at int64
	for line := 1; ; line++ {
		b, err := readLine(br)
		if err == io.EOF {
			break
		}
		if err != nil {
			return rep.with(intents), &Error{Line: line, Reason: err.Error()}
		}
		complete := bytes.HasSuffix(b, []byte("\n"))
		text := trimEOL(b)
		if !complete {
			switch kind := tornKind(b); {
			case kind == "nul" && last == nil:
				return rep.with(intents), &Error{Line: line, NotJournal: true, Reason: onlyNUL(len(b))}
			case kind != "":
				return rep.with(intents), &Error{Line: line, Torn: true, NoRecord: last == nil && kind != "complete", Reason: tornReason(kind, len(b))}
			}
		}
		if len(bytes.TrimSpace(text)) == 0 {
			return rep.with(intents), &Error{Line: line, Reason: "empty line"}
		}
		r, err := parse(text)
		if err != nil {
			return rep.with(intents), &Error{Line: line, Reason: err.Error(), Newer: errors.Is(err, errNewer)}
		}
		if err := chained(r, prev, last); err != nil {
			return rep.with(intents), &Error{Line: line, Reason: err.Error()}
		}
		if r.FormatVersion >= 2 {
			var need int64
			if r.Kind == KindIntent {
				need = ownNeed(r)
			}
			if want := nextOpen(last.carried(), r, at, need); !slices.Equal(r.Open, want) {
				return rep.with(intents), &Error{Line: line, Reason: fmt.Sprintf("its open intents %v are not the journal's %v", r.Open, want)}
			}
		}
		switch {
		case r.Kind == KindIntent:
			u := unfinished(r, line)
			intents[r.Seq] = &u
		case r.IntentSeq != 0:
			u := intents[r.IntentSeq]
			switch {
			case u == nil:
				return rep.with(intents), &Error{Line: line, Reason: fmt.Sprintf("the outcome of seq %d, which is no intent without an outcome before it", r.IntentSeq)}
			case u.MarkedBy != 0:
				return rep.with(intents), &Error{Line: line, Reason: fmt.Sprintf("the outcome of seq %d, which seq %d recorded as interrupted already: two stations with one host name share this journal?", r.IntentSeq, u.MarkedBy)}
			}
			if r.Outcome == OutcomeInterrupted {
				u.MarkedBy = r.Seq
			} else {
				delete(intents, r.IntentSeq)
			}
		}
		if line == 1 {
			chain = digest(text)
		}
		if fn != nil {
			if err := fn(Appended{Chain: chain, Line: text, Record: *r}); err != nil {
				return rep.with(intents), err
			}
		}
		prev, last = append(prev[:0], text...), r
		at += int64(len(b))
		rep.Records++
	}
	return rep.with(intents), nil
}

func (rep Report) with(intents map[int]*Unfinished) Report {
	rep.Interrupted = nil
	for _, u := range intents {
		rep.Interrupted = append(rep.Interrupted, *u)
	}
	sort.Slice(rep.Interrupted, func(i, j int) bool { return rep.Interrupted[i].Seq < rep.Interrupted[j].Seq })
	return rep
}

// ownNeed is what an intent reserved for its outcome: its own entry of
// the open list (0 if it has none, which the open check then reports).
func ownNeed(r *Record) int64 {
	for _, o := range r.Open {
		if o.Seq == r.Seq {
			return o.Need
		}
	}
	return 0
}

// chained checks that r follows the line prev (nil for the first line),
// whose record is last.
func chained(r *Record, prev []byte, last *Record) error {
	want, seq := "", 1
	if prev != nil {
		want, seq = digest(prev), last.Seq+1
	}
	if r.Prev != want {
		return errors.New("the chain is broken: a record before it was deleted or edited")
	}
	if r.Seq != seq {
		return fmt.Errorf("seq %d, want %d: a record was deleted", r.Seq, seq)
	}
	return nil
}

// readLine returns the next line with its newline, or what is left
// without one; io.EOF when nothing is.
func readLine(br *bufio.Reader) ([]byte, error) {
	var line []byte
	for {
		chunk, err := br.ReadSlice('\n')
		line = append(line, chunk...)
		if len(line) > maxLine {
			return nil, fmt.Errorf("longer than %d bytes: not a journal record", maxLine)
		}
		switch {
		case err == bufio.ErrBufferFull:
			continue
		case err == io.EOF && len(line) > 0:
			return line, nil
		default:
			return line, err
		}
	}
}

// trimEOL drops a line's newline, and a carriage return before it (a
// journal copied through a system that writes CRLF still verifies).
func trimEOL(b []byte) []byte {
	b = bytes.TrimSuffix(b, []byte("\n"))
	return bytes.TrimSuffix(b, []byte("\r"))
}
