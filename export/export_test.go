package export

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/otpprov/otpprov/applier"
	"github.com/otpprov/otpprov/fusemap"
	"github.com/otpprov/otpprov/internal/golden"
	"github.com/otpprov/otpprov/manifest"
	"github.com/otpprov/otpprov/nvmem"
	"github.com/otpprov/otpprov/planner"
)

func loadMap(t *testing.T, soc string) *fusemap.Map {
	t.Helper()
	m, err := fusemap.Load(soc)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func target(m *fusemap.Map, bank, word int, value, mask uint32, names ...string) manifest.Target {
	t := manifest.NewTarget(m.SoC, bank, word, value, mask)
	t.Names = names
	return t
}

func makePlan(t *testing.T, src planner.Source, m *fusemap.Map, state []uint32, targets ...manifest.Target) *planner.Plan {
	t.Helper()
	p, err := planner.Make(src, m, state, targets)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// digiImage is the Digi document's i.MX8MM dump as raw bytes.
func digiImage(t *testing.T) []byte {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "examples", "imx8mm", "digi-cc8mm.dump"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := nvmem.ParseDump(f, "digi-cc8mm.dump", loadMap(t, "imx8mm").Bytes())
	if err != nil {
		t.Fatal(err)
	}
	return img.Bytes
}

var gpSource = planner.Source{Name: "cc8mm-board", File: "board.yaml", Digest: "sha256:5e1f0c7a3d2b9e8f6a4c1d0b7e2f3a9c8d6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f"}

// gpPlan burns general purpose words of GP1 and GP2 that are blank in the
// Digi dump.
func gpPlan(t *testing.T) *planner.Plan {
	m := loadMap(t, "imx8mm")
	state := nvmem.Words(digiImage(t))
	p := makePlan(t, gpSource, m, state,
		target(m, 14, 0, 0x00000203, 0x00000fff, "board-rev", "hw-variant"),
		target(m, 14, 1, 0xa5000000, 0xff000000, "vendor-id"),
		target(m, 14, 2, 0x12345678, 0xffffffff),
	)
	if len(p.Writes()) != 3 || p.Rejected() {
		t.Fatalf("gp plan: %d writes, rejected %v; want 3 writes", len(p.Writes()), p.Rejected())
	}
	return p
}

// securePlan burns the sample SRK hash, locks it and closes a blank part.
func securePlan(t *testing.T) *planner.Plan {
	m := loadMap(t, "imx8mm")
	hash, err := os.ReadFile(filepath.Join("..", "examples", "imx8mm", "SRK_1_2_3_4_fuse.bin"))
	if err != nil {
		t.Fatal(err)
	}
	state := make([]uint32, m.Words)
	state[m.ReadIndex(0, 1)] = 0x50d00200 // UNIQUE_ID, as on the Digi board
	state[m.ReadIndex(0, 2)] = 0x24226998
	var targets []manifest.Target
	for i := 0; i < 8; i++ {
		targets = append(targets, target(m, 6+i/4, i%4, binary.LittleEndian.Uint32(hash[4*i:]), 0xffffffff, "SRK_HASH"))
	}
	targets = append(targets,
		target(m, 0, 0, 1<<9, 1<<9, "SRK_LOCK"),
		target(m, 1, 3, 1<<25, 1<<25, "SEC_CONFIG_CLOSE"))
	p := makePlan(t, planner.Source{Name: "cc8mm-secure-boot-sample", File: "secure-boot.yaml",
		Digest: "sha256:0c9b8a7f6e5d4c3b2a1f0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a3f2e1d0c9b"}, m, state, targets...)
	if len(p.Writes()) != 10 || len(p.Security()) != 2 || len(p.Warnings()) == 0 {
		t.Fatalf("secure plan: %d writes, security %d, warnings %d; want 10, 2, some", len(p.Writes()), len(p.Security()), len(p.Warnings()))
	}
	return p
}

// imx6Plan burns a word of bank 6 of an i.MX6Q, read 16 words after where
// it is written.
func imx6Plan(t *testing.T) *planner.Plan {
	m := loadMap(t, "imx6q")
	tg := target(m, 6, 0, 0x0000a53c, 0x0000ffff, "board-id")
	if tg.Index != 64 || tg.WriteIndex != 48 {
		t.Fatalf("imx6q bank 6 word 0: read index %d, write index %d; want 64 and 48", tg.Index, tg.WriteIndex)
	}
	p := makePlan(t, planner.Source{Name: "imx6-board", File: "imx6.yaml"}, m, make([]uint32, m.Words), tg)
	if len(p.Writes()) != 1 {
		t.Fatalf("imx6 plan: %d writes, want 1", len(p.Writes()))
	}
	return p
}

func render(t *testing.T, f Format, p *planner.Plan, opts Options) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := Write(&b, f, p, opts); err != nil {
		t.Fatalf("Write %s: %v", f, err)
	}
	return b.Bytes()
}

var opts = Options{ToolVersion: "v1.2.3"}

func TestGolden(t *testing.T) {
	plans := map[string]func(*testing.T) *planner.Plan{
		"gp":     gpPlan,
		"secure": securePlan,
		"empty": func(t *testing.T) *planner.Plan {
			m := loadMap(t, "imx8mm")
			state := nvmem.Words(digiImage(t))
			// 14/0 of the dump is blank: asking for 0 there is a no-op.
			return makePlan(t, gpSource, m, state, target(m, 14, 0, 0, 0xf))
		},
	}
	for name, mk := range plans {
		for _, f := range Formats() {
			t.Run(name+"."+string(f), func(t *testing.T) {
				golden.Check(t, name+"."+string(f), render(t, f, mk(t), opts))
			})
		}
	}
	t.Run("imx6.sh", func(t *testing.T) {
		golden.Check(t, "imx6.sh", render(t, Shell, imx6Plan(t), opts))
	})
}

func TestFormats(t *testing.T) {
	for _, f := range Formats() {
		got, err := ParseFormat(string(f))
		if err != nil || got != f {
			t.Errorf("ParseFormat(%q) = %q, %v", f, got, err)
		}
	}
	if _, err := ParseFormat("bash"); !errors.Is(err, ErrFormat) {
		t.Errorf("ParseFormat(bash): %v, want ErrFormat", err)
	}
}

// tools fails the test, loudly, when a tool the sh script needs is
// missing: CI installs coreutils, and a skipped test proves nothing.
func tools(t *testing.T) {
	t.Helper()
	if _, err := os.Stat("/bin/sh"); err != nil {
		t.Fatalf("/bin/sh: %v", err)
	}
	for _, tool := range []string{"dd", "od", "printf", "tr", "cat", "wc"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("the sh script needs %s: %v (install coreutils)", tool, err)
		}
	}
}

// runScript runs script with /bin/sh on the image file at path.
func runScript(t *testing.T, script []byte, path string, env ...string) (stdout, stderr string, code int) {
	t.Helper()
	sh := filepath.Join(t.TempDir(), "burn.sh")
	if err := os.WriteFile(sh, script, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("/bin/sh", sh)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "NVMEM=" + path, "LC_ALL=C"}, env...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		code = exit.ExitCode()
	default:
		t.Fatalf("running the script: %v", err)
	}
	return o.String(), e.String(), code
}

func writeFile(t *testing.T, b []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "nvmem.img")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The script, run by /bin/sh on an image of the board, leaves the same
// bytes as otpprov's applier does on another copy; a second run refuses
// at the first check and changes nothing.
func TestShellMatchesApplier(t *testing.T) {
	tools(t)
	p := gpPlan(t)
	start := digiImage(t)
	script := render(t, Shell, p, opts)

	scripted := writeFile(t, start)
	stdout, stderr, code := runScript(t, script, scripted)
	if code != 0 {
		t.Fatalf("script exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	if !strings.Contains(stdout, "3 burns done and read back as planned") {
		t.Errorf("stdout does not report the burns:\n%s", stdout)
	}

	applied := writeFile(t, start)
	dev, err := nvmem.Open(applied, nvmem.ReadWrite)
	if err != nil {
		t.Fatal(err)
	}
	r, err := applier.Apply(context.Background(), dev, p)
	dev.Close()
	if err != nil {
		t.Fatal(err)
	}
	if !r.OK() {
		t.Fatalf("applier: %+v", r)
	}

	got, want := readFile(t, scripted), readFile(t, applied)
	if !bytes.Equal(got, want) {
		for k := 0; k < len(want)/4; k++ {
			if g, w := binary.LittleEndian.Uint32(got[4*k:]), binary.LittleEndian.Uint32(want[4*k:]); g != w {
				t.Errorf("word %d: script left 0x%08x, applier 0x%08x", k, g, w)
			}
		}
		t.Fatal("the script and the applier disagree")
	}
	if bytes.Equal(got, start) {
		t.Fatal("neither the script nor the applier changed the image")
	}
	// And both are the plan's after state.
	after := p.After()
	for k, w := range nvmem.Words(got) {
		if w != after[k] {
			t.Errorf("word %d: 0x%08x, the plan's after state has 0x%08x", k, w, after[k])
		}
	}

	stdout, stderr, code = runScript(t, script, scripted)
	if code != 1 {
		t.Fatalf("second run: exit %d, want 1\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	for _, want := range []string{"bank 14 word 0 reads 0x00000203", "plan was made when it read 0x00000000", "nothing was written"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("second run: stderr lacks %q:\n%s", want, stderr)
		}
	}
	if again := readFile(t, scripted); !bytes.Equal(again, want) {
		t.Error("the second run changed the image")
	}
}

// A read-back that differs stops the script with status 3, naming the
// word. A plain file does not OR a write into the word as fuses do, so
// burning into a word that already holds bits shows it.
func TestShellReadBackMismatch(t *testing.T) {
	tools(t)
	m := loadMap(t, "imx8mm")
	start := digiImage(t)
	state := nvmem.Words(start)
	k := m.ReadIndex(14, 3)
	state[k] = 0x00000011
	binary.LittleEndian.PutUint32(start[4*k:], state[k])
	p := makePlan(t, gpSource, m, state,
		target(m, 14, 3, 0x00000111, 0x00000fff),
		target(m, 14, 2, 0x00000001, 0x00000001))
	if len(p.Writes()) != 2 {
		t.Fatalf("%d writes, want 2", len(p.Writes()))
	}
	path := writeFile(t, start)
	_, stderr, code := runScript(t, render(t, Shell, p, opts), path)
	if code != 3 {
		t.Fatalf("exit %d, want 3\nstderr:\n%s", code, stderr)
	}
	for _, want := range []string{"bank 14 word 3 reads 0x00000100 after the burn, want 0x00000111", "partially programmed"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
}

// A script made for one part refuses another (another UNIQUE_ID, every
// word it burns the same): exit 1, the image unchanged byte for byte.
func TestShellOtherPartBurnsNothing(t *testing.T) {
	tools(t)
	p := gpPlan(t)
	start := digiImage(t)
	k := p.SoC.ReadIndex(p.Map.Identity().Parts[0].Bank, p.Map.Identity().Parts[0].Word)
	start[4*k] ^= 0x01
	path := writeFile(t, start)
	_, stderr, code := runScript(t, render(t, Shell, p, opts), path)
	if code != 1 || !strings.Contains(stderr, "(UNIQUE_ID) reads") || !strings.Contains(stderr, "this is another part") ||
		!strings.Contains(stderr, "nothing was written") {
		t.Errorf("exit %d, stderr:\n%s", code, stderr)
	}
	if !bytes.Equal(readFile(t, path), start) {
		t.Error("the image changed")
	}
}

// The script refuses a device of another size before writing anything.
func TestShellWrongSize(t *testing.T) {
	tools(t)
	start := digiImage(t)
	path := writeFile(t, start[:512])
	_, stderr, code := runScript(t, render(t, Shell, gpPlan(t), opts), path)
	if code != 1 || !strings.Contains(stderr, "has 512 bytes, but the nvmem file of the imx8mm has 1024") {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	if !bytes.Equal(readFile(t, path), start[:512]) {
		t.Error("the image changed")
	}
}

// A plan that burns security fuses runs only when the operator names each
// of them.
func TestShellSecurityConfirmation(t *testing.T) {
	tools(t)
	p := securePlan(t)
	script := render(t, Shell, p, opts)
	img := make([]byte, 4*len(p.State))
	for k, w := range p.State {
		binary.LittleEndian.PutUint32(img[4*k:], w)
	}
	for _, confirm := range []string{"", "OTPPROV_CONFIRM_SECURITY=SRK_LOCK", "OTPPROV_CONFIRM_SECURITY=SEC_CONFIG_CLOSE,SRK_LOCKX"} {
		path := writeFile(t, img)
		var env []string
		if confirm != "" {
			env = append(env, confirm)
		}
		_, stderr, code := runScript(t, script, path, env...)
		if code != 1 || !strings.Contains(stderr, "set OTPPROV_CONFIRM_SECURITY=SRK_LOCK,SEC_CONFIG_CLOSE to confirm") {
			t.Errorf("%q: exit %d, stderr:\n%s", confirm, code, stderr)
		}
		if !bytes.Equal(readFile(t, path), img) {
			t.Errorf("%q: the image changed", confirm)
		}
	}
	// Named, in any order: every burn is done (the image holds zeros where
	// the burns go, so it ends as the plan's after state).
	path := writeFile(t, img)
	stdout, stderr, code := runScript(t, script, path, "OTPPROV_CONFIRM_SECURITY=SEC_CONFIG_CLOSE,SRK_LOCK")
	if code != 0 {
		t.Fatalf("confirmed: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	after := p.After()
	for k, w := range nvmem.Words(readFile(t, path)) {
		if w != after[k] {
			t.Errorf("word %d: 0x%08x, want 0x%08x", k, w, after[k])
		}
	}
}

// On i.MX6, from bank 6 on, the script reads (checks) at the read offset
// and writes at the write offset. An image file has one layout and cannot
// show this, so the script text is inspected.
func TestShellIMX6Offsets(t *testing.T) {
	script := string(render(t, Shell, imx6Plan(t), opts))
	writes := regexp.MustCompile(`printf '([^']*)' \| dd of="\$NVMEM" bs=4 count=1 seek=(\d+) conv=notrunc`).FindAllStringSubmatch(script, -1)
	if len(writes) != 1 || writes[0][2] != "48" || writes[0][1] != `\074\245\000\000` {
		t.Fatalf("writes %q, want one of \\074\\245\\000\\000 at seek=48", writes)
	}
	for _, line := range []string{"before 6 0 64 00000000", "after 6 0 64 0000a53c", "[ \"$size\" = 512 ]"} {
		if !strings.Contains(script, line+"\n") && !strings.Contains(script, line) {
			t.Errorf("script lacks %q", line)
		}
	}
	if strings.Contains(script, "seek=64") || regexp.MustCompile(`\b(before|after) 6 0 48\b`).MatchString(script) {
		t.Error("the script writes at the read offset or reads at the write offset")
	}
	if !strings.Contains(script, `skip="$1"`) {
		t.Error("the word reader does not use skip=")
	}
}

// Each delta goes to printf as its little-endian bytes in octal escapes:
// dash prints \xNN literally.
func TestShellPrintfBytes(t *testing.T) {
	script := string(render(t, Shell, securePlan(t), opts))
	if regexp.MustCompile(`(?m)^[^#]*\\x`).MatchString(script) {
		t.Error(`the script uses \x escapes`)
	}
	for _, want := range []string{
		`printf '\000\002\000\000' | dd of="$NVMEM" bs=4 count=1 seek=0 conv=notrunc`,  // SRK_LOCK 0x00000200
		`printf '\000\000\000\002' | dd of="$NVMEM" bs=4 count=1 seek=7 conv=notrunc`,  // SEC_CONFIG_CLOSE 0x02000000
		`printf '\053\272\317\234' | dd of="$NVMEM" bs=4 count=1 seek=24 conv=notrunc`, // SRK_HASH word 0: file bytes 2b ba cf 9c
	} {
		if !strings.Contains(script, want) {
			t.Errorf("script lacks %s", want)
		}
	}
}

func TestRefusals(t *testing.T) {
	m := loadMap(t, "imx8mm")
	state := make([]uint32, m.Words)
	state[m.ReadIndex(14, 0)] = 0x00000001
	rejected := makePlan(t, gpSource, m, state, target(m, 14, 0, 0x2, 0x3, "board-rev"))
	if !rejected.Rejected() {
		t.Fatal("the conflict plan is not rejected")
	}
	secret := target(m, 14, 1, 0x5, 0xf, "key")
	secret.Secret = 0xf
	secretPlan := makePlan(t, gpSource, m, make([]uint32, m.Words), target(m, 14, 0, 0x2, 0x3), secret)
	if len(secretPlan.Writes()) != 2 {
		t.Fatalf("secret plan: %d writes", len(secretPlan.Writes()))
	}
	for _, tc := range []struct {
		name   string
		f      Format
		p      *planner.Plan
		opts   Options
		want   error
		reason string
	}{
		{"rejected", UBoot, rejected, opts, ErrRejected, "bank 14 word 0 is conflict"},
		{"rejected", UUU, rejected, opts, ErrRejected, "bank 14 word 0 is conflict"},
		{"rejected", Shell, rejected, opts, ErrRejected, "bank 14 word 0 is conflict"},
		{"secret", UBoot, secretPlan, opts, ErrSecret, "bank 14 word 1"},
		{"secret", UUU, secretPlan, opts, ErrSecret, "bank 14 word 1"},
		{"secret", Shell, secretPlan, opts, ErrSecret, "plain text"},
		{"format", Format("bash"), gpPlan(t), opts, ErrFormat, `"bash" (known: uboot, uuu, sh)`},
		{"format", Format(""), gpPlan(t), opts, ErrFormat, "known"},
		{"device", Shell, gpPlan(t), Options{Device: "/dev/x\nrm -rf /"}, nil, "control character"},
	} {
		t.Run(tc.name+"."+string(tc.f), func(t *testing.T) {
			var b bytes.Buffer
			err := Write(&b, tc.f, tc.p, tc.opts)
			if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) || !strings.Contains(err.Error(), tc.reason) {
				t.Errorf("error %v, want %v with %q", err, tc.want, tc.reason)
			}
			if b.Len() != 0 {
				t.Errorf("wrote %d bytes on refusal", b.Len())
			}
		})
	}
}

// Text from the manifest stays inside comments: a newline in a file name
// must not become a line of the script.
func TestCommentsStayComments(t *testing.T) {
	p := gpPlan(t)
	p.Source.File = "board.yaml\nfuse prog -y 0 0 0xffffffff"
	p.Source.Name = "x\"; reset; echo \""
	for _, f := range Formats() {
		s := string(render(t, f, p, opts))
		for _, line := range strings.Split(s, "\n") {
			if strings.HasPrefix(line, "fuse prog -y 0 0") || strings.Contains(line, "reset;") && !strings.HasPrefix(line, "#") {
				t.Errorf("%s: %q escaped its comment", f, line)
			}
		}
	}
}

// A signed plan's script names its release and signer, on lines a U-Boot
// console takes whatever the principals' length.
func TestHeaderRelease(t *testing.T) {
	p := securePlan(t)
	p.Source.Release = &planner.Release{Status: planner.ReleaseSigned, Name: "gw-1.4", Digest: "sha256:ab",
		Signer: strings.Repeat("release@acme.example,", 20), KeyType: "ssh-ed25519", Fingerprint: "SHA256:xyz"}
	for _, f := range Formats() {
		s := string(render(t, f, p, opts))
		for _, want := range []string{"release:     gw-1.4 (sha256:ab), signed\n", "signed by release@acme.example,", ", key ssh-ed25519 SHA256:xyz\n"} {
			if !strings.Contains(s, want) {
				t.Errorf("%s: header lacks %q", f, want)
			}
		}
		for _, l := range strings.Split(s, "\n") {
			if len(l) > 254 {
				t.Errorf("%s: a line of %d bytes: %.60s...", f, len(l), l)
			}
		}
	}
}

// The header names the tool, the manifest, the soc, the board and state,
// and for a plan with warnings shows each, with the security fields.
func TestHeader(t *testing.T) {
	p := securePlan(t)
	for _, f := range Formats() {
		s := string(render(t, f, p, opts))
		for _, want := range []string{
			"generated by otpprov v1.2.3",
			"manifest:    cc8mm-secure-boot-sample (secure-boot.yaml, sha256:0c9b",
			"release:     unsigned: no release was given when the plan was made",
			"soc:         imx8mm",
			"planned for: UNIQUE_ID " + p.UniqueID,
			"state:       " + p.StateDigest,
			"WARNING: this script makes irreversible changes",
			"SEC_CONFIG_CLOSE: closes the part",
			"Security fields burned: SRK_LOCK, SEC_CONFIG_CLOSE",
		} {
			if !strings.Contains(s, want) {
				t.Errorf("%s: header lacks %q", f, want)
			}
		}
		for _, w := range p.Warnings() {
			if !strings.Contains(s, "#   "+w.Field+": "+w.Message+"\n") {
				t.Errorf("%s: no warning line for %s: %s", f, w.Field, w.Message)
			}
		}
	}
	if s := string(render(t, Shell, gpPlan(t), opts)); strings.Contains(s, "WARNING") {
		t.Error("a plan without warnings has a WARNING block")
	}
}

// The script runs under busybox alone, as on a board's minimal rootfs:
// its sh, dd, od, tr, cat, wc and printf, and nothing else on PATH. CI
// installs busybox and fails without it; elsewhere the test says it did
// not run.
func TestShellBusybox(t *testing.T) {
	bb, err := exec.LookPath("busybox")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("busybox is not installed, and CI must run this test (.ci/run installs busybox-static)")
		}
		t.Skip("busybox is not installed: this test did not run")
	}
	bin := t.TempDir()
	for _, applet := range []string{"sh", "dd", "od", "tr", "cat", "wc", "printf"} {
		if err := os.Symlink(bb, filepath.Join(bin, applet)); err != nil {
			t.Fatal(err)
		}
	}
	p := gpPlan(t)
	path := writeFile(t, digiImage(t))
	sh := filepath.Join(t.TempDir(), "burn.sh")
	if err := os.WriteFile(sh, render(t, Shell, p, opts), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(bin, "sh"), sh)
	cmd.Env = []string{"PATH=" + bin, "NVMEM=" + path}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("busybox sh: %v\n%s", err, out)
	}
	after := p.After()
	for k, w := range nvmem.Words(readFile(t, path)) {
		if w != after[k] {
			t.Errorf("word %d: 0x%08x, want 0x%08x", k, w, after[k])
		}
	}
	burned := readFile(t, path)
	again := exec.Command(filepath.Join(bin, "sh"), sh)
	again.Env = cmd.Env
	out, err = again.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 || !strings.Contains(string(out), "bank 14 word 0 reads 0x00000203") {
		t.Errorf("second run under busybox: %v\n%s", err, out)
	}
	if !bytes.Equal(readFile(t, path), burned) {
		t.Error("the second run changed the image")
	}
}
