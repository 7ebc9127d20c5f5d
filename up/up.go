// Package up is `stacklab up` as one engine: install's phases (preflight
// and net among them, each run once), then doctor, then the playbook, all
// on the installer's phase engine with one reporter. Every step is built
// from the same options by the caller, so no step can miss --config or a
// NIC choice the way re-entering the CLI with argv lists did.
package up

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/stacklab/stacklab/installer"
	"github.com/stacklab/stacklab/internal/fix"
)

// Step names after install's phases.
const (
	StepDoctor   = "doctor"
	StepPlaybook = "playbook"
)

// Steps composes up in its order: install's phases, which begin with
// preflight and net, then doctor, then the playbook.
func Steps(install []installer.Phase, doctor, playbook installer.Phase) []installer.Phase {
	out := append([]installer.Phase{}, install...)
	return append(out, doctor, playbook)
}

// StepResult is one step's outcome, as up --output json reports it.
type StepResult struct {
	Name    string   `json:"name"`
	OK      bool     `json:"ok"`
	Seconds float64  `json:"seconds"`
	Changes []string `json:"changes"`
	Error   string   `json:"error,omitempty"`
}

// Report is up's JSON document.
type Report struct {
	OK      bool         `json:"ok"`
	DryRun  bool         `json:"dry_run"`
	Steps   []StepResult `json:"steps"`
	Summary *Summary     `json:"summary,omitempty"`
	Failed  string       `json:"failed,omitempty"`
	Fix     string       `json:"fix,omitempty"`
	Seconds float64      `json:"seconds"`
}

// Summary is what a user needs once the lab is up.
type Summary struct {
	Dashboard   string   `json:"dashboard"`
	Credentials []string `json:"credentials"`
	Server      string   `json:"server,omitempty"`
	FixedIP     string   `json:"fixed_ip,omitempty"`
	FloatingIP  string   `json:"floating_ip,omitempty"`
	PrivateKey  string   `json:"private_key,omitempty"`
	Reach       string   `json:"reach,omitempty"`
	// Console is the instance's noVNC URL (its token expires), or why
	// there is none.
	Console []string `json:"console,omitempty"`
	// Laptop says how the laptop reaches the dashboard when it cannot
	// by the management address.
	Laptop []string `json:"laptop,omitempty"`
}

// StepError names the step that stopped up, its cause and its fix.
type StepError struct {
	Step string
	Err  error
	Fix  string
}

// noReason stands in for an error with no text: up once printed
// "up stopped at preflight: ;" and left the user nothing to act on.
const noReason = "it failed without saying why"

func (e *StepError) Error() string {
	cause := noReason
	if e.Err != nil && strings.TrimSpace(e.Err.Error()) != "" {
		cause = e.Err.Error()
	}
	remedy := cmp.Or(e.Fix, fix.Of(e.Err), "run stacklab "+e.Step+" for the details")
	return fmt.Sprintf("up stopped at %s: %s", e.Step, cause) + fix.Line(remedy+"; then run stacklab up again (the finished steps will change nothing)")
}

func (e *StepError) Unwrap() error { return e.Err }

// Run runs the steps in order on the installer's engine and stops at the
// first failure. With dryRun every step only reports what it would do.
func Run(ctx context.Context, steps []installer.Phase, dryRun bool, rep installer.Reporter) (Report, error) {
	res, err := installer.Run(ctx, steps, dryRun, rep)
	r := Report{DryRun: dryRun, Seconds: res.Seconds}
	for _, p := range res.Phases {
		r.Steps = append(r.Steps, StepResult{Name: p.Name, OK: p.Error == "", Seconds: p.Seconds, Changes: p.Changes, Error: p.Error})
	}
	if err == nil {
		r.OK = true
		return r, nil
	}
	var pe *installer.PhaseError
	if !errors.As(err, &pe) {
		// Interrupted between steps: no step failed.
		return r, err
	}
	r.Failed, r.Fix = pe.Phase, pe.Fix
	if ctx.Err() != nil {
		return r, ctx.Err()
	}
	return r, &StepError{Step: pe.Phase, Err: pe.Err, Fix: pe.Fix}
}

// WriteText prints the finished lab for a person.
func (r Report) WriteText(w io.Writer) {
	took := time.Duration(r.Seconds * float64(time.Second)).Round(time.Second)
	if r.DryRun {
		fmt.Fprintf(w, "\ndry run: nothing was changed (%s); run stacklab up --yes to apply the plan above\n", took)
		return
	}
	fmt.Fprintf(w, "\nThe lab is up (%s).\n", took)
	s := r.Summary
	if s == nil {
		return
	}
	field := func(label string, lines ...string) {
		for i, l := range lines {
			if i > 0 {
				label = ""
			}
			fmt.Fprintf(w, "  %-14s%s\n", label, l)
		}
	}
	field("Dashboard:", s.Dashboard+" (user admin; password in the credentials)")
	field("Credentials:", s.Credentials...)
	if s.Server != "" {
		field("Instance:", fmt.Sprintf("%s, fixed %s, floating %s", s.Server, s.FixedIP, s.FloatingIP))
	}
	if s.Reach != "" {
		field("Reach it:", s.Reach)
	}
	field("Console:", s.Console...)
	for _, l := range s.Laptop {
		fmt.Fprintf(w, "  %s\n", l)
	}
}
