// Package ledger is a line's memory: which board got which identity (a MAC
// address, a serial number) from which pool, and every apply attempt of
// every station. Values are handed out from pools (an IdentityPools file)
// once and never twice, keyed by the board's UNIQUE_ID, in a database:
// SQLite embedded for one station, PostgreSQL for a line.
package ledger

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/otpprov/otpprov/fusemap"
	"github.com/otpprov/otpprov/internal/inputfile"
	"github.com/otpprov/otpprov/internal/yamldoc"
	"github.com/otpprov/otpprov/schemas"
)

// MaxPoolsSize caps a pools file: a line's pools are a few lines each.
const MaxPoolsSize = 1 << 20

// Type is what a pool's values are.
type Type string

const (
	MAC Type = "mac" // 48-bit MAC addresses, unicast and universally administered
	U32 Type = "u32" // 32-bit numbers: serial numbers
)

// Range is an inclusive range of a pool's values.
type Range struct {
	First, Last uint64
	Pos         yamldoc.Pos
}

// Size is how many values the range holds.
func (r Range) Size() uint64 { return r.Last - r.First + 1 }

// Pool is one pool of a pools file.
type Pool struct {
	Name     string
	Type     Type
	Ranges   []Range // in file order
	PerUnit  int     // consecutive values one board takes, in aligned blocks
	Reuse    bool    // released values may be handed out again
	LowWater uint64  // warn below this many free values
	Pos      yamldoc.Pos
}

// Size is how many values the pool holds.
func (p *Pool) Size() uint64 {
	var n uint64
	for _, r := range p.Ranges {
		n += r.Size()
	}
	return n
}

// Format writes one of the pool's values as the manifest variable takes it.
func (p *Pool) Format(v uint64) string {
	if p.Type == MAC {
		return fusemap.FormatMAC(v)
	}
	return strconv.FormatUint(v, 10)
}

// Pools is a loaded and validated IdentityPools file.
type Pools struct {
	File, Name, Description string
	Pools                   []*Pool // by name
	Digest                  string  // "sha256:" and the hex digest of the file
}

// Pool returns the pool of that name, or nil.
func (ps *Pools) Pool(name string) *Pool {
	for _, p := range ps.Pools {
		if p.Name == name {
			return p
		}
	}
	return nil
}

var compiled = sync.OnceValues(schemas.CompilePools)

// LoadPools reads and validates a pools file.
func LoadPools(path string) (*Pools, error) {
	b, err := inputfile.Read(path, MaxPoolsSize)
	if err != nil {
		return nil, err
	}
	return ParsePools(path, b)
}

// ParsePools validates a pools file's bytes: the schema, then each range
// (its values, their alignment to perUnit) and that no two ranges of one
// type overlap, within a pool or across pools.
func ParsePools(file string, b []byte) (*Pools, error) {
	doc, diags := yamldoc.Parse(file, "pools file", b, MaxPoolsSize)
	if doc == nil {
		return nil, diags
	}
	s, err := compiled()
	if err != nil {
		return nil, fmt.Errorf("internal error: pools schema: %w", err)
	}
	diags = append(diags, doc.Validate(s, nil)...)
	if len(diags) > 0 {
		return nil, diags.Sorted()
	}
	sum := sha256.Sum256(b)
	ps := &Pools{File: file, Digest: "sha256:" + hex.EncodeToString(sum[:])}
	root := doc.Value.(map[string]any)
	md := root["metadata"].(map[string]any)
	ps.Name, _ = md["name"].(string)
	ps.Description, _ = md["description"].(string)
	pools := root["pools"].(map[string]any)
	names := make([]string, 0, len(pools))
	for n := range pools {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		o := pools[name].(map[string]any)
		ptr := "/pools/" + yamldoc.EscapePointer(name)
		p := &Pool{Name: name, Type: Type(o["type"].(string)), PerUnit: 1, Pos: doc.KeyPos[ptr]}
		if n, ok := o["perUnit"].(json.Number); ok {
			k, _ := n.Int64() // the schema holds it to 1..256
			p.PerUnit = int(k)
		}
		if p.Type == U32 && p.PerUnit != 1 {
			diags.Add(doc.KeyPos[ptr+"/perUnit"], "a board takes one serial number: give another pool for a second number",
				"pool %s: perUnit is for mac pools", name)
		}
		p.Reuse, _ = o["reuse"].(bool)
		for i, r := range o["ranges"].([]any) {
			pos := doc.PosOf(fmt.Sprintf("%s/ranges/%d", ptr, i))
			rg, err := parseRange(p.Type, r.(string))
			if err != nil {
				diags.Add(pos, rangeHint(p.Type), "pool %s: range %s: %v", name, yamldoc.Quote(r.(string)), err)
				continue
			}
			rg.Pos = pos
			if k := uint64(p.PerUnit); rg.First%k != 0 || rg.Size()%k != 0 {
				diags.Add(pos, fmt.Sprintf("start the range at a multiple of %d and give it a multiple of %d values", k, k),
					"pool %s: range %s is not made of whole blocks of perUnit %d: a board's %d values must be consecutive and aligned", name, yamldoc.Quote(r.(string)), k, k)
				continue
			}
			p.Ranges = append(p.Ranges, rg)
		}
		if n, ok := o["lowWater"].(json.Number); ok {
			p.LowWater, _ = strconv.ParseUint(string(n), 10, 64)
		} else {
			p.LowWater = min(p.Size()/10, 10000)
		}
		ps.Pools = append(ps.Pools, p)
	}
	diags = append(diags, overlaps(ps)...)
	if len(diags) > 0 {
		return nil, diags.Sorted()
	}
	return ps, nil
}

// overlaps finds ranges of one type that share a value, within a pool or
// across pools: one value in two ranges could go to two boards.
func overlaps(ps *Pools) yamldoc.Diagnostics {
	type owned struct {
		r    Range
		pool string
	}
	var diags yamldoc.Diagnostics
	for _, t := range []Type{MAC, U32} {
		var all []owned
		for _, p := range ps.Pools {
			if p.Type == t {
				for _, r := range p.Ranges {
					all = append(all, owned{r, p.Name})
				}
			}
		}
		sort.Slice(all, func(i, j int) bool { return all[i].r.First < all[j].r.First })
		for i := 1; i < len(all); i++ {
			// Against the widest range so far: a long range may cover
			// several later ones.
			prev := all[0]
			for _, o := range all[:i] {
				if o.r.Last > prev.r.Last {
					prev = o
				}
			}
			if cur := all[i]; cur.r.First <= prev.r.Last {
				diags.Add(cur.r.Pos, "every value belongs to one range of one pool",
					"pool %s: this range overlaps a range of pool %s at %s", cur.pool, prev.pool, prev.r.Pos)
			}
		}
	}
	return diags
}

func rangeHint(t Type) string {
	if t == MAC {
		// Said for a multicast or locally administered range too, which
		// is well written: the hint names what a range must hold.
		return `write FIRST-LAST of unicast, globally administered addresses (an IEEE block: first octet even, its bit 1 clear): "00:04:9f:30:00:00-00:04:9f:3f:ff:ff"`
	}
	return `write FIRST-LAST: "1000000-1999999" (decimal, or 0x hex)`
}

// parseRange reads FIRST-LAST of a pool's type.
func parseRange(t Type, s string) (Range, error) {
	a, b, ok := cutRange(t, s)
	if !ok {
		return Range{}, fmt.Errorf("not FIRST-LAST")
	}
	first, err := parseValue(t, a)
	if err != nil {
		return Range{}, err
	}
	last, err := parseValue(t, b)
	if err != nil {
		return Range{}, err
	}
	if first > last {
		return Range{}, fmt.Errorf("its first value is after its last")
	}
	if t == MAC {
		// Every address between must be unicast and universally
		// administered: the first octet's two low bits decide, and a
		// range can span several first octets.
		for o := first >> 40; o <= last>>40; o++ {
			if o&3 != 0 {
				return Range{}, fmt.Errorf("it holds addresses whose first octet is %02x: %s", o, macBits(o))
			}
		}
	}
	return Range{First: first, Last: last}, nil
}

func macBits(o uint64) string {
	if o&1 != 0 {
		return "multicast, not an interface address"
	}
	return "locally administered, not an address from an IEEE block"
}

// cutRange splits FIRST-LAST. A MAC holds no '-', a number none either.
func cutRange(t Type, s string) (string, string, bool) {
	a, b, ok := strings.Cut(s, "-")
	return strings.TrimSpace(a), strings.TrimSpace(b), ok && !strings.Contains(b, "-")
}

// parseValue reads one value of a pool's type.
func parseValue(t Type, s string) (uint64, error) {
	if t == MAC {
		v, err := fusemap.ParseMAC(s)
		if err != nil {
			return 0, err
		}
		return v, nil
	}
	base := 10
	if h, ok := strings.CutPrefix(strings.ToLower(s), "0x"); ok {
		s, base = h, 16
	}
	v, err := strconv.ParseUint(s, base, 32)
	if err != nil {
		return 0, fmt.Errorf("%s is not a 32-bit number", yamldoc.Quote(s))
	}
	return v, nil
}
