package applier

import (
	"bytes"
	"flag"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/otpprov/otpprov/export"
	"github.com/otpprov/otpprov/internal/ubootsandbox"
	"github.com/otpprov/otpprov/planner"
)

var modelScripts = flag.Int("model.scripts", 12, "model scripts test: how many of the model's plans to run as U-Boot scripts and uuu lists (make soak-scripts runs more)")

// The model's random plans, rendered as a U-Boot script and a uuu list
// and run in the U-Boot sandbox (internal/ubootsandbox) on the board the
// plan was made against: each burns exactly the plan and exits 0; on
// another part (its UNIQUE_ID changed) each burns nothing and fails.
// The plans are the model cases from -model.seed on that plan at least
// one burn and that a script may carry (no secret, not rejected), on SoCs
// whose nvmem reads and writes agree (the sandbox's fuse file has one
// layout; the i.MX6 offset gap is the sh script's, tested there).
func TestModelScripts(t *testing.T) {
	s := ubootsandbox.Require(t)
	dir := t.TempDir()
	start := time.Now()
	runs, used, secure, bound := 0, 0, 0, 0
	socs := map[string]int{}
	for n := 0; used < *modelScripts && n < 200*(*modelScripts+1); n++ {
		c := runModelCase(*modelSeed, n, dir)
		p := c.plan
		if c.err != nil || p == nil || p.Rejected() || len(p.Writes()) == 0 || p.HasSecrets() || !oneLayout(p) {
			continue
		}
		used++
		socs[p.SoC.Name]++
		if len(p.Security()) > 0 {
			secure++
		}
		if ok, _ := p.Binding(); ok {
			bound++
		}
		for _, f := range []export.Format{export.UBoot, export.UUU} {
			var script bytes.Buffer
			if err := export.Write(&script, f, p, export.Options{}); err != nil {
				t.Errorf("case %d (-model.seed=%d -model.case=%d): %s: %v", n, *modelSeed, n, f, err)
				continue
			}
			sec := strings.Join(securityNames(p), ",")
			run := func(b ubootsandbox.Board) ubootsandbox.Result {
				t.Helper()
				var r ubootsandbox.Result
				var err error
				if f == export.UUU {
					var env []string
					if sec != "" {
						env = []string{"OTPPROV_CONFIRM_SECURITY=" + sec}
					}
					r, err = s.UUU(b, script.Bytes(), "", env...)
				} else {
					setup := ""
					if sec != "" {
						setup = "setenv otpprov_confirm_security " + sec
					}
					r, err = s.ScriptText(b, script.Bytes(), setup)
				}
				if err != nil {
					t.Fatal(err)
				}
				runs++
				return r
			}
			what := fmt.Sprintf("case %d (-model.seed=%d -model.case=%d, %s, %d writes) %s", n, *modelSeed, n, p.SoC.Name, len(p.Writes()), f)
			b := ubootsandbox.NewBoard(p.Map, p.State)
			if r := run(b); r.Exit != 0 || !equalWords(r.Words, p.After()) {
				t.Errorf("%s: exit %d, burned %s; want the plan\n%s", what, r.Exit, r.Burned(b), r.Console)
			}
			if bound, _ := p.Binding(); !bound {
				continue
			}
			other := ubootsandbox.NewBoard(p.Map, p.State)
			id := p.Map.Identity().Parts[0]
			other.Words[p.SoC.ReadIndex(id.Bank, id.Word)] ^= 0x00000100
			if r := run(other); r.Exit == 0 || r.Burned(other) != "" {
				t.Errorf("%s, on another part: exit %d, burned %s; want nothing\n%s", what, r.Exit, r.Burned(other), r.Console)
			}
		}
	}
	if used < *modelScripts {
		t.Errorf("only %d of the model's cases made a plan a script can carry, want %d", used, *modelScripts)
	}
	t.Logf("%d model plans (%d burn security fields, %d bound to a UNIQUE_ID; by SoC %v), %d U-Boot runs, seed %d, in %v",
		used, secure, bound, socs, runs, *modelSeed, time.Since(start).Round(time.Millisecond))
}

// oneLayout: the SoC's nvmem reads every word where it is written.
func oneLayout(p *planner.Plan) bool {
	for k := 0; k < p.SoC.Words; k++ {
		if b, w, ok := p.SoC.BankWord(k); !ok || p.SoC.ReadIndex(b, w) != k || p.SoC.WriteIndex(b, w) != k {
			return false
		}
	}
	return true
}

func securityNames(p *planner.Plan) []string {
	var out []string
	for _, f := range p.Security() {
		out = append(out, f.Name)
	}
	return out
}

func equalWords(a, b []uint32) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if a[k] != b[k] {
			return false
		}
	}
	return true
}
