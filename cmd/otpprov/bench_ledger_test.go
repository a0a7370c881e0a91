package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkApplyLedger is what --ledger adds to the apply of one unit on
// an SQLite ledger: the same manifest applied to a new blank image each
// time, its MAC and serial given with --var, then taken from the ledger
// (allocated, committed, marked burned), timed in the same run.
// x-without is the ratio (the goal: at most 1.5).
func BenchmarkApplyLedger(b *testing.B) {
	dir := b.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			b.Fatal(err)
		}
		return p
	}
	const manifest = `apiVersion: otpprov/v1
kind: FuseManifest
metadata: {name: unit}
soc: imx8mm
variables:
  mac0: {type: mac, pool: eth}
  serial: {type: u32, pool: serial}
fuses:
  - {field: MAC_ADDR0, value: "${mac0}"}
  - {bank: 14, word: 1, value: "${serial}"}
`
	m := write("m.yaml", manifest)
	pools := write("pools.yaml", "apiVersion: otpprov/v1\nkind: IdentityPools\nmetadata: {name: p}\npools:\n  eth: {type: mac, ranges: [\"00:04:9f:00:00:00-00:04:9f:ff:ff:ff\"]}\n  serial: {type: u32, ranges: [\"1-4000000000\"]}\n")
	ledgerURL := "sqlite:" + filepath.Join(dir, "l.db")
	devnull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer devnull.Close()
	runOK := func(args ...string) {
		e := terminal(devnull, devnull, devnull)
		if code := run(context.Background(), append([]string{"otpprov"}, args...), e); code != exitOK {
			b.Fatalf("%v: exit %d", args, code)
		}
		e.Flush()
	}
	runOK("ledger", "init", "--ledger", ledgerURL, pools)
	unit := 0
	image := func() string {
		unit++
		img := make([]byte, 1024)
		binary.LittleEndian.PutUint32(img[4:], uint32(unit)) // UNIQUE_ID, low word
		binary.LittleEndian.PutUint32(img[8:], 0x1234)
		p := filepath.Join(dir, "board.img")
		if err := os.WriteFile(p, img, 0o644); err != nil {
			b.Fatal(err)
		}
		return p
	}
	var without, with time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		dev := image()
		b.StartTimer()
		start := time.Now()
		runOK("apply", "--auto-approve", "--device-kind", "image", "--soc", "imx8mm", "--device", dev,
			"--var", fmt.Sprintf("mac0=00:04:9f:00:%02x:%02x", (i>>8)&0xff, i&0xff), "--var", fmt.Sprintf("serial=%d", i+1), m)
		without += time.Since(start)
		b.StopTimer()
		dev = image()
		b.StartTimer()
		start = time.Now()
		runOK("apply", "--auto-approve", "--device-kind", "image", "--soc", "imx8mm", "--device", dev, "--ledger", ledgerURL, m)
		with += time.Since(start)
	}
	b.StopTimer()
	b.ReportMetric(float64(without.Microseconds())/float64(b.N), "us-without")
	b.ReportMetric(float64(with.Microseconds())/float64(b.N), "us-with-ledger")
	b.ReportMetric(with.Seconds()/without.Seconds(), "x-without")
}
