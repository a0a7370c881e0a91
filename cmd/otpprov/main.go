// Command otpprov provisions i.MX eFuses from a declarative manifest.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	// SIGINT/SIGTERM cancel the context: apply finishes the word in
	// flight, stops and reports, instead of dying between write and verify.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args, terminal(os.Stdin, os.Stdout, os.Stderr))
	stop()
	os.Exit(code)
}
