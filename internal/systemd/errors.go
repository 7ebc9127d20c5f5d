package systemd

import (
	"errors"
	"fmt"
	"strings"

	"github.com/godbus/dbus/v5"
)

var (
	// ErrJobFailed matches every *JobError.
	ErrJobFailed = errors.New("systemd job did not complete")
	// ErrNoSuchUnit: systemd knows no unit file of that name.
	ErrNoSuchUnit = errors.New("no such unit")
	// ErrUnitMasked: the unit is masked and cannot be started.
	ErrUnitMasked = errors.New("unit is masked")
)

// JobError reports a job that systemd finished with a result other than
// "done".
type JobError struct {
	Op     string // start, stop, restart, try-restart
	Unit   string
	Result string // canceled, timeout, failed, dependency, skipped, ...
	// UnitResult is the unit's own Result property after the job
	// (exit-code, signal, timeout, ...); empty if it could not be read.
	UnitResult string
	// Journal holds the unit's last journal lines for a failed start.
	Journal []string
	// JournalErr is why Journal is empty when reading it failed; kept
	// apart so it never masks the job's own failure.
	JournalErr error
}

func (e *JobError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "systemd: %s %s: job %s", e.Op, e.Unit, e.Result)
	if e.UnitResult != "" && e.UnitResult != "success" {
		fmt.Fprintf(&b, " (unit result: %s)", e.UnitResult)
	}
	if len(e.Journal) > 0 {
		fmt.Fprintf(&b, "; last journal lines:")
		for _, l := range e.Journal {
			b.WriteString("\n    ")
			b.WriteString(l)
		}
	} else if e.JournalErr != nil {
		fmt.Fprintf(&b, " (journal unavailable: %v)", e.JournalErr)
	}
	return b.String()
}

func (e *JobError) Is(target error) bool { return target == ErrJobFailed }

// sentinelError lets errors.Is match a D-Bus error by its error name (a
// protocol identifier, not message text) while keeping systemd's message.
type sentinelError struct {
	sentinel error
	err      error
}

func (e *sentinelError) Error() string   { return e.err.Error() }
func (e *sentinelError) Unwrap() []error { return []error{e.sentinel, e.err} }

func classify(err error) error {
	var name string
	var de dbus.Error
	var pde *dbus.Error
	switch {
	case errors.As(err, &de):
		name = de.Name
	case errors.As(err, &pde):
		name = pde.Name
	default:
		return err
	}
	switch name {
	case "org.freedesktop.systemd1.NoSuchUnit":
		return &sentinelError{ErrNoSuchUnit, err}
	case "org.freedesktop.systemd1.UnitMasked":
		return &sentinelError{ErrUnitMasked, err}
	}
	return err
}
