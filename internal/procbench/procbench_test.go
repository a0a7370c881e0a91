package main

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/otpprov/otpprov/internal/shquote"
	"github.com/otpprov/otpprov/manifest"
)

func ms2d(xs ...float64) []time.Duration {
	ds := make([]time.Duration, len(xs))
	for i, x := range xs {
		ds[i] = time.Duration(x * float64(time.Millisecond))
	}
	return ds
}

func TestMedianAndQuantiles(t *testing.T) {
	odd := ms2d(9, 1, 5) // unsorted on purpose
	if got := median(odd); got != 5*time.Millisecond {
		t.Errorf("median(9, 1, 5) = %v, want 5ms", got)
	}
	if !slices.Equal(odd, ms2d(9, 1, 5)) {
		t.Errorf("median sorted its input: %v", odd)
	}
	if got := median(ms2d(4, 1, 3, 2)); got != 2500*time.Microsecond {
		t.Errorf("median(4, 1, 3, 2) = %v, want 2.5ms, the mean of the middle two", got)
	}
	if got := median(ms2d(7)); got != 7*time.Millisecond {
		t.Errorf("median(7) = %v", got)
	}
	xs := ms2d(1, 2, 3, 4, 5)
	if q1, q3 := quantile(xs, 0.25), quantile(xs, 0.75); q1 != 2*time.Millisecond || q3 != 4*time.Millisecond {
		t.Errorf("quartiles of 1..5 = %v, %v, want 2ms, 4ms", q1, q3)
	}
	if got := quantile(ms2d(1, 2), 0.25); got != 1250*time.Microsecond {
		t.Errorf("quantile(1, 2; 0.25) = %v, want 1.25ms", got)
	}
	if got := median(nil); got != 0 {
		t.Errorf("median() = %v", got)
	}
}

func TestRatioFormatAndVerdict(t *testing.T) {
	for _, c := range []struct {
		r    float64
		want string
	}{
		{ratio(23*time.Millisecond, 1800*time.Microsecond), "12.78x"},
		{ratio(time.Millisecond, 4*time.Millisecond), "0.25x"},
		{2, "2.00x"},
		{ratio(time.Millisecond, 0), "n/a"},
		{math.Inf(1), "n/a"},
	} {
		if got := formatRatio(c.r); got != c.want {
			t.Errorf("formatRatio(%v) = %q, want %q", c.r, got, c.want)
		}
	}
	if got := formatMs(1834 * time.Microsecond); got != "1.83 ms" {
		t.Errorf("formatMs = %q", got)
	}
	for _, c := range []struct {
		r, limit float64
		atMost   bool
		want     string
	}{
		{2, 2, true, "PASS"}, // "within 2x" includes 2x
		{2.01, 2, true, "MISSED"},
		{12.8, 2, true, "MISSED"},
		{10, 10, false, "PASS"},
		{9.99, 10, false, "MISSED"},
		{math.NaN(), 2, true, "MISSED"},
		{math.NaN(), 10, false, "MISSED"},
	} {
		if got := verdict(c.r, c.limit, c.atMost); got != c.want {
			t.Errorf("verdict(%v, %v, atMost=%v) = %s, want %s", c.r, c.limit, c.atMost, got, c.want)
		}
	}
}

// The document's own example: 0x12345678 at bank 9 word 1 is
// printf '\x78\x56\x34\x12' | dd ... seek=37, read back with skip=37.
func TestScriptIsTheDocuments(t *testing.T) {
	if got := printfEscapes(0x12345678); got != `\x78\x56\x34\x12` {
		t.Errorf("printfEscapes(0x12345678) = %s", got)
	}
	if got := printfEscapes(0x80000001); got != `\x01\x00\x00\x80` {
		t.Errorf("printfEscapes(0x80000001) = %s", got)
	}
	const dev = "/sys/bus/nvmem/devices/imx-ocotp0/nvmem"
	doc := []string{
		`printf '\x78\x56\x34\x12' | dd of=/sys/bus/nvmem/devices/imx-ocotp0/nvmem bs=4 count=1 seek=37 conv=notrunc`,
		`dd status=none if=/sys/bus/nvmem/devices/imx-ocotp0/nvmem of=/dev/stdout bs=4 count=1 skip=37 | od -v -t x4`,
	}
	script := applyScript(dev, []fuseWord{{9, 1, 0x12345678}}, false)
	lines := strings.Split(strings.TrimSuffix(strings.ReplaceAll(script, shquote.Quoted(dev), dev), "\n"), "\n")
	if !slices.Equal(lines, doc) {
		t.Errorf("script:\n%s\nwant the document's:\n%s", strings.Join(lines, "\n"), strings.Join(doc, "\n"))
	}
	withOD := applyScript(dev, []fuseWord{{9, 1, 0x12345678}}, true)
	if first, _, _ := strings.Cut(withOD, "\n"); first != "od -A x -t x4 -v "+shquote.Quoted(dev) {
		t.Errorf("the script with od starts %q", first)
	}
	if got := shquote.Quoted("a'b"); got != `'a'\''b'` {
		t.Errorf("shellQuote = %s", got)
	}
}

func TestApplyWordsOffsets(t *testing.T) {
	var offs []int
	for _, w := range applyWords {
		offs = append(offs, w.offset())
	}
	if want := []int{34, 36, 37, 38, 56, 57, 58, 59}; !slices.Equal(offs, want) {
		t.Errorf("offsets %v, want %v", offs, want)
	}
	// The manifest loads, and otpprov's fuse map puts every word at the
	// offset the shell loop writes.
	m, err := manifest.Parse("8-words.yaml", []byte(manifestText(applyWords)))
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Targets) != len(applyWords) {
		t.Fatalf("%d targets, want %d", len(m.Targets), len(applyWords))
	}
	for i, tg := range m.Targets {
		w := applyWords[i]
		if tg.Index != w.offset() || tg.WriteIndex != w.offset() || tg.Value != w.Value || tg.Mask != 0xffffffff {
			t.Errorf("target %d: index %d/%d value %#x mask %#x, want %d, %#x, full mask", i, tg.Index, tg.WriteIndex, tg.Value, tg.Mask, w.offset(), w.Value)
		}
	}
}

// The script burns what burned() expects, byte order included: run it
// with bash, dd and od on a plain file.
func TestScriptBurnsTheWords(t *testing.T) {
	for _, p := range []string{"bash", "dd", "od"} {
		if _, err := exec.LookPath(p); err != nil {
			t.Skipf("%s is needed: %v", p, err)
		}
	}
	img := filepath.Join(t.TempDir(), "it's an image") // a quote in the path
	blank := make([]byte, deviceBytes)
	blank[4] = 0xaa // bits already there stay
	if err := os.WriteFile(img, blank, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("bash", "-c", applyScript(img, applyWords, true)).Output()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	got, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	if want := burned(blank, applyWords); !bytes.Equal(got, want) {
		t.Errorf("the image after the script differs from burned():\n got %x\nwant %x", got, want)
	}
	if got[4*37] != 0x78 || got[4*37+3] != 0x12 {
		t.Errorf("word 37 is % x, want 78 56 34 12", got[4*37:4*37+4])
	}
	var want []string
	for _, w := range applyWords {
		want = append(want, fmt.Sprintf("%08x", w.Value))
	}
	if ws := odWords(string(out)); !slices.Equal(ws, want) {
		t.Errorf("read-backs %q, want %q", ws, want)
	}
}

// A log in strace -f -qq -s 0 -o's form: the device opened as fd 3 after
// another file used fd 3, a call split by another thread, and stdout.
const straceLog = `100   openat(AT_FDCWD, "/etc/m.yaml", O_RDONLY|O_CLOEXEC) = 3
100   read(3, ""..., 512) = 437
100   close(3)                          = 0
100   newfstatat(AT_FDCWD, "/mnt/nvmem", {st_mode=S_IFREG|0644, st_size=1024, ...}, 0) = 0
100   openat(AT_FDCWD, "/mnt/nvmem", O_RDWR|O_CLOEXEC) = 3
100   fcntl(3, F_GETFL)                 = 0x8002 (flags O_RDWR|O_LARGEFILE)
100   flock(3, LOCK_EX|LOCK_NB)         = 0
100   pread64(3, ""..., 4096, 0)        = 1024
100   pread64(3, "", 3072, 1024)        = 0
100   write(1, ""..., 69)               = 69
100   pwrite64(3, ""..., 4, 136 <unfinished ...>
101   epoll_pwait(4,  <unfinished ...>
100   <... pwrite64 resumed>)           = 4
101   <... epoll_pwait resumed>[...], 128, 0, NULL, 0) = 1
100   --- SIGURG {si_signo=SIGURG, si_code=SI_TKILL, si_pid=100, si_uid=0} ---
100   pread64(3, ""..., 4, 136)         = 4
100   pwrite64(3, ""..., 4, 144)        = 4
100   pread64(3, ""..., 4, 144)         = 4
100   pread64(3, ""..., 4096, 0)        = 1024
100   pread64(3, "", 3072, 1024)        = 0
100   close(3)                          = 0
100   write(3, ""..., 10)               = 10
100   +++ exited with 0 +++
`

func TestStraceDeviceCalls(t *testing.T) {
	calls := parseStrace(straceLog)
	io := deviceCalls(calls, "/mnt/nvmem")
	if got, want := formatCounts(io.Counts), "close 1, fcntl 1, flock 1, openat 1, pread64 6, pwrite64 2"; got != want {
		t.Errorf("counts: %s\nwant    %s", got, want)
	}
	if io.reads() != 6 || io.writes() != 2 {
		t.Errorf("reads %d, writes %d, want 6, 2", io.reads(), io.writes())
	}
	seen, diffs := checkApplyIO(io.Ops, 1024, []int64{136, 144}, false)
	if len(diffs) != 0 {
		t.Errorf("unexpected differences: %q", diffs)
	}
	if want := "initial read: 2 reads, 1024 bytes then EOF; 2 x (pwrite 4 B + pread 4 B at the word's offset, in plan order); final read: 2 reads, 1024 bytes then EOF"; seen != want {
		t.Errorf("seen: %s\nwant  %s", seen, want)
	}

	// The same log against other expectations: each difference is named.
	if _, diffs := checkApplyIO(io.Ops, 1024, []int64{136, 148}, false); len(diffs) == 0 || !strings.Contains(diffs[0], "want a 4-byte write (pwrite64) at 148, got pwrite64 of 4 bytes at 144 = 4") {
		t.Errorf("a wrong offset: %q", diffs)
	}
	if _, diffs := checkApplyIO(io.Ops, 1024, []int64{136}, false); len(diffs) == 0 || !strings.Contains(strings.Join(diffs, "\n"), "final read") {
		t.Errorf("a word more than planned: %q", diffs)
	}
	if _, diffs := checkApplyIO(io.Ops, 1024, []int64{136, 144}, true); len(diffs) == 0 || !strings.Contains(diffs[0], "want a 4-byte read (pread64) at 136") {
		t.Errorf("an image's read before the write: %q", diffs)
	}
	if _, diffs := checkApplyIO(io.Ops, 2048, []int64{136, 144}, false); len(diffs) != 2 {
		t.Errorf("a device of another size: %q", diffs)
	}
	extra := append(slices.Clone(io.Ops), ioOp{Call: "read", Off: -1, Count: 4, Ret: 4})
	if _, diffs := checkApplyIO(extra, 1024, []int64{136, 144}, false); len(diffs) != 1 || !strings.Contains(diffs[0], "1 more reads or writes") {
		t.Errorf("an extra read: %q", diffs)
	}
}

func TestParseCall(t *testing.T) {
	c, ok := parseCall(`fstat(3, {st_mode=S_IFREG|0644, st_size=1024, ...}) = 0`)
	if !ok || c.Name != "fstat" || len(c.Args) != 2 || c.Args[0] != "3" || c.Ret != "0" {
		t.Errorf("fstat: %+v %v", c, ok)
	}
	c, ok = parseCall(`pread64(3, "a,b)\"c"..., 4, 8) = -1 EIO (Input/output error)`)
	if !ok || len(c.Args) != 4 || c.Args[3] != "8" || c.Ret != "-1" {
		t.Errorf("pread64: %+v %v", c, ok)
	}
	if _, ok := parseCall(`exit_group(0)                     = ?`); ok {
		t.Error("a call that never returned was parsed")
	}
	if _, ok := parseCall(`--- SIGURG {si_signo=SIGURG} ---`); ok {
		t.Error("a signal was parsed as a call")
	}
}
