package fusemap

import "testing"

// Every built-in map says how a board names it, and each name leads back
// to its own map: otherwise a board of that SoC could not be recognised,
// or would be taken for another.
func TestEveryMapIdentifies(t *testing.T) {
	for _, name := range Names() {
		m, err := Load(name)
		if err != nil {
			t.Fatal(err)
		}
		if len(m.Compatible) == 0 || len(m.SoCIDs) == 0 {
			t.Errorf("%s: identify lists compatible %v, socId %v; want both", name, m.Compatible, m.SoCIDs)
		}
		for _, c := range m.Compatible {
			if got, _ := ByCompatible([]string{c}); got != name {
				t.Errorf("%s: compatible %s names %q", name, c, got)
			}
		}
		for _, id := range m.SoCIDs {
			if got := BySoCID(id); got != name {
				t.Errorf("%s: soc_id %s names %q", name, id, got)
			}
		}
	}
}

func TestByCompatible(t *testing.T) {
	for _, c := range []struct {
		node         []string
		soc, matched string
	}{
		// Real nodes (arch/arm64/boot/dts/freescale/imx8m*.dtsi): the
		// fallbacks after the first string must not decide.
		{[]string{"fsl,imx8mn-ocotp", "fsl,imx8mm-ocotp", "syscon", "simple-mfd"}, "imx8mn", "fsl,imx8mn-ocotp"},
		{[]string{"fsl,imx8mn-ocotp", "fsl,imx7d-ocotp", "syscon"}, "imx8mn", "fsl,imx8mn-ocotp"},
		{[]string{"fsl,imx8mp-ocotp", "fsl,imx8mm-ocotp", "syscon"}, "imx8mp", "fsl,imx8mp-ocotp"},
		{[]string{"fsl,imx8mm-ocotp", "syscon"}, "imx8mm", "fsl,imx8mm-ocotp"},
		{[]string{"fsl,imx6q-ocotp", "syscon"}, "imx6q", "fsl,imx6q-ocotp"},
		// A string no map claims before one that does: a newer part with
		// an older fallback is decided by the fallback, as the driver
		// would (and its size is then checked against the map).
		{[]string{"fsl,imx8mx-ocotp", "fsl,imx8mm-ocotp"}, "imx8mm", "fsl,imx8mm-ocotp"},
		// Not an OCOTP otpprov knows: an EEPROM's nvmem, an i.MX93.
		{[]string{"atmel,24c02"}, "", ""},
		{[]string{"fsl,imx93-ocotp", "syscon"}, "", ""},
		{nil, "", ""},
	} {
		soc, matched := ByCompatible(c.node)
		if soc != c.soc || matched != c.matched {
			t.Errorf("ByCompatible(%q) = %q, %q; want %q, %q", c.node, soc, matched, c.soc, c.matched)
		}
	}
	for id, want := range map[string]string{"i.MX8MM": "imx8mm", "i.MX6DL": "imx6q", "i.MX6ULZ": "imx6ull", "i.MX8mm": "", "Unknown": "", "": ""} {
		if got := BySoCID(id); got != want {
			t.Errorf("BySoCID(%q) = %q, want %q", id, got, want)
		}
	}
}
