package planner

import (
	"errors"
	"strings"
	"testing"

	"github.com/otpprov/otpprov/fusemap"
	"github.com/otpprov/otpprov/manifest"
)

// field targets every bit of a named imx8mm field with value v.
func field(t *testing.T, name string, v uint64) []manifest.Target {
	t.Helper()
	f := imx8mm.Field(name)
	if f == nil {
		t.Fatalf("imx8mm has no field %s", name)
	}
	parts, err := f.Encode(v)
	if err != nil {
		t.Fatal(err)
	}
	var out []manifest.Target
	for i, p := range f.Parts {
		tg := manifest.NewTarget(imx8mm.SoC, p.Bank, p.Word, parts[i]<<p.Lsb, p.Mask())
		tg.Names = []string{name}
		out = append(out, tg)
	}
	return out
}

func srk(t *testing.T) []manifest.Target {
	t.Helper()
	f := imx8mm.Field("SRK_HASH")
	b := make([]byte, 32)
	for i := range b {
		b[i] = byte(i + 1)
	}
	parts, err := f.EncodeBytes(b)
	if err != nil {
		t.Fatal(err)
	}
	var out []manifest.Target
	for i, p := range f.Parts {
		out = append(out, manifest.NewTarget(imx8mm.SoC, p.Bank, p.Word, parts[i], 0xffffffff))
	}
	return out
}

func join(ts ...[]manifest.Target) []manifest.Target {
	var out []manifest.Target
	for _, t := range ts {
		out = append(out, t...)
	}
	// Targets of one word merge, as manifest.resolve does.
	byIndex := map[int]int{}
	var merged []manifest.Target
	for _, t := range out {
		if i, ok := byIndex[t.Index]; ok {
			merged[i].Value |= t.Value
			merged[i].Mask |= t.Mask
			merged[i].Names = append(merged[i].Names, t.Names...)
			continue
		}
		byIndex[t.Index] = len(merged)
		merged = append(merged, t)
	}
	return merged
}

func mustMake(t *testing.T, state []uint32, targets []manifest.Target) *Plan {
	t.Helper()
	p, err := Make(Source{Name: "t"}, imx8mm, state, targets)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func changeAt(p *Plan, bank, word int) Change {
	for _, c := range p.Changes {
		if c.Bank == bank && c.Word == word {
			return c
		}
	}
	return Change{}
}

// A word whose region a burned lock write-protects is refused up front,
// naming the lock; a word the lock does not cover is not.
func TestLockedWordRefusedNamingTheLock(t *testing.T) {
	state := blank()
	state[imx8mm.ReadIndex(0, 0)] = 1 << 2 // BOOT_CFG_LOCK, write bit
	p := mustMake(t, state, join(field(t, "BOOT_CFG", 0x2022), field(t, "GP1", 1)))
	c := changeAt(p, 1, 3)
	if c.Action != Refused || !strings.Contains(c.Reason, "BOOT_CFG_LOCK") {
		t.Fatalf("1/3: %s %q, want refused naming BOOT_CFG_LOCK", c.Action, c.Reason)
	}
	if g := changeAt(p, 14, 0); g.Action != Program {
		t.Errorf("14/0: %s, want program", g.Action)
	}
	if !p.Rejected() || len(p.Writes()) != 0 {
		t.Errorf("a plan with a refused word must be rejected and write nothing: %d writes", len(p.Writes()))
	}
	// Only the override bit of the lock: programming is still allowed.
	state[imx8mm.ReadIndex(0, 0)] = 1 << 3
	if p := mustMake(t, state, field(t, "BOOT_CFG", 0x2022)); p.Rejected() {
		t.Errorf("override lock alone refused the burn: %+v", p.Changes)
	}
	// Already satisfied under a lock: nothing to burn, nothing refused.
	state[imx8mm.ReadIndex(0, 0)] = 1 << 2
	state[imx8mm.ReadIndex(1, 3)] = 0x2022
	if p := mustMake(t, state, field(t, "BOOT_CFG", 0x2022)); p.Rejected() {
		t.Errorf("a no-op under a lock was refused: %+v", p.Changes)
	}
}

// Burn order: data words, then locks, then security fuses, closing last;
// a word with bits of several classes is burned once per class, each with
// only its own bits, and each burn starts from what the earlier left.
func TestWriteOrder(t *testing.T) {
	p := mustMake(t, blank(), join(
		field(t, "SEC_CONFIG_CLOSE", 1), field(t, "SRK_LOCK", 1), field(t, "SJC_DISABLE", 1),
		field(t, "BOOT_CFG", 0x2022), srk(t), field(t, "GP1_LOCK", 1), field(t, "GP1", 0x55)))
	if p.Rejected() {
		t.Fatalf("rejected: %+v", p.Changes)
	}
	type w struct {
		bank, word int
		delta      uint32
	}
	var got []w
	for _, x := range p.Writes() {
		got = append(got, w{x.Bank, x.Word, x.Delta})
	}
	var want []w
	want = append(want, w{1, 3, 0x2022}) // BOOT_CFG: data
	for i := 0; i < 8; i++ {             // SRK hash: data
		want = append(want, w{6 + i/4, i % 4, srk(t)[i].Value})
	}
	want = append(want, w{14, 0, 0x55})        // GP1: data
	want = append(want, w{0, 0, 1<<9 | 1<<20}) // SRK_LOCK and GP1_LOCK write bit: locks
	want = append(want, w{1, 3, 1 << 21})      // SJC_DISABLE: security
	want = append(want, w{1, 3, 1 << 25})      // SEC_CONFIG_CLOSE: last
	if len(got) != len(want) {
		t.Fatalf("writes\n got %v\nwant %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("write %d: got %v, want %v", i+1, got[i], want[i])
		}
	}
	// Each later burn of 1/3 starts from what the earlier left.
	last := p.Writes()[len(p.Writes())-1]
	if last.Before != 0x2022|1<<21 || last.After() != 0x2022|1<<21|1<<25 {
		t.Errorf("close burn before %#x after %#x", last.Before, last.After())
	}
}

// A lock is moved after security burns into the words it protects, so
// the controller does not refuse them.
func TestLockFollowsTheWordsItProtects(t *testing.T) {
	p := mustMake(t, blank(), join(field(t, "BOOT_CFG_LOCK", 1), field(t, "SJC_DISABLE", 1)))
	ws := p.Writes()
	if len(ws) != 2 || ws[0].Bank != 1 || ws[1].Bank != 0 {
		t.Fatalf("writes %+v: want 1/3 then the lock", ws)
	}
	// But it cannot follow the close, which must be last: refused.
	p = mustMake(t, blank(), join(srk(t), field(t, "BOOT_CFG_LOCK", 1), field(t, "SEC_CONFIG_CLOSE", 1)))
	c := changeAt(p, 0, 0)
	if c.Action != Refused || !strings.Contains(c.Reason, "closing must be the last write") {
		t.Fatalf("lock word: %s %q", c.Action, c.Reason)
	}
}

// Closing with a blank SRK hash would brick the part: refused. With the
// hash in the same plan, or already on the device, it is allowed.
func TestCloseNeedsSRKHash(t *testing.T) {
	p := mustMake(t, blank(), field(t, "SEC_CONFIG_CLOSE", 1))
	c := changeAt(p, 1, 3)
	if c.Action != Refused || !strings.Contains(c.Reason, "SRK_HASH blank") {
		t.Fatalf("close alone: %s %q", c.Action, c.Reason)
	}
	if p := mustMake(t, blank(), join(srk(t), field(t, "SEC_CONFIG_CLOSE", 1))); p.Rejected() {
		t.Errorf("close with the hash in the plan was refused: %+v", p.Changes)
	}
	state := blank()
	for w := 0; w < 8; w++ {
		state[imx8mm.ReadIndex(6+w/4, w%4)] = 1 << w
	}
	if p := mustMake(t, state, field(t, "SEC_CONFIG_CLOSE", 1)); p.Rejected() {
		t.Errorf("close with a hash on the device was refused: %+v", p.Changes)
	}
	// A hash burned in part is no hash: one bit of it (the old check
	// passed that), or all but one word, on the device or in the plan.
	state = blank()
	state[imx8mm.ReadIndex(7, 3)] = 1
	c = changeAt(mustMake(t, state, field(t, "SEC_CONFIG_CLOSE", 1)), 1, 3)
	if c.Action != Refused || !strings.Contains(c.Reason, "SRK_HASH only partly burned (6/0, 6/1, 6/2, 6/3, 7/0, 7/1, 7/2 all zero after this plan, "+
		"which a real SHA-256 is with probability 2^-32 per word)") {
		t.Errorf("close with one bit of hash: %s %q", c.Action, c.Reason)
	}
	hash := srk(t)
	hash[5].Value = 0
	c = changeAt(mustMake(t, blank(), join(hash, field(t, "SEC_CONFIG_CLOSE", 1))), 1, 3)
	if c.Action != Refused || !strings.Contains(c.Reason, "(7/1 all zero after this plan") {
		t.Errorf("close with a hash of 7 words: %s %q", c.Action, c.Reason)
	}
	// A hash the device hides is not "present": refused, not guessed.
	state = blank()
	state[imx8mm.ReadIndex(6, 0)] = fusemap.ReadProtected
	if p := mustMake(t, state, field(t, "SEC_CONFIG_CLOSE", 1)); !p.Rejected() {
		t.Errorf("close with an unreadable hash was allowed")
	}
	// A raw entry that sets the same bit is the same close.
	raw := manifest.NewTarget(imx8mm.SoC, 1, 3, 0x02000000, 0x02000000)
	if p := mustMake(t, blank(), []manifest.Target{raw}); !p.Rejected() {
		t.Errorf("a raw bank 1 word 3 close slipped past the check")
	}
}

// The plan lists the security fields it burns, whatever the manifest
// called them, with their warnings; data-only plans list none.
func TestSecurityAndWarnings(t *testing.T) {
	raw := manifest.NewTarget(imx8mm.SoC, 1, 3, 1<<21, 1<<21) // SJC_DISABLE as a raw entry
	p := mustMake(t, blank(), join([]manifest.Target{raw}, field(t, "GP1_LOCK", 1), field(t, "GP1", 1)))
	var names []string
	for _, f := range p.Security() {
		names = append(names, f.Name)
	}
	// A lock needs the operator's word like a security field: it freezes
	// its region for ever.
	if strings.Join(names, ",") != "GP1_LOCK,SJC_DISABLE" {
		t.Errorf("Security() = %v, want [GP1_LOCK SJC_DISABLE]", names)
	}
	// Lock bits no lock field describes (bit 31 of the i.MX8MM's LOCK word)
	// are acknowledged by the field that holds them.
	unknown := manifest.NewTarget(imx8mm.SoC, 0, 0, 1<<31, 1<<31)
	if p := mustMake(t, blank(), []manifest.Target{unknown}); len(p.Security()) != 1 || p.Security()[0].Name != "LOCK" {
		t.Errorf("an unknown lock bit: Security() = %v, want [LOCK]", p.Security())
	}
	var text []string
	for _, w := range p.Warnings() {
		text = append(text, w.Field+": "+w.Message)
	}
	all := strings.Join(text, "\n")
	if !strings.Contains(all, "SJC_DISABLE: ") || !strings.Contains(all, "GP1_LOCK: GP1 can never be programmed again") {
		t.Errorf("warnings:\n%s", all)
	}
	if p := mustMake(t, blank(), field(t, "GP1", 1)); len(p.Security()) != 0 || len(p.Warnings()) != 0 {
		t.Errorf("a data-only plan has security %v warnings %v", p.Security(), p.Warnings())
	}
}

// A saved plan is bound to the board's UNIQUE_ID: recheck on another
// board fails naming both IDs, before any state comparison.
func TestRecheckOtherBoard(t *testing.T) {
	a := blank()
	a[imx8mm.ReadIndex(0, 1)], a[imx8mm.ReadIndex(0, 2)] = 0x11111111, 0x22222222
	p := mustMake(t, a, field(t, "GP1", 1))
	if p.UniqueID != "0x2222222211111111" {
		t.Fatalf("UniqueID = %q", p.UniqueID)
	}
	b, err := Encode(p, "test")
	if err != nil {
		t.Fatal(err)
	}
	saved, err := Decode(b, fusemap.Load)
	if err != nil {
		t.Fatal(err)
	}
	other := append([]uint32{}, a...)
	other[imx8mm.ReadIndex(0, 1)] = 0x33333333
	_, err = Recheck(saved, other)
	if !errors.Is(err, ErrOtherBoard) || !strings.Contains(err.Error(), "0x2222222211111111") || !strings.Contains(err.Error(), "0x2222222233333333") {
		t.Fatalf("err = %v", err)
	}
	if _, err := Recheck(saved, a); err != nil {
		t.Fatalf("same board: %v", err)
	}
}

// i.MX6: the state is indexed by read offset; the write goes to the fuse
// address.
func TestIMX6Indices(t *testing.T) {
	m, err := fusemap.Load("imx6q")
	if err != nil {
		t.Fatal(err)
	}
	state := make([]uint32, m.Words)
	state[64] = 0x1 // bank 6 word 0, as read
	p, err := Make(Source{}, m, state, []manifest.Target{manifest.NewTarget(m.SoC, 6, 0, 0x3, 0x3)})
	if err != nil {
		t.Fatal(err)
	}
	c := p.Changes[0]
	if c.Before != 1 || c.Delta != 2 || c.Offset() != 0x100 || c.WriteOffset() != 0xc0 {
		t.Fatalf("change %+v offset %#x write offset %#x", c, c.Offset(), c.WriteOffset())
	}
}

// Bits of the LOCK word no lock field describes (GP5_LOCK on i.MX8MM: its
// words are not mapped) go with the locks, after data, and are warned
// about: they may lock something for ever.
func TestUnknownLockBits(t *testing.T) {
	raw := manifest.NewTarget(imx8mm.SoC, 0, 0, 1<<24|1<<31, 1<<24|1<<31)
	p := mustMake(t, blank(), join([]manifest.Target{raw}, field(t, "GP1", 1)))
	ws := p.Writes()
	if len(ws) != 2 || ws[0].Bank != 14 || ws[1].Bank != 0 {
		t.Fatalf("writes %+v: want GP1 data before the lock word", ws)
	}
	var found bool
	for _, w := range p.Warnings() {
		if w.Field == "0/0" && strings.Contains(w.Message, "bits 31,24 are lock bits the imx8mm map does not describe") {
			found = true
		}
	}
	if !found {
		t.Errorf("no warning for unknown lock bits: %+v", p.Warnings())
	}
	if p := mustMake(t, blank(), field(t, "GP1_LOCK", 1)); len(p.Warnings()) != 1 {
		t.Errorf("a described lock got %d warnings: %+v", len(p.Warnings()), p.Warnings())
	}
}

// A plan is bound to one board only when it read the board's UNIQUE_ID;
// otherwise Binding says it is bound to the state digest alone.
func TestBinding(t *testing.T) {
	state := blank()
	state[imx8mm.ReadIndex(0, 1)], state[imx8mm.ReadIndex(0, 2)] = 0x89abcdef, 0x01234567
	if bound, text := mustMake(t, state, field(t, "GP1", 1)).Binding(); !bound || text != "the board with UNIQUE_ID 0x0123456789abcdef" {
		t.Errorf("readable: %v %q", bound, text)
	}
	state[imx8mm.ReadIndex(0, 1)] = fusemap.ReadProtected
	p := mustMake(t, state, field(t, "GP1", 1))
	if bound, text := p.Binding(); bound || !strings.Contains(text, "only the state digest "+p.StateDigest+" (this board's UNIQUE_ID reads 0xbadabada)") {
		t.Errorf("unreadable: %v %q", bound, text)
	}
	p.UniqueID = "" // as for a map without an identity field
	if bound, text := p.Binding(); bound || !strings.Contains(text, "(the imx8mm fuse map has no UNIQUE_ID)") {
		t.Errorf("no identity: %v %q", bound, text)
	}
}
