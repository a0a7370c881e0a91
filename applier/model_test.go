package applier

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/otpprov/otpprov/fusemap"
	"github.com/otpprov/otpprov/manifest"
	"github.com/otpprov/otpprov/nvmem"
	"github.com/otpprov/otpprov/planner"
)

// TestModel is the model-based test of the whole burn path: random
// manifests, written as YAML text and read by the real loader, × random
// boards (burned bits, burned lock fields, read-protected and write-locked
// words) × every fault the emulator can inject, planned, saved and
// re-read as a plan file, applied, and checked against what the safety
// model promises:
//
//  1. no fuse ever holds a 1 bit outside before | the planned delta, on
//     any word (a misdirected write, which by design burns elsewhere, must
//     instead make the apply fail and be found by the final read);
//  2. a rejected plan writes nothing;
//  3. after a successful apply a new plan programs nothing and a second
//     apply writes nothing; after a failed one, a new plan on the rebooted
//     board programs exactly the bits still missing, never a burned one,
//     and applying it completes the manifest; the saved plan re-checked
//     on the rebooted board is already applied exactly when the board
//     holds the plan's result, unchanged when nothing burned, else stale;
//  4. the plan document round-trips: decoded and re-encoded it is the same
//     bytes, and re-checked against the board it is the same plan;
//  5. a stale plan (the board changed since) and a tampered plan file are
//     refused before anything is written;
//  6. apply reports success only when the board holds exactly what the
//     plan asked for, and "nothing written" only when nothing was; a
//     field whose effect requires another (closing needs the SRK hash) is
//     never burned while any word of that one is blank;
//  7. a manifest or saved plan is refused on a board that says it is
//     another SoC of the same size, before anything is read or written;
//  8. a word holding bits of a secret field of the map (by the model's
//     reading of the map) shows no value in the plan or apply document,
//     whether a field or a raw entry asks for it, and whatever its mask.
//
// On the way, the loader's targets are checked against what the model's
// own encoding says the entries mean (invalid manifests must be refused
// with file:line:col), and every planned word against what fuses allow.
//
// Each case is seeded by (seed, case number): a failure prints both, the
// manifest, and the command that re-runs that case alone. `make soak` runs
// the same test with many more cases.
var (
	modelCases = flag.Int("model.cases", 10000, "model test: how many cases to run")
	modelSeed  = flag.Uint64("model.seed", 1, "model test: the seed")
	modelOnly  = flag.Int("model.case", -1, "model test: run only this case")
)

func TestModel(t *testing.T) {
	first, count := 0, *modelCases
	if *modelOnly >= 0 {
		first, count = *modelOnly, 1
	}
	dir := t.TempDir()
	start := time.Now()
	var (
		next  atomic.Int64
		mu    sync.Mutex
		fails []*modelCase
		stats = modelStats{}
		wg    sync.WaitGroup
	)
	next.Store(int64(first))
	// The cases are independent: run them on every CPU.
	for w := 0; w < runtime.GOMAXPROCS(0); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			local := modelStats{}
			defer func() {
				mu.Lock()
				stats.merge(local)
				mu.Unlock()
			}()
			for {
				n := int(next.Add(1) - 1)
				mu.Lock()
				enough := len(fails) >= 3
				mu.Unlock()
				if n >= first+count || enough {
					return
				}
				c := runModelCase(*modelSeed, n, dir)
				local.add(c)
				if count == 1 && c.err == nil {
					t.Log(c.report()) // one case, re-run to be looked at
				}
				if c.err != nil {
					mu.Lock()
					fails = append(fails, c)
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	sort.Slice(fails, func(i, j int) bool { return fails[i].n < fails[j].n })
	for _, c := range fails {
		t.Error(c.report())
	}
	t.Logf("%d cases, seed %d, in %v\n%s", stats["cases"], *modelSeed, time.Since(start).Round(time.Millisecond), stats)
	if len(fails) == 0 && count >= 5000 {
		stats.checkCoverage(t)
	}
}

// TestModelCoversEveryFaultKind: a fault kind added to the emulator must
// be added to the model's generators too, or the model would silently
// never inject it.
func TestModelCoversEveryFaultKind(t *testing.T) {
	for _, k := range nvmem.FaultKinds {
		if faultGens[k] == nil {
			t.Errorf("fault kind %q has no generator: add one line to faultGens in model_gen_test.go", k)
		}
	}
	if len(faultGens) != len(nvmem.FaultKinds) {
		t.Errorf("faultGens has %d kinds, nvmem.FaultKinds %d", len(faultGens), len(nvmem.FaultKinds))
	}
}

// modelCase is one case: what was generated, what happened, and what went
// wrong, for the report.
type modelCase struct {
	seed uint64
	n    int
	dir  string
	rng  *rand.Rand

	soc      *socModel
	otp      *nvmem.OTP
	state    []uint32 // the board as first read
	intents  map[int]uint32
	entries  []entry
	targets  map[int]*wantBits // read index → what the manifest asks, by the model
	text     string
	invalid  string // why the loader must refuse the manifest; "" if valid
	faults   []nvmem.Fault
	signalAt int // SIGINT during this write call; 0: none

	outcome string   // for the statistics
	kinds   []string // what the plan burns, for the statistics
	files   []string // valueFrom files, removed after the case
	fired   []string // fault kinds that fired
	// elsewhere: a write of the apply burned another word than the one
	// addressed (a misdirect fault).
	elsewhere bool
	saved     *planner.Plan // the plan as saved and read back, when it could be saved
	plan      *planner.Plan // the plan made against the board as first read
	notes     []string
	fatal     error // the generator itself failed
	err       error
}

func (c *modelCase) notef(format string, args ...any) {
	c.notes = append(c.notes, fmt.Sprintf(format, args...))
}

// report says what failed and how to see it again.
func (c *modelCase) report() string {
	var b strings.Builder
	if c.err != nil {
		fmt.Fprintf(&b, "model case %d (seed %d): %v\n", c.n, c.seed, c.err)
	} else {
		fmt.Fprintf(&b, "model case %d (seed %d) passed: %s\n", c.n, c.seed, c.outcome)
	}
	fmt.Fprintf(&b, "re-run it alone: go test ./applier -run '^TestModel$' -v -args -model.seed=%d -model.case=%d\n", c.seed, c.n)
	if c.soc != nil {
		fmt.Fprintf(&b, "soc %s\n", c.soc.m.Name)
	}
	for _, n := range c.notes {
		fmt.Fprintf(&b, "  %s\n", n)
	}
	if len(c.faults) > 0 {
		fmt.Fprintf(&b, "faults: %+v\n", c.faults)
	}
	if c.signalAt > 0 {
		fmt.Fprintf(&b, "SIGINT during write %d\n", c.signalAt)
	}
	fmt.Fprintf(&b, "manifest:\n%s", c.text)
	return b.String()
}

// manifestPath is where the case's manifest notionally lives: in the
// directory that holds its valueFrom files.
func (c *modelCase) manifestPath() string { return filepath.Join(c.dir, "model.yaml") }

func runModelCase(seed uint64, n int, dir string) (c *modelCase) {
	c = &modelCase{seed: seed, n: n, dir: dir, rng: rand.New(rand.NewPCG(seed, uint64(n))), intents: map[int]uint32{}}
	defer func() {
		// Never panic on input: a panic is a failure of this case, with
		// the case to reproduce it.
		if p := recover(); p != nil {
			c.err = fmt.Errorf("panic: %v\n%s", p, debug.Stack())
		}
	}()
	c.err = c.run()
	for _, f := range c.files {
		os.Remove(f)
	}
	return c
}

func readState(o *nvmem.OTP) ([]uint32, error) {
	b, err := nvmem.NewDevice("model", o).ReadAll()
	if err != nil {
		return nil, err
	}
	return nvmem.Words(b), nil
}

// reboot is the board after a power cycle: the fuses and the sim's
// configuration persist; the injected faults and what they left behind in
// the session (a vanished device, a word reading 0xBADABADA) do not.
func reboot(o *nvmem.OTP) *nvmem.OTP {
	n := nvmem.NewOTP(len(o.Fuses))
	copy(n.Fuses, o.Fuses)
	n.Map = o.Map
	maps.Copy(n.Hidden, o.Hidden)
	maps.Copy(n.ReadProtected, o.ReadProtected)
	maps.Copy(n.WriteLocked, o.WriteLocked)
	return n
}

// fuses is the physical truth: every fuse, readable or not.
type fuses struct {
	words  []uint32
	hidden map[int]uint32
}

func snapshot(o *nvmem.OTP) fuses {
	return fuses{words: slices.Clone(o.Fuses), hidden: maps.Clone(o.Hidden)}
}

func (f fuses) equal(g fuses) bool {
	return slices.Equal(f.words, g.words) && maps.Equal(f.hidden, g.hidden)
}

func (c *modelCase) run() error {
	total := 0
	for _, s := range modelSoCs {
		total += s.weight
	}
	name := pickSoC(c.rng.IntN(total))
	socs, err := loadSoCModels()
	if err != nil {
		return err
	}
	c.soc = socs[name]
	c.manifest()
	if c.fatal != nil {
		return c.fatal
	}
	before := snapshot(c.otp)

	// The loader, on the text.
	m, err := manifest.ParseOpts(c.manifestPath(), []byte(c.text), manifest.Options{})
	if c.invalid != "" {
		c.outcome = "refused by the loader"
		return c.checkRefusal(err)
	}
	if err != nil {
		return fmt.Errorf("the loader refused a valid manifest: %v", err)
	}
	if err := c.checkTargets(m.Targets); err != nil {
		return err
	}

	// 7: the board is another SoC of the same size, sometimes.
	if sibling := c.sibling(); sibling != "" {
		c.outcome = "board of another SoC refused"
		return c.wrongSoC(sibling, m, before)
	}

	// The plan, against the board as read.
	dev := nvmem.NewDevice("model", c.otp)
	p, err := planner.Make(planner.Source{Name: m.Name, File: m.File, Digest: m.Digest}, m.Map, c.state, m.Targets)
	if err != nil {
		return fmt.Errorf("plan: %v", err)
	}
	c.plan = p
	if err := c.checkPlan(p, c.state); err != nil {
		return err
	}
	if err := c.checkSecrets(p, nil); err != nil {
		return err
	}
	s := p.Summary()
	c.classify(p)
	c.notef("plan: %d program, %d no-op, %d conflict, %d unreadable, %d refused; %d writes", s.Program, s.NoOp, s.Conflict, s.Unreadable, s.Refused, len(p.Writes()))

	// 4, 5: the plan document, as `plan --out` saves it (never with secrets).
	applied := p
	if !p.HasSecrets() {
		saved, doc, err := c.roundTrip(p)
		if err != nil {
			return err
		}
		c.saved = saved
		if err := c.tamper(doc); err != nil {
			return err
		}
		if !p.Rejected() && c.rng.IntN(10) == 0 {
			c.outcome = "stale plan refused"
			return c.stale(saved, before)
		}
		if c.rng.IntN(2) == 0 {
			// `apply PLANFILE`: the re-checked plan is what burns.
			if applied, err = planner.Recheck(saved, c.state); err != nil {
				return fmt.Errorf("saved plan re-checked on the unchanged board: %v", err)
			}
			c.notef("applying the saved plan")
		}
	}

	// 2: a rejected plan writes nothing, whatever the faults.
	if p.Rejected() {
		c.outcome = "rejected"
		c.inject(applied)
		r, err := Apply(context.Background(), dev, applied)
		if err == nil {
			return fmt.Errorf("a rejected plan was applied: %+v", r)
		}
		if len(c.otp.Log) > 0 || !snapshot(c.otp).equal(before) {
			return fmt.Errorf("a rejected plan wrote %v", c.otp.Log)
		}
		return nil
	}

	// 1, 6: apply, with faults.
	c.inject(applied)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var f nvmem.File = c.otp
	if c.signalAt > 0 {
		f = &signalDuring{OTP: c.otp, write: c.signalAt, cancel: cancel}
	}
	r, err := Apply(ctx, nvmem.NewDevice("model", f), applied)
	if err != nil {
		return fmt.Errorf("apply: %v", err)
	}
	if err := c.checkApply(applied, r, before); err != nil {
		return err
	}
	if err := c.checkSecrets(applied, r); err != nil {
		return err
	}

	// 3: run it again on the rebooted board, faults gone.
	return c.again(m, applied, r, before)
}

// sibling is, in one case of 16, another SoC with as many words as the
// case's, whose board the case's manifest is then tried on; else "".
func (c *modelCase) sibling() string {
	if c.rng.IntN(16) != 0 {
		return ""
	}
	var same []string
	for _, n := range fusemap.Names() {
		if o, err := fusemap.Load(n); err == nil && n != c.soc.m.Name && o.Words == c.soc.m.Words {
			same = append(same, n)
		}
	}
	if len(same) == 0 {
		return ""
	}
	return same[c.rng.IntN(len(same))]
}

// wrongSoC: a board that says it is soc refuses the manifest, and its
// fuses are untouched.
func (c *modelCase) wrongSoC(soc string, m *manifest.Manifest, before fuses) error {
	c.notef("the board says it is an %s", soc)
	board := nvmem.Chip{SoC: soc, Evidence: "the model"}
	got, err := board.Resolve("model", nvmem.Claim{SoC: m.SoC.Name, By: "the manifest"})
	if !errors.Is(err, nvmem.ErrWrongSoC) {
		return fmt.Errorf("a manifest for %s on an %s board: %v, %v; want ErrWrongSoC", m.SoC.Name, soc, got, err)
	}
	if len(c.otp.Log) > 0 || !snapshot(c.otp).equal(before) {
		return fmt.Errorf("a manifest for another SoC wrote %v", c.otp.Log)
	}
	return nil
}

func pickSoC(r int) string {
	for _, s := range modelSoCs {
		if r < s.weight {
			return s.name
		}
		r -= s.weight
	}
	return modelSoCs[0].name
}

// checkRefusal: bad input is an error saying where, and nothing else.
func (c *modelCase) checkRefusal(err error) error {
	if err == nil {
		return fmt.Errorf("the loader accepted a manifest with %s", c.invalid)
	}
	var ds manifest.Diagnostics
	if !errors.As(err, &ds) || len(ds) == 0 {
		return fmt.Errorf("the loader refused %s without diagnostics: %v", c.invalid, err)
	}
	for _, d := range ds {
		if d.Pos.File != c.manifestPath() || d.Pos.Line < 1 || d.Message == "" {
			return fmt.Errorf("a diagnostic for %s does not say where: %s: %q", c.invalid, d.Pos, d.Message)
		}
	}
	if len(c.otp.Log) > 0 {
		return fmt.Errorf("something was written")
	}
	return nil
}

// checkTargets: the loader resolved the entries to what the model's own
// encoding says they mean.
func (c *modelCase) checkTargets(ts []manifest.Target) error {
	m := c.soc.m
	if len(ts) != len(c.targets) {
		return fmt.Errorf("the loader made %d targets, the model %d", len(ts), len(c.targets))
	}
	for _, t := range ts {
		w := c.targets[t.Index]
		switch {
		case w == nil:
			return fmt.Errorf("target bank %d word %d (index %d) is not in the manifest", t.Bank, t.Word, t.Index)
		case t.Bank != w.bank || t.Word != w.word || t.WriteIndex != m.WriteIndex(w.bank, w.word):
			return fmt.Errorf("target index %d is bank %d word %d write index %d, want %d/%d", t.Index, t.Bank, t.Word, t.WriteIndex, w.bank, w.word)
		case t.Value != w.value || t.Mask != w.mask:
			return fmt.Errorf("bank %d word %d: target %#08x/%#08x, the manifest means %#08x/%#08x", t.Bank, t.Word, t.Value, t.Mask, w.value, w.mask)
		}
	}
	return nil
}

// checkPlan: every word's action is what fuses allow, decided here from
// the model's targets and the board as read (state).
func (c *modelCase) checkPlan(p *planner.Plan, state []uint32) error {
	if len(p.Changes) != len(c.targets) {
		return fmt.Errorf("the plan has %d changes for %d target words", len(p.Changes), len(c.targets))
	}
	rejected := false
	for _, ch := range p.Changes {
		w := c.targets[ch.Index]
		if w == nil {
			return fmt.Errorf("the plan changes index %d, which the manifest does not name", ch.Index)
		}
		want, cur := w.value&w.mask, state[ch.Index]
		var ok bool
		switch {
		case cur == nvmem.ReadProtected && c.ownReadLock(state, ch.Index):
			ok = ch.Action == planner.ReadLocked
		case cur == nvmem.ReadProtected:
			ok = ch.Action == planner.Unreadable
		case cur&w.mask&^want != 0:
			ok = ch.Action == planner.Conflict && ch.Conflict == cur&w.mask&^want
		case want&^cur != 0:
			ok = (ch.Action == planner.Program || ch.Action == planner.Refused) && ch.Delta == want&^cur
		default:
			ok = ch.Action == planner.NoOp && ch.Delta == 0
		}
		if !ok {
			return fmt.Errorf("bank %d word %d reads %#08x, the manifest wants %#08x/%#08x, but the plan says %s delta %#08x",
				ch.Bank, ch.Word, cur, w.value, w.mask, ch.Action, ch.Delta)
		}
		rejected = rejected || ch.Action == planner.Conflict || ch.Action == planner.Unreadable || ch.Action == planner.Refused
	}
	if p.Rejected() != rejected {
		return fmt.Errorf("plan rejected %v, its changes say %v", p.Rejected(), rejected)
	}
	if rejected && len(p.Writes()) > 0 {
		return fmt.Errorf("a rejected plan has %d writes", len(p.Writes()))
	}
	// The burns carry, word by word, exactly the planned delta, each bit
	// once.
	burned := map[int]uint32{}
	for _, w := range p.Writes() {
		if w.Delta == 0 || burned[w.Index]&w.Delta != 0 {
			return fmt.Errorf("write of bank %d word %d carries %#08x (already burned: %#08x)", w.Bank, w.Word, w.Delta, burned[w.Index])
		}
		burned[w.Index] |= w.Delta
	}
	for _, ch := range p.Changes {
		if !rejected && burned[ch.Index] != ch.Delta {
			return fmt.Errorf("bank %d word %d: the writes burn %#08x, the plan's delta is %#08x", ch.Bank, ch.Word, burned[ch.Index], ch.Delta)
		}
	}
	return nil
}

// secretWords are the read indexes of the words holding bits of a secret
// field, worked out from the fields' parts here, not by the map's index.
func (c *modelCase) secretWords() map[int]bool {
	out := map[int]bool{}
	for _, f := range c.soc.m.Fields {
		if f.Secret {
			for _, p := range f.Parts {
				if partMask(p) != 0 {
					out[c.soc.m.ReadIndex(p.Bank, p.Word)] = true
				}
			}
		}
	}
	return out
}

// checkSecrets (8): every value of a word holding secret bits reads
// "secret" in the plan document, and in the apply document when r is
// given; every other word's values are words.
func (c *modelCase) checkSecrets(p *planner.Plan, r *Result) error {
	secret := c.secretWords()
	type doc struct {
		Changes []map[string]any `json:"changes"`
		Writes  []map[string]any `json:"writes"`
		Words   []map[string]any `json:"words"`
	}
	var b []byte
	var err error
	keys := map[string][]string{"changes": {"value", "before", "delta", "after", "conflict"}, "writes": {"delta"}}
	if r == nil {
		b, err = planner.Encode(p, "model")
	} else {
		b, err = Encode(p, r, 0, "model")
		keys = map[string][]string{"words": {"before", "delta", "want", "readBack", "final"}}
	}
	if err != nil {
		return err
	}
	var d doc
	if err := json.Unmarshal(b, &d); err != nil {
		return err
	}
	for list, names := range keys {
		for _, x := range map[string][]map[string]any{"changes": d.Changes, "writes": d.Writes, "words": d.Words}[list] {
			bank, word := int(x["bank"].(float64)), int(x["word"].(float64))
			hidden := secret[c.soc.m.ReadIndex(bank, word)]
			if hidden {
				c.kinds = append(c.kinds, "plan holds secret words")
			}
			for _, n := range names {
				v, present := x[n].(string)
				if !present {
					continue // readBack and final are absent when unread
				}
				if (v == "secret") != hidden {
					return fmt.Errorf("8: %s of bank %d word %d is %q in the %s (secret word: %v)", n, bank, word, v, list, hidden)
				}
			}
		}
	}
	c.kinds = slices.Compact(c.kinds)
	return nil
}

// roundTrip: encode, decode, re-encode gives the same bytes, and the
// decoded plan re-checked against the board is the plan. It returns the
// decoded plan and the document.
func (c *modelCase) roundTrip(p *planner.Plan) (*planner.Plan, []byte, error) {
	b, err := planner.Encode(p, "model")
	if err != nil {
		return nil, nil, fmt.Errorf("encode: %v", err)
	}
	saved, err := planner.Decode(b, loadMap)
	if err != nil {
		return nil, nil, fmt.Errorf("decode of a plan just encoded: %v\n%s", err, b)
	}
	again, err := planner.Encode(saved, "model")
	if err != nil {
		return nil, nil, fmt.Errorf("encode of the decoded plan: %v", err)
	}
	if !bytes.Equal(again, b) {
		return nil, nil, fmt.Errorf("the plan document does not round-trip:\n%s\nbecame\n%s", b, again)
	}
	if err := samePlan(saved, p); err != nil {
		return nil, nil, fmt.Errorf("decoded plan: %v", err)
	}
	fresh, err := planner.Recheck(saved, c.state)
	if err != nil {
		return nil, nil, fmt.Errorf("re-check on the unchanged board: %v", err)
	}
	if err := samePlan(fresh, p); err != nil {
		return nil, nil, fmt.Errorf("re-checked plan: %v", err)
	}
	return saved, b, nil
}

var loadMap = fusemap.Load

// samePlan compares what two plans would burn and say.
func samePlan(a, b *planner.Plan) error {
	strip := func(cs []planner.Change) []planner.Change {
		out := slices.Clone(cs)
		for i := range out {
			out[i].Pos = nil // a plan file does not keep manifest positions
		}
		return out
	}
	if a.SoC.Name != b.SoC.Name || a.StateDigest != b.StateDigest || a.UniqueID != b.UniqueID || a.Source != b.Source {
		return fmt.Errorf("header %v %s %s %+v, want %v %s %s %+v", a.SoC.Name, a.StateDigest, a.UniqueID, a.Source, b.SoC.Name, b.StateDigest, b.UniqueID, b.Source)
	}
	for _, pair := range [][2][]planner.Change{{strip(a.Changes), strip(b.Changes)}, {strip(a.Writes()), strip(b.Writes())}} {
		x, y := pair[0], pair[1]
		if len(x) != len(y) {
			return fmt.Errorf("%d changes or writes, want %d", len(x), len(y))
		}
		for i := range x {
			if fmt.Sprintf("%+v", x[i]) != fmt.Sprintf("%+v", y[i]) {
				return fmt.Errorf("%+v\nwant %+v", x[i], y[i])
			}
		}
	}
	return nil
}

// tamper: a plan file b with one byte changed is refused or means exactly
// the same plan (a space for a tab); one with a delta widened and the
// checksum left is refused. Each in a third of the cases: they try the
// checksum more than the plan.
func (c *modelCase) tamper(b []byte) error {
	rng := c.rng
	switch rng.IntN(3) {
	case 0:
		bad := slices.Clone(b)
		i := rng.IntN(len(bad))
		bad[i] ^= byte(1 + rng.IntN(255))
		q, err := planner.Decode(bad, loadMap)
		if err == nil {
			again, _ := planner.Encode(q, "model")
			if !bytes.Equal(again, b) {
				return fmt.Errorf("a plan file with byte %d changed (%q → %q) was accepted as another plan", i, b[i], bad[i])
			}
		} else if !errors.Is(err, planner.ErrPlanFile) {
			return fmt.Errorf("a changed plan file: %v, want ErrPlanFile", err)
		}
	case 1:
		var doc map[string]any
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.UseNumber()
		if err := dec.Decode(&doc); err != nil {
			return err
		}
		// Widen a delta: a change's, or one of the ordered writes'.
		var targets []map[string]any
		for _, key := range []string{"changes", "writes"} {
			for _, x := range doc[key].([]any) {
				targets = append(targets, x.(map[string]any))
			}
		}
		if len(targets) == 0 {
			return nil
		}
		x := targets[rng.IntN(len(targets))]
		d, err := strconv.ParseUint(strings.TrimPrefix(x["delta"].(string), "0x"), 16, 32)
		if err != nil {
			return err
		}
		x["delta"] = fmt.Sprintf("0x%08x", uint32(d)|^uint32(d)&(1<<rng.IntN(32)|1<<rng.IntN(32)))
		if x["delta"] == fmt.Sprintf("0x%08x", d) {
			return nil // nothing widened: every bit set already
		}
		bad, err := json.MarshalIndent(doc, "", "  ")
		if err != nil {
			return err
		}
		if _, err := planner.Decode(bad, loadMap); !errors.Is(err, planner.ErrPlanFile) {
			return fmt.Errorf("a plan file with a delta widened to %s was not refused: %v", x["delta"], err)
		}
	}
	return nil
}

// stale: another station burns a bit between plan and apply. A change the
// board shows refuses the saved plan; nothing is written.
func (c *modelCase) stale(saved *planner.Plan, before fuses) error {
	m := c.soc.m
	w := c.soc.raw[c.rng.IntN(len(c.soc.raw))]
	if c.rng.IntN(4) == 0 {
		// Another board: its UNIQUE_ID differs.
		w = c.soc.identity[c.rng.IntN(len(c.soc.identity))]
	}
	k := m.ReadIndex(w.bank, w.word)
	c.otp.Fuses[k] |= 1 << c.rng.IntN(32)
	c.notef("stale: bank %d word %d burned by someone else: %#08x", w.bank, w.word, c.otp.Fuses[k])
	now, err := readState(c.otp)
	if err != nil {
		return err
	}
	_, err = planner.Recheck(saved, now)
	otherBoard := planner.UniqueID(m, now) != saved.UniqueID
	if otherBoard {
		c.outcome = "saved plan for another board refused"
	}
	switch {
	case otherBoard && !errors.Is(err, planner.ErrOtherBoard):
		return fmt.Errorf("the plan was made on UNIQUE_ID %s, the board is %s: %v, want ErrOtherBoard", saved.UniqueID, planner.UniqueID(m, now), err)
	case slices.Equal(now, c.state):
		if err != nil {
			return fmt.Errorf("the board reads as it did, but the saved plan was refused: %v", err)
		}
	case err == nil:
		return fmt.Errorf("the board changed (bank %d word %d), but the saved plan was not refused", w.bank, w.word)
	case !errors.Is(err, planner.ErrStale) && !errors.Is(err, planner.ErrOtherBoard):
		return fmt.Errorf("stale plan: %v, want ErrStale or ErrOtherBoard", err)
	}
	if len(c.otp.Log) > 0 {
		return fmt.Errorf("a stale plan wrote %v", c.otp.Log)
	}
	return nil
}

// inject chooses the faults for an apply of p: none in half the cases,
// else one or two of any kind, and now and then a SIGINT.
func (c *modelCase) inject(p *planner.Plan) {
	rng := c.rng
	writes := p.Writes()
	if len(writes) == 0 {
		return
	}
	if rng.IntN(2) == 0 {
		for i := rng.IntN(2); i >= 0; i-- {
			kind := nvmem.FaultKinds[rng.IntN(len(nvmem.FaultKinds))]
			gen := faultGens[kind]
			if gen == nil {
				continue // TestModelCoversEveryFaultKind reports it
			}
			c.faults = append(c.faults, gen(rng, c.soc.m, writes))
		}
	}
	if rng.IntN(12) == 0 {
		c.signalAt = 1 + rng.IntN(len(writes))
	}
	c.otp.Faults = c.faults
}

// signalDuring is the emulator with SIGINT arriving while write call
// `write` is in flight: apply must finish that word and stop.
type signalDuring struct {
	*nvmem.OTP
	write  int
	cancel context.CancelFunc
}

func (s *signalDuring) WriteAt(p []byte, off int64) (int, error) {
	n, err := s.OTP.WriteAt(p, off)
	if s.OTP.Writes == s.write {
		s.cancel()
	}
	return n, err
}

// firedFaults returns the faults that fired during the apply.
func (c *modelCase) firedFaults() []nvmem.Fault {
	var out []nvmem.Fault
	for _, f := range c.faults {
		switch {
		case f.Kind.WriteFault() && f.Write <= c.otp.Writes:
			out = append(out, f)
		case !f.Kind.WriteFault() && slices.ContainsFunc(c.otp.Log, func(w nvmem.WordWrite) bool {
			return w.Word == f.Word && w.Value&(1<<f.Bit) != 0
		}):
			out = append(out, f)
		}
	}
	return out
}

// misdirected returns, by write call, where the writes that went
// elsewhere than addressed went. Of several misdirect faults on one write
// the last wins, as in the emulator; one may send it back home.
func (c *modelCase) misdirected(writes []planner.Change) map[int]int {
	out := map[int]int{}
	for n := 1; n <= c.otp.Writes && n <= len(writes); n++ {
		target := writes[n-1].WriteIndex
		for _, f := range c.faults {
			if burnsElsewhere[f.Kind] && f.Write == n {
				target = f.Word
			}
		}
		if target != writes[n-1].WriteIndex {
			out[n] = target
		}
	}
	return out
}

// checkApply checks one apply against the physical truth.
func (c *modelCase) checkApply(p *planner.Plan, r *Result, before fuses) error {
	writes := p.Writes()
	for _, f := range c.firedFaults() {
		c.fired = append(c.fired, string(f.Kind))
	}
	misdirected := c.misdirected(writes)
	elsewhere := len(misdirected) > 0
	c.elsewhere = elsewhere
	after := snapshot(c.otp)
	// The session's view right after the apply (a vanished device has
	// none), and the truth after a reboot.
	session, sessionErr := readState(c.otp)
	next := reboot(c.otp)
	truth, err := readState(next)
	if err != nil {
		return fmt.Errorf("reading the rebooted board: %v", err)
	}
	c.notef("apply: %s, statuses %v, strays %v, interrupted %v, final error %v", r.Outcome(), statuses(r), r.Strays, r.Interrupted, r.FinalErr)

	// The words: one result per write, stopping at the first failure.
	if len(r.Words) != len(writes) {
		return fmt.Errorf("%d word results for %d writes", len(r.Words), len(writes))
	}
	attempted := 0
	for i, w := range r.Words {
		if w.Status == Skipped {
			continue
		}
		if attempted != i {
			return fmt.Errorf("word %d was attempted after a skipped one: %v", i, statuses(r))
		}
		attempted++
		if w.Status != Verified && i+1 < len(r.Words) && r.Words[i+1].Status != Skipped {
			return fmt.Errorf("apply went on after %s at word %d: %v", w.Status, i, statuses(r))
		}
	}
	// On the wire: the planned burns in order, each carrying exactly its
	// delta, none after the stop. Fuses OR, so the end state alone could
	// not tell a delta from the whole value.
	var wire []nvmem.WordWrite
	for _, w := range writes[:attempted] {
		wire = append(wire, nvmem.WordWrite{Word: w.WriteIndex, Value: w.Delta})
	}
	if !slices.Equal(c.otp.Log, wire) {
		return fmt.Errorf("on the wire %v, want %v", c.otp.Log, wire)
	}
	// SIGINT: the word in flight is finished and read back, and apply
	// stops there.
	if s := c.signalAt; s > 0 && s < len(writes) && s <= attempted && r.Words[s-1].Status == Verified &&
		(!r.Interrupted || attempted != s || r.OK()) {
		return fmt.Errorf("SIGINT during write %d: interrupted %v after %d words", s, r.Interrupted, attempted)
	}
	if r.Interrupted && (c.signalAt == 0 || r.OK()) {
		return fmt.Errorf("interrupted %v without a signal, or OK", r.Interrupted)
	}

	// 1: no bit outside before | delta, on any fuse. (checkPlan has
	// checked each delta against what the manifest asks.)
	allowed := map[int]uint32{}
	for _, w := range writes {
		allowed[w.Index] |= w.Delta
	}
	for k := range after.words {
		if extra := after.words[k] &^ before.words[k] &^ allowed[k]; extra != 0 && !elsewhere {
			return fmt.Errorf("read index %d burned %#08x outside before %#08x | delta %#08x", k, extra, before.words[k], allowed[k])
		}
	}
	if !maps.Equal(after.hidden, before.hidden) && !elsewhere {
		return fmt.Errorf("fuses nvmem cannot read were burned: %v", after.hidden)
	}

	// The final read and the strays: exactly the words the plan did not
	// program that read otherwise now.
	if r.FinalErr == nil {
		if sessionErr != nil || !slices.Equal(r.Final, session) {
			return fmt.Errorf("the final read is not what the board reads (%v)", sessionErr)
		}
		// Words written are judged by their read-back; every other word,
		// planned ones apply never reached included, must read as before.
		programmed := map[int]bool{}
		for _, w := range writes[:attempted] {
			programmed[w.Index] = true
		}
		planned := slices.Clone(before.words)
		for k, d := range allowed {
			planned[k] |= d
		}
		var strays []int
		for k, v := range session {
			// A word behind a read lock the plan burns reads 0xBADABADA,
			// as the plan warned: not a stray, if the final read shows the
			// lock burned. (If the lock word itself cannot be read, the
			// apply cannot tell, and calls the word a stray.)
			hidden := v == nvmem.ReadProtected && readLocked(c.soc.m, planned, k) && readLocked(c.soc.m, session, k)
			if !programmed[k] && v != p.State[k] && !hidden {
				strays = append(strays, k)
			}
		}
		if !slices.Equal(r.Strays, strays) {
			return fmt.Errorf("strays %v, but the words that changed outside the plan are %v", r.Strays, strays)
		}
	}

	// A misdirected burn is never a success.
	if elsewhere && r.OK() {
		return fmt.Errorf("misdirected writes %v were reported as a success", misdirected)
	}

	// 6: success means the board holds exactly what the plan asked for.
	if r.OK() {
		if attempted != len(writes) {
			return fmt.Errorf("OK with %d of %d writes", attempted, len(writes))
		}
		for k := range after.words {
			if want := before.words[k] | allowed[k]; after.words[k] != want {
				return fmt.Errorf("OK, but read index %d holds %#08x, want %#08x", k, after.words[k], want)
			}
		}
		// Words hidden by a read lock burned before the run are the
		// result's Unverified, and only those: the apply vouches for
		// every other target, and says it does not for these.
		var hidden []int
		for k, t := range c.targets {
			if t != nil && p.State[k] == nvmem.ReadProtected && c.ownReadLock(p.State, k) {
				hidden = append(hidden, k)
			}
		}
		if !slices.Equal(r.Unverified, hidden) {
			return fmt.Errorf("OK, with unverified words %v, but the words hidden before the run are %v", r.Unverified, hidden)
		}
		for k, t := range c.targets {
			if slices.Contains(hidden, k) {
				continue
			}
			if after.words[k]&t.mask != t.value&t.mask {
				return fmt.Errorf("OK, but bank %d word %d holds %#08x, the manifest wants %#08x/%#08x", t.bank, t.word, after.words[k], t.value, t.mask)
			}
		}
	}
	// No closing blind: a field whose effect needs another (closing needs
	// the SRK hash) is never burned while any word of that one is blank.
	if !elsewhere {
		if err := c.checkRequires(before, after); err != nil {
			return err
		}
	}
	// "Nothing written" is said only when nothing was: any fuse that
	// changed makes the result changed (or uncertain).
	if !r.Changed() && !after.equal(before) && !elsewhere {
		return fmt.Errorf("the result says nothing was written, but fuses changed")
	}
	if !r.Changed() && !slices.Equal(truth, p.State) {
		return fmt.Errorf("the result says nothing was written, but the board reads otherwise")
	}
	// Without faults or a signal, and with no word the controller refuses
	// behind the planner's back, an accepted plan applies.
	if len(c.faults) == 0 && c.signalAt == 0 && !c.refused(before, p.State, writes) && !r.OK() {
		return fmt.Errorf("a healthy board did not take an accepted plan: %s %v strays %v final %v", r.Outcome(), statuses(r), r.Strays, r.FinalErr)
	}
	// A word read back is what its fuses hold, unless a later write or a
	// misdirected one changed them since.
	for i, w := range r.Words {
		if w.Status == Skipped || !w.Read || elsewhere || slices.ContainsFunc(r.Words[i+1:], func(x Word) bool { return x.Index == w.Index && x.Status != Skipped }) {
			continue
		}
		if w.ReadBack != after.words[w.Index] {
			return fmt.Errorf("bank %d word %d: read back %#08x, the fuses hold %#08x", w.Bank, w.Word, w.ReadBack, after.words[w.Index])
		}
	}
	switch {
	case len(writes) == 0 && r.OK():
		c.outcome = "nothing to do"
	case r.OK():
		c.outcome = "applied"
	case r.Interrupted:
		c.outcome = "interrupted"
	default:
		c.outcome = "failed: " + r.Outcome()
	}
	c.otp = next
	return nil
}

// savedAgain (3): the saved plan of the first apply, re-checked on the
// board after it, is already applied (nothing to burn) when the board
// holds exactly the plan's result, goes through unchanged when the board
// is as it was, and is stale otherwise: burned in part, or hidden by a
// read lock it burned.
func (c *modelCase) savedAgain(first *planner.Plan, state []uint32) error {
	result := slices.Clone(c.state)
	for _, w := range first.Writes() {
		result[w.Index] |= w.Delta
	}
	fresh, err := planner.Recheck(c.saved, state)
	switch {
	case slices.Equal(state, c.state):
		if err != nil || fresh.AlreadyApplied {
			return fmt.Errorf("the saved plan on the unchanged board: %v, already applied %v", err, err == nil && fresh.AlreadyApplied)
		}
	case slices.Equal(state, result):
		if err != nil || !fresh.AlreadyApplied || len(fresh.Writes()) != 0 {
			return fmt.Errorf("the saved plan on the board holding its result: %v, want already applied with nothing to burn", err)
		}
		c.kinds = append(c.kinds, "saved plan already applied")
	case !errors.Is(err, planner.ErrStale):
		return fmt.Errorf("the saved plan on a board changed otherwise than by it: %v, want ErrStale", err)
	}
	return nil
}

// checkRequires: every field the apply burned bits of whose security
// effect requires other fields (SEC_CONFIG_CLOSE requires SRK_HASH) finds
// them wholly burned in the fuses: no part of them all zero (a real
// SHA-256 has an all-zero word with probability 2^-32).
func (c *modelCase) checkRequires(before, after fuses) error {
	m := c.soc.m
	value := func(f *fusemap.Field, words []uint32) (v uint32) {
		for _, p := range f.Parts {
			v |= words[m.ReadIndex(p.Bank, p.Word)] & partMask(p)
		}
		return v
	}
	for _, f := range m.Fields {
		if f.Security == nil || len(f.Security.Requires) == 0 || value(f, after.words)&^value(f, before.words) == 0 {
			continue
		}
		for _, name := range f.Security.Requires {
			g := m.Field(name)
			if g == nil {
				continue
			}
			for _, p := range g.Parts {
				if after.words[m.ReadIndex(p.Bank, p.Word)]&partMask(p) == 0 {
					return fmt.Errorf("%s was burned while %s %s is blank", f.Name, g.Name, p)
				}
			}
		}
	}
	return nil
}

// readLocked reports whether the emulator, holding fuses (by read index),
// hides word k behind a burned read lock. The emulator enforces locks as
// the controller does: it is the oracle here, not the applier's code.
// Word k's own content is left out: it may be what a read showed,
// 0xBADABADA.
// ownReadLock: word k is hidden by a read lock burned on the board, and
// the manifest's own targets ask for a read lock over it. The plan must
// call it read-locked, not unreadable: the manifest wants it hidden.
func (c *modelCase) ownReadLock(state []uint32, k int) bool {
	wanted := make([]uint32, len(state))
	for i, t := range c.targets {
		if t != nil {
			wanted[i] = t.value & t.mask
		}
	}
	return readLocked(c.soc.m, state, k) && readLocked(c.soc.m, wanted, k)
}

func readLocked(m *fusemap.Map, fuses []uint32, k int) bool {
	o := nvmem.NewOTP(len(fuses))
	copy(o.Fuses, fuses)
	o.Fuses[k] = 0
	o.Map = m
	var b [4]byte
	n, err := o.ReadAt(b[:], int64(4*k))
	return n == 4 && err == nil && nvmem.Words(b[:])[0] == nvmem.ReadProtected
}

// refused reports whether the controller refuses a word of writes where
// the planner could not see why: the board holds fuses (as before the
// apply), the planner read state. The emulator answers both ways, with no
// faults: a write of no bits is refused (EPERM) exactly when the word is
// locked. The real board adds the sim's write-locked words, and locks in
// words that read 0xBADABADA, to what the planner saw.
func (c *modelCase) refused(f fuses, state []uint32, writes []planner.Change) bool {
	real := reboot(c.otp)
	copy(real.Fuses, f.words)
	seen := nvmem.NewOTP(len(state))
	copy(seen.Fuses, state)
	seen.Map = c.soc.m
	locked := func(o *nvmem.OTP, k int) bool {
		_, err := o.WriteAt(make([]byte, 4), int64(4*k))
		return errors.Is(err, syscall.EPERM)
	}
	for _, w := range writes {
		if locked(real, w.WriteIndex) && !locked(seen, w.WriteIndex) {
			return true
		}
	}
	return false
}

// again plans the manifest once more on the rebooted board, with no
// faults, and applies that plan.
func (c *modelCase) again(m *manifest.Manifest, first *planner.Plan, r *Result, orig fuses) error {
	state, err := readState(c.otp)
	if err != nil {
		return err
	}
	p, err := planner.Make(first.Source, m.Map, state, m.Targets)
	if err != nil {
		return fmt.Errorf("second plan: %v", err)
	}
	s := p.Summary()
	c.notef("second plan: %d program, %d no-op, %d conflict, %d unreadable, %d refused", s.Program, s.NoOp, s.Conflict, s.Unreadable, s.Refused)
	elsewhere := c.elsewhere // the first apply burned a word it did not address
	if c.saved != nil && !elsewhere {
		if err := c.savedAgain(first, state); err != nil {
			return err
		}
	}
	// A word behind a read lock the board now has burned cannot be
	// checked any more: its plan is unreadable, which rejects the plan.
	// Any other rejection needs a burn elsewhere.
	behindLock := 0
	for _, ch := range p.Changes {
		switch {
		case ch.Action == planner.Unreadable && !c.otp.ReadProtected[ch.Index] && readLocked(c.soc.m, c.otp.Fuses, ch.Index):
			behindLock++
		case ch.Action == planner.Conflict || ch.Action == planner.Unreadable || ch.Action == planner.Refused:
			if !elsewhere {
				return fmt.Errorf("second plan: bank %d word %d is %s (%s); only a misdirected burn could do that", ch.Bank, ch.Word, ch.Action, ch.Reason)
			}
		}
	}
	if behindLock > 0 {
		c.outcome += ", re-plan unreadable behind a burned read lock"
	}
	if r.OK() && s.Program != 0 {
		return fmt.Errorf("after a successful apply, a new plan programs %d words", s.Program)
	}
	// Exactly the missing bits, never a burned one; satisfied words are
	// no-ops.
	if err := c.checkPlan(p, state); err != nil {
		return fmt.Errorf("second plan: %v", err)
	}
	if p.Rejected() {
		return nil
	}
	before := snapshot(c.otp)
	r2, err := Apply(context.Background(), nvmem.NewDevice("model", c.otp), p)
	if err != nil {
		return fmt.Errorf("second apply: %v", err)
	}
	if s.Program == 0 && len(c.otp.Log) > 0 {
		return fmt.Errorf("a plan with nothing to program wrote %v", c.otp.Log)
	}
	if !r2.OK() {
		if c.refused(before, state, p.Writes()) {
			return nil
		}
		return fmt.Errorf("the second apply, with no faults, failed: %s %v strays %v", r2.Outcome(), statuses(r2), r2.Strays)
	}
	if !r.OK() {
		c.outcome += ", completed by a second apply"
	}
	// The manifest is complete, and over both applies no fuse holds a bit
	// it did not ask for.
	after := snapshot(c.otp)
	for k := range after.words {
		var want uint32
		if t := c.targets[k]; t != nil {
			want = t.value & t.mask
			// Hidden before the first run: neither apply could see it,
			// and both said so (checkApply holds them to that).
			hidden := slices.Contains(r.Unverified, k) && slices.Contains(r2.Unverified, k)
			if after.words[k]&t.mask != want && !hidden {
				return fmt.Errorf("after the second apply, bank %d word %d holds %#08x, the manifest wants %#08x/%#08x", t.bank, t.word, after.words[k], t.value, t.mask)
			}
		}
		if extra := after.words[k] &^ orig.words[k] &^ want; extra != 0 && !elsewhere {
			return fmt.Errorf("after two applies, read index %d has %#08x burned that the manifest never asked for", k, extra)
		}
	}
	return nil
}

// classify notes what kind of burns a plan has, for the statistics.
func (c *modelCase) classify(p *planner.Plan) {
	if p.Rejected() {
		return
	}
	if len(p.Security()) > 0 {
		c.kinds = append(c.kinds, "plan burns security fields")
	}
	for _, w := range p.Writes() {
		lock, _, closes := c.soc.m.Classes(w.Bank, w.Word)
		if w.Delta&lock != 0 {
			c.kinds = append(c.kinds, "plan burns lock bits")
		}
		if w.Delta&closes != 0 {
			c.kinds = append(c.kinds, "plan closes the part")
		}
	}
	if len(p.Writes()) > 1 && p.Writes()[0].Index != p.Changes[0].Index {
		c.kinds = append(c.kinds, "plan burns out of word order")
	}
	c.kinds = slices.Compact(c.kinds)
}

// modelStats counts what the cases did, so that a generator that stops
// producing some kind of case fails the test instead of passing quietly.
type modelStats map[string]int

func (s modelStats) add(c *modelCase) {
	s["cases"]++
	if c.soc != nil {
		s["soc "+c.soc.m.Name]++
	}
	s["outcome: "+c.outcome]++
	for _, e := range c.entries {
		s["entry: "+e.kind]++
	}
	for _, f := range c.faults {
		s["fault injected: "+string(f.Kind)]++
	}
	for _, k := range c.fired {
		s["fault fired: "+k]++
	}
	if c.signalAt > 0 {
		s["signal injected"]++
	}
	for _, k := range c.kinds {
		s[k]++
	}
}

func (s modelStats) merge(o modelStats) {
	for k, v := range o {
		s[k] += v
	}
}

func (s modelStats) String() string {
	var keys []string
	for k := range s {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "  %-45s %d\n", k, s[k])
	}
	return b.String()
}

// checkCoverage: every SoC, entry kind, outcome and fault kind occurs.
func (s modelStats) checkCoverage(t *testing.T) {
	t.Helper()
	need := []string{"outcome: refused by the loader", "outcome: rejected", "outcome: applied", "outcome: stale plan refused",
		"outcome: saved plan for another board refused", "outcome: board of another SoC refused", "outcome: nothing to do", "signal injected",
		"plan burns security fields", "plan burns lock bits", "plan holds secret words", "saved plan already applied", "plan closes the part", "plan burns out of word order", "entry: raw", "entry: uint", "entry: bool", "entry: mac", "entry: hash"}
	for _, soc := range modelSoCs {
		need = append(need, "soc "+soc.name)
	}
	for _, k := range nvmem.FaultKinds {
		need = append(need, "fault fired: "+string(k))
	}
	for _, k := range need {
		if s[k] == 0 {
			t.Errorf("no case had %q: the generator has stopped producing it", k)
		}
	}
	completed := 0
	for k, v := range s {
		if strings.HasSuffix(k, "completed by a second apply") {
			completed += v
		}
	}
	if completed == 0 {
		t.Errorf("no failed apply was completed by a second one")
	}
}
