// Command gen writes positions.txt: the bank, word and bits that crucible's
// fuse maps and barebox's OCOTP headers give every field otpprov's maps also
// define, so fusemap's TestCrossCheckPositions can hold otpprov to them.
//
//	go run ./fusemap/testdata/crosscheck -crucible DIR -barebox DIR
//
// DIR is a git directory (a clone or bare mirror) of github.com/usbarmory/crucible
// and github.com/barebox/barebox; the files are read at HEAD with git show. The
// fetched repositories are not part of otpprov: only the table is committed.
//
// Names are matched to otpprov's by an explicit alias table (crucible's
// CST_SRK_REVOKE[3:0] is SRK_REVOKE); a source entry with no otpprov field of
// that name on that SoC is left out. Where otpprov differs from a source on
// purpose, the reasons table below says why, and the row carries the reason.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/otpprov/otpprov/fusemap"
	"gopkg.in/yaml.v3"
)

// crucibleFiles maps crucible's fuse maps to otpprov's SoCs.
var crucibleFiles = []struct{ file, soc string }{
	{"IMX6DQ.yaml", "imx6q"},
	{"IMX6DL.yaml", "imx6q"},
	{"IMX6UL.yaml", "imx6ul"},
	{"IMX6ULL.yaml", "imx6ull"},
	{"IMX6ULZ.yaml", "imx6ull"},
	{"IMX7D.yaml", "imx7d"},
	{"IMX8M.yaml", "imx8mq"},
	{"IMX8MM.yaml", "imx8mm"},
	{"IMX8MP.yaml", "imx8mp"},
}

const crucibleDir = "cmd/crucible/fusemaps/"

// barebox's prefixes and the SoCs they cover. The unprefixed OCOTP_* fields
// are i.MX6-wide (8 words per bank); only the i.MX6 maps that cite barebox
// are held to them. A longer prefix wins over MX8M_ for the same name.
var bareboxFiles = []string{"include/mach/imx/ocotp-fusemap.h", "include/mach/imx/imx6-fusemap.h"}

var bareboxPrefixes = []struct {
	prefix string
	socs   []string
}{
	{"MX8MP_OCOTP_", []string{"imx8mp"}},
	{"MX8MQ_OCOTP_", []string{"imx8mq"}},
	{"MX8M_OCOTP_", []string{"imx8mm", "imx8mn", "imx8mp", "imx8mq"}},
	{"IMX6DQ_OCOTP_", []string{"imx6q"}},
	{"IMX6SDL_OCOTP_", []string{"imx6q"}},
	{"IMX6_OCOTP_", imx6},
	{"MX6_OCOTP_", imx6},
	{"OCOTP_", imx6},
}

// bareboxOnly narrows a define to the SoCs its comment names: the SDP
// disables are "available on i.MX6SDL silicon revision >=1.4, reserved
// elsewhere" (the 6UL/6ULL have theirs at other bits, per crucible).
var bareboxOnly = map[string][]string{
	"OCOTP_SDP_DISABLE":         {"imx6q"},
	"OCOTP_SDP_READ_DISABLE":    {"imx6q"},
	"OCOTP_FORCE_INTERNAL_BOOT": {"imx6q"},
}

var imx6 = []string{"imx6q", "imx6sl", "imx6sx", "imx6ul", "imx6ull"}

// aliases: a source's name -> otpprov's field, "#i" for the field's i-th part.
var aliases = map[string]string{
	// crucible
	"SEC_CONFIG[1]":       "SEC_CONFIG_CLOSE",
	"SEC_CONFIG":          "SEC_CONFIG_CLOSE", // i.MX6: crucible's 0/6 SEC_CONFIG is otpprov's close bit
	"MAC1_ADDR":           "MAC_ADDR0",
	"MAC_ADDR":            "MAC_ADDR0",
	"MAC_0_ADDR":          "MAC_ADDR0",
	"MAC2_ADDR":           "MAC_ADDR1",
	"MAC_1_ADDR":          "MAC_ADDR1",
	"SRK_REVOKE[2:0]":     "SRK_REVOKE",
	"CST_SRK_REVOKE[3:0]": "SRK_REVOKE",
	"CST_SRK_HASH":        "SRK_HASH",
	"CST_SRK_LOCK":        "SRK_LOCK",
	"JTAG_SMODE[1:0]":     "JTAG_SMODE",
	"WDOG_EN":             "WDOG_ENABLE",
	"WATCHDOG_ENABLE":     "WDOG_ENABLE",
	"UNIQUE_ID[95:64]":    "UNIQUE_ID_HIGH#0",
	"UNIQUE_ID[127:96]":   "UNIQUE_ID_HIGH#1",
	// barebox (prefix removed)
	"SEC_CONFIG_1":   "SEC_CONFIG_CLOSE",
	"TZASC_EN":       "TZASC_ENABLE",
	"SJC_RESP_31_0":  "SJC_RESP#0",
	"SJC_RESP_55_32": "SJC_RESP#1",
	"MAC_ADDR_31_0":  "MAC_ADDR0#0",
	"MAC_ADDR_47_32": "MAC_ADDR0#1",
	"GP1_0":          "GP1#0",
	"GP1_1":          "GP1#1",
	"GP2_0":          "GP2#0",
	"GP2_1":          "GP2#1",
}

// reasons: where otpprov differs from a source on purpose. Key: soc field source-file.
var reasons = map[string]string{
	"imx8mm SRK_REVOKE IMX8MM.yaml":         "crucible names 3 bits (the keys HABv4 lets one revoke); otpprov maps 4 (barebox MX8M_OCOTP_SRK_REVOKE OCOTP_WIDTH(4)) so a bit 3 burned is seen",
	"imx7d SRK_REVOKE IMX7D.yaml":           "crucible names 3 bits; otpprov maps 4 like every i.MX7/8M (barebox MX8M_OCOTP_SRK_REVOKE width 4) so a bit 3 burned is seen",
	"imx8mq SRK_REVOKE IMX8M.yaml":          "crucible names 3 bits; otpprov maps 4 (barebox MX8M_OCOTP_SRK_REVOKE OCOTP_WIDTH(4)) so a bit 3 burned is seen",
	"imx6ul SEC_CONFIG_CLOSE IMX6UL.yaml":   sec6,
	"imx6ull SEC_CONFIG_CLOSE IMX6ULL.yaml": sec6,
	"imx6ull SEC_CONFIG_CLOSE IMX6ULZ.yaml": sec6,
	"imx8mp FIELD_RETURN IMX8MP.yaml":       "crucible names bit 0; on the i.MX8MP the ROM wants the whole word 0x28001401 (barebox MX8MP_OCOTP_FIELD_RETURN, MX8MP_FIELD_RETURN_PATTERN): a pattern field",
}

const sec6 = "crucible names SEC_CONFIG[1:0] one field; otpprov's SEC_CONFIG_CLOSE is SEC_CONFIG[1] alone, the bit that closes the part (NXP HAB guide: fuse prog 0 6 0x2)"

type entry struct {
	soc, field, file string
	names            []string
	parts            map[int][]fusemap.Part // by part index; -1 = the whole field
}

func main() {
	crucible := flag.String("crucible", "", "git directory of usbarmory/crucible")
	barebox := flag.String("barebox", "", "git directory of barebox/barebox")
	out := flag.String("out", "fusemap/testdata/crosscheck/positions.txt", "table to write")
	flag.Parse()
	if *crucible == "" || *barebox == "" {
		fmt.Fprintln(os.Stderr, "gen: -crucible and -barebox are required")
		os.Exit(2)
	}
	maps := map[string]*fusemap.Map{}
	for _, n := range fusemap.Names() {
		m, err := fusemap.Load(n)
		if err != nil {
			fail(err)
		}
		maps[n] = m
	}
	entries := map[string]*entry{}
	// add records a source's entry: name is matched through aliases, shown is
	// the name as the source spells it.
	add := func(soc, name, shown, file string, parts []fusemap.Part) {
		target, index := resolve(name)
		if maps[soc].Field(target) == nil {
			return
		}
		key := soc + " " + target + " " + file
		e := entries[key]
		if e == nil {
			e = &entry{soc: soc, field: target, file: file, parts: map[int][]fusemap.Part{}}
			entries[key] = e
		}
		e.names = append(e.names, shown)
		e.parts[index] = append(e.parts[index], parts...)
	}
	crucibleHead := head(*crucible)
	for _, c := range crucibleFiles {
		readCrucible(*crucible, crucibleDir+c.file, func(name string, parts []fusemap.Part) {
			add(c.soc, name, name, "usbarmory/crucible:"+crucibleDir+c.file, parts)
		})
	}
	bareboxHead := head(*barebox)
	for _, f := range bareboxFiles {
		readBarebox(*barebox, f, maps, func(soc, name, shown string, parts []fusemap.Part) {
			add(soc, name, shown, "barebox/barebox:"+f, parts)
		})
	}
	var keys []string
	for k := range entries {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString("# Generated by go run ./fusemap/testdata/crosscheck (see gen.go); do not edit by hand.\n")
	fmt.Fprintf(&b, "# From usbarmory/crucible at %s and barebox/barebox at %s.\n", crucibleHead, bareboxHead)
	b.WriteString("# soc\tfield\tparts (least significant first)\tsource file\tsource names\treason otpprov differs\n")
	for _, k := range keys {
		e := entries[k]
		var parts []string
		var idx []int
		for i := range e.parts {
			idx = append(idx, i)
		}
		sort.Ints(idx)
		for _, i := range idx {
			for _, p := range e.parts[i] {
				parts = append(parts, partString(p))
			}
		}
		short := e.file[strings.LastIndex(e.file, "/")+1:]
		fmt.Fprintf(&b, "%s\t%s\t%s\t%s\t%s\t%s\n", e.soc, e.field, strings.Join(parts, ","), e.file, strings.Join(e.names, ","), reasons[e.soc+" "+e.field+" "+short])
	}
	if err := os.WriteFile(*out, []byte(b.String()), 0o644); err != nil {
		fail(err)
	}
}

// resolve turns a source name into otpprov's field and part index.
func resolve(name string) (string, int) {
	if a, ok := aliases[name]; ok {
		name = a
	}
	if i := strings.IndexByte(name, '#'); i >= 0 {
		n, _ := strconv.Atoi(name[i+1:])
		return name[:i], n
	}
	return name, -1
}

func partString(p fusemap.Part) string {
	return fmt.Sprintf("%d/%d[%d:%d]", p.Bank, p.Word, p.Lsb+p.Width-1, p.Lsb)
}

// split cuts len bits from bit offset of word index k into parts, one per word.
func split(k, offset, n, wordsPerBank int) []fusemap.Part {
	var out []fusemap.Part
	for n > 0 {
		w := min(32-offset, n)
		out = append(out, fusemap.Part{Bank: k / wordsPerBank, Word: k % wordsPerBank, Lsb: offset, Width: w})
		n -= w
		offset = 0
		k++
	}
	return out
}

func readCrucible(dir, path string, emit func(string, []fusemap.Part)) {
	var doc struct {
		BankSize  int `yaml:"bank_size"`
		Registers map[string]struct {
			Bank  int `yaml:"bank"`
			Word  int `yaml:"word"`
			Fuses map[string]struct {
				Offset int `yaml:"offset"`
				Len    int `yaml:"len"`
			} `yaml:"fuses"`
		} `yaml:"registers"`
	}
	if err := yaml.Unmarshal(show(dir, path), &doc); err != nil {
		fail(fmt.Errorf("%s: %v", path, err))
	}
	for _, r := range doc.Registers {
		for name, f := range r.Fuses {
			if strings.Contains(name, "[") {
				if _, ok := aliases[name]; !ok {
					continue // a slice of a field named whole elsewhere
				}
			}
			emit(name, split(r.Bank*doc.BankSize+r.Word, f.Offset, f.Len, doc.BankSize))
		}
	}
}

var (
	defineRe = regexp.MustCompile(`^#define\s+(\w+?)(\(n\))?\s+\(OCOTP_WORD\((0x[0-9a-fA-F]+)(\s*\+\s*0x10\s*\*\s*\(n\))?\)\s*\|\s*OCOTP_BIT\((\d+)\)\s*\|\s*OCOTP_WIDTH\((\d+)\)\)`)
	rangeRe  = regexp.MustCompile(`^/\*\s*0 <= n <= (\d+)\s*\*/`)
)

func readBarebox(dir, path string, maps map[string]*fusemap.Map, emit func(soc, name, shown string, parts []fusemap.Part)) {
	type define struct {
		full, prefix, name string
		socs               []string
		offset, bit, width int
		count              int // 0: a plain field; n: NAME(0..n-1)
	}
	var defs []define
	specific := map[string]bool{} // soc + name given by a longer prefix than MX8M_
	sc := bufio.NewScanner(strings.NewReader(string(show(dir, path))))
	maxN := 0
	for sc.Scan() {
		line := sc.Text()
		if m := rangeRe.FindStringSubmatch(line); m != nil {
			maxN, _ = strconv.Atoi(m[1])
			continue
		}
		m := defineRe.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		d := define{full: m[1]}
		offset, _ := strconv.ParseUint(m[3], 0, 32)
		d.offset = int(offset)
		d.bit, _ = strconv.Atoi(m[5])
		d.width, _ = strconv.Atoi(m[6])
		if m[2] != "" {
			d.count = maxN + 1
		}
		for _, p := range bareboxPrefixes {
			if strings.HasPrefix(d.full, p.prefix) {
				d.prefix, d.name, d.socs = p.prefix, d.full[len(p.prefix):], p.socs
				break
			}
		}
		if d.prefix == "" {
			continue
		}
		if only, ok := bareboxOnly[d.full]; ok {
			d.socs = only
		}
		if strings.HasPrefix(d.prefix, "MX8M") && d.prefix != "MX8M_OCOTP_" {
			for _, soc := range d.socs {
				specific[soc+" "+d.name] = true
			}
		}
		defs = append(defs, d)
	}
	for _, d := range defs {
		for _, soc := range d.socs {
			if d.prefix == "MX8M_OCOTP_" && specific[soc+" "+d.name] {
				continue // MX8MP_OCOTP_FIELD_RETURN replaces MX8M_OCOTP_FIELD_RETURN on the 8MP
			}
			wpb := maps[soc].WordsPerBank
			k := (d.offset - 0x400) / 0x10
			if d.count == 0 {
				emit(soc, d.name, d.full, split(k, d.bit, d.width, wpb))
				continue
			}
			for n := 0; n < d.count; n++ {
				emit(soc, fmt.Sprintf("%s#%d", d.name, n), fmt.Sprintf("%s(%d)", d.full, n), split(k+n, d.bit, d.width, wpb))
			}
		}
	}
}

func head(dir string) string {
	b, err := exec.Command("git", "--git-dir", dir, "rev-parse", "--short=12", "HEAD").Output()
	if err != nil {
		fail(fmt.Errorf("git rev-parse in %s: %v", dir, err))
	}
	return strings.TrimSpace(string(b))
}

func show(dir, path string) []byte {
	b, err := exec.Command("git", "--git-dir", dir, "show", "HEAD:"+path).Output()
	if err != nil {
		fail(fmt.Errorf("git show HEAD:%s in %s: %v", path, dir, err))
	}
	return b
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "gen:", err)
	os.Exit(1)
}
