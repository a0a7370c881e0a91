package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/otpprov/otpprov/nvmem"
)

// The fault matrix: every fault kind the emulator injects, at every
// position of a four-word plan. Each cell runs a real apply (in-process,
// against a sim) and checks that it stops at the fault, tells the truth
// about every word, exits with the contract's code, journals the attempt,
// and that a re-plan in a new session asks for exactly the work left.

// matrixWords is the plan: bank 14 words 0..3, two bits each, so that a
// stuck bit still leaves the other one burned.
var matrixWords = []uint32{0x11, 0x22, 0x44, 0x88}

const matrixManifest = `apiVersion: otpprov/v1
kind: FuseManifest
metadata: {name: matrix}
soc: imx8mm
fuses:
  - {bank: 14, word: 0, value: 0x11}
  - {bank: 14, word: 1, value: 0x22}
  - {bank: 14, word: 2, value: 0x44}
  - {bank: 14, word: 3, value: 0x88}
`

// matrixFirst is the read index of bank 14 word 0 on the i.MX8MM.
const matrixFirst = 14 * 4

// misdirectWord is where the misdirect fault burns instead: bank 15 word
// 3, a word the plan does not touch.
const misdirectWord = 15*4 + 3

// faultEffect is what one kind does to the word it fires on.
type faultEffect struct {
	status string // the word's status in the apply document
	burned bool   // the word holds its planned value afterwards
	// partlyBurned: stuck-bit, the word holds all but the stuck bit.
	partlyBurned bool
	readBack     bool // the apply document carries a read-back for it
	finalRead    bool // the final full read works
	unknown      bool // the word reads 0xbadabada at the end of the session
	stray        bool // a word outside the plan changed
}

var faultEffects = map[nvmem.FaultKind]faultEffect{
	nvmem.FaultStuckBit:         {status: "mismatch", partlyBurned: true, readBack: true, finalRead: true},
	nvmem.FaultEIO:              {status: "write-failed", readBack: true, finalRead: true},
	nvmem.FaultEPERM:            {status: "write-failed", readBack: true, finalRead: true},
	nvmem.FaultTimeout:          {status: "write-failed", readBack: true, finalRead: true},
	nvmem.FaultTimeoutAfterBurn: {status: "write-failed", burned: true, readBack: true, finalRead: true},
	nvmem.FaultMisdirect:        {status: "mismatch", readBack: true, finalRead: true, stray: true},
	nvmem.FaultVanish:           {status: "write-failed"},
	nvmem.FaultShortRead:        {status: "read-failed", burned: true, finalRead: true},
	nvmem.FaultReadProtect:      {status: "read-failed", burned: true, finalRead: true, unknown: true},
}

type applyDoc struct {
	Outcome   string `json:"outcome"`
	ExitCode  int    `json:"exitCode"`
	Uncertain bool   `json:"uncertain"`
	Words     []struct {
		Word     int    `json:"word"`
		Status   string `json:"status"`
		ReadBack string `json:"readBack"`
		Final    string `json:"final"`
		Error    string `json:"error"`
	} `json:"words"`
	Strays     []int  `json:"strays"`
	FinalError string `json:"finalError"`
}

func TestFaultMatrix(t *testing.T) {
	for _, kind := range nvmem.FaultKinds {
		effect, ok := faultEffects[kind]
		if !ok {
			t.Fatalf("fault kind %s has no row in the matrix: add it", kind)
		}
		for pos := 1; pos <= len(matrixWords); pos++ {
			t.Run(fmt.Sprintf("%s/word%d", kind, pos), func(t *testing.T) {
				matrixCell(t, kind, effect, pos)
			})
		}
	}
}

func matrixCell(t *testing.T, kind nvmem.FaultKind, effect faultEffect, pos int) {
	s := newSession(t)
	if err := os.WriteFile(s.manifest, []byte(matrixManifest), 0o644); err != nil {
		t.Fatal(err)
	}
	fault := fmt.Sprintf("{kind: %s, write: %d}", kind, pos)
	stuckBit := 0
	switch kind {
	case nvmem.FaultStuckBit:
		stuckBit = lowestBit(matrixWords[pos-1])
		fault = fmt.Sprintf("{kind: stuck-bit, bank: 14, word: %d, bit: %d}", pos-1, stuckBit)
	case nvmem.FaultMisdirect:
		fault = fmt.Sprintf("{kind: misdirect, write: %d, bank: 15, word: 3}", pos)
	}
	setFaults(t, s.sim, fault)
	journalPath := filepath.Join(s.dir, "journal.jsonl")

	code := s.run(context.Background(), nil, "apply", "--device", "sim:"+s.sim, "--auto-approve", "--json",
		"--journal", journalPath, s.manifest)
	var doc applyDoc
	if err := json.Unmarshal(s.stdout.Bytes(), &doc); err != nil {
		t.Fatalf("apply --json: %v\nstdout: %s\nstderr: %s", err, s.stdout.String(), s.stderr.String())
	}
	truth := simFuses(t, s.sim)

	// What the device really holds, word by word, from the sim's own file.
	for i, want := range matrixWords {
		got := truth[matrixFirst+i]
		var expect uint32
		switch {
		case i+1 < pos:
			expect = want
		case i+1 == pos && effect.burned:
			expect = want
		case i+1 == pos && effect.partlyBurned:
			expect = want &^ (1 << stuckBit)
		}
		if got != expect {
			t.Errorf("bank 14 word %d holds %#x, want %#x", i, got, expect)
		}
	}
	if effect.stray != (truth[misdirectWord] != 0) {
		t.Errorf("word %d (outside the plan) holds %#x; stray expected %v", misdirectWord, truth[misdirectWord], effect.stray)
	}

	// The report: verified before, the fault's status at, skipped after.
	if len(doc.Words) != len(matrixWords) {
		t.Fatalf("apply reported %d words, want %d", len(doc.Words), len(matrixWords))
	}
	for i, w := range doc.Words {
		want := "skipped"
		switch {
		case i+1 < pos:
			want = "verified"
		case i+1 == pos:
			want = effect.status
		}
		if w.Status != want {
			t.Errorf("word %d status %q, want %q (error %q)", i, w.Status, want, w.Error)
		}
		if i+1 > pos {
			continue
		}
		// A read-back, when reported, is what the fuses hold.
		if (w.ReadBack != "") != (i+1 < pos || effect.readBack) {
			t.Errorf("word %d readBack %q; a read-back expected: %v", i, w.ReadBack, i+1 < pos || effect.readBack)
		}
		if w.ReadBack != "" && w.ReadBack != fmt.Sprintf("0x%08x", truth[matrixFirst+i]) {
			t.Errorf("word %d readBack %s, but the fuses hold %#08x", i, w.ReadBack, truth[matrixFirst+i])
		}
		wantFinal := fmt.Sprintf("0x%08x", truth[matrixFirst+i])
		if i+1 == pos && effect.unknown {
			wantFinal = "0xbadabada"
		}
		if !effect.finalRead {
			wantFinal = ""
		}
		if w.Final != wantFinal {
			t.Errorf("word %d final %q, want %q", i, w.Final, wantFinal)
		}
	}
	if (doc.FinalError != "") == effect.finalRead {
		t.Errorf("finalError %q; the final read should work: %v", doc.FinalError, effect.finalRead)
	}
	if effect.stray && !slices.Equal(doc.Strays, []int{misdirectWord}) {
		t.Errorf("strays %v, want [%d]", doc.Strays, misdirectWord)
	}

	// The exit code: 1 only when the device proved nothing changed. When
	// the one word attempted cannot be read, nothing is proven either way:
	// exit 3, flagged uncertain, whatever the fuses secretly hold.
	changed := !slices.Equal(truth, make([]uint32, len(truth)))
	uncertain := pos == 1 && (!effect.finalRead || effect.unknown)
	wantCode, wantOutcome := exitPartial, "partial"
	if !changed && !uncertain {
		wantCode, wantOutcome = exitError, "nothing-written"
	}
	if code != wantCode || doc.ExitCode != wantCode || doc.Outcome != wantOutcome {
		t.Errorf("exit %d, document exitCode %d outcome %q; want %d, %q", code, doc.ExitCode, doc.Outcome, wantCode, wantOutcome)
	}
	if doc.Uncertain != uncertain {
		t.Errorf("uncertain = %v, want %v", doc.Uncertain, uncertain)
	}

	// The journal holds this attempt's intent, written before the first
	// burn with every planned word, then its outcome, naming the intent,
	// with the same outcome and statuses as the document; the chain
	// verifies and no attempt is left interrupted.
	records := journalRecords(t, journalPath)
	if len(records) != 2 {
		t.Fatalf("journal has %d records, want an intent and an outcome: %+v", len(records), records)
	}
	intent, outcome := records[0], records[1]
	if intent.Kind != "intent" || intent.Seq != 1 || intent.Outcome != "" || intent.ExitCode != nil || len(intent.Words) != len(matrixWords) {
		t.Errorf("intent %+v", intent)
	}
	for i, w := range intent.Words {
		if w.Word != i || w.Delta != fmt.Sprintf("0x%08x", matrixWords[i]) || w.Status != "planned" || w.After != "" {
			t.Errorf("intent word %d: %+v", i, w)
		}
	}
	if outcome.Kind != "outcome" || outcome.IntentSeq != 1 || outcome.Outcome != wantOutcome || outcome.ExitCode == nil || *outcome.ExitCode != wantCode {
		t.Errorf("outcome %+v, want outcome %q exit %d naming seq 1", outcome, wantOutcome, wantCode)
	}
	for i, w := range outcome.Words {
		if i < len(doc.Words) && (w.Status != doc.Words[i].Status || w.After != doc.Words[i].ReadBack) {
			t.Errorf("outcome word %d: %+v, document says %s %q", i, w, doc.Words[i].Status, doc.Words[i].ReadBack)
		}
	}
	if code := s.run(context.Background(), nil, "journal", "verify", journalPath); code != exitOK || strings.Contains(s.stdout.String(), "interrupted") {
		t.Errorf("journal verify: exit %d: %s%s", code, s.stdout.String(), s.stderr.String())
	}

	// A new session (the fault has fired; a vanished device is back): the
	// plan asks for exactly the words whose fuses are not yet as wanted.
	if code := s.run(context.Background(), nil, "plan", "--device", "sim:"+s.sim, "--json", s.manifest); code != exitOK {
		t.Fatalf("re-plan: exit %d: %s", code, s.stderr.String())
	}
	var plan struct {
		Changes []struct {
			Word   int    `json:"word"`
			Action string `json:"action"`
			Delta  string `json:"delta"`
		} `json:"changes"`
	}
	if err := json.Unmarshal(s.stdout.Bytes(), &plan); err != nil {
		t.Fatal(err)
	}
	for i, c := range plan.Changes {
		left := matrixWords[i] &^ truth[matrixFirst+i]
		want, wantDelta := "no-op", ""
		if left != 0 {
			want, wantDelta = "program", fmt.Sprintf("0x%08x", left)
		}
		if c.Action != want || (want == "program" && c.Delta != wantDelta) {
			t.Errorf("re-plan word %d: %s %s, want %s %s", c.Word, c.Action, c.Delta, want, wantDelta)
		}
	}
	if s.writes() > pos {
		t.Errorf("%d writes reached the device; apply should stop at write %d", s.writes(), pos)
	}
}

func lowestBit(v uint32) int {
	for b := 0; b < 32; b++ {
		if v&(1<<b) != 0 {
			return b
		}
	}
	return -1
}

// setFaults declares faults in a fresh sim's sim.yaml.
func setFaults(t *testing.T, sim string, faults ...string) {
	t.Helper()
	path := filepath.Join(sim, "sim.yaml")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	replaced := bytes.Replace(b, []byte("\nfaults: []\n"), []byte("\nfaults: ["+strings.Join(faults, ", ")+"]\n"), 1)
	if bytes.Equal(replaced, b) {
		t.Fatalf("%s has no 'faults: []' line", path)
	}
	if err := os.WriteFile(path, replaced, 0o644); err != nil {
		t.Fatal(err)
	}
}

// simFuses reads what the sim's fuses really hold, read protection aside.
func simFuses(t *testing.T, sim string) []uint32 {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(sim, "fuses.bin"))
	if err != nil {
		t.Fatal(err)
	}
	w := make([]uint32, len(b)/4)
	for i := range w {
		w[i] = binary.LittleEndian.Uint32(b[4*i:])
	}
	return w
}

type journalRecord struct {
	Seq       int    `json:"seq"`
	Kind      string `json:"kind"`
	IntentSeq int    `json:"intentSeq"`
	Outcome   string `json:"outcome"`
	ExitCode  *int   `json:"exitCode"`
	Error     string `json:"error"`
	Words     []struct {
		Word   int    `json:"word"`
		Delta  string `json:"delta"`
		After  string `json:"after"`
		Status string `json:"status"`
	} `json:"words"`
}

func journalRecords(t *testing.T, path string) []journalRecord {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []journalRecord
	for _, line := range bytes.Split(bytes.TrimSpace(b), []byte("\n")) {
		var r journalRecord
		if err := json.Unmarshal(line, &r); err != nil {
			t.Fatalf("journal line %q: %v", line, err)
		}
		out = append(out, r)
	}
	return out
}
