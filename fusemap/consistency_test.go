package fusemap

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
)

// The rule every map keeps: a field name means the same thing on every SoC
// that has it, so a manifest, a hint or an operator's habit carried from
// one part to another never burns a different kind of fuse under a known
// name. What must agree is the field's role, computed by fieldRole:
//
//   - value kind: "flag" (bool, or a pattern field: a one-shot switch whose
//     only value turns it on: FIELD_RETURN is 1 bit on most parts and the
//     word 8/3 burned with 0x28001401 on the i.MX8MP; a manifest written
//     for the one is refused on the other, never misread), "number" (uint),
//     "bytes" (hash) or "mac";
//   - identity, secret, factory, perUnit and generalPurpose;
//   - security: absent, present, or closing the part;
//   - lock: a lock or not (what it protects may differ by name and count).
//
// Width, position, description and what a lock protects may differ where
// the sources say so (GP1 is one word on the i.MX6, two on the i.MX8M).
// A name that breaks the rule is fixed in the map, or listed here with the
// reason it must stay.
var roleExceptions = map[string]string{
	// The 8MP's GP5_LOCK protects UNIQUE_ID_HIGH (barebox hab.c); on the
	// 8MM no source places the GP5 words, and a lock must name what it
	// protects, so the 8MM map gives the bits without a lock role. They are
	// bits of the lock word 0/0: burning them still needs --confirm-security
	// and is warned about as lock bits the map does not describe.
	"GP5_LOCK": "lock on imx8mp; bits of the lock word without a named region on imx8mm",
	// Calibration NXP burns at test: 1 word on the 8MM/8MN, 4 on the 8MP
	// (kernel tmu_calib cell), hence hash. A factory field is never part of
	// a manifest, so no manifest's syntax depends on its kind.
	"TMU_CALIB": "factory: uint on imx8mm/imx8mn, 4 words (hash) on imx8mp",
}

// fieldRole is what must agree between SoCs for a field of one name.
func fieldRole(f *Field) string {
	kind := map[Encoding]string{Bool: "flag", Uint: "number", Hash: "bytes", MAC: "mac"}[f.Encoding]
	if f.Pattern != nil {
		kind = "flag"
	}
	sec := "no security"
	if f.Security != nil {
		sec = "security"
		if f.Security.Closes {
			sec = "closes"
		}
	}
	var flags []string
	for _, x := range []struct {
		on   bool
		name string
	}{{f.Identity, "identity"}, {f.Secret, "secret"}, {f.Factory, "factory"}, {f.PerUnit, "perUnit"},
		{f.GeneralPurpose, "generalPurpose"}, {f.Lock != nil, "lock"}} {
		if x.on {
			flags = append(flags, x.name)
		}
	}
	return fmt.Sprintf("%s, %s [%s]", kind, sec, strings.Join(flags, " "))
}

func TestFieldNamesMeanTheSameOnEverySoC(t *testing.T) {
	roles := map[string]map[string][]string{} // name -> role -> SoCs
	for _, n := range Names() {
		m, err := Load(n)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range m.Fields {
			if roles[f.Name] == nil {
				roles[f.Name] = map[string][]string{}
			}
			r := fieldRole(f)
			roles[f.Name][r] = append(roles[f.Name][r], n)
		}
	}
	for name, byRole := range roles {
		_, excepted := roleExceptions[name]
		switch {
		case len(byRole) > 1 && !excepted:
			var s []string
			for r, socs := range byRole {
				s = append(s, fmt.Sprintf("%s on %s", r, strings.Join(socs, ", ")))
			}
			sort.Strings(s)
			t.Errorf("%s means different things: %s", name, strings.Join(s, "; "))
		case len(byRole) == 1 && excepted:
			t.Errorf("%s is listed as an exception (%s) but means the same on every SoC: remove it", name, roleExceptions[name])
		}
	}
	for name := range roleExceptions {
		if roles[name] == nil {
			t.Errorf("exception %s names no field of any map", name)
		}
	}
}

// Roles the rule above relies on, pinned for the fields it is about: a
// change in fieldRole that lumped them together would let a map drift.
func TestFieldRoleTellsKindsApart(t *testing.T) {
	flag := &Field{Encoding: Bool}
	pattern := &Field{Encoding: Uint, Pattern: &Pattern{Value: 0x28001401}}
	number := &Field{Encoding: Uint}
	closes := &Field{Encoding: Bool, Security: &Security{Closes: true}}
	sec := &Field{Encoding: Bool, Security: &Security{}}
	lock := &Field{Encoding: Uint, Lock: &Lock{}}
	if fieldRole(flag) != fieldRole(pattern) {
		t.Errorf("bool %q and pattern %q differ: FIELD_RETURN could not be a pattern on one SoC only", fieldRole(flag), fieldRole(pattern))
	}
	for _, pair := range [][2]*Field{{flag, number}, {closes, sec}, {sec, flag}, {lock, number}} {
		if fieldRole(pair[0]) == fieldRole(pair[1]) {
			t.Errorf("roles %q and %q should differ", fieldRole(pair[0]), fieldRole(pair[1]))
		}
	}
}

// securityFields are the fields a secure-boot line needs named on every
// part: closing it and its key, debug, boot source and serial download,
// field return, and the locks that keep them. A part that lacks one in its
// map leaves the operator with raw words, where no acknowledgement, lock
// check or decoding helps.
var securityFields = []string{
	"SRK_HASH", "SRK_LOCK", "SRK_REVOKE", "SEC_CONFIG_CLOSE",
	"SJC_DISABLE", "JTAG_SMODE", "JTAG_HEO", "SJC_RESP", "SJC_RESP_LOCK", "KTE",
	"BT_FUSE_SEL", "DIR_BT_DIS", "BOOT_CFG_LOCK",
	"SDP_DISABLE", "SDP_READ_DISABLE", "FIELD_RETURN", "TZASC_ENABLE",
}

// Reasons shared by several absences.
const (
	noSLLSource  = "no i.MX6SLL source (no RM, register header, crucible or barebox map); left out rather than guessed from the 6ULL"
	ulpReadOnly  = "i.MX7ULP map is read-only (the kernel cannot program it) and no source places it: the U-Boot HAB guide's 1/1 positions for SRK_LOCK and JTAG_SMODE overlap, so its JTAG/lock fields are left out"
	sdpOnly6SDL  = "barebox's SDP bits exist only on i.MX6S/DL silicon rev. >= 1.4; crucible has no map for this part: no source"
	noRevoke6SL  = "no source places SRK_REVOKE on the i.MX6SL: barebox defines it for the i.MX8M only, crucible has no 6SL map, and no 6SL register header with it was found"
	nanoNoSDP    = "no i.MX8MN source: crucible names the SDP fuses for the 8M Mini only (sibling layout not assumed for security bits)"
	mpBit22IsLog = "the silicon differs: bit 22 of 2/0 is ROM_NO_LOG on the i.MX8MP (barebox MX8MP_OCOTP_ROM_NO_LOG), and no source names an SDP read disable"
)

// securityAbsences lists, per SoC, each security field its map lacks and
// why. An absence without a reason fails, and so does a reason for a field
// the map has (remove the line when the field is added).
var securityAbsences = map[string]map[string]string{
	"imx6sl": {
		"SRK_REVOKE":       noRevoke6SL,
		"SDP_DISABLE":      sdpOnly6SDL,
		"SDP_READ_DISABLE": sdpOnly6SDL,
	},
	"imx6sx": {
		"SDP_DISABLE":      sdpOnly6SDL,
		"SDP_READ_DISABLE": sdpOnly6SDL,
	},
	"imx6sll": {
		"SRK_REVOKE": noSLLSource, "JTAG_HEO": noSLLSource, "SJC_RESP": noSLLSource, "SJC_RESP_LOCK": noSLLSource,
		"BT_FUSE_SEL": noSLLSource, "SDP_DISABLE": noSLLSource, "SDP_READ_DISABLE": noSLLSource,
		"FIELD_RETURN": noSLLSource, "KTE": noSLLSource, "TZASC_ENABLE": noSLLSource, "BOOT_CFG_LOCK": noSLLSource,
	},
	"imx7ulp": {
		"SRK_LOCK": ulpReadOnly, "SRK_REVOKE": ulpReadOnly, "SJC_DISABLE": ulpReadOnly, "JTAG_SMODE": ulpReadOnly,
		"JTAG_HEO": ulpReadOnly, "SJC_RESP": ulpReadOnly, "SJC_RESP_LOCK": ulpReadOnly, "BT_FUSE_SEL": ulpReadOnly,
		"DIR_BT_DIS": ulpReadOnly, "SDP_DISABLE": ulpReadOnly, "SDP_READ_DISABLE": ulpReadOnly,
		"FIELD_RETURN": ulpReadOnly, "KTE": ulpReadOnly, "TZASC_ENABLE": ulpReadOnly, "BOOT_CFG_LOCK": ulpReadOnly,
	},
	"imx8mn": {
		"SDP_DISABLE":      nanoNoSDP,
		"SDP_READ_DISABLE": nanoNoSDP,
	},
	"imx8mp": {
		"DIR_BT_DIS":       "no i.MX8MP source: crucible's IMX8MP map has none, and barebox defines and burns DIR_BT_DIS on the i.MX8MQ only",
		"SDP_READ_DISABLE": mpBit22IsLog,
	},
}

func TestSecurityFieldsPresentOrExplained(t *testing.T) {
	for _, n := range Names() {
		m, err := Load(n)
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range securityFields {
			reason, explained := securityAbsences[n][name]
			switch f := m.Field(name); {
			case f == nil && !explained:
				t.Errorf("%s lacks %s and securityAbsences gives no reason: add the field (with its source) or the reason", n, name)
			case f != nil && explained:
				t.Errorf("%s has %s (%s) but securityAbsences says it lacks it (%s): remove the line", n, name, f.Where(), reason)
			}
		}
	}
	for soc, names := range securityAbsences {
		if !Known(soc) {
			t.Errorf("securityAbsences names %s, not a built-in map", soc)
		}
		for name := range names {
			if !slices.Contains(securityFields, name) {
				t.Errorf("securityAbsences[%s] names %s, not in securityFields", soc, name)
			}
		}
	}
}
