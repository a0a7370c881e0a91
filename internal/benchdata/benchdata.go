// Package benchdata makes the inputs of the benchmarks: manifests that
// touch every word of a SoC, and synthetic fuse maps of any size, so the
// cost of a plan can be measured against the number of words.
package benchdata

import (
	"fmt"
	"strings"

	"github.com/otpprov/otpprov/fusemap"
	"github.com/otpprov/otpprov/manifest"
)

// Pattern is the value every word is asked for, within its mask.
const Pattern = 0x5a5a5a5a

// EveryWord is a manifest asking for Pattern in every word of m that a
// manifest may program, in the bits no lock or security field owns: the
// largest plan of only ordinary burns the SoC allows. It reports the
// number of words touched.
func EveryWord(m *fusemap.Map) ([]byte, int) {
	var b strings.Builder
	fmt.Fprintf(&b, "apiVersion: otpprov/v1\nkind: FuseManifest\nmetadata: {name: every-word}\nsoc: %s\nfuses:\n", m.Name)
	n := 0
	for bank := 0; bank < m.Banks(); bank++ {
		for word := 0; word < m.WordsPerBank; word++ {
			lock, security, closes := m.Classes(bank, word)
			mask := ^(lock | security | closes | m.UnknownLockBits(bank, word))
			if mask&Pattern == 0 || manifest.CheckTarget(m, manifest.NewTarget(m.SoC, bank, word, Pattern&mask, mask)) != nil || factory(m, bank, word) {
				continue
			}
			fmt.Fprintf(&b, "  - {bank: %d, word: %d, value: 0x%08x, mask: 0x%08x}\n", bank, word, Pattern&mask, mask)
			n++
		}
	}
	return []byte(b.String()), n
}

// factory reports a word with a field NXP programs at test: a manifest
// may not ask for those.
func factory(m *fusemap.Map, bank, word int) bool {
	for _, f := range m.FieldsAt(bank, word) {
		if f.Factory || f.Identity {
			return true
		}
	}
	return false
}

// Map is a full fuse map of words words in banks of 8, with one
// general-purpose whole-word field per bank: the emulator geometry for
// measuring how a plan grows with the device. It is named imx8mm, as the
// manifest schema knows only real SoCs; a benchmark hands it to the
// loader as the map of that name.
func Map(words int) (*fusemap.Map, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "apiVersion: otpprov/v1\nkind: FuseMap\nsoc: imx8mm\ndescription: %d words for benchmarks\n", words)
	fmt.Fprintf(&b, "geometry: {words: %d, wordsPerBank: 8, bytes: %d}\nfields:\n", words, 4*words)
	for bank := 0; bank < words/8; bank++ {
		fmt.Fprintf(&b, "  - {name: GP%d, bank: %d, word: 0, generalPurpose: true, description: bank %d word 0}\n", bank, bank, bank)
	}
	return fusemap.Parse(fmt.Sprintf("synthetic%d.yaml", words), []byte(b.String()))
}

// Raw is a manifest on m asking for Pattern in every word, by bank and
// word: the manifest of Map's linearity benchmark.
func Raw(m *fusemap.Map) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "apiVersion: otpprov/v1\nkind: FuseManifest\nmetadata: {name: raw}\nsoc: %s\nfuses:\n", m.Name)
	for k := 0; k < m.Words; k++ {
		fmt.Fprintf(&b, "  - {bank: %d, word: %d, value: 0x%08x}\n", k/m.WordsPerBank, k%m.WordsPerBank, Pattern)
	}
	return []byte(b.String())
}
