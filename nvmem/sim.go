package nvmem

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/otpprov/otpprov/fusemap"
	"github.com/otpprov/otpprov/internal/atomicfile"
)

// A sim directory holds one emulated board:
//
//	sim.yaml       what the operator may edit: soc, read-only mode,
//	               read-protected and write-locked words, faults
//	fuses.bin      the burned fuse values, little-endian words, exactly as
//	               the nvmem file would show them were nothing protected
//	counters.json  read and write calls over the sim's life; faults that
//	               fire "on the Nth write" count with it
const (
	simConfigFile   = "sim.yaml"
	simFusesFile    = "fuses.bin"
	simCountersFile = "counters.json"
)

// SimConfig is the content of sim.yaml.
type SimConfig struct {
	SoC           string        `yaml:"soc"`
	ReadOnly      bool          `yaml:"readOnly"`
	WriteDelay    time.Duration `yaml:"writeDelay,omitempty"`
	ReadProtected []SimWord     `yaml:"readProtected"`
	WriteLocked   []SimWord     `yaml:"writeLocked"`
	Faults        []SimFault    `yaml:"faults"`
}

// SimWord names one OTP word.
type SimWord struct {
	Bank int `yaml:"bank"`
	Word int `yaml:"word"`
}

// SimFault declares one injected fault; see FaultKind.
type SimFault struct {
	Kind  FaultKind `yaml:"kind"`
	Write int       `yaml:"write,omitempty"`
	Bank  int       `yaml:"bank,omitempty"`
	Word  int       `yaml:"word,omitempty"`
	Bit   int       `yaml:"bit,omitempty"`
}

// Counters are the sim's persistent I/O counts.
type Counters struct {
	Reads  int `json:"reads"`
	Writes int `json:"writes"`
}

// Sim is an emulator whose state lives in a directory and persists between
// runs: every burn reaches fuses.bin before the write returns.
type Sim struct {
	*OTP
	dir      string
	fuses    *os.File
	writable bool     // opened ReadWrite
	saved    Counters // counts already in counters.json
}

// OpenSim opens the emulator in dir. Like sysfs, a read-only sim refuses
// to be opened for writing (EACCES); opened ReadWrite, it is locked
// exclusively, as a real device is.
func OpenSim(dir string, mode Mode) (*Sim, error) {
	cfg, soc, err := ReadSimConfig(dir)
	if err != nil {
		return nil, err
	}
	if mode == ReadWrite && cfg.ReadOnly {
		return nil, &kindError{ErrReadOnly, syscall.EACCES}
	}
	flag := os.O_RDONLY
	if mode == ReadWrite {
		flag = os.O_RDWR
	}
	f, err := os.OpenFile(filepath.Join(dir, simFusesFile), flag, 0)
	if err != nil {
		return nil, err
	}
	if mode == ReadWrite {
		if err := lockFile(f); err != nil {
			f.Close()
			return nil, err
		}
	}
	s := &Sim{OTP: NewOTP(soc.Words), dir: dir, fuses: f, writable: mode == ReadWrite}
	if err := s.load(cfg, soc); err != nil {
		f.Close()
		return nil, err
	}
	s.burned = s.persistWord
	return s, nil
}

func (s *Sim) load(cfg *SimConfig, soc *fusemap.Map) error {
	raw := make([]byte, soc.Bytes()+1)
	n, err := s.fuses.ReadAt(raw, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("sim %s: reading %s: %w", s.dir, simFusesFile, err)
	}
	if n != soc.Bytes() {
		size := fmt.Sprintf("%d bytes", n)
		if st, err := s.fuses.Stat(); err == nil {
			size = fmt.Sprintf("%d bytes", st.Size())
		}
		return fmt.Errorf("sim %s: %s holds %s, but sim.yaml says soc %s, which has %d: was sim.yaml edited?", s.dir, simFusesFile, size, soc.Name, soc.Bytes())
	}
	copy(s.Fuses, Words(raw[:n]))
	s.Map = soc
	for _, w := range cfg.ReadProtected {
		s.ReadProtected[soc.ReadIndex(w.Bank, w.Word)] = true
	}
	for _, w := range cfg.WriteLocked {
		s.WriteLocked[soc.WriteIndex(w.Bank, w.Word)] = true
	}
	s.WriteDelay = cfg.WriteDelay
	for _, f := range cfg.Faults {
		s.Faults = append(s.Faults, Fault{Kind: f.Kind, Write: f.Write, Word: soc.WriteIndex(f.Bank, f.Word), Bit: f.Bit})
	}
	if b, err := os.ReadFile(filepath.Join(s.dir, simCountersFile)); err == nil {
		if err := json.Unmarshal(b, &s.saved); err != nil {
			return fmt.Errorf("sim %s: %s: %v", s.dir, simCountersFile, err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	s.Reads, s.Writes = s.saved.Reads, s.saved.Writes
	return nil
}

func (s *Sim) persistWord(k int) error {
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], s.Fuses[k])
	_, err := s.fuses.WriteAt(b[:], int64(4*k))
	return err
}

// WriteAt burns like the emulator and records the count at once, so a sim
// whose process is killed mid-apply still counts the write. Like a file
// opened O_RDONLY, a sim opened ReadOnly refuses writes with EBADF before
// they reach the emulator.
func (s *Sim) WriteAt(p []byte, off int64) (int, error) {
	if !s.writable {
		return 0, syscall.EBADF
	}
	n, err := s.OTP.WriteAt(p, off)
	if cerr := s.saveCounters(); err == nil && cerr != nil {
		return 0, cerr
	}
	return n, err
}

// saveCounters adds this session's calls to counters.json. It re-reads the
// file first so that read-only sessions running side by side add up.
func (s *Sim) saveCounters() error {
	var now Counters
	if b, err := os.ReadFile(filepath.Join(s.dir, simCountersFile)); err == nil {
		_ = json.Unmarshal(b, &now)
	}
	now.Reads += s.Reads - s.saved.Reads
	now.Writes += s.Writes - s.saved.Writes
	s.saved = Counters{Reads: s.Reads, Writes: s.Writes}
	b, _ := json.Marshal(now)
	return atomicfile.WriteNoSync(filepath.Join(s.dir, simCountersFile), append(b, '\n'), 0o644)
}

// Close saves the counters and releases the lock.
func (s *Sim) Close() error {
	err := s.saveCounters()
	if cerr := s.fuses.Close(); err == nil {
		err = cerr
	}
	return err
}

// ReadSimCounters returns the sim's persistent counters.
func ReadSimCounters(dir string) (Counters, error) {
	var c Counters
	b, err := os.ReadFile(filepath.Join(dir, simCountersFile))
	if errors.Is(err, os.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return c, err
	}
	return c, json.Unmarshal(b, &c)
}

// ReadSimConfig reads and checks sim.yaml.
func ReadSimConfig(dir string) (*SimConfig, *fusemap.Map, error) {
	path := filepath.Join(dir, simConfigFile)
	b, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil, fmt.Errorf("%s is not an otpprov sim (no %s; create one with 'otpprov sim init')", dir, simConfigFile)
		}
		return nil, nil, err
	}
	var cfg SimConfig
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		return nil, nil, fmt.Errorf("%s: %v", path, err)
	}
	soc, err := fusemap.Load(cfg.SoC)
	if err != nil {
		return nil, soc, fmt.Errorf("%s: %v", path, err)
	}
	check := func(what string, bank, word int) error {
		if bank < 0 || word < 0 || word >= soc.WordsPerBank || bank >= soc.Banks() {
			return fmt.Errorf("%s: %s bank %d word %d is outside %s (%d banks of %d words)", path, what, bank, word, soc.Name, soc.Banks(), soc.WordsPerBank)
		}
		return nil
	}
	if cfg.WriteDelay < 0 || cfg.WriteDelay > time.Minute {
		return nil, soc, fmt.Errorf("%s: writeDelay %v is not between 0 and 1m", path, cfg.WriteDelay)
	}
	for _, w := range cfg.ReadProtected {
		if err := check("readProtected", w.Bank, w.Word); err != nil {
			return nil, soc, err
		}
	}
	for _, w := range cfg.WriteLocked {
		if err := check("writeLocked", w.Bank, w.Word); err != nil {
			return nil, soc, err
		}
	}
	for i, f := range cfg.Faults {
		if !slices.Contains(FaultKinds, f.Kind) {
			return nil, soc, fmt.Errorf("%s: fault %d: unknown kind %q (%s)", path, i+1, f.Kind, kindList())
		}
		if f.Kind == FaultStuckBit || f.Kind == FaultMisdirect {
			if err := check(string(f.Kind)+" fault", f.Bank, f.Word); err != nil {
				return nil, soc, err
			}
		}
		if f.Kind == FaultStuckBit && (f.Bit < 0 || f.Bit > 31) {
			return nil, soc, fmt.Errorf("%s: fault %d: bit %d is not 0..31", path, i+1, f.Bit)
		}
		if f.Kind.WriteFault() && f.Write < 1 {
			return nil, soc, fmt.Errorf("%s: fault %d (%s) needs write: N, the write call it fires on (1 = first)", path, i+1, f.Kind)
		}
	}
	return &cfg, soc, nil
}

// InitSim creates a sim of soc in dir, blank or with the content and
// read-protected words of img. It refuses to overwrite an existing sim.
func InitSim(dir string, soc fusemap.SoC, img *Image) error {
	if _, err := os.Stat(filepath.Join(dir, simConfigFile)); err == nil {
		return fmt.Errorf("%s already holds a sim; remove it first", dir)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	fuses := make([]byte, soc.Bytes())
	cfg := SimConfig{SoC: soc.Name}
	if img != nil {
		if len(img.Bytes) != len(fuses) {
			return fmt.Errorf("dump holds %d bytes, %s needs %d", len(img.Bytes), soc.Name, len(fuses))
		}
		copy(fuses, img.Bytes)
		for _, k := range img.Protected {
			// What a protected word holds cannot be read: the sim keeps 0
			// and reads it as 0xBADABADA, as the hardware would.
			clear(fuses[4*k : 4*k+4])
			bank, word, ok := soc.BankWord(k)
			if !ok {
				continue // a shadow address with no fuse behind it
			}
			cfg.ReadProtected = append(cfg.ReadProtected, SimWord{bank, word})
		}
	}
	if err := os.WriteFile(filepath.Join(dir, simFusesFile), fuses, 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, simCountersFile), []byte("{\"reads\":0,\"writes\":0}\n"), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, simConfigFile), formatSimConfig(&cfg), 0o644)
}

// formatSimConfig writes sim.yaml by hand: one word per line reads better
// in a hand-edited file than yaml.v3's block style.
func formatSimConfig(cfg *SimConfig) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# otpprov OTP emulator: see the README, section \"The OTP emulator\".\n")
	fmt.Fprintf(&b, "soc: %s\n", cfg.SoC)
	fmt.Fprintf(&b, "# true: opening for writing fails with EACCES, like a read-only device tree\n")
	fmt.Fprintf(&b, "readOnly: %t\n", cfg.ReadOnly)
	fmt.Fprintf(&b, "# how long each write takes, e.g. 200ms (default 0)\n")
	fmt.Fprintf(&b, "writeDelay: %v\n", cfg.WriteDelay)
	words := func(key, comment string, ws []SimWord) {
		fmt.Fprintf(&b, "# %s\n%s:", comment, key)
		if len(ws) == 0 {
			b.WriteString(" []\n")
			return
		}
		b.WriteString("\n")
		for _, w := range ws {
			fmt.Fprintf(&b, "  - {bank: %d, word: %d}\n", w.Bank, w.Word)
		}
	}
	words("readProtected", "words that read as 0xbadabada", cfg.ReadProtected)
	words("writeLocked", "words whose writes fail with EPERM", cfg.WriteLocked)
	b.WriteString("# - {kind: stuck-bit, bank: 9, word: 1, bit: 3}   the bit never burns; the write succeeds\n")
	b.WriteString("# - {kind: eio, write: 2}                         the 2nd write call fails with EIO, burns nothing\n")
	b.WriteString("# - {kind: etimedout, write: 1}                   times out before the burn\n")
	b.WriteString("# - {kind: etimedout-after-burn, write: 1}        burns, then returns ETIMEDOUT\n")
	b.WriteString("# - {kind: misdirect, write: 1, bank: 0, word: 0}  burns bank 0 word 0 instead, and succeeds\n")
	b.WriteString("# - {kind: eperm, write: 1}                       fails with EPERM, burns nothing\n")
	b.WriteString("# - {kind: vanish, write: 2}                      the device disappears: ENODEV until the next session\n")
	b.WriteString("# - {kind: short-read, write: 1}                  the read after the 1st write returns too few bytes\n")
	b.WriteString("# - {kind: badabada, write: 1}                    burns, then the word reads 0xbadabada this session\n")
	b.WriteString("faults: []\n")
	return b.Bytes()
}

func kindList() string {
	var names []string
	for _, k := range FaultKinds {
		names = append(names, string(k))
	}
	return strings.Join(names, ", ")
}
