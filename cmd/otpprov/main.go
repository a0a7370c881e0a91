// Command otpprov provisions i.MX eFuses from a declarative manifest.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	// SIGINT, SIGTERM and SIGHUP (the line's SSH session dropped) cancel
	// the context: apply finishes the word in flight, stops, reports and
	// journals, instead of dying between write and verify. A second
	// signal is absorbed too. SIGKILL and the signals not caught here
	// (SIGQUIT) still end the process at once.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	// A reader that went away (otpprov apply | tee log, tee killed) must
	// not kill the process mid-apply: with SIGPIPE ignored, writes to
	// stdout fail with EPIPE and the burn, the read-back and the journal
	// go on; run reports the lost output at the end (internal/output).
	signal.Ignore(syscall.SIGPIPE)
	code := run(ctx, os.Args, terminal(os.Stdin, os.Stdout, os.Stderr))
	stop()
	os.Exit(code)
}
