package ledger

import (
	"strings"
	"testing"
)

// An operator copies a MAC off a label in another notation: the refusal
// must say a MAC is written with ':', not only that it is no number.
func TestFindValueNamesBothForms(t *testing.T) {
	for _, text := range []string{"00-04-9F-30-00-01", "00049f300001", "serial7"} {
		_, _, err := foundValue(text)
		if err == nil {
			t.Fatalf("%s: accepted", text)
		}
		for _, want := range []string{"MAC address", "00:04:9f:01:02:03", "32-bit number"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s: %v: does not say %q", text, err, want)
			}
		}
	}
	// The forms find takes still parse.
	for text, want := range map[string]uint64{"00:04:9F:30:00:01": 0x00049f300001, "1000042": 1000042, "0xf426a": 0xf426a} {
		if _, v, err := foundValue(text); err != nil || v != want {
			t.Errorf("%s: %d, %v; want %d", text, v, err, want)
		}
	}
	if _, _, err := foundValue("00:04:9f:30:00"); err == nil || !strings.Contains(err.Error(), "six hex octets") {
		t.Errorf("a short MAC: %v", err)
	}
}
