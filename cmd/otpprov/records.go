package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/otpprov/otpprov/internal/inputfile"
	"github.com/otpprov/otpprov/internal/shquote"
	"github.com/otpprov/otpprov/journal"
	"github.com/otpprov/otpprov/ledger"
	"github.com/otpprov/otpprov/nvmem"
)

// An apply with --ledger and --journal copies each record the journal
// appends into the ledger, right after the file's append. The file stays
// the station's truth; the copy follows these rules:
//   - before the first burn, a ledger that does not take the records
//     (the intent, interrupted marks) stops the apply: nothing burns,
//     and the journal's outcome says so;
//   - after it, nothing the ledger does stops or changes the attempt:
//     a record it does not take is said, and `ledger import` adds it
//     later (the copy waits at most ledgerWait, so that a ledger gone
//     from the network does not hold the report of fuses burned).
// Without --journal there are no records to copy.

// ledgerWait bounds the copy of the outcome after a burn.
const ledgerWait = 15 * time.Second

// openLedger opens --ledger for the station's records, once the journal
// is open: an apply that cannot reach it stops there, recorded in the
// journal as an error.
func (s *station) openLedger(ctx context.Context, c *cli.Context) error {
	if s == nil || c.String("ledger") == "" {
		return nil
	}
	l, err := openLedger(ctx, c)
	if err != nil {
		return err
	}
	s.ledger = l
	return nil
}

// records is the ledger the station copies its records to (nil without
// one), lent to the allocation so that an apply opens it once.
func (s *station) records() *ledger.Ledger {
	if s == nil {
		return nil
	}
	return s.ledger
}

// copy hands the pending records to the ledger, in order; those after
// one it does not take stay out of it (a gap, which an import fills).
func (s *station) copy(ctx context.Context) error {
	if s == nil || s.ledger == nil {
		return nil
	}
	pending := s.pending
	s.pending = nil
	for _, a := range pending {
		if s.judge {
			s.evidence.Add(a.Record)
		}
		if _, err := s.ledger.Record(ctx, a, ledger.ViaApply); err != nil {
			return s.notTaken(a, err)
		}
	}
	return nil
}

// notTaken says which record the ledger did not take, and why.
func (s *station) notTaken(a journal.Appended, err error) error {
	if errors.Is(err, ledger.ErrRecordConflict) {
		return fmt.Errorf("the ledger did not take record seq %d of journal %s: %w", a.Record.Seq, s.a.Path(), err)
	}
	return fmt.Errorf("the ledger did not take record seq %d of journal %s (%w): otpprov ledger import --ledger URL %s adds it",
		a.Record.Seq, s.a.Path(), err, shquote.Arg(s.a.Path()))
}

// intentCopied copies the intent (and what Begin recorded) before the
// first burn; a ledger that does not take it stops the apply there.
func (s *station) intentCopied(ctx context.Context) error {
	if err := s.copy(ctx); err != nil {
		return &exit{code: exitError, err: fmt.Errorf("%w; nothing was written", err),
			hint: "the journal holds the intent and will record that nothing was written; check the ledger (a record of another journal at the same place means this journal was rewritten), then apply again"}
	}
	return nil
}

// copyAfterBurn copies the outcome; what it cannot copy is said, never
// returned: the exit code is the device's. With lu (an apply whose values
// came from the ledger) the blocks now on the board are marked burned in
// the same transaction: one commit, not two, before the report.
func (s *station) copyAfterBurn(ctx context.Context, lu *ledgerUse, dev *nvmem.Device) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ledgerWait)
	defer cancel()
	if lu == nil || s.ledger == nil {
		if err := s.copy(ctx); err != nil {
			s.warn(err.Error())
		}
		s.judgeBurned(ctx)
		return
	}
	marks, err := lu.onBoard(dev)
	if err != nil {
		// Unknown: the blocks stay reserved; the outcome goes all the same.
		s.warn(stayReserved(err))
	}
	pending := s.pending
	s.pending = nil
	taken, recErr, err := s.ledger.AfterBurn(ctx, marks, pending, ledger.ViaApply)
	if err != nil {
		s.warn(stayReserved(err))
		if len(pending) > 0 {
			s.warn(s.notTaken(pending[0], err).Error())
		}
		return
	}
	if recErr != nil {
		s.warn(s.notTaken(pending[taken], recErr).Error())
	}
}

// judgeBurned marks burned, after a write (which takes no values from
// the ledger), the reserved blocks whose words its records show it
// reached, as an import of the journal would.
func (s *station) judgeBurned(ctx context.Context) {
	if s == nil || !s.judge || s.ledger == nil {
		return
	}
	es, err := s.ledger.BurnedFrom(ctx, &s.evidence)
	if err != nil {
		s.warn(fmt.Sprintf("the ledger's blocks stay reserved (never handed out again): %v; otpprov ledger import --ledger URL %s marks them", err, shquote.Arg(s.a.Path())))
	}
	for _, x := range es {
		s.note(fmt.Sprintf("the ledger marks %s %s of the board %s burned: this write reached its words", x.Pool, strings.Join(x.Values, " "), x.UniqueID))
	}
}

// close releases the journal and the ledger.
func (s *station) close() {
	s.a.Close()
	s.closeLedger()
}

func (s *station) closeLedger() {
	if s.ledger != nil {
		s.ledger.Close()
		s.ledger = nil
	}
}

func cmdLedgerImport(ctx context.Context, c *cli.Context, e env) error {
	a, err := args(c, "JOURNAL")
	if err != nil {
		return err
	}
	l, err := openLedger(ctx, c)
	if err != nil {
		return err
	}
	defer l.Close()
	f, err := inputfile.Open(a[0])
	if err != nil {
		return err
	}
	defer f.Close()
	rep, err := l.Import(ctx, f)
	var je *journal.Error
	switch {
	case errors.As(err, &je):
		je.Path = a[0]
		return &exit{code: exitError, err: fmt.Errorf("%w: nothing was imported", je), hint: je.Hint()}
	case errors.Is(err, ledger.ErrRecordConflict):
		return &exit{code: exitError, err: fmt.Errorf("journal %s: %w; %d record(s) before it were imported", a[0], err, rep.Added),
			hint: "keep the journal and the ledger as they are for the audit: the journal was changed after the ledger took its records"}
	case err != nil:
		return fmt.Errorf("journal %s: %w (%d record(s) imported before it)", a[0], err, rep.Added)
	}
	fmt.Fprintf(e.stdout, "%s: %d records, %d new to the ledger %s, %d already there\n", a[0], rep.Records, rep.Added, l, rep.Records-rep.Added)
	burnedOut(e, rep.Burned)
	return nil
}

// recordGaps warns of each journal whose records the ledger holds only
// in part: a station that applied without the ledger, or lost it.
func recordGaps(ctx context.Context, e env, l *ledger.Ledger) error {
	cs, err := l.Chains(ctx)
	if err != nil {
		return err
	}
	for _, ch := range cs {
		if n := ch.Missing(); n > 0 {
			fmt.Fprintf(e.stderr, "otpprov: warning: the ledger lacks %d of the first %d records of journal %s (station %s): otpprov ledger import --ledger URL JOURNAL on that station adds them\n",
				n, ch.Last, ch.Short(), ch.Station)
		}
	}
	return nil
}

// burnedOut says which reserved values the records marked burned.
func burnedOut(e env, es []ledger.Entry) {
	for _, x := range es {
		fmt.Fprintf(e.stdout, "marked burned: %s %s of the board %s (the journal shows bits of it may be on its fuses)\n", x.Pool, strings.Join(x.Values, " "), x.UniqueID)
	}
}
