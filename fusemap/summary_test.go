package fusemap

import (
	"reflect"
	"testing"
)

func TestUnmappedAndSummary(t *testing.T) {
	m, err := Load("imx8mm")
	if err != nil {
		t.Fatal(err)
	}
	set := func(state []uint32, bank, word int, v uint32) { state[m.ReadIndex(bank, word)] |= v }

	// A blank part: open, hash blank and unlocked, JTAG enabled, nothing
	// locked, nothing unmapped.
	blank := make([]uint32, m.Words)
	s := m.Summarize(blank)
	if s.Closed || s.ClosedUnknown || len(s.Security) != 0 || len(s.Locks) != 0 || len(s.Unmapped) != 0 ||
		len(s.Required) != 1 || s.Required[0].Field.Name != "SRK_HASH" || s.Required[0].State != HashBlank || s.Required[0].LockedBy != "" ||
		s.JTAG != "enabled (JTAG_SMODE 0)" {
		t.Fatalf("blank part: %+v", s)
	}

	// A bit burned beyond SRK_REVOKE's width (a wider map's), a
	// lock bit no lock field describes, a word no field names: all three
	// seen, and only those bits.
	state := make([]uint32, m.Words)
	set(state, 9, 3, 1<<4|1)
	set(state, 0, 0, 1<<31|1<<14) // bit 31: no lock field; 14: MAC_ADDR_LOCK
	set(state, 20, 0, 0x55002001) // bank 20: no field
	got := m.Unmapped(state)
	want := []Unmapped{{0, 0, 1 << 31}, {9, 3, 1 << 4}, {20, 0, 0x55002001}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Unmapped = %+v, want %+v", got, want)
	}
	s = m.Summarize(state)
	if len(s.Security) != 1 || s.Security[0].Name != "SRK_REVOKE" {
		t.Errorf("security burned: %v, want SRK_REVOKE", s.Security)
	}
	if len(s.Locks) != 1 || s.Locks[0].Field.Name != "MAC_ADDR_LOCK" || !s.Locks[0].Write || s.Locks[0].Override {
		t.Errorf("locks: %+v, want MAC_ADDR_LOCK write only", s.Locks)
	}
	// A read-protected word is not read: nothing unmapped in it.
	state[m.ReadIndex(20, 0)] = ReadProtected
	if got := m.Unmapped(state); len(got) != 2 {
		t.Errorf("a read-protected word counted: %+v", got)
	}

	// Closed with the whole hash burned and locked; JTAG disabled.
	closed := make([]uint32, m.Words)
	for _, p := range m.Field("SRK_HASH").Parts {
		set(closed, p.Bank, p.Word, 0x01010101)
	}
	set(closed, 0, 0, 1<<9) // SRK_LOCK
	set(closed, 1, 3, 1<<25|1<<21)
	s = m.Summarize(closed)
	if !s.Closed || s.ClosedBy != "SEC_CONFIG_CLOSE" || s.Required[0].State != HashBurned || s.Required[0].LockedBy != "SRK_LOCK" ||
		s.JTAG != "disabled (SJC_DISABLE)" {
		t.Errorf("closed part: %+v %+v", s, s.Required)
	}
	// One hash word zero: partly burned, which no SHA-256 is.
	closed[m.ReadIndex(7, 3)] = 0
	if s = m.Summarize(closed); s.Required[0].State != HashPartial {
		t.Errorf("hash with a zero word: %s", s.Required[0].State)
	}
	// The close word unreadable: unknown, not open.
	closed[m.ReadIndex(1, 3)] = ReadProtected
	if s = m.Summarize(closed); s.Closed || !s.ClosedUnknown {
		t.Errorf("close word read-protected: closed %v unknown %v", s.Closed, s.ClosedUnknown)
	}
	// JTAG_SMODE 1: secure JTAG.
	smode := make([]uint32, m.Words)
	set(smode, 1, 3, 1<<22)
	if s = m.Summarize(smode); s.JTAG != "secure JTAG, challenge/response (JTAG_SMODE 1)" {
		t.Errorf("JTAG_SMODE 1: %q", s.JTAG)
	}
}

// A fresh i.MX8MP reads bit 2 of its FIELD_RETURN word, set by NXP on
// every part: as shipped, not a field return burned; any other bit is.
func TestAsShipped(t *testing.T) {
	m, err := Load("imx8mp")
	if err != nil {
		t.Fatal(err)
	}
	f := m.Field("FIELD_RETURN")
	if f == nil || f.Pattern == nil || f.Pattern.Factory == 0 {
		t.Fatalf("imx8mp FIELD_RETURN: %+v", f)
	}
	p := f.Parts[0]
	state := make([]uint32, m.Words)
	state[m.ReadIndex(p.Bank, p.Word)] = uint32(f.Pattern.Factory) << p.Lsb
	if fs := m.DecodeField(f, state); !fs.AsShipped || fs.Blank {
		t.Errorf("factory bits only: %+v", fs)
	}
	if s := m.Summarize(state); len(s.Security) != 0 {
		t.Errorf("a fresh part's summary says security fuses are burned: %v", s.Security)
	}
	state[m.ReadIndex(p.Bank, p.Word)] |= 1 << p.Lsb
	if fs := m.DecodeField(f, state); fs.AsShipped {
		t.Errorf("a bit beyond the factory's: %+v", fs)
	}
	if s := m.Summarize(state); len(s.Security) != 1 || s.Security[0].Name != "FIELD_RETURN" {
		t.Errorf("a burned field return not in the summary: %v", s.Security)
	}
}
