package systemd

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
)

// Runner runs a command and returns its standard output. Client uses it
// only for journalctl: go-systemd's sdjournal needs cgo and libsystemd, and
// there is no pure-Go journal reader. Tests inject one that runs journalctl
// inside a systemd booted in another namespace (nsenter), or a fake.
type Runner func(ctx context.Context, name string, args ...string) ([]byte, error)

// ExecRunner runs the command on this host; stderr is folded into the
// error so a journalctl failure explains itself.
func ExecRunner(ctx context.Context, name string, args ...string) ([]byte, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		if msg := strings.TrimSpace(stderr.String()); msg != "" {
			return nil, fmt.Errorf("%s: %w: %s", name, err, msg)
		}
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return stdout.Bytes(), nil
}

func journalArgs(unit string, n int) []string {
	// -q drops "-- No entries --" so an empty journal yields no lines.
	return []string{"--unit=" + unit, "-n", strconv.Itoa(n), "--no-pager", "-o", "cat", "-q"}
}

func splitLines(out []byte) []string {
	s := strings.TrimRight(string(out), "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// JournalTail returns the unit's last n journal lines, oldest first.
func (c *Client) JournalTail(ctx context.Context, unit string, n int) ([]string, error) {
	u, err := normalize(unit)
	if err != nil {
		return nil, err
	}
	if n <= 0 {
		return nil, nil
	}
	out, err := c.run(ctx, "journalctl", journalArgs(u, n)...)
	if err != nil {
		return nil, fmt.Errorf("systemd: journal of %s: %w", u, err)
	}
	return splitLines(out), nil
}

// syncJournal asks journald to store everything logged so far: a unit's
// last words travel through a stream socket and may still be queued
// when its start job reports failure. Best effort: without it the tail
// may just miss a line.
func (c *Client) syncJournal(ctx context.Context) {
	_, _ = c.run(ctx, "journalctl", "--sync")
}
