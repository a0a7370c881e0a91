package fusemap

import (
	"bufio"
	"fmt"
	"os"
	"strings"
	"testing"
)

// positionsTable is the cross-check table: crucible's and barebox's bank,
// word and bits for every field otpprov's maps also define. It is written
// by testdata/crosscheck/gen.go from the fetched sources (see the README
// there); this test does not read the sources, only the committed table.
const positionsTable = "testdata/crosscheck/positions.txt"

// positionRow is one line of the table.
type positionRow struct {
	line                int
	soc, field, parts   string
	source, names, diff string // diff: why otpprov differs on purpose, or ""
}

func readPositions(t *testing.T) []positionRow {
	t.Helper()
	f, err := os.Open(positionsTable)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var rows []positionRow
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		c := strings.Split(line, "\t")
		if len(c) != 6 {
			t.Fatalf("%s:%d: %d columns, want 6", positionsTable, n, len(c))
		}
		rows = append(rows, positionRow{n, c[0], c[1], c[2], c[3], c[4], c[5]})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return rows
}

// partsString spells a field's parts as the table does: "9/0[31:0],9/1[15:0]".
func partsString(f *Field) string {
	s := make([]string, len(f.Parts))
	for i, p := range f.Parts {
		s[i] = fmt.Sprintf("%d/%d[%d:%d]", p.Bank, p.Word, p.Lsb+p.Width-1, p.Lsb)
	}
	return strings.Join(s, ",")
}

// TestCrossCheckPositions holds every otpprov field that crucible or
// barebox also define to the position they give: a field moved in a map
// (a typo in bank, word or bits) fails here, naming the source that
// disagrees. A row that carries a reason is a deliberate difference: it
// must still differ, or the reason is stale and must go.
func TestCrossCheckPositions(t *testing.T) {
	rows := readPositions(t)
	if len(rows) < 300 {
		t.Fatalf("%s has %d rows: regenerate it (testdata/crosscheck/README.md)", positionsTable, len(rows))
	}
	socs := map[string]bool{}
	for _, r := range rows {
		at := fmt.Sprintf("%s:%d", positionsTable, r.line)
		m, err := Load(r.soc)
		if err != nil {
			t.Fatalf("%s: %v", at, err)
		}
		socs[r.soc] = true
		f := m.Field(r.field)
		if f == nil {
			t.Errorf("%s: %s has no field %s, which %s defines (%s): regenerate the table if the field was renamed", at, r.soc, r.field, r.source, r.names)
			continue
		}
		got := partsString(f)
		switch {
		case r.diff == "" && got != r.parts:
			t.Errorf("%s: %s %s is %s in otpprov's map; %s (%s) says %s", at, r.soc, r.field, got, r.source, r.names, r.parts)
		case r.diff != "" && got == r.parts:
			t.Errorf("%s: %s %s now agrees with %s (%s); the stated difference is stale: %s", at, r.soc, r.field, r.source, r.names, r.diff)
		}
	}
	// Every SoC crucible or barebox has a map for is checked.
	for _, soc := range []string{"imx6q", "imx6sl", "imx6sx", "imx6ul", "imx6ull", "imx7d", "imx8mm", "imx8mn", "imx8mp", "imx8mq"} {
		if !socs[soc] {
			t.Errorf("%s has no row for %s", positionsTable, soc)
		}
	}
}
