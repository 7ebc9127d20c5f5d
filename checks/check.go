// Package checks is the framework shared by `stacklab preflight` and
// `stacklab doctor`: a check is a small value that inspects one thing and
// returns a Result with evidence and a fix; the runner executes a set of
// checks in parallel, honours their dependencies and timeouts, and renders
// the report for a terminal or as JSON.
package checks

import (
	"context"
	"time"
)

// Status is the outcome of one check.
type Status string

const (
	OK   Status = "ok"
	Warn Status = "warn"
	Fail Status = "fail"
	// Skip is a real outcome: "not applicable here", "skipped by the user",
	// or "not run because a check it depends on failed".
	Skip Status = "skip"
)

// Result is what a check found. Summary is one line; Evidence lists what was
// measured so a reader can verify the verdict; Fix is something the user can
// paste (a command or a file edit), empty when nothing needs fixing.
type Result struct {
	Status   Status   `json:"status"`
	Summary  string   `json:"summary"`
	Evidence []string `json:"evidence"`
	Fix      string   `json:"fix"`
}

// Check is one inspection. ID is stable kebab-case and doubles as the name
// accepted by --skip. DependsOn names checks whose failure makes this one
// meaningless: it is then reported as skipped, naming the root cause, rather
// than as a second failure.
type Check struct {
	ID        string
	Title     string
	DependsOn []string
	// Timeout bounds Run; zero means the runner's default.
	Timeout time.Duration
	Run     func(ctx context.Context) Result
	// Early, when set, starts as the run begins a slow read Run will
	// need, so it overlaps the dependencies instead of following them.
	// Run still starts after them and alone grades: it must not trust an
	// early reading that failed, which may only have come too soon. Early
	// returns at once; ctx ends with the run. Not called for a check the
	// user skipped.
	Early func(ctx context.Context)
}

// Convenience constructors keep check bodies short and uniform.

func Pass(summary string, evidence ...string) Result {
	return Result{Status: OK, Summary: summary, Evidence: evidence}
}

func Warnf(summary, fix string, evidence ...string) Result {
	return Result{Status: Warn, Summary: summary, Evidence: evidence, Fix: fix}
}

func Failf(summary, fix string, evidence ...string) Result {
	return Result{Status: Fail, Summary: summary, Evidence: evidence, Fix: fix}
}

func Skipped(summary string, evidence ...string) Result {
	return Result{Status: Skip, Summary: summary, Evidence: evidence}
}
