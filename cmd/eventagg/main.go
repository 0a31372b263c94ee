// Command eventagg is the event aggregator: `eventagg serve` runs the
// service; publish, subscribe, bench, backup and version are its tools
// (`eventagg help`). main only wires the process to run, so tests can run
// it whole.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=…"; without
// it, versionString reads what Go recorded of the build.
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	stop()
	var exit exitError
	switch {
	case err == nil:
	case errors.Is(err, flag.ErrHelp):
		os.Exit(0)
	case errors.As(err, &exit):
		os.Exit(exit.code)
	default:
		fmt.Fprintln(os.Stderr, "eventagg:", err)
		os.Exit(1)
	}
}

// exitError asks main for a particular exit code; the message, if any, was
// already printed.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

const usage = `eventagg — a durable, deduplicating event aggregator

Usage:
  eventagg serve [flags]            run the HTTP service (embedded SQLite by default)
  eventagg publish [flags] [FILE]   publish events from files or stdin (JSON array or NDJSON)
  eventagg bench [flags]            load a server (or --embedded) and measure it
  eventagg backup [--db PATH] OUT   copy a live SQLite database consistently (the service keeps running)
  eventagg subscribe [flags]        print events as NDJSON as they are stored

Run 'eventagg COMMAND --help' for the flags of a command.
`

// run dispatches to a subcommand. getenv supplies the environment so tests
// can give each run its own.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitError{2}
	}
	switch args[0] {
	case "serve":
		return serve(ctx, args[1:], getenv, stderr)
	case "subscribe":
		return subscribe(ctx, args[1:], getenv, stdout, stderr)
	case "bench":
		return bench(ctx, args[1:], getenv, stdout, stderr)
	case "publish":
		return publish(ctx, args[1:], getenv, stdin, stdout, stderr)
	case "backup":
		return backup(ctx, args[1:], getenv, stdout, stderr)
	case "version", "--version":
		fmt.Fprintln(stdout, "eventagg", versionString())
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprintf(stderr, "eventagg: unknown command %q\n\n%s", args[0], usage)
	return exitError{2}
}
