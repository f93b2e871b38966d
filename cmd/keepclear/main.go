// Command keepclear watches the distance between police patrol vehicles and
// harm-reduction sites. See README.md; run "keepclear help" for subcommands.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/keepclear/keepclear/internal/tzdb"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

type command struct {
	name, summary string
	run           func(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int
}

func commands() []command {
	return []command{
		{"serve", "run the server (ingest, API, live map, dashboard)", runServe},
		{"migrate", "apply database migrations", runMigrate},
		{"token", "create or list API tokens", runToken},
		{"report", "write the weekly report as a self-contained HTML file", runReport},
		{"loadgen", "drive a running server and report throughput and latency", runLoadgen},
		{"replay", "run feed files through the detection engine offline; events as NDJSON or CSV", runReplay},
		{"sim", "write a seeded synthetic patrol feed (NDJSON) over a sites file", runSim},
		{"sites", "check a sites file: zones, rules, warnings, open or closed now (sites check FILE)", runSites},
		{"healthcheck", "exit 0 when the server's readiness URL answers 200 (for containers)", runHealthcheck},
		{"version", "print the version and the tz database's (also --version)", runVersion},
	}
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: keepclear <command> [flags]\n\ncommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-12s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun \"keepclear <command> -h\" for a command's flags.")
}

// runVersion prints the build's version and the IANA version of the tz
// database that hours are judged with (the one embedded in the binary;
// `--tzdata system` on serve and replay chooses the host's instead).
func runVersion(_ context.Context, _ []string, _ io.Reader, stdout, _ io.Writer) int {
	fmt.Fprintln(stdout, "keepclear", version)
	fmt.Fprintf(stdout, "tz database: %s; the host's: IANA %s, used only with --tzdata system\n", tzdb.Embedded(), tzdb.System().Version())
	return 0
}

// run is main without the process: testable.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) > 0 && (args[0] == "--version" || args[0] == "-version") {
		return runVersion(ctx, args[1:], stdin, stdout, stderr)
	}
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stdout)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(ctx, args[1:], stdin, stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "keepclear: unknown command %q\n", args[0])
	usage(stderr)
	return 2
}
