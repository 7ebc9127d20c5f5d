// Command stacklab turns a fresh two-NIC Debian VM (12 or 13) into an all-in-one
// OpenStack lab, keeps it healthy and runs the lab's tasks on it.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/urfave/cli/v3"

	"github.com/stacklab/stacklab/checks/host"
	"github.com/stacklab/stacklab/internal/cloud"
	"github.com/stacklab/stacklab/internal/fix"
	"github.com/stacklab/stacklab/internal/lock"
	"github.com/stacklab/stacklab/internal/systemd"
	"github.com/stacklab/stacklab/netcfg"
)

// Exit codes, documented in the README: scripts depend on them.
const (
	exitOK      = 0
	exitFailed  = 1 // a check failed or an operation did not reach its goal
	exitUsage   = 2 // bad flags or arguments, or an internal error
	exitAborted = 130
)

// version is set by the linker for releases.
var version = "dev"

func main() {
	ctx, stop := interruptContext()
	code := run(ctx, os.Args, os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// interruptContext is canceled by the first SIGINT or SIGTERM, so that a
// command stops cleanly where it can; the signals go back to their default
// action before the cancel, so that a second one ends the process even when
// it is stuck where no context reaches (a blocking read, a wedged syscall).
func interruptContext() (context.Context, context.CancelFunc) {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		select {
		case <-sigs:
		case <-ctx.Done():
		}
		signal.Stop(sigs)
		cancel()
	}()
	return ctx, cancel
}

// failure is an error that should end the program with a given exit code.
// Commands return it when their work completed but the verdict is negative
// (a failed check, an install that stopped at a phase).
type failure struct {
	code int
	err  error
}

func (f *failure) Error() string { return f.err.Error() }
func (f *failure) Unwrap() error { return f.err }

type usageError struct{ err error }

func (u *usageError) Error() string { return u.err.Error() }
func (u *usageError) Unwrap() error { return u.err }

func usagef(format string, a ...any) error {
	return &usageError{err: fmt.Errorf(format, a...)}
}

// run is main without the process: it takes its streams and returns the exit
// code, so the whole CLI is testable in-process.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	app := newApp(defaultEnv(stdin, stdout, stderr))
	err := app.Run(ctx, args)
	return exitCode(ctx, err, stderr)
}

func exitCode(ctx context.Context, err error, stderr io.Writer) int {
	if err == nil {
		return exitOK
	}
	// Whatever wrapped it, a URL's password never reaches the terminal.
	stderr = redactingWriter{stderr}
	var f *failure
	var u *usageError
	switch {
	case errors.As(err, &f):
		if f.err != nil && f.err.Error() != "" {
			fmt.Fprintln(stderr, "stacklab:", fix.Message(f.err))
		}
		return f.code
	case errors.As(err, &u):
		fmt.Fprintln(stderr, "stacklab:", u.err)
		return exitUsage
	case ctx.Err() != nil && errors.Is(err, context.Canceled):
		fmt.Fprintln(stderr, "stacklab: interrupted")
		return exitAborted
	default:
		fmt.Fprintln(stderr, "stacklab:", fix.Message(err))
		return exitUsage
	}
}

// redactingWriter hides URL passwords (http://user:pw@host) in each write.
type redactingWriter struct{ w io.Writer }

func (r redactingWriter) Write(p []byte) (int, error) {
	if _, err := io.WriteString(r.w, cloud.RedactURLs(string(p))); err != nil {
		return 0, err
	}
	return len(p), nil
}

func newApp(env *env) *cli.Command {
	return &cli.Command{
		Name:      "stacklab",
		Usage:     "build, check and drive an all-in-one OpenStack lab on a two-NIC VM",
		Version:   version,
		Writer:    env.stdout,
		ErrWriter: env.stderr,
		// We map errors to exit codes ourselves; cli must never os.Exit.
		ExitErrHandler: func(context.Context, *cli.Command, error) {},
		OnUsageError: func(_ context.Context, _ *cli.Command, err error, _ bool) error {
			return &usageError{err: err}
		},
		EnableShellCompletion: true,
		Flags: []cli.Flag{
			&cli.StringFlag{
				Name: "output", Aliases: []string{"o"}, Value: "text",
				Usage: "output format: text or json",
				Validator: func(s string) error {
					if s != "text" && s != "json" {
						return usagef("--output must be text or json, not %q", s)
					}
					return nil
				},
			},
			&cli.BoolFlag{Name: "no-color", Usage: "plain output even on a terminal"},
			&cli.BoolFlag{Name: "verbose", Aliases: []string{"v"}, Usage: "show evidence for every check"},
		},
		Commands: env.commands(),
	}
}

// env carries the streams and the host's side effects to every command;
// there is no package-level state. Tests replace the side effects to point
// the real code at a network namespace and a temporary root.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	// network opens the NICs to read and configure.
	network func() (netcfg.Host, error)
	// readings reads the hardware and OS.
	readings func() host.Readings
	// units connects to systemd.
	units func(ctx context.Context) (unitController, error)
	// lockPath is the lock every changing command takes (lockLab).
	lockPath string
}

func defaultEnv(stdin io.Reader, stdout, stderr io.Writer) *env {
	return &env{
		stdin: stdin, stdout: stdout, stderr: stderr,
		lockPath: lock.Path,
		network:  hostNetwork,
		readings: func() host.Readings { return host.NewSystem() },
		units: func(ctx context.Context) (unitController, error) {
			c, err := systemd.Connect(ctx)
			if err != nil {
				return nil, fmt.Errorf("connect to systemd: %w (is this the lab host, and are you root?)", err)
			}
			return c, nil
		},
	}
}

func (e *env) commands() []*cli.Command {
	return []*cli.Command{
		e.preflightCommand(),
		e.netCommand(),
		e.configCommand(),
		e.imageCommand(),
		e.installCommand(),
		e.servicesCommand(),
		e.uninstallCommand(),
		e.doctorCommand(),
		e.runCommand(),
		e.consoleCommand(),
		e.upCommand(),
	}
}
