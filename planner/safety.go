package planner

import (
	"fmt"
	"sort"
	"strings"

	"github.com/otpprov/otpprov/fusemap"
	"github.com/otpprov/otpprov/manifest"
)

// Write order. Data first; then locks, which make the words they protect
// read-only, so they must follow every write into those words; then
// security fuses; closing the part is always the very last write, so that
// a failure anywhere before it leaves an open, recoverable board.
const (
	phaseData = iota
	phaseLock
	phaseSecurity
	phaseClose
)

// refuseLocked refuses to program a word whose region a burned LOCK field
// write-protects: the controller would answer EPERM, and the operator
// should hear which lock, before anything is written.
// excuseOwnReadLocks turns an unreadable word into ReadLocked when a
// burned read lock hides it and the manifest's own targets ask for a lock
// that hides it: the manifest wants the word unreadable. A word hidden by
// a lock the manifest does not ask for stays unreadable and rejects the
// plan, as any unknown word does.
func (p *Plan) excuseOwnReadLocks() {
	wanted := make([]uint32, len(p.State)) // the manifest's bits alone
	for _, c := range p.Changes {
		wanted[c.Index] |= c.Value & c.Mask
	}
	for i, c := range p.Changes {
		if c.Action != Unreadable {
			continue
		}
		burned := p.Map.ReadLockedBy(p.State, c.Bank, c.Word)
		if burned == nil || p.Map.ReadLockedBy(wanted, c.Bank, c.Word) == nil {
			continue
		}
		p.Changes[i].Action = ReadLocked
		// The manifest asks for the lock, so an unreadable word is what it
		// means; but the lock was burned before this run, by otpprov after
		// a verified burn or by anyone, over anything: the word's value is
		// unknown, and nothing said about this board may vouch for it.
		p.Changes[i].Reason = fmt.Sprintf("read-locked by %s (%s), a lock this manifest asks for, burned before this run: "+
			"the word cannot be read, so its value is NOT verified", burned.Name, burned.Where())
	}
}

func (p *Plan) refuseLocked() {
	for i, c := range p.Changes {
		if c.Action != Program {
			continue
		}
		if lf := p.Map.WriteLockedBy(p.State, c.Bank, c.Word); lf != nil {
			p.Changes[i].Action = Refused
			p.Changes[i].Reason = fmt.Sprintf("write-locked by %s (%s), which is burned: the word can never be programmed again", lf.Name, lf.Where())
		}
	}
}

// order splits each word's delta by the class of its bits and sorts the
// burns: data, locks, security, close. A lock that protects a word burned
// in a later phase moves after that burn.
func (p *Plan) order() {
	type step struct {
		c     Change
		phase int
	}
	var steps []step
	for _, c := range p.Changes {
		if c.Action != Program {
			continue
		}
		lock, security, closes := p.Map.Classes(c.Bank, c.Word)
		classes := [4]uint32{c.Delta &^ (lock | security | closes), c.Delta & lock, c.Delta & security, c.Delta & closes}
		for phase, bits := range classes {
			if bits != 0 {
				steps = append(steps, step{c, phase})
			}
		}
	}
	sort.SliceStable(steps, func(i, j int) bool { return steps[i].phase < steps[j].phase })
	for i := 0; i < len(steps); i++ {
		if steps[i].phase != phaseLock {
			continue
		}
		protected := p.protectedBy(steps[i].c)
		last := -1
		for j := i + 1; j < len(steps); j++ {
			if protected[steps[j].c.WriteIndex] && steps[j].phase != phaseLock {
				last = j
			}
		}
		if last > i && steps[last].phase != phaseClose {
			s := steps[i]
			copy(steps[i:last], steps[i+1:last+1])
			steps[last] = s
			i-- // the step now at i has not been looked at
		}
	}
	// Each burn carries only its own bits, and starts from what the word
	// holds once the earlier burns of the same word are done.
	done := map[int]uint32{}
	p.writes = p.writes[:0]
	for _, s := range steps {
		lock, security, closes := p.Map.Classes(s.c.Bank, s.c.Word)
		mask := [4]uint32{^(lock | security | closes), lock, security, closes}[s.phase]
		w := s.c
		w.Before |= done[w.Index]
		w.Delta &= mask
		w.Mask &= mask
		w.Value &= mask
		done[w.Index] |= w.Delta
		p.writes = append(p.writes, w)
	}
}

// protectedBy returns the write indices that the lock bits c burns
// protect, with a write lock.
func (p *Plan) protectedBy(c Change) map[int]bool {
	out := map[int]bool{}
	for _, f := range p.Map.FieldsAt(c.Bank, c.Word) {
		if f.Lock == nil || f.MaskIn(c.Bank, c.Word)&c.Delta == 0 {
			continue
		}
		for _, name := range f.Lock.Protects {
			if g := p.Map.Field(name); g != nil {
				for _, part := range g.Parts {
					out[p.Map.WriteIndex(part.Bank, part.Word)] = true
				}
			}
		}
	}
	return out
}

// refuseUnsafe refuses burns that would leave the part unusable: closing
// the part while a field it requires (the SRK hash) would not be wholly
// burned, and a lock that would have to follow the close because it
// protects the word the close burns.
func (p *Plan) refuseUnsafe() {
	after := p.After()
	for _, f := range p.Burned() {
		if f.Security == nil {
			continue
		}
		for _, name := range f.Security.Requires {
			g := p.Map.Field(name)
			if g == nil {
				continue
			}
			parts, ok := p.Map.Parts(g, after)
			switch {
			case !ok:
				p.refuseField(f, fmt.Sprintf("%s needs %s, which cannot be read (0xBADABADA): refusing to %s blind", f.Name, g.Name, f.Security.Effect))
			case fusemap.Blank(parts):
				p.refuseField(f, fmt.Sprintf("%s with %s blank: %s, and with no key to check against the part would never boot again; burn %s first", f.Name, g.Name, f.Security.Effect, g.Name))
			default:
				// A hash burned in part (one bit, or some of its words)
				// is no hash the part can check an image against: a
				// real SHA-256 has an all-zero 32-bit part with
				// probability 2^-32 each, so one is a hash not wholly
				// burned, not a hash.
				var zero []string
				for i, v := range parts {
					if v == 0 {
						zero = append(zero, g.Parts[i].String())
					}
				}
				if len(zero) > 0 {
					p.refuseField(f, fmt.Sprintf("%s with %s only partly burned (%s all zero after this plan, which a real SHA-256 is with probability 2^-32 per word): %s, "+
						"and no signed image would match the hash, so the part would never boot again; burn all of %s first", f.Name, g.Name, strings.Join(zero, ", "), f.Security.Effect, g.Name))
				}
			}
		}
	}
	for _, w := range p.writes {
		lock, _, _ := p.Map.Classes(w.Bank, w.Word)
		if w.Delta&lock == 0 {
			continue
		}
		protected := p.protectedBy(w)
		for _, x := range p.writes {
			_, _, closes := p.Map.Classes(x.Bank, x.Word)
			if x.Delta&closes != 0 && protected[x.WriteIndex] {
				p.refuseWord(w.Index, fmt.Sprintf("this lock protects bank %d word %d, where the part is closed, and closing must be the last write: burn the lock in a later run", x.Bank, x.Word))
			}
		}
	}
	if p.Rejected() {
		p.writes = nil
	}
}

// refuseField refuses every word that burns a bit of f.
func (p *Plan) refuseField(f *fusemap.Field, reason string) {
	for _, part := range f.Parts {
		for i, c := range p.Changes {
			if c.Bank == part.Bank && c.Word == part.Word && c.Delta&part.Mask() != 0 {
				p.Changes[i].Action, p.Changes[i].Reason = Refused, reason
			}
		}
	}
}

func (p *Plan) refuseWord(index int, reason string) {
	for i, c := range p.Changes {
		if c.Index == index && c.Action == Program {
			p.Changes[i].Action, p.Changes[i].Reason = Refused, reason
		}
	}
}

// After is the device's state once every burn the manifest asks for is
// done, refused ones included: the close check asks what the manifest
// means the board to hold, not only what this run may burn.
func (p *Plan) After() []uint32 {
	after := append([]uint32(nil), p.State...)
	for _, c := range p.Changes {
		if c.Action == Program || c.Action == Refused {
			after[c.Index] |= c.Delta
		}
	}
	return after
}

// Burned returns the fields the plan burns at least one bit of, in map
// order.
func (p *Plan) Burned() []*fusemap.Field {
	var out []*fusemap.Field
	for _, f := range p.Map.Fields {
		if p.burns(f) {
			out = append(out, f)
		}
	}
	return out
}

func (p *Plan) burns(f *fusemap.Field) bool {
	for _, part := range f.Parts {
		for _, c := range p.Changes {
			if (c.Action == Program || c.Action == Refused) && c.Bank == part.Bank && c.Word == part.Word && c.Delta&part.Mask() != 0 {
				return true
			}
		}
	}
	return false
}

// Security returns the fields the plan burns that apply needs the operator
// to acknowledge by name (fusemap.Field.Acknowledged: security fields and
// locks), and the field holding any lock bits the map does not describe
// (the LOCK word): an unknown lock bit may lock a region for ever too.
func (p *Plan) Security() []*fusemap.Field {
	var out []*fusemap.Field
	for _, f := range p.Burned() {
		if f.Acknowledged() || p.burnsUnknownLockBits(f) {
			out = append(out, f)
		}
	}
	return out
}

func (p *Plan) burnsUnknownLockBits(f *fusemap.Field) bool {
	for _, part := range f.Parts {
		unknown := p.Map.UnknownLockBits(part.Bank, part.Word) & part.Mask()
		for _, c := range p.Changes {
			if (c.Action == Program || c.Action == Refused) && c.Bank == part.Bank && c.Word == part.Word && c.Delta&unknown != 0 {
				return true
			}
		}
	}
	return false
}

// Warning is something irreversible the plan does besides burning data.
type Warning struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Warnings lists what the plan makes irreversible beyond the bits
// themselves: security effects, and regions that become read-only or
// unreadable for ever.
func (p *Plan) Warnings() []Warning {
	var out []Warning
	for _, c := range p.Changes {
		if unknown := c.Delta & p.Map.UnknownLockBits(c.Bank, c.Word); unknown != 0 {
			out = append(out, Warning{fmt.Sprintf("%d/%d", c.Bank, c.Word), fmt.Sprintf(
				"bits %s are lock bits the %s map does not describe: they may lock fuse regions for ever", manifest.BitList(unknown), p.Map.Name)})
		}
	}
	for _, f := range p.Burned() {
		if f.Security != nil {
			out = append(out, Warning{f.Name, f.Security.Effect})
		}
		if f.Lock == nil {
			continue
		}
		what := strings.Join(f.Lock.Protects, ", ")
		for _, l := range []struct {
			bit  int
			text string
			said bool // the write lock's bit also locks overriding: say it once
		}{
			{f.Lock.Write, "%s can never be programmed again", false},
			{f.Lock.Override, "%s can no longer be overridden in the shadow registers", f.Lock.Override == f.Lock.Write},
			{f.Lock.Read, "%s will read as 0xBADABADA for ever", false},
		} {
			part, mask, ok := fusemap.LockMask(f, l.bit)
			if !ok || l.said {
				continue
			}
			for _, c := range p.Changes {
				if c.Bank == part.Bank && c.Word == part.Word && c.Delta&mask != 0 {
					out = append(out, Warning{f.Name, fmt.Sprintf(l.text, what)})
				}
			}
		}
	}
	return out
}

// FieldChange is a named field the plan touches, decoded before and after.
type FieldChange struct {
	Field         *fusemap.Field
	Before, After string
	// Wanted is the field as the manifest wants it, set only where that
	// can never be: a bit of it is burned where the manifest wants 0
	// (Action Conflict). After is then the device's value unchanged.
	Wanted string
}

// Fields returns the named fields the plan burns bits of, and the fields
// the manifest named, decoded from the words before and after the plan.
func (p *Plan) Fields() []FieldChange {
	if p.State == nil {
		return p.savedFields // a decoded plan: as it was shown when made
	}
	named := map[string]bool{}
	for _, c := range p.Changes {
		for _, n := range c.Names {
			named[n] = true
		}
	}
	after, wanted := p.After(), p.wanted()
	var out []FieldChange
	for _, f := range p.Map.Fields {
		conflict := p.conflictsIn(f)
		if !named[f.Name] && !p.burns(f) && !conflict {
			continue
		}
		fc := FieldChange{Field: f, Before: "unreadable", After: "unreadable"}
		// A field holding secret bits (the map's, or a secret
		// variable's) shows as "secret", without the digest show
		// prints: a field burned in part (one word of it by write, the
		// rest blank, as the before-value says) leaves too few unknown
		// bits for a digest to hide, and a 32-bit word is found by
		// trying them all.
		secret := f.Secret || p.secretIn(f)
		show := func(parts []uint32) string {
			if secret {
				return "secret"
			}
			return f.Format(parts)
		}
		if parts, ok := p.Map.Parts(f, p.State); ok {
			fc.Before = show(parts)
		}
		if parts, ok := p.Map.Parts(f, after); ok {
			fc.After = show(parts)
		}
		if conflict {
			fc.Wanted = "unreadable"
			if parts, ok := p.Map.Parts(f, wanted); ok {
				fc.Wanted = show(parts)
			}
		}
		out = append(out, fc)
	}
	// A whole word that only contains the fields shown adds nothing.
	kept := out[:0]
	for _, fc := range out {
		if !fc.Field.WholeWord() || !hasNarrower(out, fc.Field) {
			kept = append(kept, fc)
		}
	}
	return kept
}

// Never says, in field terms, why the field can never be as the manifest
// wants it: "MAC_ADDR0 is 00:04:9f:11:22:33 on the board; the manifest
// wants 00:04:9f:11:22:34: can never match". "" when it does not conflict,
// or is secret (the words say which bits, not the values).
func (fc FieldChange) Never() string {
	if fc.Wanted == "" || fc.Wanted == "secret" {
		return ""
	}
	return fmt.Sprintf("%s is %s on the board; the manifest wants %s: can never match", fc.Field.Name, fc.Before, fc.Wanted)
}

// wanted is the device as the manifest wants it: each target's bits set to
// the target's value, conflicts included (which After leaves as they are).
func (p *Plan) wanted() []uint32 {
	w := append([]uint32(nil), p.State...)
	for _, c := range p.Changes {
		if w[c.Index] != fusemap.ReadProtected {
			w[c.Index] = w[c.Index]&^c.Mask | c.Value&c.Mask
		}
	}
	return w
}

// conflictsIn reports whether a bit of f is burned where the manifest
// wants 0.
func (p *Plan) conflictsIn(f *fusemap.Field) bool {
	for _, part := range f.Parts {
		for _, c := range p.Changes {
			if c.Action == Conflict && c.Bank == part.Bank && c.Word == part.Word && c.Conflict&part.Mask() != 0 {
				return true
			}
		}
	}
	return false
}

// secretIn reports whether the plan holds secret bits in f's words.
func (p *Plan) secretIn(f *fusemap.Field) bool {
	for _, part := range f.Parts {
		for _, c := range p.Changes {
			if c.Bank == part.Bank && c.Word == part.Word && c.Secret&part.Mask() != 0 {
				return true
			}
		}
	}
	return false
}

func hasNarrower(fcs []FieldChange, whole *fusemap.Field) bool {
	p := whole.Parts[0]
	for _, fc := range fcs {
		if m := fc.Field.MaskIn(p.Bank, p.Word); fc.Field != whole && m != 0 && m != 0xffffffff {
			return true
		}
	}
	return false
}
