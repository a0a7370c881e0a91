package ledger

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"

	"github.com/otpprov/otpprov/internal/inputfile"
	"github.com/otpprov/otpprov/internal/schema"
	"github.com/otpprov/otpprov/internal/yamldoc"
	"github.com/otpprov/otpprov/schemas"
)

// A block travels to its station, and back, as a file: IdentityBlock
// (schemas/block.schema.json) and IdentityBlockReturn
// (schemas/blockreturn.schema.json), YAML that otpprov writes and checks
// like every input, each problem at file:line:col.

// MaxBlockSize caps a block file: ranges only, a few lines.
const MaxBlockSize = 1 << 20

// MaxReturnSize caps a return: a line per board the station served.
const MaxReturnSize = 64 << 20

var (
	compiledBlock  = sync.OnceValues(schemas.CompileBlock)
	compiledReturn = sync.OnceValues(schemas.CompileBlockReturn)
)

// BlockYAML is the block file a station imports.
func (r *Reservation) BlockYAML() []byte {
	var b bytes.Buffer
	f := (&Pool{Type: r.Type}).Format
	fmt.Fprintf(&b, `# An identity block: %d units of pool %s for the station %s, reserved by
# the ledger %s. Load it on the station with
#   otpprov ledger import-block --ledger sqlite:STATION.db BLOCK
# and give back what is left with ledger return-block there, then
# ledger return on the line's ledger. Do not edit: the line's ledger
# checks every value returned against what it reserved.
apiVersion: otpprov/v1
kind: IdentityBlock
metadata: {name: %s}
ledger: %s
station: %s
reservedAt: %s
pool: {name: %s, type: %s, perUnit: %d, lowWater: %d}
units: %d
sealKey: %s
ranges:
`, r.Units, r.Pool, r.Station, r.Ledger, strconv.Quote(r.ID), strconv.Quote(r.Ledger), strconv.Quote(r.Station), strconv.Quote(r.ReservedAt),
		strconv.Quote(r.Pool), r.Type, r.PerUnit, r.LowWater, r.Units, strconv.Quote(r.SealKey))
	for _, s := range r.Spans {
		fmt.Fprintf(&b, "  - %q\n", f(s.First)+"-"+f(s.Last))
	}
	return b.Bytes()
}

// ReturnYAML is the return file the line's ledger takes back.
func (ret *Return) ReturnYAML() []byte {
	var b bytes.Buffer
	f := (&Pool{Type: ret.Type}).Format
	fmt.Fprintf(&b, `# What the station %s did with the block %s of pool %s: take it back with
#   otpprov ledger return --ledger URL RETURN
# on the ledger %s.
apiVersion: otpprov/v1
kind: IdentityBlockReturn
metadata: {name: %s}
ledger: %s
station: %s
returnedAt: %s
pool: {name: %s, type: %s, perUnit: %d}
seal: %s
ranges:
`, ret.Station, ret.ID, ret.Pool, ret.Ledger, strconv.Quote(ret.ID), strconv.Quote(ret.Ledger), strconv.Quote(ret.Station), strconv.Quote(ret.ReturnedAt),
		strconv.Quote(ret.Pool), ret.Type, ret.PerUnit, strconv.Quote(ret.Seal))
	for _, s := range ret.Spans {
		fmt.Fprintf(&b, "  - {range: %q, used: %d}\n", f(s.First)+"-"+f(s.Last), s.Used)
	}
	if len(ret.Entries) == 0 {
		b.WriteString("entries: []\n")
		return b.Bytes()
	}
	b.WriteString("entries:\n")
	for _, e := range ret.Entries {
		fmt.Fprintf(&b, "  - {value: %q, uniqueId: %s, state: %s, station: %s, reservedAt: %s}\n",
			f(e.Base), strconv.Quote(e.UniqueID), e.State, strconv.Quote(e.Station), strconv.Quote(e.ReservedAt))
	}
	return b.Bytes()
}

// LoadBlock reads and checks a block file.
func LoadBlock(path string) (*Reservation, error) {
	b, err := inputfile.Read(path, MaxBlockSize)
	if err != nil {
		return nil, err
	}
	return ParseBlock(path, b)
}

// LoadReturn reads and checks a return file.
func LoadReturn(path string) (*Return, error) {
	b, err := inputfile.Read(path, MaxReturnSize)
	if err != nil {
		return nil, err
	}
	return ParseReturn(path, b)
}

// docHead reads what a block and its return share: the block's id, the
// ledger, the station, the pool.
func docHead(doc *yamldoc.Doc, r *Reservation) {
	root := doc.Value.(map[string]any)
	r.ID = root["metadata"].(map[string]any)["name"].(string)
	r.Ledger = root["ledger"].(string)
	r.Station = root["station"].(string)
	p := root["pool"].(map[string]any)
	r.Pool, r.Type = p["name"].(string), Type(p["type"].(string))
	n, _ := p["perUnit"].(json.Number).Int64() // the schema holds it to 1..256
	r.PerUnit = int(n)
}

// parseDoc parses and validates one of the two documents.
func parseDoc(file, kind string, b []byte, max int, compile func() (*schema.Schema, error)) (*yamldoc.Doc, error) {
	doc, diags := yamldoc.Parse(file, kind, b, max)
	if doc == nil {
		return nil, diags
	}
	s, err := compile()
	if err != nil {
		return nil, fmt.Errorf("internal error: %s schema: %w", kind, err)
	}
	diags = append(diags, doc.Validate(s, nil)...)
	if len(diags) > 0 {
		return nil, diags.Sorted()
	}
	return doc, nil
}

// span reads one FIRST-LAST of a block: values of the pool's type, whole
// aligned units of perUnit.
func span(doc *yamldoc.Doc, ptr string, r *Reservation, diags *yamldoc.Diagnostics) (Span, bool) {
	text := doc.At(ptr).(string)
	rg, err := parseRange(r.Type, text)
	if err != nil {
		diags.Add(doc.PosOf(ptr), rangeHint(r.Type), "range %s: %v", yamldoc.Quote(text), err)
		return Span{}, false
	}
	if k := uint64(r.PerUnit); rg.First%k != 0 || rg.Size()%k != 0 {
		diags.Add(doc.PosOf(ptr), "a block is made of whole units: the file was edited; use the one otpprov wrote",
			"range %s is not made of whole units of perUnit %d", yamldoc.Quote(text), k)
		return Span{}, false
	}
	return Span{First: rg.First, Last: rg.Last, Used: -1}, true
}

// ParseBlock checks a block file's bytes.
func ParseBlock(file string, b []byte) (*Reservation, error) {
	doc, err := parseDoc(file, "identity block", b, MaxBlockSize, compiledBlock)
	if err != nil {
		return nil, err
	}
	r := &Reservation{}
	docHead(doc, r)
	root := doc.Value.(map[string]any)
	r.ReservedAt = root["reservedAt"].(string)
	r.SealKey = root["sealKey"].(string)
	r.LowWater, _ = strconv.ParseUint(string(root["pool"].(map[string]any)["lowWater"].(json.Number)), 10, 64)
	r.Units, _ = strconv.ParseUint(string(root["units"].(json.Number)), 10, 64)
	var diags yamldoc.Diagnostics
	var values uint64
	for i := range root["ranges"].([]any) {
		s, ok := span(doc, fmt.Sprintf("/ranges/%d", i), r, &diags)
		if ok {
			r.Spans = append(r.Spans, s)
			values += s.Last - s.First + 1
		}
	}
	if len(diags) == 0 {
		diags = append(diags, spansOverlap(doc, r.Spans)...)
	}
	if len(diags) == 0 && values != r.Units*uint64(r.PerUnit) {
		diags.Add(doc.PosOf("/units"), "the file was edited; use the one otpprov wrote",
			"units: %d units of %d values, but the ranges hold %d values", r.Units, r.PerUnit, values)
	}
	if len(diags) > 0 {
		return nil, diags.Sorted()
	}
	return r, nil
}

// spansOverlap refuses ranges of one document that share a value.
func spansOverlap(doc *yamldoc.Doc, spans []Span) yamldoc.Diagnostics {
	var diags yamldoc.Diagnostics
	for i, a := range spans {
		for j := 0; j < i; j++ {
			if b := spans[j]; a.First <= b.Last && b.First <= a.Last {
				diags.Add(doc.PosOf(fmt.Sprintf("/ranges/%d", i)), "every value is in one range", "this range overlaps range %d", j+1)
			}
		}
	}
	return diags
}

// ParseReturn checks a return file's bytes: its form and values here;
// what the ledger reserved, when it is taken (TakeReturn).
func ParseReturn(file string, b []byte) (*Return, error) {
	doc, err := parseDoc(file, "block return", b, MaxReturnSize, compiledReturn)
	if err != nil {
		return nil, err
	}
	ret := &Return{}
	docHead(doc, &ret.Reservation)
	root := doc.Value.(map[string]any)
	ret.ReturnedAt = root["returnedAt"].(string)
	ret.Seal = root["seal"].(string)
	var diags yamldoc.Diagnostics
	for i, x := range root["ranges"].([]any) {
		s, ok := span(doc, fmt.Sprintf("/ranges/%d/range", i), &ret.Reservation, &diags)
		if !ok {
			continue
		}
		s.Used, _ = x.(map[string]any)["used"].(json.Number).Int64()
		ret.Spans = append(ret.Spans, s)
	}
	for i, x := range root["entries"].([]any) {
		o := x.(map[string]any)
		ptr := fmt.Sprintf("/entries/%d/value", i)
		v, err := parseValue(ret.Type, o["value"].(string))
		if err != nil {
			diags.Add(doc.PosOf(ptr), "the file was edited; use the one otpprov wrote", "value %s: %v", yamldoc.Quote(o["value"].(string)), err)
			continue
		}
		e := Entry{Type: ret.Type}
		e.Pool, e.PerUnit, e.Base = ret.Pool, ret.PerUnit, v
		e.UniqueID, e.State = o["uniqueId"].(string), o["state"].(string)
		e.Station, e.ReservedAt = o["station"].(string), o["reservedAt"].(string)
		ret.Entries = append(ret.Entries, e)
	}
	if len(diags) > 0 {
		return nil, diags.Sorted()
	}
	return ret, nil
}
