package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/rogpeppe/go-internal/txtar"

	"github.com/otpprov/otpprov/fusemap"
	"github.com/otpprov/otpprov/nvmem"
)

// sameSizePairs lists every ordered pair of SoCs whose nvmem files have
// the same number of words: the pairs where nothing but the SoC check
// stands between a manifest and the wrong fuse map (i.MX8MM/8MN/8MQ/7ULP,
// 6SL/7D, 6ULL/6SLL, 6Q/6SX). Computed from the maps, so a new map joins.
func sameSizePairs(t *testing.T) [][2]*fusemap.Map {
	var maps []*fusemap.Map
	for _, n := range fusemap.Names() {
		m, err := fusemap.Load(n)
		if err != nil {
			t.Fatal(err)
		}
		maps = append(maps, m)
	}
	var pairs [][2]*fusemap.Map
	for _, board := range maps {
		for _, other := range maps {
			if board != other && board.Words == other.Words {
				pairs = append(pairs, [2]*fusemap.Map{board, other})
			}
		}
	}
	return pairs
}

// plainWord is a word of m that a manifest may burn and read back, in no
// field with a meaning (no identity, lock, security or factory bits).
func plainWord(t *testing.T, m *fusemap.Map) (bank, word int) {
	for k := m.WritableWords - 1; k >= 0; k-- {
		bank, word = k/m.WordsPerBank, k%m.WordsPerBank
		if !m.Readable(bank, word) {
			continue
		}
		plain := true
		for _, f := range m.FieldsAt(bank, word) {
			plain = plain && f.GeneralPurpose
		}
		if lock, security, closes := m.Classes(bank, word); lock|security|closes == 0 && plain {
			return bank, word
		}
	}
	t.Fatalf("%s has no plain writable word", m.Name)
	return
}

func socManifest(t *testing.T, m *fusemap.Map) []byte {
	bank, word := plainWord(t, m)
	return fmt.Appendf(nil, "apiVersion: otpprov/v1\nkind: FuseManifest\nmetadata: {name: for-%s}\nsoc: %s\nfuses:\n  - {bank: %d, word: %d, value: 0x1}\n",
		m.Name, m.Name, bank, word)
}

// TestHostileSoCPairs: for every pair of SoCs of one size, a manifest,
// a saved plan and --soc for the one are refused on a board of the
// other, naming both, with the hostile corpus's contract: exit 1, the
// board neither written nor read.
func TestHostileSoCPairs(t *testing.T) {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for _, pair := range sameSizePairs(t) {
		board, other := pair[0], pair[1]
		var files []txtar.File
		if other.WritableWords > 0 {
			files = []txtar.File{{Name: "m.yaml", Data: socManifest(t, other)}}
		}
		onBoard := fmt.Sprintf("but sim:%%s is an %s (sim.yaml)", board.Name)
		cases := []struct {
			name string
			run  []string
			gens [][]string
			want string
		}{
			{"apply", []string{"apply", "--device", "$SIM", "--auto-approve", "m.yaml"}, nil,
				"otpprov: error: wrong SoC: the manifest m.yaml names " + other.Name + ", " + onBoard},
			{"plan", []string{"plan", "--device", "$SIM", "m.yaml"}, nil, "the manifest m.yaml names " + other.Name},
			{"verify", []string{"verify", "--device", "$SIM", "m.yaml"}, nil, "the manifest m.yaml names " + other.Name},
			{"saved-plan", []string{"apply", "--device", "$SIM", "p.json"},
				[][]string{{"sim", "other", other.Name}, {"plan", "p.json", "m.yaml", "sim:other"}},
				"otpprov: error: wrong SoC: the saved plan p.json names " + other.Name + ", " + onBoard},
			{"write", []string{"write", "--device", "$SIM", "--soc", other.Name, "--auto-approve", "0", "0", "0x1"}, nil,
				"otpprov: error: wrong SoC: --soc names " + other.Name + ", " + onBoard},
			{"show", []string{"show", "--device", "$SIM", "--soc", other.Name}, nil, "--soc names " + other.Name},
		}
		if other.WritableWords == 0 {
			// No manifest for a SoC whose every write is refused loads at
			// all (i.MX7ULP): only --soc can name it.
			cases = cases[len(cases)-2:]
		}
		for _, c := range cases {
			t.Run(fmt.Sprintf("%s-board/%s-%s", board.Name, other.Name, c.name), func(t *testing.T) {
				hc := &hostileCase{
					file:    "TestHostileSoCPairs",
					attacks: fmt.Sprintf("%s for an %s on an %s board", c.name, other.Name, board.Name),
					args:    c.run,
					wants:   []string{c.want},
					env:     map[string]string{},
					gens:    c.gens,
					board:   board.Name,
					archive: &txtar.Archive{Files: files},
				}
				// The message names the board's sim directory, known only
				// once the case runs: check the part before it here and
				// the SoCs after it.
				if i := len(c.want) - len(onBoard); i > 0 && c.want[i:] == onBoard {
					hc.wants = []string{c.want[:i], fmt.Sprintf("is an %s (sim.yaml)", board.Name)}
				}
				runHostileCase(t, hc, nil, wd)
			})
		}
	}
}

// TestSoCManifestsApplyOnTheirOwnBoard is the pairs' control: each
// manifest TestHostileSoCPairs refuses applies on a board of its own SoC,
// so that the refusals are about the SoC and nothing else.
func TestSoCManifestsApplyOnTheirOwnBoard(t *testing.T) {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range fusemap.Names() {
		m, _ := fusemap.Load(n)
		if m.WritableWords == 0 {
			continue // i.MX7ULP: no manifest can burn anything
		}
		t.Run(n, func(t *testing.T) {
			dir := t.TempDir()
			chdir(t, dir, wd)
			writeCaseFile(t, filepath.Join(dir, "m.yaml"), socManifest(t, m))
			sim := filepath.Join(dir, "board")
			if err := nvmem.InitSim(sim, m.SoC, blankBoard(t, n)); err != nil {
				t.Fatal(err)
			}
			s := &session{t: t, dir: dir, sim: sim, environ: map[string]string{}}
			code := s.run(context.Background(), nil, "apply", "--device", "sim:"+sim, "--auto-approve", "m.yaml")
			if code != exitOK {
				t.Fatalf("apply on its own board: exit %d\n%s%s", code, &s.stdout, &s.stderr)
			}
		})
	}
}
