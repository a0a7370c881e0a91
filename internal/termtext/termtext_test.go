package termtext

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestUnsafe(t *testing.T) {
	for _, r := range []rune{0, '\a', '\b', '\r', 0x1b, '\n', '\t', 0x7f, 0x85, 0x9b, '\u2028', '\u2029', '\u202e', '\u2066', '\u200f', '\u061c'} {
		if !Unsafe(r) {
			t.Errorf("%U is safe", r)
		}
	}
	for _, r := range []rune{' ', 'a', '~', 'é', '×', '\u00a0', '\u200b', '😀'} {
		if Unsafe(r) {
			t.Errorf("%U is unsafe", r)
		}
	}
	if r, ok := First("ab\x1b[2Jc\r"); !ok || r != 0x1b {
		t.Errorf("First = %U, %v", r, ok)
	}
	if _, ok := First("plain/path.yaml"); ok {
		t.Error("First found something in plain text")
	}
}

func TestEscape(t *testing.T) {
	for in, want := range map[string]string{
		"plain":                "plain",
		"a\x1b[31mred\x1b[0m":  `a\u001b[31mred\u001b[0m`,
		"line\rover":           `line\u000dover`,
		"two\nlines\tand tab":  `two\u000alines\u0009and tab`,
		"nul\x00":              `nul\u0000`,
		"bidi\u202eevil":       `bidi\u202eevil`,
		"latin1 \xe9":          `latin1 \xe9`,
		"utf-8 é × ok":         "utf-8 é × ok",
		"c1 \u009b31m":         `c1 \u009b31m`,
		`already \x1b as text`: `already \x1b as text`,
	} {
		if got := Escape(in); got != want {
			t.Errorf("Escape(%q) = %q, want %q", in, got, want)
		}
	}
}

// palette is a colour writer's allowed sequences, as otpprov's.
var palette = []string{"\x1b[0m", "\x1b[1m", "\x1b[31m", "\x1b[32m"}

func write(t *testing.T, sgr bool, chunks ...string) string {
	t.Helper()
	var out bytes.Buffer
	w := NewWriter(&out)
	if sgr {
		w = NewWriter(&out, palette...)
	}
	for _, c := range chunks {
		n, err := w.Write([]byte(c))
		if err != nil || n != len(c) {
			t.Fatalf("Write(%q) = %d, %v", c, n, err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return out.String()
}

// The writer keeps lines, tabs and (when allowed) otpprov's colours, and
// escapes everything else that would act on the terminal, other colour
// sequences too (SGR 8 hides text), also when a sequence is cut between
// two writes.
func TestWriter(t *testing.T) {
	cases := []struct {
		sgr    bool
		chunks []string
		want   string
	}{
		{true, []string{"plan\n\tline\n"}, "plan\n\tline\n"},
		{true, []string{"\x1b[32m+\x1b[0m \x1b[1mbold\x1b[0m\n"}, "\x1b[32m+\x1b[0m \x1b[1mbold\x1b[0m\n"},
		{false, []string{"\x1b[32m+\x1b[0m"}, `\u001b[32m+\u001b[0m`},
		{true, []string{"clear \x1b[2J home \x1b[H title \x1b]0;x\a"}, `clear \u001b[2J home \u001b[H title \u001b]0;x\u0007`},
		{true, []string{"over\rwrite"}, `over\u000dwrite`},
		{true, []string{"\x1b[3", "1mred\x1b", "[0m"}, "\x1b[31mred\x1b[0m"},
		{true, []string{"é"[:1], "é"[1:] + "\n"}, "é\n"},
		{true, []string{"cut \xc3"}, `cut \xc3`},
		{true, []string{"\x1b"}, `\u001b`},
		{true, []string{"\x1b[1111111111111111111m"}, `\u001b[1111111111111111111m`},
		{true, []string{"shown \x1b[8mhidden\x1b[0m"}, `shown \u001b[8mhidden` + "\x1b[0m"},
		{true, []string{"\x1b[3", "3mnot ours"}, `\u001b[33mnot ours`},
		{true, []string{"\x1b[", "3"}, `\u001b[3`},
		{true, []string{"bidi \u202e", "txt"}, `bidi \u202etxt`},
		{true, []string{"bad \xff\xfe utf-8"}, `bad \xff\xfe utf-8`},
	}
	for _, c := range cases {
		if got := write(t, c.sgr, c.chunks...); got != c.want {
			t.Errorf("sgr %v, %q: %q, want %q", c.sgr, c.chunks, got, c.want)
		}
	}
}

// JSON through the writer stays JSON, with the same strings: the escapes
// are JSON's own.
func TestWriterKeepsJSON(t *testing.T) {
	in := map[string]string{"k": "del \x7f c1 \u0085 bidi \u202e esc \x1b nl \n"}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	out := write(t, true, string(b))
	var got map[string]string
	if err := json.Unmarshal([]byte(out), &got); err != nil || got["k"] != in["k"] {
		t.Fatalf("%s -> %v %q", out, err, got["k"])
	}
	if strings.ContainsAny(out, "\x7f\u0085\u202e\x1b") {
		t.Errorf("raw control characters left: %q", out)
	}
}
