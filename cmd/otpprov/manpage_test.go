package main

import (
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/otpprov/otpprov/nvmem"
)

// manSections splits the page at its .SH and .SS lines: "SS plan" holds
// the plan command's text.
func manSections(page string) map[string]string {
	sections := map[string]string{}
	key := ""
	for _, line := range strings.Split(page, "\n") {
		if h, ok := strings.CutPrefix(line, ".SH "); ok {
			key = "SH " + strings.Trim(h, `"`)
			continue
		}
		if h, ok := strings.CutPrefix(line, ".SS "); ok {
			// A command's name as roff writes it: \- for its hyphens.
			key = "SS " + strings.ReplaceAll(strings.Trim(h, `"`), `\-`, "-")
			continue
		}
		sections[key] += line + "\n"
	}
	return sections
}

func manPageText(t *testing.T) string {
	t.Helper()
	code, page, stderr := runOtpprov("man")
	if code != 0 || stderr != "" {
		t.Fatalf("otpprov man: exit %d: %s", code, stderr)
	}
	return page
}

// Every visible command has its section, with its synopsis and each of its
// flags; a hidden command has none.
func TestManPageCommands(t *testing.T) {
	sections := manSections(manPageText(t))
	visible, hidden := wantCommands()
	for _, c := range visible {
		if len(c.words) == 1 {
			continue // otpprov itself: SYNOPSIS
		}
		path := strings.Join(c.words[1:], " ")
		body, ok := sections["SS "+path]
		if !ok {
			t.Errorf("no section for otpprov %s", path)
			continue
		}
		if !strings.Contains(body, bold("otpprov "+path)) {
			t.Errorf("otpprov %s: no synopsis:\n%s", path, body)
		}
		for _, f := range c.flags {
			if f != "--help" && f != "-h" && !strings.Contains(body, bold(f)) {
				t.Errorf("otpprov %s: flag %s missing", path, f)
			}
		}
	}
	for _, h := range hidden {
		if _, ok := sections["SS "+strings.Join(h[1:], " ")]; ok {
			t.Errorf("hidden command %s has a section", strings.Join(h, " "))
		}
	}
}

// EXIT STATUS lists the codes the README's table does; ENVIRONMENT every
// OTPPROV_ variable the README names, and NO_COLOR; FILES the sysfs path.
func TestManPageMatchesREADME(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	_, table, _ := strings.Cut(readme, "\n## Exit codes\n")
	table, _, _ = strings.Cut(table, "\n## ")
	var readmeCodes []string
	for _, m := range regexp.MustCompile(`(?m)^\| (\d+) \|`).FindAllStringSubmatch(table, -1) {
		readmeCodes = append(readmeCodes, m[1])
	}
	sections := manSections(manPageText(t))
	var manCodes []string
	for _, m := range regexp.MustCompile(`(?m)^\.TP\n\\fB(\d+)\\fR$`).FindAllStringSubmatch(sections["SH EXIT STATUS"], -1) {
		manCodes = append(manCodes, m[1])
	}
	if len(readmeCodes) < 4 || !slices.Equal(manCodes, readmeCodes) {
		t.Errorf("exit codes: man page %q, README %q", manCodes, readmeCodes)
	}

	env := sections["SH ENVIRONMENT"]
	names := regexp.MustCompile(`OTPPROV_[A-Z_]+`).FindAllString(readme, -1)
	if len(names) < 5 {
		t.Fatalf("README names only %q", names)
	}
	for _, name := range append(names, "NO_COLOR") {
		if strings.HasPrefix(name, varEnvPrefix) {
			name = varEnvPrefix // OTPPROV_VAR_name
		}
		if !strings.Contains(env, bold(name)) {
			t.Errorf("ENVIRONMENT lacks %s", name)
		}
	}
	if !strings.Contains(sections["SH FILES"], roffText(nvmem.DefaultPath)) {
		t.Errorf("FILES lacks %s", nvmem.DefaultPath)
	}
}

func TestRoffText(t *testing.T) {
	cases := []struct{ in, want string }{
		{"--device", `\-\-device`},
		{`C:\dir`, `C:\edir`},
		{".TH a request", `\&.TH a request`},
		{"'also a request", `\&'also a request`},
		{"a line\n.then a request", "a line\n\\&.then a request"},
		{"mid.dle 'quotes'", "mid.dle 'quotes'"},
	}
	for _, c := range cases {
		if got := roffText(c.in); got != c.want {
			t.Errorf("roffText(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	if got := roffArg(`say "x"`); got != `"say \(dqx\(dq"` {
		t.Errorf("roffArg: %s", got)
	}
}

// groff renders the page without a warning (-ww: all of them), and the
// text reads as typed: flags with plain hyphens, every command's synopsis.
func TestManPageRenders(t *testing.T) {
	groff := requireTool(t, "groff")
	page := manPageText(t)
	check := exec.Command(groff, "-man", "-Tutf8", "-ww", "-z")
	check.Stdin = strings.NewReader(page)
	if out, err := check.CombinedOutput(); err != nil || len(out) > 0 {
		t.Fatalf("groff: %v\n%s", err, out)
	}
	render := exec.Command(groff, "-man", "-Tascii", "-P-cbou", "-rLL=200n")
	render.Stdin = strings.NewReader(page)
	out, err := render.Output()
	if err != nil {
		t.Fatal(err)
	}
	text := string(out)
	visible, _ := wantCommands()
	want := []string{"otpprov - declarative eFuse", "--device, -d value", "EXIT STATUS", "OTPPROV_DEVICE_KIND", nvmem.DefaultPath}
	for _, c := range visible {
		want = append(want, strings.Join(c.words, " "))
	}
	for _, w := range want {
		if !strings.Contains(text, w) {
			t.Errorf("the rendered page lacks %q", w)
		}
	}
}
