// Command stanzascope is an XMPP proxy, inspector and small server. See README.md.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"syscall"

	"github.com/spf13/pflag"
)

// command is one subcommand. Each lives in its own file and registers itself in init, so
// adding a subcommand touches no other file.
type command struct {
	name    string
	summary string // one line for the command list
	// run parses args with its own FlagSet and does the work. It returns a usageError for
	// bad arguments (exit 2), pflag.ErrHelp after printing help (exit 0), or any other error
	// (exit 1). ctx is cancelled on SIGINT/SIGTERM.
	run func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

var commands = map[string]*command{}

func register(c *command) {
	if _, dup := commands[c.name]; dup {
		panic("stanzascope: command registered twice: " + c.name)
	}
	commands[c.name] = c
}

// usageError marks bad command-line usage: the process exits with status 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// reportedError is a failure the command has already explained to the user: the process
// exits with status 1 without printing it a second time.
type reportedError struct{ err error }

func (e reportedError) Error() string { return e.err.Error() }
func (e reportedError) Unwrap() error { return e.err }

// newFlagSet returns a FlagSet for a subcommand that reports errors instead of exiting and
// prints its usage line and flags on --help.
func newFlagSet(name, usage string, stderr io.Writer) *pflag.FlagSet {
	fs := pflag.NewFlagSet(name, pflag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.SortFlags = false
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: stanzascope %s\n\nflags:\n%s", usage, fs.FlagUsages())
	}
	return fs
}

// parseFlags parses args and turns pflag's errors into usageError (help stays ErrHelp).
func parseFlags(fs *pflag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	return nil
}

// defaultCommand runs when stanzascope is started without a subcommand: the proxy in
// front of the embedded switch.
const defaultCommand = "proxy"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	name := defaultCommand
	if len(args) > 0 && (len(args[0]) == 0 || args[0][0] != '-') {
		name, args = args[0], args[1:]
	} else if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
		printUsage(stdout)
		return 0
	}
	if name == "help" {
		printUsage(stdout)
		return 0
	}
	c, ok := commands[name]
	if !ok {
		fmt.Fprintf(stderr, "stanzascope: unknown command %q\n\n", name)
		printUsage(stderr)
		return 2
	}
	err := c.run(ctx, args, stdout, stderr)
	var ue usageError
	var re reportedError
	switch {
	case err == nil, errors.Is(err, pflag.ErrHelp):
		return 0
	case errors.As(err, &re):
		return 1
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "stanzascope %s: %v\n(see: stanzascope %s --help)\n", name, err, name)
		return 2
	default:
		fmt.Fprintf(stderr, "stanzascope %s: %v\n", name, err)
		return 1
	}
}

func printUsage(w io.Writer) {
	fmt.Fprintln(w, "stanzascope: an XMPP proxy, inspector and small server")
	fmt.Fprintln(w, "\nusage: stanzascope [command] [flags]   (no command: the proxy in front of the embedded switch)")
	fmt.Fprintln(w, "\ncommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'stanzascope COMMAND --help' for a command's flags.")
}
