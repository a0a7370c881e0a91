package nvmem

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const digiDump = "testdata/dumps/digi-cc8mm.txt"

func readDigi(t testing.TB) []byte {
	t.Helper()
	text, err := os.ReadFile(digiDump)
	if err != nil {
		t.Fatal(err)
	}
	return text
}

func word(b []byte, k int) uint32 { return binary.LittleEndian.Uint32(b[4*k:]) }

func TestParseDumpDigi(t *testing.T) {
	img, err := ParseDump(bytes.NewReader(readDigi(t)), digiDump, 1024)
	if err != nil {
		t.Fatal(err)
	}
	if len(img.Bytes) != 1024 {
		t.Fatalf("len(Bytes) = %d, want 1024", len(img.Bytes))
	}
	for _, tc := range []struct {
		name  string
		index int
		want  uint32
	}{
		{"word 0", 0, 0xfeafa9eb},
		{"word 0 byte order", 1, 0x50d00200},
		{"last word of 0x30", 0x3c / 4, 0x013c7b3a},
		{"0x50 repeats protected 0x40", 0x50 / 4, ReadProtected},
		{"0x80 repeats 0x60", 0x80/4 + 3, 0},
		{"word at 0x90", 0x90 / 4, 0x14100009},
		{"0xb0 repeats 0xa0", 0xb0/4 + 2, ReadProtected},
		{"unprotected word in 0xf0", 0xf0/4 + 3, 0},
		{"0x120 repeats 0x100", 0x120 / 4, 0},
		{"0x3d0 repeats 0x170", 0x3d0/4 + 3, 0},
		{"word at 0x3e8", 0x3e8 / 4, 1},
		{"word at 0x3ec", 0x3ec / 4, 0x07c31a01},
		{"last word", 255, ReadProtected},
	} {
		if got := word(img.Bytes, tc.index); got != tc.want {
			t.Errorf("%s: word %d = %#08x, want %#08x", tc.name, tc.index, got, tc.want)
		}
	}
	if !bytes.Equal(img.Bytes[:4], []byte{0xeb, 0xa9, 0xaf, 0xfe}) {
		t.Errorf("bytes 0..3 = % x, want eb a9 af fe", img.Bytes[:4])
	}
	// 0x40, 0x50, 0xa0, 0xb0, 0x130, 0x3f0: 4 each; 0xf0: 3.
	if len(img.Protected) != 27 {
		t.Errorf("len(Protected) = %d, want 27: %v", len(img.Protected), img.Protected)
	}
	for _, k := range []int{0x40 / 4, 0x50/4 + 3, 0xf0/4 + 2, 255} {
		if !slices.Contains(img.Protected, k) {
			t.Errorf("Protected lacks word %d: %v", k, img.Protected)
		}
	}
	if slices.Contains(img.Protected, 0xf0/4+3) {
		t.Errorf("Protected holds word %d, which reads 0", 0xf0/4+3)
	}
	if !slices.IsSorted(img.Protected) {
		t.Errorf("Protected not ascending: %v", img.Protected)
	}
}

// Every file under testdata/dumps is the Digi image dumped by another tool,
// and some variants of the Digi text are how it arrives from a paste.
func TestParseDumpSameImage(t *testing.T) {
	want, err := ParseDump(bytes.NewReader(readDigi(t)), digiDump, 1024)
	if err != nil {
		t.Fatal(err)
	}
	type input struct {
		name string
		text []byte
	}
	var inputs []input
	files, _ := filepath.Glob("testdata/dumps/*.txt")
	if len(files) < 4 {
		t.Fatalf("testdata/dumps holds %d dumps, want at least 4", len(files))
	}
	for _, f := range files {
		text, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		inputs = append(inputs, input{f, text})
	}
	digi := string(readDigi(t))
	for _, v := range []struct {
		name string
		edit func(string) string
	}{
		{"CRLF", func(s string) string { return strings.ReplaceAll(s, "\n", "\r\n") }},
		{"trailing spaces", func(s string) string { return strings.ReplaceAll(s, "\n", "  \t \n") }},
		{"no final newline", func(s string) string { return strings.TrimSuffix(s, "\n") }},
		{"upper case", strings.ToUpper},
		{"prompt, comments and blank lines", func(s string) string {
			return "# hexdump -e '\"%08_ax: \" 4/4 \"%08x \" \"\\n\"' nvmem\n\n" +
				strings.Replace(s, "\n", "\n\n# a comment\n", 3) + "\n\n#\n"
		}},
		{"explicit *", func(s string) string { return strings.ReplaceAll(s, "00000060:", "*\n00000060:") }},
		{"ASCII column", func(s string) string {
			return strings.ReplaceAll(s, "00000000\n", "00000000    ....  11111111 22222222\n")
		}},
		{"final length line", func(s string) string { return s + "00000400\n" }},
		{"star then final length line", func(s string) string {
			return strings.ReplaceAll(s, "000003e0:", "*\n000003e0:") + "*\n00000400\n"
		}},
	} {
		inputs = append(inputs, input{"digi " + v.name, []byte(v.edit(digi))})
	}
	for _, in := range inputs {
		t.Run(in.name, func(t *testing.T) {
			got, err := ParseDump(bytes.NewReader(in.text), in.name, 1024)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.Bytes, want.Bytes) {
				t.Errorf("bytes differ from %s", digiDump)
			}
			if !slices.Equal(got.Protected, want.Protected) {
				t.Errorf("Protected = %v, want %v", got.Protected, want.Protected)
			}
		})
	}
}

// gnuOD runs the system's od, which must be GNU's: the GNU form's rules and
// FormatOD are defined by what it prints.
func gnuOD(t *testing.T, b []byte, args ...string) []byte {
	t.Helper()
	path, err := exec.LookPath("od")
	if err != nil {
		t.Skip("no od on PATH")
	}
	if v, err := exec.Command(path, "--version").Output(); err != nil || !bytes.Contains(v, []byte("GNU coreutils")) {
		t.Skip("od is not GNU od")
	}
	cmd := exec.Command(path, args...)
	cmd.Stdin = bytes.NewReader(b)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("od %v: %v", args, err)
	}
	return out
}

// rowImage builds an image from 16-byte rows, each given as one word
// repeated 4 times, so that runs of equal rows are easy to lay out.
func rowImage(rows ...uint32) []byte {
	b := make([]byte, 0, 16*len(rows))
	for _, r := range rows {
		for j := range 4 {
			w := r
			if r != 0 && r != ReadProtected {
				w = r<<8 + uint32(j) // equal rows stay equal, words within a row differ
			}
			b = binary.LittleEndian.AppendUint32(b, w)
		}
	}
	return b
}

func repeatRow(w uint32, n int) []uint32 { return slices.Repeat([]uint32{w}, n) }

func TestParseDumpGNUOD(t *testing.T) {
	images := []struct {
		name string
		b    []byte
	}{
		{"all zero", rowImage(repeatRow(0, 64)...)},
		{"repeats to the end", rowImage(slices.Concat(
			[]uint32{1, 2}, repeatRow(ReadProtected, 3), []uint32{3}, repeatRow(0, 5), []uint32{4}, repeatRow(5, 52))...)},
		{"last row unique", rowImage(slices.Concat(
			[]uint32{1}, repeatRow(0, 10), []uint32{ReadProtected, 2, 2, 3}, repeatRow(7, 49), []uint32{8})...)},
		{"no repeats", rowImage(1, 2, 3, 4, 5, 6, 7, 8)},
	}
	variants := []struct {
		name string
		args []string
		edit func(string) string
	}{
		{"od -A x -t x4", []string{"-A", "x", "-t", "x4"}, nil},
		{"od -A x -t x4 -v", []string{"-A", "x", "-t", "x4", "-v"}, nil},
		{"od -A x -t x4 without length line", []string{"-A", "x", "-t", "x4"}, dropLastLine},
		{"od -A x -t x4 -v without length line", []string{"-A", "x", "-t", "x4", "-v"}, dropLastLine},
	}
	for _, im := range images {
		for _, v := range variants {
			t.Run(im.name+"/"+v.name, func(t *testing.T) {
				text := string(gnuOD(t, im.b, v.args...))
				if v.edit != nil {
					text = v.edit(text)
				}
				got, err := ParseDump(strings.NewReader(text), "od", len(im.b))
				if err != nil {
					t.Fatalf("%v\n%s", err, text)
				}
				if !bytes.Equal(got.Bytes, im.b) {
					t.Errorf("bytes differ from the image; dump:\n%s", text)
				}
				if want := protectedWords(im.b); !slices.Equal(got.Protected, want) {
					t.Errorf("Protected = %v, want %v", got.Protected, want)
				}
			})
		}
	}
	// The images above must exercise what they are named for.
	if text := gnuOD(t, images[1].b, "-A", "x", "-t", "x4"); !strings.HasSuffix(string(text), "*\n000400\n") {
		t.Errorf("od output of %q does not end in a repeat:\n%s", images[1].name, text)
	}
}

func dropLastLine(s string) string {
	s = strings.TrimSuffix(s, "\n")
	return s[:strings.LastIndexByte(s, '\n')+1]
}

func protectedWords(b []byte) []int {
	var ks []int
	for k := 0; 4*k < len(b); k++ {
		if word(b, k) == ReadProtected {
			ks = append(ks, k)
		}
	}
	return ks
}

func randomImage(size int, seed int64) []byte {
	rng := rand.New(rand.NewSource(seed))
	b := make([]byte, size)
	rng.Read(b)
	return b
}

func TestFormatODMatchesGNUOD(t *testing.T) {
	// 0, 1 and 7 check od's zero padding of a final partial word.
	for _, size := range []int{0, 1, 7, 4, 12, 16, 20, 1024, 1536} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			b := randomImage(size, int64(size))
			if size >= 64 {
				// Equal rows: -v must still print every one.
				copy(b[16:48], make([]byte, 32))
			}
			want := gnuOD(t, b, "-A", "x", "-t", "x4", "-v")
			var got bytes.Buffer
			if err := FormatOD(&got, b); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.Bytes(), want) {
				t.Errorf("FormatOD:\n%s\nod -A x -t x4 -v:\n%s", got.Bytes(), want)
			}
		})
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestFormatODWriteError(t *testing.T) {
	if err := FormatOD(failWriter{}, make([]byte, 64)); err == nil {
		t.Error("FormatOD to a failing writer returned nil")
	}
}

func TestFormatODRoundTrip(t *testing.T) {
	for _, size := range []int{4, 12, 16, 20, 64, 1024, 1536} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			b := randomImage(size, 100+int64(size))
			binary.LittleEndian.PutUint32(b[size-4:], ReadProtected)
			if size >= 64 {
				copy(b[16:48], make([]byte, 32))
				binary.LittleEndian.PutUint32(b[4:], ReadProtected)
			}
			var text bytes.Buffer
			if err := FormatOD(&text, b); err != nil {
				t.Fatal(err)
			}
			img, err := ParseDump(&text, "roundtrip", size)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(img.Bytes, b) {
				t.Error("bytes differ after FormatOD -> ParseDump")
			}
			if want := protectedWords(b); !slices.Equal(img.Protected, want) || len(want) == 0 {
				t.Errorf("Protected = %v, want %v", img.Protected, want)
			}
		})
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("connection reset") }

func TestParseDumpErrors(t *testing.T) {
	const (
		w4 = "11111111 22222222 33333333 44444444"
		z4 = "00000000 00000000 00000000 00000000"
	)
	// 64-byte dumps, complete unless a case breaks them.
	colon := "00000000: " + w4 + "\n00000010: " + z4 + "\n00000020: " + w4 + "\n00000030: " + z4 + "\n"
	gnu := "000000 " + w4 + "\n000010 " + z4 + "\n000020 " + w4 + "\n000030 " + z4 + "\n000040\n"
	for _, ok := range []string{colon, gnu} {
		if _, err := ParseDump(strings.NewReader(ok), "dump.txt", 64); err != nil {
			t.Fatalf("base case fails: %v", err)
		}
	}
	oversized := strings.Repeat("# "+strings.Repeat("x", 61)+"\n", 1<<20/64) + colon

	for _, tc := range []struct {
		name string
		text string
		size int
		line int
		want string
	}{
		{"mixed colon then GNU", "00000000: " + w4 + "\n000010 " + z4 + "\n", 64, 2, "paste one dump at a time"},
		{"mixed GNU then colon", "000000 " + w4 + "\n\n00000010: " + z4 + "\n", 64, 3, "began in the GNU od form"},
		{"GNU gap without *", "000000 " + w4 + "\n000010 " + z4 + "\n000030 " + z4 + "\n000040\n", 64, 3, "line was lost"},
		{"GNU gap before length line", "000000 " + w4 + "\n000040\n", 64, 2, "line was lost"},
		{"unaligned offset", "00000000: " + w4 + "\n00000018: " + w4 + "\n", 64, 2, "not a multiple of 16"},
		{"unaligned first offset", "00000004: " + w4 + "\n", 64, 1, "must start at offset 0"},
		{"decreasing offset", "00000000: " + w4 + "\n00000020: " + w4 + "\n00000010: " + w4 + "\n", 64, 3, "offsets must increase"},
		{"repeated offset", "000000 " + w4 + "\n000000 " + w4 + "\n", 64, 2, "offsets must increase"},
		{"9-digit word", "00000000: " + w4 + "\n00000010: 111111111 22222222\n", 64, 2, `"111111111" is not 8 hex digits`},
		{"7-digit word", "000000 1111111 22222222\n", 64, 1, "not 8 hex digits"},
		{"non-hex word", "00000000: 1111111g 22222222\n", 64, 1, "not 8 hex digits"},
		{"0x word", "00000000: 0x111111 22222222\n", 64, 1, "not 8 hex digits"},
		{"16-bit hexdump", "0000000 a9eb feaf 0200 50d0\n", 64, 1, "not 8 hex digits"},
		{"5 words colon", "00000000: " + w4 + " 55555555\n", 64, 1, "5 words"},
		{"5 words GNU", "000000 " + w4 + " 55555555\n", 64, 1, "5 words"},
		{"offset without words", "00000000:\n", 64, 1, "no words"},
		{"short line not last", "00000000: 11111111 22222222\n00000010: " + w4 + "\n", 64, 1, "only the last line"},
		{"shorter than size", "00000000: " + w4 + "\n\n00000010: " + w4 + "\n", 64, 3, "ends at 0x20 but the device has 0x40"},
		{"shorter by length line", "000000 " + w4 + "\n*\n000030\n", 64, 3, "0x30 bytes long but the device has 0x40"},
		{"shorter short last line", strings.Replace(colon, "00000030: "+z4, "00000030: 00000000", 1), 64, 4, "ends at 0x34"},
		{"longer than size", colon + "00000040: " + w4 + "\n", 64, 5, "past the end of the device"},
		{"longer than size by a word", colon, 60, 4, "past the end of the device"},
		{"longer by length line", "000000 " + w4 + "\n*\n000050\n", 64, 3, "0x000050 bytes long but the device has 0x40"},
		{"length shorter than data", "000000 " + w4 + "\n000010 " + w4 + "\n000018\n", 64, 3, "shorter than the data above it"},
		{"data after length line", gnu + "000040 " + w4 + "\n", 64, 6, "follows the final length line"},
		{"length line without data", "# od -A x -t x4 /dev/null\n000000\n", 64, 2, "no data lines"},
		{"* first", "# dump\n*\n00000010: " + w4 + "\n", 64, 2, `"*" before any data line`},
		{"* after short line", "000000 11111111\n*\n000040\n", 64, 2, "only a full line"},
		{"* not reaching the end by rows", "00000000: " + w4 + "\n*\n", 72, 2, "whole 16-byte rows"},
		{"first offset not zero", "00000010: " + w4 + "\n", 64, 1, "must start at offset 0"},
		{"7-digit colon offset", "0000000: " + w4 + "\n", 64, 1, "not a dump line"},
		{"20-digit offset", "000000 " + w4 + "\n*\n00000000000000000010 " + w4 + "\n", 64, 3, "not a dump line"},
		{"huge GNU offset", "000000 " + w4 + "\n*\nffffffffffffff0 " + w4 + "\n", 64, 3, "past the end of the device"},
		{"huge length", "000000 " + w4 + "\n*\nffffffffffffffffffff\n", 64, 3, "bytes long"},
		{"garbage", "hello, world\n", 64, 1, `"hello, world" is not a dump line`},
		{"garbage mid-dump", "00000000: " + w4 + "\n00000010: " + w4 + "\n-- cut here --\n", 64, 3, "not a dump line"},
		{"binary", "\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\n\x00\xff\xfe", 64, 1, "not a dump line"},
		{"empty", "", 64, 1, "no dump lines found"},
		{"only blanks and comments", "# cat nvmem | hexdump\n\n# nothing\n", 64, 3, "no dump lines found"},
		{"oversized", oversized, 64, 1<<20/64 + 1, "larger than 1 MiB"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			img, err := ParseDump(strings.NewReader(tc.text), "dump.txt", tc.size)
			if err == nil {
				t.Fatalf("no error; got %d bytes", len(img.Bytes))
			}
			if img != nil {
				t.Errorf("non-nil image with error")
			}
			prefix := fmt.Sprintf("dump.txt:%d: ", tc.line)
			if msg := err.Error(); !strings.HasPrefix(msg, prefix) || !strings.Contains(msg, tc.want) {
				t.Errorf("error %q, want prefix %q and %q in it", msg, prefix, tc.want)
			}
		})
	}

	t.Run("read error", func(t *testing.T) {
		_, err := ParseDump(errReader{}, "dump.txt", 64)
		if err == nil || !strings.HasPrefix(err.Error(), "dump.txt:1: ") || !strings.Contains(err.Error(), "connection reset") {
			t.Errorf("error %v, want dump.txt:1: and the reader's error", err)
		}
	})
	for _, size := range []int{0, -4, 6} {
		t.Run(fmt.Sprintf("size %d", size), func(t *testing.T) {
			_, err := ParseDump(strings.NewReader(colon), "dump.txt", size)
			if err == nil || !strings.Contains(err.Error(), "not a positive multiple of 4") {
				t.Errorf("error %v, want a refusal of the size", err)
			}
		})
	}
}

func FuzzParseDump(f *testing.F) {
	files, err := filepath.Glob("testdata/dumps/*.txt")
	if err != nil || len(files) == 0 {
		f.Fatalf("no seed dumps: %v", err)
	}
	for _, file := range files {
		text, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(text)
	}
	f.Fuzz(func(t *testing.T, text []byte) {
		img, err := ParseDump(bytes.NewReader(text), "fuzz", 1024)
		if err == nil && len(img.Bytes) != 1024 {
			t.Fatalf("nil error but len(Bytes) = %d", len(img.Bytes))
		}
	})
}
