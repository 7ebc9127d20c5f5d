package installer

import (
	"context"
	"fmt"
	"io/fs"
	"strings"
	"time"

	"github.com/stacklab/stacklab/installer/apt"
	"github.com/stacklab/stacklab/installer/identity"
	"github.com/stacklab/stacklab/installer/openstack"
	"github.com/stacklab/stacklab/internal/cloud"
	"github.com/stacklab/stacklab/internal/systemd"
)

// Host is every side effect the lab phases have, each behind a small
// interface owned here, so the convergence logic is tested against fakes
// (lab_test.go) and NewHost wires the real packages.
type Host struct {
	Files    Files
	Units    Units
	Exec     Executor
	Packages Packages
	Probes   Prober
	Cloud    Cloud
	// Switch is the lab's Open vSwitch database; nil where the lab has
	// none (linuxbridge), and then no phase asks for it.
	Switch Switch
}

// Switch converges the lab's OVS bridges (installer/ovs over the real
// database).
type Switch interface {
	ConvergeBridges(ctx context.Context, want []openstack.Bridge, dryRun bool) ([]string, error)
	// RemoveBridges deletes the named bridges with their ports (one
	// already gone is no change) and returns what it deleted (or, with
	// dryRun, would delete).
	RemoveBridges(ctx context.Context, names []string, dryRun bool) ([]string, error)
}

// Files reads and writes the target's files. Paths are absolute paths on
// the target; the real implementation puts them under its root prefix.
type Files interface {
	// ReadFile returns an error matching fs.ErrNotExist for a missing file.
	ReadFile(path string) ([]byte, error)
	// WriteFile replaces the file atomically. An existing file keeps its
	// mode and owner; a new one gets perm (zero values: 0644 root:root).
	WriteFile(path string, data []byte, perm Perm) error
	// Exists reports whether path exists, without following a final
	// symlink (a dangling sites-enabled link exists).
	Exists(path string) (bool, error)
	// Remove deletes path; a missing path is success.
	Remove(path string) error
	// RemoveAll deletes path and everything below it; a missing path is
	// success.
	RemoveAll(path string) error
}

// Perm is the mode and owner of a file we create.
type Perm struct {
	Mode  fs.FileMode
	Owner string
	Group string
}

// Units is the subset of internal/systemd's Client the phases use;
// *systemd.Client implements it.
type Units interface {
	States(ctx context.Context, units ...string) ([]systemd.UnitState, error)
	Start(ctx context.Context, unit string) error
	Restart(ctx context.Context, unit string) error
	Stop(ctx context.Context, unit string) error
	// Enable and Disable change whether units start at boot; neither
	// starts nor stops them.
	Enable(ctx context.Context, units ...string) error
	Disable(ctx context.Context, units ...string) error
	// DaemonReload makes systemd re-read unit files and drop-ins.
	DaemonReload(ctx context.Context) error
	JournalTail(ctx context.Context, unit string, n int) ([]string, error)
}

// Cmd is one command run on the target.
type Cmd struct {
	// User runs it ("" or "root": as root).
	User string
	Argv []string
	// Stdin is fed to the command (SQL for mysql): secrets go here, never
	// into Argv, where any user can read them in /proc.
	Stdin string
	// Env (NAME=value) is added to the command's environment; like
	// Stdin, it is for secrets, and never appears in errors or logs.
	Env []string
	// ReadOnly commands only look (an Unless guard, a SELECT); they are
	// the only ones a dry run executes.
	ReadOnly bool
	// Redact lists values (passwords) to hide in errors and output.
	Redact []string
}

// Executor runs commands, capturing output (stdout and stderr merged).
type Executor interface {
	Run(ctx context.Context, c Cmd) (output []byte, err error)
}

// ExecError is a command that failed. Argv and Output are already
// redacted.
type ExecError struct {
	User     string
	Argv     []string
	ExitCode int // -1 when the command did not run or was killed
	Output   string
	Err      error
}

func (e *ExecError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s", strings.Join(e.Argv, " "))
	if e.User != "" && e.User != "root" {
		fmt.Fprintf(&b, " (as %s)", e.User)
	}
	if e.ExitCode >= 0 {
		fmt.Fprintf(&b, ": exit status %d", e.ExitCode)
	} else if e.Err != nil {
		fmt.Fprintf(&b, ": %v", e.Err)
	}
	if out := strings.TrimSpace(e.Output); out != "" {
		lines := strings.Split(out, "\n")
		if len(lines) > 15 {
			lines = lines[len(lines)-15:]
		}
		b.WriteString("\n  output:")
		for _, l := range lines {
			b.WriteString("\n    " + l)
		}
	}
	return b.String()
}

func (e *ExecError) Unwrap() error { return e.Err }

// redact replaces every secret in s.
func redact(s string, secrets []string) string {
	for _, v := range secrets {
		if v != "" {
			s = strings.ReplaceAll(s, v, "[redacted]")
		}
	}
	return s
}

func redactAll(argv []string, secrets []string) []string {
	out := make([]string, len(argv))
	for i, a := range argv {
		out[i] = redact(a, secrets)
	}
	return out
}

// Packages is the apt subset the packages phase uses; the real one is
// installer/apt's Manager plus dpkg-query.
type Packages interface {
	Missing(ctx context.Context, pkgs []string) ([]string, error)
	Preseed(ctx context.Context, sels []apt.Selection) (changed bool, err error)
	Install(ctx context.Context, pkgs []string, opts apt.InstallOptions) error
	// Purge removes packages with their configuration and data.
	Purge(ctx context.Context, pkgs []string, opts apt.InstallOptions) error
	// HoldServices keeps maintainer scripts from starting services until
	// release is called (apt.HoldServices).
	HoldServices() (release func() error, err error)
	// Versions are the installed versions of pkgs, in one query; a
	// package not installed is absent.
	Versions(ctx context.Context, pkgs []string) (map[string]string, error)
}

// Prober checks one probe once; it must bound its own time (an API that
// accepts TCP and never answers must fail, not hang).
type Prober interface {
	// since is when p.Unit's running process started (zero: no Unit, or
	// unknown).
	Probe(ctx context.Context, p openstack.Probe, since time.Time) error
}

// Cloud is what the keystone phase does through the lab's own API.
type Cloud interface {
	// WriteCredentials writes clouds.yaml and admin-openrc for entry and
	// returns what changed (would change, in a dry run).
	WriteCredentials(entry cloud.CloudEntry, dryRun bool) ([]string, error)
	// ConvergeIdentity runs identity.Converge as the admin of entry.
	ConvergeIdentity(ctx context.Context, entry cloud.CloudEntry, spec identity.Spec, dryRun bool) ([]string, error)
}
