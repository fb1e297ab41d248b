// Command exchange is the whole exchange in one binary: the HTTP server and
// the operational tasks around it, chosen by subcommand.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"slices"
	"sort"
	"strings"
	"syscall"

	"github.com/crypto-exchange/exchange/service/internal/buildinfo"
	"github.com/crypto-exchange/exchange/service/internal/config"
)

// command is one subcommand. run returns the process exit code.
type command struct {
	summary string
	run     func(ctx context.Context, env *environment, args []string) error
	// env lists the environment variables the subcommand reads, for its
	// --help; the config loaders describe their own.
	env func() []config.Variable
}

// Variables some subcommands read themselves, beside the loaders'.
var (
	adminPasswordVar = config.Variable{Name: "ADMIN_PASSWORD", Doc: "the new admin's password (else read from stdin)"}
	goMemLimitVar    = config.Variable{Name: "GOMEMLIMIT", Default: "3/4 of the cgroup's memory limit", Doc: "Go's soft memory limit for the dump's upload buffers"}
)

// vars joins variable lists for a subcommand's help.
func vars(lists ...[]config.Variable) func() []config.Variable {
	return func() []config.Variable { return slices.Concat(lists...) }
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
	logDB := vars(config.DescribeLogLevel(), config.DescribeDatabase())
	backupVars := vars(config.DescribeLogLevel(), config.DescribeDatabase(), config.DescribeBackup())
	return map[string]command{
		"serve": {"run the HTTP server (API, health, metrics)", runServe,
			vars(config.DescribeLogLevel(), config.DescribeServer(), config.DescribeDatabase(), []config.Variable{goGCVar, serveMemLimitVar})},
		"migrate": {"apply database migrations and exit (--seed also lists the default assets and markets)", runMigrate, logDB},
		"dev": {"run everything locally: a throwaway PostgreSQL, demo mode, an admin account", runDev,
			vars(config.DescribeLogLevel(), config.DescribeServer())},
		"check-ledger":  {"verify the ledger invariants; exit 1 with a report if one fails", runCheckLedger, logDB},
		"create-admin":  {"create an admin user (--email; password from ADMIN_PASSWORD or stdin)", runCreateAdmin, vars(logDB(), []config.Variable{adminPasswordVar})},
		"backup":        {"dump the database into S3 (--prune-older-than 30d also deletes old backups)", runBackup, vars(backupVars(), []config.Variable{goMemLimitVar})},
		"restore":       {"restore a backup (--latest or --key K) into DATABASE_URL or --target-url (--force if not empty)", runRestore, backupVars},
		"verify-backup": {"restore the newest backup into a scratch database and check it; exit 1 if anything differs", runVerifyBackup, backupVars},
		"verify-proof":  {"check a proof-of-liabilities proof FILE offline (- reads stdin; --root the published root); exit 1 if it fails", runVerifyProof, vars()},
		"version":       {"print the version and build of this binary", runVersion, vars()},
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
	var help helpRequested
	switch {
	case err == nil:
		return 0
	case errors.As(err, &help):
		commandUsage(env.stdout, args[0], cmd, help.fs)
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
	b.WriteString("\nConfiguration comes from the environment: `exchange <command> --help` lists\nthe flags and variables of each command.\n")
	io.WriteString(w, b.String())
}

// commandUsage is one subcommand's --help: its flags and the environment
// variables it reads, with their defaults.
func commandUsage(w io.Writer, name string, cmd command, fs *flag.FlagSet) {
	var b strings.Builder
	fmt.Fprintf(&b, "usage: exchange %s [flags]\n\n%s\n", name, cmd.summary)
	flags := false
	fs.VisitAll(func(*flag.Flag) { flags = true })
	if flags {
		b.WriteString("\nflags:\n")
		fs.SetOutput(&b)
		fs.PrintDefaults()
	}
	if vs := cmd.env(); len(vs) > 0 {
		b.WriteString("\nenvironment:\n")
		for _, v := range vs {
			fmt.Fprintf(&b, "  %s\n    \t%s", v.Name, v.Doc)
			if v.Default != "" {
				fmt.Fprintf(&b, " (default %s)", v.Default)
			}
			if v.Allowed != "" {
				fmt.Fprintf(&b, " [%s]", v.Allowed)
			}
			b.WriteString("\n")
		}
	} else {
		b.WriteString("\nenvironment: none (it reads no variable)\n")
	}
	io.WriteString(w, b.String())
}

// runVersion prints what `exchange version` promises: the version stamped
// at build time, the commit, and the toolchain and platform.
func runVersion(_ context.Context, env *environment, args []string) error {
	if err := parseFlags(flag.NewFlagSet("version", flag.ContinueOnError), args); err != nil {
		return err
	}
	fmt.Fprintf(env.stdout, "exchange %s (revision %s, %s, %s/%s)\n", buildinfo.Version, buildinfo.Revision(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return nil
}
