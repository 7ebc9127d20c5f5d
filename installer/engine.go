// Package installer turns a host that passes preflight into a single-node
// OpenStack lab. It is an ordered list of phases; each phase converges: it
// reads what is there, changes only what differs, restarts a unit only when
// its configuration changed, and verifies its own result. Because every phase
// converges, "resume after an interrupted run" is simply "run again".
package installer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/stacklab/stacklab/internal/fix"
)

// Phase is one step of the install.
type Phase struct {
	Name  string
	Title string
	// Converge brings the host to the phase's goal. With dryRun it only
	// reports what it would change.
	Converge func(ctx context.Context, dryRun bool) (Outcome, error)
}

// Outcome says what a phase changed; an empty Changes means "no changes".
type Outcome struct {
	Changes []string `json:"changes"`
}

// PhaseError names the phase that failed, its cause and the fix.
type PhaseError struct {
	Phase string
	Err   error
	Fix   string
}

func (e *PhaseError) Error() string {
	return fmt.Sprintf("install: phase %s: %v", e.Phase, e.Err) + fix.Line(e.Fix)
}

func (e *PhaseError) Unwrap() error { return e.Err }

// Selection picks the phases to run.
type Selection struct {
	Only []string // run exactly these
	From string   // run this phase and every later one
}

// Select returns the phases to run, in install order.
func Select(all []Phase, sel Selection) ([]Phase, error) {
	if len(sel.Only) > 0 && sel.From != "" {
		return nil, errors.New("--only and --from cannot be combined")
	}
	names := make([]string, len(all))
	index := map[string]int{}
	for i, p := range all {
		names[i] = p.Name
		index[p.Name] = i
	}
	known := func(n string) error {
		if _, ok := index[n]; !ok {
			return fmt.Errorf("unknown phase %q (phases: %s)", n, strings.Join(names, ", "))
		}
		return nil
	}
	switch {
	case sel.From != "":
		if err := known(sel.From); err != nil {
			return nil, err
		}
		return all[index[sel.From]:], nil
	case len(sel.Only) > 0:
		want := map[string]bool{}
		for _, n := range sel.Only {
			if err := known(n); err != nil {
				return nil, err
			}
			want[n] = true
		}
		var out []Phase
		for _, p := range all {
			if want[p.Name] {
				out = append(out, p)
			}
		}
		return out, nil
	}
	return all, nil
}

// Reporter receives progress; the CLI renders it as step lines or JSON.
type Reporter interface {
	PhaseStarted(name, title string)
	PhaseDone(name string, o Outcome, elapsed time.Duration, err error)
}

// PhaseResult is the record of one phase in a run.
type PhaseResult struct {
	Name    string   `json:"name"`
	Seconds float64  `json:"seconds"`
	Changes []string `json:"changes"`
	Error   string   `json:"error,omitempty"`
	Fix     string   `json:"fix,omitempty"`
}

// RunResult is what Run returns and what last-run.json keeps (SaveResult).
type RunResult struct {
	Started time.Time     `json:"started"`
	Seconds float64       `json:"seconds"`
	DryRun  bool          `json:"dry_run"`
	Phases  []PhaseResult `json:"phases"`
}

// Changed reports whether any phase changed anything.
func (r RunResult) Changed() bool {
	for _, p := range r.Phases {
		if len(p.Changes) > 0 {
			return true
		}
	}
	return false
}

// Run executes phases in order and stops at the first failure: a later phase
// depends on the earlier ones, and nothing already working is torn down.
func Run(ctx context.Context, phases []Phase, dryRun bool, rep Reporter) (RunResult, error) {
	res := RunResult{Started: time.Now(), DryRun: dryRun}
	defer func() { res.Seconds = time.Since(res.Started).Seconds() }()
	for _, p := range phases {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		rep.PhaseStarted(p.Name, p.Title)
		start := time.Now()
		o, err := p.Converge(ctx, dryRun)
		el := time.Since(start)
		rep.PhaseDone(p.Name, o, el, err)
		pr := PhaseResult{Name: p.Name, Seconds: el.Seconds(), Changes: o.Changes}
		if pr.Changes == nil {
			pr.Changes = []string{}
		}
		if err != nil {
			pr.Error, pr.Fix = err.Error(), fix.Of(err)
			res.Phases = append(res.Phases, pr)
			return res, &PhaseError{Phase: p.Name, Err: err, Fix: pr.Fix}
		}
		res.Phases = append(res.Phases, pr)
	}
	res.Seconds = time.Since(res.Started).Seconds()
	return res, nil
}

// SaveResult writes the last run's record to stateDir/last-run.json
// atomically, so `stacklab install --output json` and the e2e job can read
// phase times after the fact.
func SaveResult(stateDir string, r RunResult) error {
	if err := os.MkdirAll(stateDir, 0o755); err != nil {
		return fmt.Errorf("state: %w", err)
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(stateDir, ".last-run.json.tmp")
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("state: %w", err)
	}
	return os.Rename(tmp, filepath.Join(stateDir, "last-run.json"))
}
