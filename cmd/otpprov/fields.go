package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/urfave/cli/v2"

	"github.com/otpprov/otpprov/fusemap"
	"github.com/otpprov/otpprov/importer"
	"github.com/otpprov/otpprov/internal/inputfile"
	"github.com/otpprov/otpprov/internal/shquote"
	"github.com/otpprov/otpprov/internal/yamldoc"
	"github.com/otpprov/otpprov/manifest"
	"github.com/otpprov/otpprov/nvmem"
	"github.com/otpprov/otpprov/planner"
	"github.com/otpprov/otpprov/schemas"
	"github.com/otpprov/otpprov/view"
)

// maps returns the fuse maps with the --fusemap overlays applied. Overlays
// are read once, when a map is first asked for; one for another SoC than
// the one asked for is an error, never silently ignored.
func maps(c *cli.Context) manifest.MapSource {
	files := c.StringSlice("fusemap")
	var once sync.Once
	var overlays []*fusemap.Overlay
	var loadErr error
	return func(soc string) (*fusemap.Map, error) {
		m, err := fusemap.Load(soc)
		if err != nil || len(files) == 0 {
			return m, err
		}
		once.Do(func() {
			for _, f := range files {
				o, err := fusemap.LoadOverlay(f)
				if err != nil {
					loadErr = err
					return
				}
				overlays = append(overlays, o)
			}
		})
		if loadErr != nil {
			return nil, loadErr
		}
		for _, o := range overlays {
			if m, err = o.Apply(m); err != nil {
				return nil, err
			}
		}
		return m, nil
	}
}

// unknownField is the error for a field name the map lacks: the closest
// names are the hint (a typo, a name in lower case), else the command that
// lists them.
func unknownField(m *fusemap.Map, what, name string) error {
	hint := fusemap.DidYouMean(m.SuggestField(name))
	if hint == "" {
		hint = "`otpprov fusemap show " + m.Name + "` lists the fields"
	}
	return &exit{code: exitError, err: fmt.Errorf("%s%s has no field %s", what, m.Name, yamldoc.Quote(name)), hint: hint}
}

// unknownSoC is the error for a SoC name otpprov has no map for.
func unknownSoC(what, name string) error {
	hint := fusemap.DidYouMean(fusemap.SuggestSoC(name))
	if hint == "" {
		hint = "`otpprov fusemap list` lists them"
	}
	return &exit{code: exitError, err: fmt.Errorf("%sunknown soc %s (supported: %s)", what, yamldoc.Quote(name), strings.Join(fusemap.Names(), ", ")), hint: hint}
}

// fieldList is the fields a comma-separated list names, in its order; a
// name twice is shown once.
func fieldList(m *fusemap.Map, what string, lists []string) ([]*fusemap.Field, error) {
	var out []*fusemap.Field
	seen := map[*fusemap.Field]bool{}
	for _, list := range lists {
		for _, n := range strings.Split(list, ",") {
			if n = strings.TrimSpace(n); n == "" {
				continue
			}
			f := m.Field(n)
			if f == nil {
				return nil, unknownField(m, what, n)
			}
			if !seen[f] {
				seen[f] = true
				out = append(out, f)
			}
		}
	}
	return out, nil
}

// confirmed checks that the operator acknowledged, by name, every security
// field the plan burns. The manifest cannot do it: the person at the
// station must say it, for this run.
func confirmed(c *cli.Context, p *planner.Plan) error {
	given := map[string]bool{}
	for _, v := range c.StringSlice("confirm-security") {
		for _, n := range strings.Split(v, ",") {
			if n = strings.TrimSpace(n); n != "" {
				if p.Map.Field(n) == nil {
					return unknownField(p.Map, "--confirm-security: ", n)
				}
				given[n] = true
			}
		}
	}
	var missing, effects []string
	for _, f := range p.Security() {
		if !given[f.Name] {
			missing = append(missing, f.Name)
			effects = append(effects, fmt.Sprintf("  %s: %s", f.Name, f.Effect()))
		}
	}
	if len(missing) == 0 {
		return nil
	}
	return &exit{code: exitError, err: fmt.Errorf("the plan burns security fuses or locks, which need the operator's acknowledgement; nothing was written:\n%s", strings.Join(effects, "\n")),
		hint: "if this is intended, run again with --confirm-security " + strings.Join(missing, ",")}
}

func cmdSchema(c *cli.Context, e env) error {
	switch c.Args().First() {
	case "", "manifest":
		return deliver(c, e, schemas.Manifest)
	case "fusemap":
		return deliver(c, e, schemas.Fusemap)
	}
	return usageError{fmt.Sprintf("unknown schema %s: manifest or fusemap", yamldoc.Quote(c.Args().First()))}
}

// jsonFieldDef is a field of a fuse map in the otpprov-fusemap document.
type jsonFieldDef struct {
	Name        string   `json:"name"`
	Where       string   `json:"where"`
	Width       int      `json:"width"`
	Encoding    string   `json:"encoding"`
	Description string   `json:"description,omitempty"`
	Identity    bool     `json:"identity,omitempty"`
	Secret      bool     `json:"secret,omitempty"`
	Factory     bool     `json:"factory,omitempty"`
	General     bool     `json:"generalPurpose,omitempty"`
	Protects    []string `json:"protects,omitempty"`
	Security    string   `json:"security,omitempty"`
	Closes      bool     `json:"closes,omitempty"`
	Requires    []string `json:"requires,omitempty"`
	Parts       []string `json:"parts"`
}

func fieldDef(f *fusemap.Field) jsonFieldDef {
	d := jsonFieldDef{Name: f.Name, Where: f.Where(), Width: f.Width(), Encoding: string(f.Encoding),
		Description: f.Description, Identity: f.Identity, Secret: f.Secret, Factory: f.Factory, General: f.GeneralPurpose}
	for _, p := range f.Parts {
		d.Parts = append(d.Parts, p.String())
	}
	if f.Lock != nil {
		d.Protects = f.Lock.Protects
	}
	if f.Security != nil {
		d.Security, d.Closes, d.Requires = f.Security.Effect, f.Security.Closes, f.Security.Requires
	}
	return d
}

// writeJSON writes a document, indented, to standard output or --out.
func writeJSON(c *cli.Context, e env, doc any) error {
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return err
	}
	return deliver(c, e, append(b, '\n'))
}

func cmdFusemapList(c *cli.Context, e env) error {
	if _, err := args(c); err != nil {
		return err
	}
	type socDoc struct {
		SoC         string `json:"soc"`
		Description string `json:"description"`
		Words       int    `json:"words"`
		Fields      int    `json:"fields"`
		Writes      string `json:"writes"`
	}
	var socs []socDoc
	for _, n := range fusemap.Names() {
		m, err := fusemap.Load(n)
		if err != nil {
			return err
		}
		w := "all"
		switch {
		case m.WritableWords == 0:
			w = "refused"
		case m.WritableWords < m.Words:
			w = fmt.Sprintf("words < %d", m.WritableWords)
		}
		socs = append(socs, socDoc{n, m.Description, m.Words, len(m.Fields), w})
	}
	if c.Bool("json") {
		return writeJSON(c, e, map[string]any{"format": "otpprov-fusemaps", "formatVersion": 1, "socs": socs})
	}
	tw := view.NewTable(e.stdout, "SOC", "WORDS", "FIELDS", "WRITES", "DESCRIPTION")
	for _, s := range socs {
		tw.Row(s.SoC, fmt.Sprint(s.Words), fmt.Sprint(s.Fields), s.Writes, s.Description)
	}
	return tw.Flush()
}

func cmdFusemapShow(c *cli.Context, e env) error {
	if c.Args().Len() < 1 || c.Args().Len() > 2 {
		return usageError{"fusemap show takes SOC [FIELD]"}
	}
	if soc := c.Args().First(); !fusemap.Known(soc) {
		return unknownSoC("", soc)
	}
	m, err := maps(c)(c.Args().First())
	if err != nil {
		return err
	}
	fields := m.Fields
	if name := c.Args().Get(1); name != "" {
		f := m.Field(name)
		if f == nil {
			return unknownField(m, "", name)
		}
		fields = []*fusemap.Field{f}
	}
	if c.Bool("json") {
		defs := make([]jsonFieldDef, 0, len(fields))
		for _, f := range fields {
			defs = append(defs, fieldDef(f))
		}
		return writeJSON(c, e, map[string]any{"format": "otpprov-fusemap", "formatVersion": 1, "soc": m.Name,
			"description": m.Description, "words": m.Words, "wordsPerBank": m.WordsPerBank,
			"compatible": m.Compatible, "socIds": m.SoCIDs,
			"overlays": append([]string{}, m.Overlays...), "fields": defs})
	}
	if len(fields) == 1 {
		return describeField(e, m, fields[0])
	}
	fmt.Fprintf(e.stdout, "%s: %s, %d words (%d banks of %d)\n", m.Name, m.Description, m.Words, m.Banks(), m.WordsPerBank)
	fmt.Fprintf(e.stdout, "a board says it is one by its OCOTP node (compatible %s) or soc0/soc_id (%s)\n",
		strings.Join(m.Compatible, ", "), strings.Join(m.SoCIDs, ", "))
	if m.WriteHazard != "" {
		fmt.Fprintf(e.stdout, "writes refused at word %d and above: %s\n", m.WritableWords, m.WriteHazard)
	}
	fmt.Fprintln(e.stdout)
	tw := view.NewTable(e.stdout, "FIELD", "BITS", "WIDTH", "FLAGS", "DESCRIPTION")
	for _, f := range fields {
		tw.Row(f.Name, f.Where(), fmt.Sprint(f.Width()), flags(f), f.Description)
	}
	return tw.Flush()
}

func describeField(e env, m *fusemap.Map, f *fusemap.Field) error {
	w := e.stdout
	fmt.Fprintf(w, "%s (%s)\n", f.Name, m.Name)
	fmt.Fprintf(w, "  bits      %s (%s, encoding %s)\n", f.Where(), view.Plural(f.Width(), "bit", "bits"), f.Encoding)
	if f.Description != "" {
		fmt.Fprintf(w, "  about     %s\n", f.Description)
	}
	if f.Lock != nil {
		fmt.Fprintf(w, "  locks     %s\n", strings.Join(f.Lock.Protects, ", "))
	}
	var lockers []string
	for _, p := range f.Parts {
		for _, lf := range m.LockersOf(p.Bank, p.Word) {
			if !contains(lockers, lf.Name) {
				lockers = append(lockers, lf.Name)
			}
		}
	}
	if len(lockers) > 0 {
		sort.Strings(lockers)
		fmt.Fprintf(w, "  locked by %s\n", strings.Join(lockers, ", "))
	}
	if f.Security != nil {
		fmt.Fprintf(w, "  SECURITY  %s\n", f.Security.Effect)
		if len(f.Security.Requires) > 0 {
			fmt.Fprintf(w, "  requires  %s not blank\n", strings.Join(f.Security.Requires, ", "))
		}
	}
	if fl := flags(f); fl != "" {
		fmt.Fprintf(w, "  flags     %s\n", fl)
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// flags is a field's short flag list for tables.
func flags(f *fusemap.Field) string {
	var fl []string
	if f.Lock != nil {
		fl = append(fl, "lock")
	}
	if f.Security != nil {
		fl = append(fl, "security")
		if f.Security.Closes {
			fl = append(fl, "closes")
		}
	}
	if f.Identity {
		fl = append(fl, "identity")
	}
	if f.Secret {
		fl = append(fl, "secret")
	}
	if f.Factory {
		fl = append(fl, "factory")
	}
	if f.GeneralPurpose {
		fl = append(fl, "general")
	}
	return strings.Join(fl, ",")
}

// jsonFieldState is one decoded field in the otpprov-show document.
type jsonFieldState struct {
	Name             string `json:"name"`
	Where            string `json:"where"`
	Value            string `json:"value"`
	Blank            bool   `json:"blank"`
	ReadProtected    bool   `json:"readProtected"`
	WriteLockedBy    string `json:"writeLockedBy"`
	OverrideLockedBy string `json:"overrideLockedBy"`
	AsShipped        bool   `json:"asShipped,omitempty"` // only NXP's factory bits set
}

// The summary in show --json: added in formatVersion 1 (new keys only).
type jsonShowSummary struct {
	Closed        bool            `json:"closed"`
	ClosedBy      string          `json:"closedBy"`
	ClosedUnknown bool            `json:"closedUnknown"`
	Required      []jsonRequired  `json:"required"`
	JTAG          string          `json:"jtag"`
	Security      []string        `json:"securityBurned"`
	Locks         []jsonLockState `json:"locks"`
}

type jsonRequired struct {
	Field    string `json:"field"`
	State    string `json:"state"`
	LockedBy string `json:"lockedBy"`
}

type jsonLockState struct {
	Field    string   `json:"field"`
	Protects []string `json:"protects"`
	Write    bool     `json:"write"`
	Override bool     `json:"override"`
	Read     bool     `json:"read"`
}

type jsonUnmapped struct {
	Bank int    `json:"bank"`
	Word int    `json:"word"`
	Bits string `json:"bits"`
}

func jsonSummary(s *fusemap.Summary) (jsonShowSummary, []jsonUnmapped) {
	d := jsonShowSummary{Closed: s.Closed, ClosedBy: s.ClosedBy, ClosedUnknown: s.ClosedUnknown, JTAG: s.JTAG,
		Required: []jsonRequired{}, Security: []string{}, Locks: []jsonLockState{}}
	for _, r := range s.Required {
		d.Required = append(d.Required, jsonRequired{r.Field.Name, string(r.State), r.LockedBy})
	}
	for _, f := range s.Security {
		d.Security = append(d.Security, f.Name)
	}
	for _, l := range s.Locks {
		d.Locks = append(d.Locks, jsonLockState{l.Field.Name, append([]string{}, l.Field.Lock.Protects...), l.Write, l.Override, l.Read})
	}
	un := []jsonUnmapped{}
	for _, u := range s.Unmapped {
		un = append(un, jsonUnmapped{u.Bank, u.Word, fmt.Sprintf("0x%08x", u.Bits)})
	}
	return d, un
}

func cmdShow(c *cli.Context, e env) error {
	if _, err := args(c); err != nil {
		return err
	}
	dev, m, _, err := openBoardMap(c, nvmem.ReadOnly)
	if err != nil {
		return err
	}
	defer dev.Close()
	state, err := readState(dev)
	if err != nil {
		return err
	}
	if len(state) != m.Words {
		return fmt.Errorf("%w: the device has %d words but %s has %d", planner.ErrGeometry, len(state), m.Name, m.Words)
	}
	fields := m.Decode(state)
	sum := m.Summarize(state)
	summary := &sum
	if names := c.StringSlice("field"); len(names) > 0 {
		summary = nil // the fields asked for, nothing else
		only, err := fieldList(m, "--field: ", names)
		if err != nil {
			return err
		}
		fields = fields[:0]
		for _, f := range only {
			fields = append(fields, m.DecodeField(f, state))
		}
	}
	id := planner.UniqueID(m, state)
	if c.Bool("json") {
		out := make([]jsonFieldState, 0, len(fields))
		for _, fs := range fields {
			out = append(out, jsonFieldState{Name: fs.Field.Name, Where: fs.Field.Where(), Value: fs.Value, Blank: fs.Blank, AsShipped: fs.AsShipped,
				ReadProtected: fs.ReadProtected, WriteLockedBy: fs.WriteLockedBy, OverrideLockedBy: fs.OverrideLockedBy})
		}
		doc := map[string]any{"format": "otpprov-show", "formatVersion": 1, "soc": m.Name,
			"device": dev.Spec, "uniqueId": id, "fields": out}
		if summary != nil {
			doc["summary"], doc["unmapped"] = jsonSummary(summary)
		}
		return writeJSON(c, e, doc)
	}
	if c.String("out") == "" {
		style(c, e).Show(e.stdout, m, dev.Spec, id, summary, fields)
		return nil
	}
	var b bytes.Buffer
	view.Style{}.Show(&b, m, dev.Spec, id, summary, fields) // a file gets no colour
	return deliver(c, e, b.Bytes())
}

func cmdImport(c *cli.Context, e env) error {
	if _, err := args(c); err != nil {
		return err
	}
	var m *fusemap.Map
	var state []uint32
	source := c.String("from-dump")
	if source != "" {
		// A dump is plain words: only the operator can say which SoC.
		op, err := operatorClaim(c)
		if err != nil {
			return err
		}
		if op.SoC == "" {
			return usageError{"--from-dump: a dump does not say which SoC it is: name it with --soc"}
		}
		if m, err = maps(c)(op.SoC); err != nil {
			return err
		}
		f, err := inputfile.Open(source)
		if err != nil {
			return err
		}
		defer f.Close()
		img, err := nvmem.ParseDump(f, source, m.Bytes())
		if err != nil {
			return err
		}
		state = nvmem.Words(img.Bytes)
		for _, k := range img.Protected {
			state[k] = nvmem.ReadProtected
		}
	} else {
		dev, bm, _, err := openBoardMap(c, nvmem.ReadOnly)
		if err != nil {
			return err
		}
		st, err := readState(dev)
		dev.Close()
		if err != nil {
			return err
		}
		m, source, state = bm, dev.Spec, st
		if len(state) != m.Words {
			return fmt.Errorf("%w: the device has %d words but %s has %d", planner.ErrGeometry, len(state), m.Name, m.Words)
		}
	}
	var fields []string
	for _, v := range c.StringSlice("fields") {
		for _, n := range strings.Split(v, ",") {
			if n = strings.TrimSpace(n); n != "" {
				fields = append(fields, n)
			}
		}
	}
	var b bytes.Buffer
	res, err := importer.Manifest(&b, m, state, importer.Options{Name: c.String("name"), Fields: fields, Source: source})
	if err != nil {
		return err
	}
	if err := deliver(c, e, b.Bytes()); err != nil {
		return err
	}
	var names, given []string
	for _, v := range res.Variables {
		names = append(names, fmt.Sprintf("%s (%s)", v.Name, v.Field))
		given = append(given, "--var="+v.Name+"="+v.Value)
	}
	if len(names) > 0 {
		// Said on stderr too: a golden manifest applied across a line must
		// get each unit's own values.
		fmt.Fprintf(e.stderr, "otpprov: per-unit values written as variables, not copied: %s; give each unit its own\n", strings.Join(names, ", "))
	}
	if out := c.String("out"); out != "" {
		check := append(append([]string{"otpprov", "plan"}, given...), out)
		fmt.Fprintf(e.stderr, "otpprov: wrote %s; check it against the board it came from with: %s\n", out, shquote.Join(check...))
	}
	return nil
}
