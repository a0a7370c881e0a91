package planner

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/otpprov/otpprov/fusemap"
	"github.com/otpprov/otpprov/internal/termtext"
	"github.com/otpprov/otpprov/internal/yamldoc"
	"github.com/otpprov/otpprov/manifest"
)

// FormatName and FormatVersion identify the plan document: the output of
// `plan --json` and the file `plan --out` saves are the same document.
// Bump FormatVersion on any change that an older reader would misread.
//
// Version 3 adds release (the release the plan's files were checked
// against, or status unsigned); a saved plan of version 2 is still read,
// and applies as unsigned.
const (
	FormatName    = "otpprov-plan"
	FormatVersion = 3
)

// MaxPlanFile caps what Decode reads: a plan of every word of an i.MX8MP
// is under 200 KiB.
const MaxPlanFile = 4 << 20

type jsonPlan struct {
	Format        string       `json:"format"`
	FormatVersion int          `json:"formatVersion"`
	ToolVersion   string       `json:"toolVersion"`
	Manifest      jsonSource   `json:"manifest"`
	Release       *Release     `json:"release,omitempty"` // absent in version 2 only
	SoC           string       `json:"soc"`
	State         jsonState    `json:"state"`
	Summary       jsonSummary  `json:"summary"`
	Changes       []jsonChange `json:"changes"`
	Writes        []jsonWrite  `json:"writes"`
	Fields        []jsonField  `json:"fields"`
	Warnings      []Warning    `json:"warnings"`
	Security      []string     `json:"security"`
	Checksum      string       `json:"checksum"`
}

// jsonWrite is one burn, in order: what reaches the controller.
type jsonWrite struct {
	Bank        int    `json:"bank"`
	Word        int    `json:"word"`
	WriteOffset int    `json:"writeOffset"`
	Delta       string `json:"delta"`
}

// jsonField is a named field the plan touches, decoded.
type jsonField struct {
	Name   string `json:"name"`
	Where  string `json:"where"`
	Before string `json:"before"`
	After  string `json:"after"`
	// Wanted: only for a field the manifest wants where it can never be
	// (a rejected plan, never saved).
	Wanted string `json:"wanted,omitempty"`
}

type jsonSource struct {
	Name   string `json:"name"`
	File   string `json:"file"`
	Digest string `json:"digest"`
}

type jsonState struct {
	Words    int    `json:"words"`
	Digest   string `json:"digest"`
	UniqueID string `json:"uniqueId"`
}

type jsonSummary struct {
	Rejected   bool `json:"rejected"`
	Program    int  `json:"program"`
	NoOp       int  `json:"noop"`
	Conflict   int  `json:"conflict"`
	Unreadable int  `json:"unreadable"`
	ReadLocked int  `json:"readLocked"`
	Refused    int  `json:"refused"`
	Bits       int  `json:"bits"`
}

type jsonChange struct {
	Bank     int      `json:"bank"`
	Word     int      `json:"word"`
	Index    int      `json:"index"`
	Offset   int      `json:"offset"`
	Action   Action   `json:"action"`
	Names    []string `json:"names,omitempty"`
	Value    string   `json:"value"`
	Mask     string   `json:"mask"`
	Before   string   `json:"before"`
	Delta    string   `json:"delta"`
	After    string   `json:"after"`
	Conflict string   `json:"conflict"`
	Reason   string   `json:"reason,omitempty"`
}

func hex32(v uint32) string { return fmt.Sprintf("0x%08x", v) }

// Encode renders the plan document, checksummed, indented, newline-ended.
func Encode(p *Plan, toolVersion string) ([]byte, error) {
	doc := document(p, toolVersion)
	sum, err := checksum(doc)
	if err != nil {
		return nil, err
	}
	doc.Checksum = sum
	b, err := json.MarshalIndent(doc, "", "  ")
	return append(b, '\n'), err
}

// document is the plan document of p, without its checksum.
func document(p *Plan, toolVersion string) jsonPlan {
	s := p.Summary()
	doc := jsonPlan{
		Format: FormatName, FormatVersion: FormatVersion, ToolVersion: toolVersion,
		Manifest: jsonSource{Name: p.Source.Name, File: p.Source.File, Digest: p.Source.Digest},
		Release:  p.Source.Release,
		SoC:      p.SoC.Name,
		State:    jsonState{Words: p.SoC.Words, Digest: p.StateDigest, UniqueID: p.UniqueID},
		Summary: jsonSummary{Rejected: p.Rejected(), Program: s.Program, NoOp: s.NoOp,
			Conflict: s.Conflict, Unreadable: s.Unreadable, ReadLocked: s.ReadLocked, Refused: s.Refused, Bits: s.Bits},
		Changes:  make([]jsonChange, 0, len(p.Changes)),
		Writes:   []jsonWrite{},
		Fields:   []jsonField{},
		Warnings: append([]Warning{}, p.Warnings()...),
		Security: []string{},
	}
	for _, c := range p.Changes {
		doc.Changes = append(doc.Changes, jsonChange{
			Bank: c.Bank, Word: c.Word, Index: c.Index, Offset: c.Offset(), Action: c.Action, Names: c.Names,
			Value: c.Hex(c.Value), Mask: hex32(c.Mask), Before: c.Hex(c.Before),
			Delta: c.Hex(c.Delta), After: c.Hex(c.After()), Conflict: c.Hex(c.Conflict), Reason: c.Reason,
		})
	}
	for _, w := range p.Writes() {
		doc.Writes = append(doc.Writes, jsonWrite{Bank: w.Bank, Word: w.Word, WriteOffset: w.WriteOffset(), Delta: w.Hex(w.Delta)})
	}
	for _, f := range p.Fields() {
		doc.Fields = append(doc.Fields, jsonField{Name: f.Field.Name, Where: f.Field.Where(), Before: f.Before, After: f.After, Wanted: f.Wanted})
	}
	for _, f := range p.Security() {
		doc.Security = append(doc.Security, f.Name)
	}
	if doc.Release == nil {
		doc.Release = &Release{Status: ReleaseUnsigned}
	}
	return doc
}

// checksum is the digest of the document's compact encoding with an empty
// checksum. It catches corruption and hand edits; it is not a signature.
func checksum(doc jsonPlan) (string, error) {
	doc.Checksum = ""
	b, err := json.Marshal(doc)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:]), nil
}

// jsonProblem says where a plan file stops being a plan: the line of a
// syntax or type error, or that the file ends early (a copy cut short).
func jsonProblem(b []byte, err error) string {
	line := func(offset int64) int { return 1 + bytes.Count(b[:min(int(offset), len(b))], []byte("\n")) }
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Sprintf("it ends early, at line %d: cut short?", line(int64(len(b))))
	case errors.As(err, &syntax):
		return fmt.Sprintf("line %d: %v", line(syntax.Offset), err)
	case errors.As(err, &typ):
		return fmt.Sprintf("line %d: %v", line(typ.Offset), err)
	}
	return err.Error()
}

// Decode reads a plan document and checks its checksum and consistency.
// The returned plan has no State: only its digest was saved. maps gives
// the SoC's fuse map.
func Decode(b []byte, maps func(soc string) (*fusemap.Map, error)) (*Plan, error) {
	fail := func(format string, args ...any) (*Plan, error) {
		return nil, fmt.Errorf("%w: %s", ErrPlanFile, fmt.Sprintf(format, args...))
	}
	if len(b) > MaxPlanFile {
		return fail("larger than %d bytes", MaxPlanFile)
	}
	var doc jsonPlan
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		return fail("%s", jsonProblem(b, err))
	}
	if dec.More() {
		return fail("trailing data after the plan")
	}
	if doc.Format != FormatName {
		return fail("format is %q, want %q", doc.Format, FormatName)
	}
	if doc.FormatVersion != FormatVersion && doc.FormatVersion != 2 {
		return fail("format version %d; this otpprov reads versions 2 and %d", doc.FormatVersion, FormatVersion)
	}
	sum, err := checksum(doc)
	if err != nil {
		return fail("%v", err)
	}
	if sum != doc.Checksum {
		return fail("checksum mismatch: the file was corrupted or edited after it was saved")
	}
	m, err := maps(doc.SoC)
	if err != nil {
		return fail("%v", err)
	}
	if doc.State.Words != m.Words {
		return fail("the plan is for a device of %d words; %s has %d", doc.State.Words, m.Name, m.Words)
	}
	// Every text a plan file carries is printed to the operator's terminal:
	// a control character (an escape sequence) could rewrite what the
	// review shows. No manifest can hold one, so no plan made from one can.
	texts := []string{doc.Manifest.Name, doc.Manifest.File, doc.State.UniqueID}
	rel, err := decodeRelease(doc)
	if err != nil {
		return fail("%v", err)
	}
	if rel != nil {
		texts = append(texts, rel.Name, rel.Digest, rel.Signer, rel.KeyType, rel.Fingerprint)
	}
	for _, jc := range doc.Changes {
		texts = append(append(texts, jc.Names...), jc.Reason)
	}
	for _, t := range texts {
		if r, ok := termtext.First(t); ok {
			return fail("%s holds control character %s; no manifest can produce one", yamldoc.Quote(t), termtext.Name(r))
		}
	}
	src := Source{Name: doc.Manifest.Name, File: doc.Manifest.File, Digest: doc.Manifest.Digest, Release: rel}
	p := &Plan{Source: src, SoC: m.SoC, Map: m, StateDigest: doc.State.Digest, UniqueID: doc.State.UniqueID}
	seen := map[int]bool{}
	for i, jc := range doc.Changes {
		c, err := decodeChange(jc, m)
		if err != nil {
			return fail("change %d: %v", i+1, err)
		}
		if seen[c.Index] {
			return fail("change %d: bank %d word %d is planned twice", i+1, c.Bank, c.Word)
		}
		seen[c.Index] = true
		p.Changes = append(p.Changes, c)
	}
	for _, jf := range doc.Fields {
		f := m.Field(jf.Name)
		if f == nil {
			return fail("%s has no field %s (if the plan was made with a --fusemap overlay, pass it again)", m.Name, jf.Name)
		}
		p.savedFields = append(p.savedFields, FieldChange{Field: f, Before: jf.Before, After: jf.After, Wanted: jf.Wanted})
	}
	if !p.Rejected() {
		p.order()
	}
	// What the plan says it burns, and what that does, is what a reviewer
	// reads: it must be what the planner derives from the changes.
	derived := document(p, doc.ToolVersion)
	for _, s := range []struct {
		name      string
		got, want any
	}{
		{"summary counts", doc.Summary, derived.Summary},
		{"writes", doc.Writes, derived.Writes},
		{"security fields", doc.Security, derived.Security},
		{"warnings", doc.Warnings, derived.Warnings},
	} {
		if !sameJSON(s.got, s.want) {
			return fail("its %s do not follow from its changes with the %s fuse map: the file was edited, or the plan was made with a --fusemap overlay not given now", s.name, m.Name)
		}
	}
	return p, nil
}

// decodeRelease reads a plan document's release: nil when unsigned.
func decodeRelease(doc jsonPlan) (*Release, error) {
	r := doc.Release
	switch {
	case doc.FormatVersion < 3 && r != nil:
		return nil, fmt.Errorf("a version %d plan has no release", doc.FormatVersion)
	case doc.FormatVersion < 3:
		return nil, nil
	case r == nil:
		return nil, errors.New("it has no release (status unsigned when none was given)")
	}
	switch r.Status {
	case ReleaseUnsigned:
		if *r != (Release{Status: ReleaseUnsigned}) {
			return nil, errors.New("an unsigned plan names a release")
		}
		return nil, nil
	case ReleaseSigned, ReleaseUnverified, ReleaseAsSaved:
		if r.Name == "" || r.Digest == "" {
			return nil, errors.New("its release has no name or digest")
		}
		return r, nil
	}
	return nil, fmt.Errorf("release status %q, want %s, %s, %s or %s", r.Status, ReleaseUnsigned, ReleaseSigned, ReleaseUnverified, ReleaseAsSaved)
}

// sameJSON reports whether a and b encode alike.
func sameJSON(a, b any) bool {
	x, err1 := json.Marshal(a)
	y, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && bytes.Equal(x, y)
}

// decodeChange reads one change and checks it as a manifest entry and as
// the planner's decision: a plan file may name only what a manifest
// could, and only the delta the planner would burn.
func decodeChange(jc jsonChange, m *fusemap.Map) (Change, error) {
	soc := m.SoC
	var vals [6]uint32
	for i, s := range []string{jc.Value, jc.Mask, jc.Before, jc.Delta, jc.After, jc.Conflict} {
		v, err := parseHex32(s)
		if err != nil {
			return Change{}, err
		}
		vals[i] = v
	}
	if jc.Bank < 0 || jc.Word < 0 || jc.Bank >= soc.Banks() || jc.Word >= soc.WordsPerBank ||
		jc.Index != soc.ReadIndex(jc.Bank, jc.Word) || jc.Offset != 4*jc.Index {
		return Change{}, fmt.Errorf("bank %d word %d index %d offset %d do not agree with %s", jc.Bank, jc.Word, jc.Index, jc.Offset, soc.Name)
	}
	t := manifest.Target{Index: jc.Index, WriteIndex: soc.WriteIndex(jc.Bank, jc.Word), Bank: jc.Bank, Word: jc.Word,
		Value: vals[0], Mask: vals[1], Names: jc.Names}
	if err := manifest.CheckTarget(m, t); err != nil {
		return Change{}, err
	}
	// No otpprov saves a plan holding secret bits (plan --out refuses it):
	// a file that does shows them in plain text, and would show them again.
	if t = withSecret(m, t); t.Secret != 0 {
		return Change{}, fmt.Errorf("bank %d word %d holds bits of a secret field, which otpprov never saves to a plan", jc.Bank, jc.Word)
	}
	// Re-derive the change from its target and before-value: a plan file
	// whose delta is not exactly what the planner would burn is refused.
	c := decide(t, vals[2])
	if (jc.Action == Refused && c.Action == Program) || (jc.Action == ReadLocked && c.Action == Unreadable) {
		// Refusals and read locks depend on the whole device and manifest;
		// the saved reason is kept and Recheck decides again against the
		// device.
		c.Action, c.Reason = jc.Action, jc.Reason
	}
	if c.Action != jc.Action || c.Delta != vals[3] || c.After() != vals[4] || c.Conflict != vals[5] {
		return Change{}, fmt.Errorf("bank %d word %d: the saved action and delta are not what the planner computes", jc.Bank, jc.Word)
	}
	return c, nil
}

func parseHex32(s string) (uint32, error) {
	h, ok := strings.CutPrefix(s, "0x")
	if !ok || len(h) != 8 {
		return 0, fmt.Errorf("%q is not a word (0x and 8 hex digits)", s)
	}
	v, err := strconv.ParseUint(h, 16, 32)
	if err != nil {
		return 0, fmt.Errorf("%q is not a word (0x and 8 hex digits)", s)
	}
	return uint32(v), nil
}

// leftBy reports whether state is exactly what applying saved leaves. Only
// the digest of the state the plan was made from is saved, so that state
// is rebuilt from this one: every word the plan programs must read its
// after-value, and with those words set back to their before-values the
// device must hash to the saved digest, which proves every other word
// unchanged. A plan that programs nothing leaves nothing to recognise.
func leftBy(saved *Plan, state []uint32) bool {
	before := append([]uint32(nil), state...)
	programs := false
	for _, c := range saved.Changes {
		if c.Action != Program {
			continue
		}
		if c.Index >= len(state) || state[c.Index] != c.After() {
			return false
		}
		before[c.Index] = c.Before
		programs = true
	}
	return programs && StateDigest(before) == saved.StateDigest
}

// Targets returns the targets a plan was made for.
func (p *Plan) Targets() []manifest.Target {
	out := make([]manifest.Target, len(p.Changes))
	for i, c := range p.Changes {
		out[i] = c.Target
	}
	return out
}

// Recheck re-plans a saved plan against the device's current state and
// returns the fresh plan. It fails with ErrStale when the device no longer
// holds the state the plan was made from: the plan may rely on any word
// (it was reviewed as a whole), so any change makes it stale. A device
// that holds exactly what the plan leaves (the plan was applied, and
// nothing else changed) is not stale: the fresh plan burns nothing and is
// marked AlreadyApplied, so that a line re-running a saved plan on a
// finished board passes.
func Recheck(saved *Plan, state []uint32) (*Plan, error) {
	fresh, err := Make(saved.Source, saved.Map, state, saved.Targets())
	if err != nil {
		return nil, err
	}
	if fresh.UniqueID != saved.UniqueID {
		return nil, fmt.Errorf("%w: the plan was made for the board with UNIQUE_ID %s; this board's UNIQUE_ID is %s", ErrOtherBoard, saved.UniqueID, fresh.UniqueID)
	}
	if fresh.StateDigest == saved.StateDigest {
		return fresh, nil
	}
	if leftBy(saved, state) {
		fresh.AlreadyApplied = true
		return fresh, nil
	}
	var changed []string
	for i, c := range saved.Changes {
		if now := fresh.Changes[i].Before; now != c.Before {
			changed = append(changed, fmt.Sprintf("bank %d word %d was %s, now %s", c.Bank, c.Word, c.Hex(c.Before), c.Hex(now)))
		}
	}
	if len(changed) == 0 {
		changed = append(changed, "words the plan does not program changed")
	}
	return nil, fmt.Errorf("%w: the device changed since the plan was made (%s)", ErrStale, strings.Join(changed, "; "))
}
