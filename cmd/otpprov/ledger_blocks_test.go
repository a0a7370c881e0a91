package main

import (
	"context"
	"path/filepath"
	"testing"
)

// blockFixture reserves a block of pool b for the station st1 (b.block),
// imports it into station.db, returns it (b.return) and takes the return
// back once, so that every run of the block cases prints the same.
func blockFixture(t *testing.T, s *session, dir string) {
	t.Helper()
	ledger, station := "sqlite:"+filepath.Join(dir, "ledger.db"), "sqlite:"+filepath.Join(dir, "station.db")
	block, ret := filepath.Join(dir, "b.block"), filepath.Join(dir, "b.return")
	for _, args := range [][]string{
		{"ledger", "reserve", "--ledger", ledger, "--pool", "b", "--count", "2", "--station", "st1", "--out", block},
		{"ledger", "import-block", "--ledger", station, "--station", "st1", block},
		{"ledger", "return-block", "--ledger", station, "--out", ret, block},
		{"ledger", "return", "--ledger", ledger, ret},
	} {
		if code := s.run(context.Background(), nil, args...); code != exitOK {
			t.Fatalf("fixture %v: exit %d: %s", args, code, &s.stderr)
		}
	}
}
