package applier

import (
	"encoding/json"

	"github.com/otpprov/otpprov/planner"
)

// FormatName and FormatVersion identify the document `apply --json` prints.
const (
	FormatName    = "otpprov-apply"
	FormatVersion = 1
)

type jsonResult struct {
	Format        string     `json:"format"`
	FormatVersion int        `json:"formatVersion"`
	ToolVersion   string     `json:"toolVersion"`
	Manifest      string     `json:"manifest"`
	SoC           string     `json:"soc"`
	Outcome       string     `json:"outcome"`
	ExitCode      int        `json:"exitCode"`
	Interrupted   bool       `json:"interrupted"`
	Uncertain     bool       `json:"uncertain"` // partial only because some word could not be read: it may not have changed
	Words         []jsonWord `json:"words"`
	Strays        []int      `json:"strays"`
	// Unverified: words hidden by a read lock burned before this run
	// (the manifest asks for the lock): what they hold is not known.
	Unverified []jsonHidden `json:"unverified"`
	FinalError string       `json:"finalError,omitempty"`
}

type jsonHidden struct {
	Bank   int `json:"bank"`
	Word   int `json:"word"`
	Offset int `json:"offset"`
}

type jsonWord struct {
	Bank     int    `json:"bank"`
	Word     int    `json:"word"`
	Offset   int    `json:"offset"`      // where the word is read
	WriteOff int    `json:"writeOffset"` // where it is written (differs on i.MX6 banks >= 6)
	Status   Status `json:"status"`
	Before   string `json:"before"`
	Delta    string `json:"delta"`
	Want     string `json:"want"`
	ReadBack string `json:"readBack,omitempty"` // absent when the word could not be read
	Final    string `json:"final,omitempty"`    // from the final full read
	Error    string `json:"error,omitempty"`
}

// Outcome names a result: applied, nothing-written or partial.
func (r *Result) Outcome() string {
	switch {
	case r.OK():
		return "applied"
	case r.Changed():
		return "partial"
	}
	return "nothing-written"
}

// Encode renders the result document, indented and newline-ended.
func Encode(p *planner.Plan, r *Result, exitCode int, toolVersion string) ([]byte, error) {
	doc := jsonResult{Format: FormatName, FormatVersion: FormatVersion, ToolVersion: toolVersion,
		Manifest: p.Source.Name, SoC: p.SoC.Name, Outcome: r.Outcome(), ExitCode: exitCode,
		Interrupted: r.Interrupted, Uncertain: r.Uncertain(), Words: []jsonWord{}, Strays: r.Strays}
	if doc.Strays == nil {
		doc.Strays = []int{}
	}
	doc.Unverified = []jsonHidden{}
	for _, k := range r.Unverified {
		bank, word, _ := p.Map.BankWord(k)
		doc.Unverified = append(doc.Unverified, jsonHidden{Bank: bank, Word: word, Offset: 4 * k})
	}
	if r.FinalErr != nil {
		doc.FinalError = r.FinalErr.Error()
	}
	for _, w := range r.Words {
		jw := jsonWord{Bank: w.Bank, Word: w.Word, Offset: w.Offset(), WriteOff: w.WriteOffset(), Status: w.Status,
			Before: w.Hex(w.Before), Delta: w.Hex(w.Delta), Want: w.Hex(w.After())}
		if w.Read {
			jw.ReadBack = w.Hex(w.ReadBack)
		}
		if r.Final != nil {
			jw.Final = w.Hex(r.Final[w.Index])
		}
		if w.Err != nil {
			jw.Error = w.Err.Error()
		}
		doc.Words = append(doc.Words, jw)
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	return append(b, '\n'), err
}
