// Package planner compares a manifest's targets with a device's OTP state
// and returns a Plan: which words to program with which bits, which are
// already right, and which cannot be reached. A Plan is a value; nothing
// here prints or touches a device.
package planner

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math/bits"

	"github.com/otpprov/otpprov/fusemap"
	"github.com/otpprov/otpprov/manifest"
	"github.com/otpprov/otpprov/nvmem"
)

// Action is what the plan does with one target word.
type Action string

const (
	// NoOp: the word already satisfies the target.
	NoOp Action = "no-op"
	// Program: burn Delta.
	Program Action = "program"
	// Conflict: a bit the target wants 0 is already 1. Fuses cannot be
	// cleared, so the manifest can never be satisfied on this board.
	Conflict Action = "conflict"
	// Unreadable: the word reads 0xBADABADA; its content is unknown, so
	// nothing about it can be planned.
	Unreadable Action = "unreadable"
	// ReadLocked: the word reads 0xBADABADA because a read lock is burned,
	// and the manifest itself asks for that lock: its content cannot be
	// known, as the manifest intends. Nothing is planned for it and the
	// plan is not rejected, so applying a manifest that read-locks its own
	// secret (SJC_RESP behind SJC_RESP_LOCK) twice is a no-op, not an
	// error. Reason names the lock.
	ReadLocked Action = "read-locked"
	// Refused: the bits could be burned, but must not be: the word is
	// write-locked, or the burn would leave the part unbootable. Reason
	// says which.
	Refused Action = "refused"
)

// Change is the plan for one target word.
type Change struct {
	manifest.Target
	Action   Action
	Before   uint32 // what the device read
	Delta    uint32 // bits to burn: Value &^ Before, within Mask
	Conflict uint32 // bits that are 1 on the device where the target wants 0
	Reason   string // why a Refused change is refused
}

// Offset is the word's byte offset in the nvmem file, as read.
func (c Change) Offset() int { return 4 * c.Index }

// WriteOffset is the byte offset a write of the word goes to.
func (c Change) WriteOffset() int { return 4 * c.WriteIndex }

// Hex shows a value of this word: 0x%08x, or "secret" when the word holds
// secret bits. No digest either: a digest of one 32-bit word is reversed
// by trying them all.
func (c Change) Hex(v uint32) string {
	if c.Secret != 0 {
		return "secret"
	}
	return fmt.Sprintf("0x%08x", v)
}

// BitList names the bits of v set in this word, "bits 3..0", or "some
// bits" when the word holds secret bits: which bits conflict, are missing
// or did not burn tells the value as well as the value does.
func (c Change) BitList(v uint32) string {
	if c.Secret != 0 {
		return "some bits"
	}
	return "bits " + manifest.BitList(v)
}

// withSecret marks the bits of t's word whose values must never be shown:
// those set from a secret variable (the manifest marked them) and every
// bit of a secret field of the map. The map decides for every burn,
// whoever made the target (a manifest's field or raw entry, write, a plan
// file) and whatever its mask selects: the word's before- and after-values
// hold the secret bits too.
func withSecret(m *fusemap.Map, t manifest.Target) manifest.Target {
	t.Secret |= m.SecretBits(t.Bank, t.Word)
	return t
}

// After is what the word reads once the plan is applied.
func (c Change) After() uint32 { return c.Before | c.Delta }

// Source says which manifest a plan came from.
type Source struct {
	Name    string
	File    string
	Digest  string
	Release *Release // nil: unsigned, no release was given
}

// Release is the release a plan's files were checked against, and who
// signed it: what the plan, the journal and the ledger record.
type Release struct {
	Status      string `json:"status"` // ReleaseSigned, ReleaseUnverified, ReleaseAsSaved
	Name        string `json:"name,omitempty"`
	Digest      string `json:"digest,omitempty"`      // "sha256:" of the release file's bytes
	Signer      string `json:"signer,omitempty"`      // the principals of the allowed signers line
	KeyType     string `json:"keyType,omitempty"`     // ssh-ed25519, sk-ssh-ed25519@openssh.com...
	Fingerprint string `json:"fingerprint,omitempty"` // SHA256:... as ssh-keygen -l prints it
}

// The statuses of a plan's release.
const (
	// ReleaseUnsigned: no release; written in the plan document only.
	ReleaseUnsigned = "unsigned"
	// ReleaseSigned: the signature verified against the allowed signers
	// and every file matched the release's digests, when planned.
	ReleaseSigned = "signed"
	// ReleaseUnverified: every file matched the release's digests, but
	// no allowed signers were given, so the signature was not checked.
	ReleaseUnverified = "unverified"
	// ReleaseAsSaved: a saved plan's release, as the file says; nothing
	// was checked when it was applied.
	ReleaseAsSaved = "as-saved"
)

// String is the release in one line, for plans and scripts.
func (r *Release) String() string {
	if r == nil {
		return "unsigned (no --release)"
	}
	s := r.Name + " (" + r.Digest + ")"
	switch r.Status {
	case ReleaseSigned:
		return s + ", signed by " + r.Signer + ", key " + r.KeyType + " " + r.Fingerprint
	case ReleaseUnverified:
		return s + ", signature NOT checked (no --allowed-signers): files match its digests"
	case ReleaseAsSaved:
		if r.Fingerprint != "" {
			s += ", signed by " + r.Signer + ", key " + r.KeyType + " " + r.Fingerprint
		}
		return s + ", as the saved plan records it: not checked now"
	}
	return s + ", " + r.Status
}

// Plan is the whole plan for one device.
type Plan struct {
	Source      Source
	SoC         fusemap.SoC
	Map         *fusemap.Map
	State       []uint32 // the device's words when planned
	StateDigest string   // "sha256:" of the device's bytes when planned
	// UniqueID is the part's UNIQUE_ID as read ("" if the map has none):
	// a saved plan applies to this board only.
	UniqueID string
	Changes  []Change // one per target word, in word order
	// AlreadyApplied is set by Recheck when the device holds exactly the
	// state the saved plan leaves: nothing to do, and nothing stale.
	AlreadyApplied bool
	writes         []Change // the burns, in the order they must happen
	// savedFields are the decoded fields of a plan read from a file,
	// which has no State to decode them from.
	savedFields []FieldChange
}

// Make plans targets against state, the device's words as read. It fails
// when the device does not have the SoC's geometry: then either the device
// or the manifest's soc is wrong, and no word offset can be trusted.
func Make(src Source, m *fusemap.Map, state []uint32, targets []manifest.Target) (*Plan, error) {
	if len(state) != m.Words {
		return nil, fmt.Errorf("%w: the device has %d words (%d bytes) but %s has %d (%d bytes)",
			ErrGeometry, len(state), 4*len(state), m.Name, m.Words, m.Bytes())
	}
	p := &Plan{Source: src, SoC: m.SoC, Map: m, State: state, StateDigest: StateDigest(state), UniqueID: UniqueID(m, state)}
	for _, t := range targets {
		p.Changes = append(p.Changes, decide(withSecret(m, t), state[t.Index]))
	}
	p.excuseOwnReadLocks()
	p.refuseLocked()
	p.order()
	p.refuseUnsafe()
	return p, nil
}

// HasSecrets reports whether any word of the plan holds secret bits.
func (p *Plan) HasSecrets() bool {
	for _, c := range p.Changes {
		if c.Secret != 0 {
			return true
		}
	}
	return false
}

// Binding says what a saved copy of p would be bound to: the one board
// whose UNIQUE_ID it read (bound true), or, when the identity reads
// 0xBADABADA or the map has none, only the state digest: any board whose
// fuses read the same takes it (bound false). text says which, for the
// operator.
func (p *Plan) Binding() (bound bool, text string) {
	switch p.UniqueID {
	case "":
		return false, fmt.Sprintf("only the state digest %s (the %s fuse map has no UNIQUE_ID): any board whose fuses read the same would take it", p.StateDigest, p.SoC.Name)
	case "unreadable":
		return false, fmt.Sprintf("only the state digest %s (this board's UNIQUE_ID reads 0xbadabada): any board whose fuses read the same would take it", p.StateDigest)
	}
	return true, "the board with UNIQUE_ID " + p.UniqueID
}

// UniqueID reads the part's identity field from a state: "" when the map
// has none, "unreadable" when the words read 0xBADABADA.
func UniqueID(m *fusemap.Map, state []uint32) string {
	f := m.Identity()
	if f == nil {
		return ""
	}
	parts, ok := m.Parts(f, state)
	if !ok {
		return "unreadable"
	}
	return f.Format(parts)
}

func decide(t manifest.Target, before uint32) Change {
	c := Change{Target: t, Before: before}
	want := t.Value & t.Mask
	switch {
	case before == nvmem.ReadProtected:
		c.Action = Unreadable
	case before&t.Mask&^want != 0:
		c.Action = Conflict
		c.Conflict = before & t.Mask &^ want
	case want&^before != 0:
		c.Action = Program
		c.Delta = want &^ before
	default:
		c.Action = NoOp
	}
	return c
}

// StateDigest is the digest of a device's content, as little-endian bytes.
func StateDigest(state []uint32) string {
	h := sha256.New()
	var b [4]byte
	for _, w := range state {
		binary.LittleEndian.PutUint32(b[:], w)
		h.Write(b[:])
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

// Rejected reports whether the plan must not be applied: any conflict or
// unreadable word rejects the whole plan, so a board is never left half
// provisioned by a manifest it can never satisfy.
func (p *Plan) Rejected() bool {
	for _, c := range p.Changes {
		if c.Action == Conflict || c.Action == Unreadable || c.Action == Refused {
			return true
		}
	}
	return false
}

// Summary counts a plan's words by action, and the bits to burn.
type Summary struct {
	Program, NoOp, Conflict, Unreadable, ReadLocked, Refused int
	Bits                                                     int
}

// Summary counts the plan.
func (p *Plan) Summary() Summary {
	var s Summary
	for _, c := range p.Changes {
		switch c.Action {
		case Program:
			s.Program++
			s.Bits += bits.OnesCount32(c.Delta)
		case NoOp:
			s.NoOp++
		case Conflict:
			s.Conflict++
		case Unreadable:
			s.Unreadable++
		case ReadLocked:
			s.ReadLocked++
		case Refused:
			s.Refused++
		}
	}
	return s
}

// Writes returns the burns in the order they must happen: data, then
// locks, then security fuses, closing last. A word whose bits fall in
// several classes is burned once per class, each burn carrying only its
// own bits. A rejected plan has no writes.
func (p *Plan) Writes() []Change {
	return append([]Change(nil), p.writes...)
}
