package fusemap

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"

	"github.com/otpprov/otpprov/internal/yamldoc"
)

// Overlay is a board vendor's additions to a SoC's map: new names for
// fields, and new fields on general-purpose words or on bits the SoC map
// leaves unnamed. It cannot change geometry, locks or security flags: those
// are facts about the silicon, not the board. It may redefine MAC and
// general-purpose fields: what a board keeps in those words is the
// vendor's choice (Digi's ConnectCore 8M keeps its hardware ID where the
// i.MX8MM map has MAC addresses).
type Overlay struct {
	File     string
	SHA256   string // hex, of the bytes parsed
	SoC      string
	Rename   map[string]string // old -> new
	Redefine []string          // base fields whose words the overlay's fields take
	Fields   []*Field

	renamePos   map[string]yamldoc.Pos
	redefinePos map[string]yamldoc.Pos
	socPos      yamldoc.Pos
}

// ParseOverlay reads an overlay (kind FuseMapOverlay).
func ParseOverlay(file string, b []byte) (*Overlay, error) {
	d, err := decode(file, b, "FuseMapOverlay", true)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(b)
	return &Overlay{File: file, SHA256: hex.EncodeToString(sum[:]), SoC: d.m.Name, Rename: d.rename, Redefine: d.redefine, Fields: d.m.Fields,
		renamePos: d.renPos, redefinePos: d.redefPos, socPos: d.socPos}, nil
}

// Apply returns base with the overlay applied; base is not modified.
func (o *Overlay) Apply(base *Map) (*Map, error) {
	var diags yamldoc.Diagnostics
	if o.SoC != base.Name {
		diags.Add(o.socPos, "use an overlay written for this SoC, or check the manifest's soc",
			"fuse map overlay is for %s, but the SoC is %s", o.SoC, base.Name)
		return nil, diags
	}
	m := &Map{SoC: base.SoC, Description: base.Description, Sources: base.Sources, File: base.File,
		Compatible: base.Compatible, SoCIDs: base.SoCIDs,
		Overlays:       append(append([]string(nil), base.Overlays...), o.File),
		OverlayDigests: append(append([]string(nil), base.OverlayDigests...), o.SHA256)}
	// Fields are copied, so that renaming one does not rename it in the
	// shared base map.
	redefined := map[*Field]bool{}
	for _, name := range o.Redefine {
		f := base.Field(name)
		switch {
		case f == nil:
			diags.Add(o.redefinePos[name], "", "redefine: %s is not a field of %s", name, base.Name)
		case f.Lock != nil || f.Security != nil || f.Identity || f.Secret || f.Factory || (f.Encoding != MAC && !f.GeneralPurpose):
			diags.Add(o.redefinePos[name], "an overlay may redefine MAC and general-purpose fields: locks, security, identity, secret and factory fields are the silicon's",
				"redefine: %s is not a MAC or general-purpose field of %s", name, base.Name)
		default:
			redefined[f] = true
		}
	}
	copies := map[*Field]*Field{}
	for _, f := range base.Fields {
		c := *f
		copies[f] = &c
		if !redefined[f] {
			m.Fields = append(m.Fields, &c)
		}
	}
	renamed := map[string]string{}
	for old, nw := range o.Rename {
		f := base.Field(old)
		switch {
		case f == nil:
			diags.Add(o.renamePos[old], "", "rename: %s is not a field of %s", old, base.Name)
			continue
		case base.Field(nw) != nil:
			diags.Add(o.renamePos[old], "", "rename: %s is already a field of %s", nw, base.Name)
			continue
		case redefined[f]:
			diags.Add(o.renamePos[old], "", "rename: %s is redefined by this overlay: it has no name left to change", old)
			continue
		}
		copies[f].Name = nw
		renamed[old] = nw
	}
	for _, c := range m.Fields {
		c.Lock = renameLock(c.Lock, renamed)
		c.Security = renameSecurity(c.Security, renamed)
	}
	// The overlay's fields as they will be: "words: N" expanded, so that a
	// field of several words is known in each of them.
	added := make([]*Field, len(o.Fields))
	for i, f := range o.Fields {
		c := *f
		c.expand(base.SoC)
		added[i] = &c
	}
	heirs := o.heirs(base, added, redefined, &diags)
	for _, c := range m.Fields {
		if c.Lock != nil {
			c.Lock.Protects = inherit(c.Lock.Protects, heirs)
		}
	}
	for i, f := range o.Fields {
		c := added[i]
		for _, p := range c.Parts {
			// Every bit of a LOCK word locks some fuse region, named in
			// the SoC map or not: none of them is the board's to name.
			if lock, _, _ := base.Classes(p.Bank, p.Word); lock != 0 {
				diags.Add(f.Pos, "an overlay may name bits of general-purpose words or bits the SoC map leaves unnamed",
					"field %s: %s is in bank %d word %d, which holds lock bits: its other bits may lock fuse regions too", f.Name, p, p.Bank, p.Word)
				continue
			}
			for _, g := range base.FieldsAt(p.Bank, p.Word) {
				if g.MaskIn(p.Bank, p.Word)&p.Mask() == 0 || g.GeneralPurpose || redefined[g] {
					continue
				}
				if g.WholeWord() && g.Lock == nil && g.Security == nil {
					continue // a container word: its unnamed bits may be named
				}
				diags.Add(f.Pos, "an overlay may name bits of general-purpose words or bits the SoC map leaves unnamed",
					"field %s: %s overlaps %s, a field of %s", f.Name, p, copies[g].Name, base.Name)
			}
		}
		m.Fields = append(m.Fields, c)
	}
	if len(diags) > 0 {
		return nil, diags.Sorted()
	}
	if ds := m.index(); len(ds) > 0 {
		return nil, ds.Sorted()
	}
	return m, nil
}

// heirs maps each redefined field to the overlay's fields in its words:
// the locks that protected it protect them. Every word it held must get
// one, or that word would silently lose its lock.
func (o *Overlay) heirs(base *Map, added []*Field, redefined map[*Field]bool, diags *yamldoc.Diagnostics) map[string][]string {
	out := map[string][]string{}
	for _, name := range o.Redefine {
		f := base.Field(name)
		if !redefined[f] {
			continue
		}
		for _, p := range f.Parts {
			found := false
			for _, g := range added {
				for _, q := range g.Parts {
					if q.Bank == p.Bank && q.Word == p.Word {
						found = true
						if !slices.Contains(out[name], g.Name) {
							out[name] = append(out[name], g.Name)
						}
					}
				}
			}
			if !found {
				diags.Add(o.redefinePos[name], "name the bits of every word a redefined field held",
					"redefine: %s holds bank %d word %d, where the overlay names no field: its lock would no longer protect it", name, p.Bank, p.Word)
			}
		}
	}
	return out
}

// inherit replaces each redefined name in a lock's list by its heirs.
func inherit(names []string, heirs map[string][]string) []string {
	var out []string
	for _, n := range names {
		if h, ok := heirs[n]; ok {
			for _, x := range h {
				if !slices.Contains(out, x) {
					out = append(out, x)
				}
			}
			continue
		}
		out = append(out, n)
	}
	return out
}

func renameLock(l *Lock, renamed map[string]string) *Lock {
	if l == nil {
		return nil
	}
	c := *l
	c.Protects = renameAll(l.Protects, renamed)
	return &c
}

func renameSecurity(s *Security, renamed map[string]string) *Security {
	if s == nil {
		return nil
	}
	c := *s
	c.Requires = renameAll(s.Requires, renamed)
	return &c
}

func renameAll(names []string, renamed map[string]string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		if nw, ok := renamed[n]; ok {
			n = nw
		}
		out[i] = n
	}
	return out
}
