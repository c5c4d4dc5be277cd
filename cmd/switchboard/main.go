// Command switchboard is the Switchboard platform in one binary.
//
//	switchboard serve                 start the platform (migrates first)
//	switchboard migrate [up|status]   apply or list database migrations
//	switchboard admin create --email … --password …
//	switchboard audit verify          check the audit log's chains and signed checkpoints
//	switchboard backup --to FILE      online backup of a SQLite database
//	switchboard restore --from FILE   put a backup back (server stopped)
//	switchboard keys rotate           re-seal stored credentials under a new key
//	switchboard openapi               print the OpenAPI document
//	switchboard workflows export|import   move workflows through the API
//	switchboard version
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/switchboard/switchboard/internal/app"
)

func main() {
	// Resolved once, before anything runs concurrently.
	app.Version = version()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

const usage = `Switchboard — bots, gateways, plugins and durable workflows in one binary.

Usage:
  switchboard serve [flags]                 start the platform (applies migrations first)
  switchboard migrate [up|status] [flags]   apply pending migrations, or list them
  switchboard admin create --email E --password P [--name N] [flags]
                                            create a SUPER_ADMIN account
  switchboard audit verify [flags]          check the audit log's chains and signed checkpoints
  switchboard audit seal|checkpoints export|keys rotate|keys generate
                                            sign, export for a witness, manage the signing keys
  switchboard backup --to FILE              online backup of a SQLite database
  switchboard restore --from FILE           put a backup back (server stopped)
  switchboard keys status|rotate|generate|prune
                                            manage the keys that seal stored credentials
  switchboard openapi                       print the API's OpenAPI 3.1 document (no database needed)
  switchboard workflows export ID | import FILE
                                            export or import a workflow through a node's API
                                            (--api URL, --token T; "switchboard workflows" for more)
  switchboard version                       print the version, commit and build time

Every command takes the configuration flags; run "switchboard serve -h" to list them.
Flags may come before or after a command's arguments, and -h creates nothing.
Each flag can also be set by its SWITCHBOARD_* environment variable.
`

// run executes one command and returns the process exit code.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "serve":
		err = cmdServe(ctx, args[1:], getenv, stdout, stderr)
	case "migrate":
		err = cmdMigrate(ctx, args[1:], getenv, stdout, stderr)
	case "admin":
		err = cmdAdmin(ctx, args[1:], getenv, stdout, stderr)
	case "audit":
		err = cmdAudit(ctx, args[1:], getenv, stdout, stderr)
	case "keys":
		err = cmdKeys(ctx, args[1:], getenv, stdout, stderr)
	case "backup":
		err = cmdBackup(ctx, args[1:], getenv, stdout, stderr)
	case "restore":
		err = cmdRestore(ctx, args[1:], getenv, stdout, stderr)
	case "openapi":
		err = cmdOpenAPI(args[1:], stdout)
	case "workflows":
		err = cmdWorkflows(ctx, args[1:], getenv, os.Stdin, stdout, stderr)
	case "version", "--version", "-v":
		bi, ok := debug.ReadBuildInfo()
		printVersion(stdout, bi, ok)
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "switchboard: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	var ex exitError
	if errors.As(err, &ex) {
		fmt.Fprintln(stderr, "switchboard:", ex.msg)
		return ex.code
	}
	if err != nil {
		fmt.Fprintln(stderr, "switchboard:", err)
		return 1
	}
	return 0
}

// exitError ends a command with a specific exit code.
type exitError struct {
	code int
	msg  string
}

func (e exitError) Error() string { return e.msg }
