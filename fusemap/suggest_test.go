package fusemap

import (
	"strings"
	"testing"
)

func TestSuggest(t *testing.T) {
	m, err := Load("imx8mm")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ in, want string }{
		{"MAC_ADR0", "did you mean MAC_ADDR0?"},
		{"mac_addr0", "did you mean MAC_ADDR0?"}, // case alone
		{"Srk_Hash", "did you mean SRK_HASH?"},
		{"SRK_HAS", "did you mean SRK_HASH?"},
		{"MAC_ADDR", "did you mean MAC_ADDR0 or MAC_ADDR1?"}, // a tie: both
		{"BOOTCFG", "did you mean BOOT_CFG?"},
		{"sec_config_clos", "did you mean SEC_CONFIG_CLOSE?"},
		{"G", ""},       // one letter is no misspelling of GP1
		{"NOTHING", ""}, // far from all
		{"", ""},        // nothing typed
	} {
		if got := DidYouMean(m.SuggestField(c.in)); got != c.want {
			t.Errorf("SuggestField(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	for _, c := range []struct{ in, want string }{
		{"IMX8MM", "imx8mm"}, {"imx8m", "imx8mm imx8mn imx8mp imx8mq"}, {"imx8mini", ""}, {"imx6", "imx6q"}, {"imx7", "imx7d"}, {"imx6ulx", "imx6ul imx6ull"},
	} {
		if got := strings.Join(SuggestSoC(c.in), " "); got != c.want {
			t.Errorf("SuggestSoC(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
