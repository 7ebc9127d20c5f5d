// Package apt installs Debian packages the way the installer needs: debconf
// answered in advance, services held back until configured, progress
// reported from apt's status channel, and failures that explain themselves.
package apt

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// Command is one program run. Status, when set, receives what the program
// writes to file descriptor 3, where apt is told to send its machine
// readable progress (APT::Status-Fd=3); a separate channel keeps it from
// interleaving with dpkg's human output.
type Command struct {
	Name   string
	Args   []string
	Env    []string // added to the inherited environment
	Stdin  io.Reader
	Output io.Writer // stdout and stderr together, as a terminal shows them
	Status io.Writer
}

// Runner runs commands; tests substitute a fake.
type Runner interface {
	Run(ctx context.Context, c Command) error
}

// StatusFD is the descriptor Command.Status is read from.
const StatusFD = 3

// ExecRunner runs commands on this machine.
type ExecRunner struct{}

// A maintainer script can leave a daemon holding our pipes open; after the
// command exits, give the readers this long to drain, then stop waiting.
const drainTimeout = 5 * time.Second

func (ExecRunner) Run(ctx context.Context, c Command) error {
	cmd := exec.CommandContext(ctx, c.Name, c.Args...)
	cmd.Env = append(os.Environ(), c.Env...)
	cmd.Stdin = c.Stdin
	cmd.Stdout = c.Output
	cmd.Stderr = c.Output
	// Interrupting dpkg mid-unpack is worse than letting it finish the
	// current package, so ask first.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGINT) }
	cmd.WaitDelay = 30 * time.Second

	var r *os.File
	copied := make(chan error, 1)
	if c.Status != nil {
		var w *os.File
		var err error
		r, w, err = os.Pipe()
		if err != nil {
			return fmt.Errorf("status pipe: %w", err)
		}
		defer r.Close()
		cmd.ExtraFiles = []*os.File{w} // becomes fd 3
		if err := cmd.Start(); err != nil {
			w.Close()
			return fmt.Errorf("start %s: %w", c.Name, err)
		}
		w.Close()
		go func() {
			_, err := io.Copy(c.Status, r)
			copied <- err
		}()
	} else {
		if err := cmd.Start(); err != nil {
			return fmt.Errorf("start %s: %w", c.Name, err)
		}
		copied <- nil
	}
	waitErr := cmd.Wait()
	if r != nil {
		_ = r.SetReadDeadline(time.Now().Add(drainTimeout))
	}
	copyErr := <-copied
	if waitErr != nil {
		return fmt.Errorf("%s: %w", c.Name, waitErr)
	}
	if copyErr != nil && !errors.Is(copyErr, os.ErrDeadlineExceeded) {
		return fmt.Errorf("%s: read status: %w", c.Name, copyErr)
	}
	return nil
}

// exitCode reports a command's exit status, whichever Runner produced the
// error.
func exitCode(err error) (int, bool) {
	var ec interface{ ExitCode() int }
	if errors.As(err, &ec) {
		return ec.ExitCode(), true
	}
	return 0, false
}
