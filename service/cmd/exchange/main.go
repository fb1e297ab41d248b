// Command exchange is the whole exchange in one binary: the HTTP server and
// the operational tasks around it, chosen by subcommand.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
)

// command is one subcommand. run returns the process exit code.
type command struct {
	summary string
	run     func(ctx context.Context, env *environment, args []string) error
}

// environment is what a subcommand may touch of the outside world; tests
// substitute every part of it.
type environment struct {
	getenv func(string) string
	stdout io.Writer
	stderr io.Writer
	stdin  io.Reader
}

// usageError is a wrong invocation or configuration: exit code 2, one line.
type usageError struct{ err error }

func (u usageError) Error() string { return u.err.Error() }
func (u usageError) Unwrap() error { return u.err }

// failedCheck is a check that ran and found problems: exit code 1, the
// report has already been printed.
var errFailedCheck = errors.New("check failed")

func commands() map[string]command {
	return map[string]command{
		"serve":         {"run the HTTP server (API, health, metrics)", runServe},
		"migrate":       {"apply database migrations and exit (--seed also lists the default assets and markets)", runMigrate},
		"dev":           {"run everything locally: a throwaway PostgreSQL, demo mode, an admin account", runDev},
		"check-ledger":  {"verify the ledger invariants; exit 1 with a report if one fails", runCheckLedger},
		"create-admin":  {"create an admin user (--email; password from ADMIN_PASSWORD or stdin)", runCreateAdmin},
		"backup":        {"dump the database into S3 (--prune-older-than 30d also deletes old backups)", runBackup},
		"restore":       {"restore a backup (--latest or --key K) into DATABASE_URL or --target-url (--force if not empty)", runRestore},
		"verify-backup": {"restore the newest backup into a scratch database and check it; exit 1 if anything differs", runVerifyBackup},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	env := &environment{getenv: os.Getenv, stdout: os.Stdout, stderr: os.Stderr, stdin: os.Stdin}
	os.Exit(run(ctx, env, os.Args[1:]))
}

func run(ctx context.Context, env *environment, args []string) int {
	cmds := commands()
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(env.stderr, cmds)
		return 2
	}
	cmd, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(env.stderr, "exchange: unknown command %q\n", args[0])
		usage(env.stderr, cmds)
		return 2
	}
	err := cmd.run(ctx, env, args[1:])
	var ue usageError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(env.stderr, "exchange %s: %v\n", args[0], ue.err)
		return 2
	case errors.Is(err, errFailedCheck):
		return 1
	default:
		fmt.Fprintf(env.stderr, "exchange %s: %v\n", args[0], err)
		return 1
	}
}

func usage(w io.Writer, cmds map[string]command) {
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString("usage: exchange <command> [flags]\n\ncommands:\n")
	for _, n := range names {
		fmt.Fprintf(&b, "  %-14s %s\n", n, cmds[n].summary)
	}
	b.WriteString("\nConfiguration comes from the environment; see README.md.\n")
	io.WriteString(w, b.String())
}
