package release

import (
	"strings"
	"testing"
	"time"
)

const edKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJdD7y3aLq454yWBdwLWbieU1ebz9/cu7/QEXn9OIeZJ"

func TestAllowedSignersParse(t *testing.T) {
	b := "# a comment\n\n  \t# indented comment\n" +
		"a@x,b@x " + edKey + " alice's key\n" +
		`c@x NAMESPACES="otpprov-release,file",valid-after="20260101Z",Valid-Before="202701021530UTC" ` + edKey + "\n" +
		`d@x namespaces="with \"quote\" and space" ` + edKey + "\n"
	as, err := ParseAllowedSigners("as", []byte(b))
	if err != nil {
		t.Fatal(err)
	}
	if len(as.Signers) != 3 {
		t.Fatalf("%d signers, want 3", len(as.Signers))
	}
	s := as.Signers[1]
	if s.Line != 5 || s.Principals != "c@x" || s.Namespaces != "otpprov-release,file" ||
		!s.ValidAfter.Equal(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)) ||
		!s.ValidBefore.Equal(time.Date(2027, 1, 2, 15, 30, 0, 0, time.UTC)) {
		t.Errorf("line 5: %+v", s)
	}
	if got := as.Signers[2].Namespaces; got != `with "quote" and space` {
		t.Errorf("quoted namespaces: %q", got)
	}
	if as.Signers[0].Key.Type != "ssh-ed25519" || as.Signers[0].Line != 4 {
		t.Errorf("line 4: %+v", as.Signers[0])
	}
	// Local time without Z, as ssh-keygen reads it.
	if err := as.Signers[0].options(`valid-after="20260102"`); err != nil || !as.Signers[0].ValidAfter.Equal(time.Date(2026, 1, 2, 0, 0, 0, 0, time.Local)) {
		t.Errorf("local time: %v %v", err, as.Signers[0].ValidAfter)
	}
}

func TestAllowedSignersRefused(t *testing.T) {
	for _, c := range []struct{ line, want string }{
		{"a@x", "no key"},
		{"a@x ssh-ed25519", "not a key"},
		{"a@x ssh-ed25519 !!!!", "does not decode"},
		{"a@x ssh-ed25519 AAAA", "cut short in its key type"},
		{`a@x namespaces="a"`, "no key after the options"},
		{"a@x ssh-rsa " + strings.Fields(edKey)[1], "the key is ssh-ed25519, the line says ssh-rsa"},
		{"a@x cert-authority " + edKey, "cert-authority"},
		{"a@x namespaces=otpprov-release " + edKey, "double quotes"},
		{`a@x namespaces="otpprov-release ` + edKey, "not closed"},
		{`a@x namespaces="a",namespaces="b" ` + edKey, "twice"},
		{`a@x no-touch-required ` + edKey, "unknown option"},
		{`a@x valid-after="2026" ` + edKey, "YYYYMMDD"},
		{`a@x valid-after="20261399Z" ` + edKey, "not a valid time"},
		{`a@x valid-after="20270101Z",valid-before="20260101Z" ` + edKey, "not after valid-after"},
		{`a@x namespaces="a", ` + edKey, "end with a comma"},
		{`a@x namespaces="a"x ` + edKey, "a comma or a blank"},
		{`"a b" ` + edKey, "quote in the principals"},
		{"a@x " + edKey + "\x1b[2J", "control character"},
		{"a@x \xf50 " + edKey, "not UTF-8"},
		// A flag whose lower case is longer than it (Ⱥ is 2 bytes, ⱥ 3):
		// cutting by the lowered length ran past the options (a panic
		// the fuzzer found).
		{"a@x Ⱥ " + edKey, "unknown option"},
	} {
		_, err := ParseAllowedSigners("as", []byte("# first\n"+c.line+"\n"))
		if err == nil || !strings.HasPrefix(err.Error(), "as:2: ") || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want as:2: ...%s", c.line, err, c.want)
		}
	}
}

func TestMatchPattern(t *testing.T) {
	for _, c := range []struct {
		s, list string
		want    int
	}{
		{"otpprov-release", "otpprov-release", 1},
		{"otpprov-release", "otpprov-*", 1},
		{"otpprov-release", "otpprov-releas?", 1},
		{"otpprov-release", "git,file", 0},
		{"otpprov-release", "*,!otpprov-release", -1},
		{"otpprov-release", "!git", 0},
		{"a@x", "*@x", 1},
		{"a@x", "*@y", 0},
		{"", "*", 1},
		{"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab", "*a*a*a*a*a*a*a*a*a*a*a*a*c", 0},
	} {
		if got := matchList(c.s, c.list); got != c.want {
			t.Errorf("matchList(%q, %q) = %d, want %d", c.s, c.list, got, c.want)
		}
	}
}
