// Package applier burns a Plan into a device, one word at a time, reading
// every word back. It stops at the first failure and reports what the
// device really holds, never what it was asked to hold.
package applier

import (
	"context"
	"errors"
	"fmt"

	"github.com/otpprov/otpprov/nvmem"
	"github.com/otpprov/otpprov/planner"
)

// Status is what happened to one word of the plan.
type Status string

const (
	// Verified: written and read back as planned.
	Verified Status = "verified"
	// Mismatch: the write succeeded but the word reads back otherwise,
	// e.g. a fuse that did not blow.
	Mismatch Status = "mismatch"
	// WriteFailed: the driver returned an error; ReadBack says what burned.
	WriteFailed Status = "write-failed"
	// ReadFailed: written, but the read-back failed: the outcome is unknown.
	ReadFailed Status = "read-failed"
	// Skipped: not attempted, because apply stopped before this word.
	Skipped Status = "skipped"
)

// Word is the result for one planned write.
type Word struct {
	planner.Change
	Status   Status
	ReadBack uint32 // what the word read after the write (or after its error)
	Read     bool   // ReadBack holds a value read from the device
	Err      error  // the write's or read's error
}

// Result is the outcome of an apply.
type Result struct {
	Words       []Word
	Interrupted bool     // stopped by a signal between two words
	Final       []uint32 // the whole device read once more at the end (nil if that failed)
	FinalErr    error
	// Strays are words the plan did not program whose final value differs
	// from the plan's state. It must always be empty; it is checked because
	// a tool that burns fuses must prove it, not assume it.
	Strays []int
	// Unverified are the words (read indexes) the plan found hidden by a
	// read lock burned before this run, which the manifest itself asks
	// for: nobody can read them, so this apply vouches for nothing they
	// hold. Whoever burned the lock may have burned them blank.
	Unverified []int
}

// OK reports whether every planned word was burned and verified.
func (r *Result) OK() bool {
	for _, w := range r.Words {
		if w.Status != Verified {
			return false
		}
	}
	return !r.Interrupted && r.FinalErr == nil && len(r.Strays) == 0
}

// Changed reports whether the device may differ from the plan's state. It
// trusts the final full read when there is one, else each word's read-back;
// a word that could not be read counts as changed: "nothing was written"
// is only ever said when the device proved it.
func (r *Result) Changed() bool {
	proven, unknown := r.changes()
	return proven || unknown
}

// Uncertain reports that no change was seen but some attempted word could
// not be read: the device may or may not have been programmed.
func (r *Result) Uncertain() bool {
	proven, unknown := r.changes()
	return !proven && unknown
}

func (r *Result) changes() (proven, unknown bool) {
	proven = len(r.Strays) > 0
	for _, w := range r.Words {
		switch {
		case w.Status == Skipped:
		case r.Final != nil && r.Final[w.Index] == nvmem.ReadProtected:
			unknown = true
		case r.Final != nil:
			proven = proven || r.Final[w.Index] != w.Before
		case !w.Read:
			unknown = true
		case w.ReadBack != w.Before:
			proven = true
		}
	}
	return proven, unknown
}

// Apply burns the plan's writes in order into dev, which must be the
// device the plan was made from, opened for writing and locked. ctx
// cancellation (SIGINT/SIGTERM) stops between words: the word in flight is
// always finished and read back.
func Apply(ctx context.Context, dev *nvmem.Device, plan *planner.Plan) (*Result, error) {
	if plan.Rejected() {
		return nil, errors.New("refusing to apply a rejected plan")
	}
	// An image file has one layout, but on i.MX6 the driver reads a fuse
	// of bank 6 and above at another offset than it writes it: an image
	// cannot stand in for that, and a burn there would land in the wrong
	// place of the image.
	for _, c := range plan.Writes() {
		if dev.Image() && c.WriteIndex != c.Index {
			return nil, fmt.Errorf("%s is a plain image, but %s reads bank %d word %d at offset 0x%03x and writes it at 0x%03x: "+
				"use the board's nvmem file, or sim:DIR, which emulates both; nothing was written",
				dev.Spec, plan.SoC.Name, c.Bank, c.Word, c.Offset(), c.WriteOffset())
		}
	}
	r := NothingToDo(plan)
	stopped := false
	for _, c := range plan.Writes() {
		w := Word{Change: c, Status: Skipped}
		if !stopped && ctx.Err() != nil {
			r.Interrupted, stopped = true, true
		}
		if !stopped {
			w = burn(dev, c)
			stopped = w.Status != Verified
		}
		r.Words = append(r.Words, w)
	}
	r.finalRead(dev, plan)
	return r, nil
}

// NothingToDo is the result of a plan with no writes, before any: it
// says which words the plan could not check.
func NothingToDo(plan *planner.Plan) *Result {
	r := &Result{}
	for _, c := range plan.Changes {
		if c.Action == planner.ReadLocked {
			r.Unverified = append(r.Unverified, c.Index)
		}
	}
	return r
}

var errReadProtected = errors.New("the word now reads 0xbadabada (read-protected): what it holds is unknown")

// burn writes one word's delta and reads it back.
func burn(dev *nvmem.Device, c planner.Change) Word {
	w := Word{Change: c}
	werr := dev.WriteWord(c.WriteIndex, c.Delta)
	// After a write error the word is read all the same: ETIMEDOUT and
	// even EPERM can come after the fuse burned.
	v, rerr := dev.ReadWord(c.Index)
	if rerr == nil && v == nvmem.ReadProtected {
		// The word became read-protected under us: 0xBADABADA is the
		// driver's placeholder, never what the fuses hold.
		rerr = errReadProtected
	}
	w.ReadBack, w.Read = v, rerr == nil
	switch {
	case werr != nil:
		w.Status, w.Err = WriteFailed, werr
	case rerr != nil:
		w.Status, w.Err = ReadFailed, rerr
	case v != c.After() || v&c.Mask != c.Value&c.Mask:
		w.Status = Mismatch
		w.Err = fmt.Errorf("read back %s, want %s", c.Hex(v), c.Hex(c.After()))
	default:
		w.Status = Verified
	}
	return w
}

func (r *Result) finalRead(dev *nvmem.Device, plan *planner.Plan) {
	b, err := dev.ReadAll()
	if err != nil {
		r.FinalErr = err
		return
	}
	r.Final = nvmem.Words(b)
	if len(r.Final) != len(plan.State) {
		r.FinalErr = fmt.Errorf("the device now has %d words, it had %d", len(r.Final), len(plan.State))
		return
	}
	// A word counts as programmed once a write to it was attempted: a
	// planned word that apply stopped before must still read as it did
	// (a misdirected burn may have landed there).
	programmed := map[int]bool{}
	for _, w := range r.Words {
		if w.Status != Skipped {
			programmed[w.Index] = true
		}
	}
	planned := append([]uint32(nil), plan.State...)
	for _, c := range plan.Writes() {
		planned[c.Index] |= c.Delta
	}
	for k, v := range r.Final {
		if !programmed[k] && v != plan.State[k] && !(v == nvmem.ReadProtected && hiddenByPlan(plan, planned, r.Final, k)) {
			r.Strays = append(r.Strays, k)
		}
	}
}

// hiddenByPlan reports whether word k reads 0xBADABADA because of a read
// lock the plan burns (SJC_RESP_LOCK hides SJC_RESP): the plan warned of
// it, and the word is not a stray. The lock must be both planned and
// burned on the device now; a read lock burned by anything else leaves
// its words counted as strays.
func hiddenByPlan(plan *planner.Plan, planned, final []uint32, k int) bool {
	bank, word, ok := plan.Map.BankWord(k)
	return ok && plan.Map.ReadLockedBy(plan.State, bank, word) == nil &&
		plan.Map.ReadLockedBy(planned, bank, word) != nil && plan.Map.ReadLockedBy(final, bank, word) != nil
}
