package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/urfave/cli/v3"

	"github.com/stacklab/stacklab/checks"
	"github.com/stacklab/stacklab/checks/host"
	"github.com/stacklab/stacklab/checks/nics"
	"github.com/stacklab/stacklab/installer"
	"github.com/stacklab/stacklab/internal/fix"
	"github.com/stacklab/stacklab/internal/jsonout"
	"github.com/stacklab/stacklab/lab"
	"github.com/stacklab/stacklab/up"
)

// upDeps are up's side effects: install's (the host and its facts), the
// doctor and playbook steps, and the summary of the finished lab. Tests
// replace them; the steps themselves are composed by the up package.
type upDeps struct {
	install installDeps
	// doctor runs doctor's checks once, writing its report to out; an
	// error names the failed checks.
	doctor func(ctx context.Context, o doctorOptions, out io.Writer) error
	// playbook applies the playbook, or with dryRun only says what it
	// would apply.
	playbook func(ctx context.Context, o runOptions, dryRun bool, out io.Writer) (installer.Outcome, error)
	summary  func(ctx context.Context, m lab.Model, playbook string) (up.Summary, error)
}

func (e *env) upCommand() *cli.Command { return e.upCommandWith(e.realUpDeps()) }

func (e *env) upCommandWith(d upDeps) *cli.Command {
	return &cli.Command{
		Name:  "up",
		Usage: "the whole lab in one command: preflight, net, install, doctor, default playbook",
		Description: "Runs install's phases (preflight and net first), then doctor, then the\n" +
			"playbook, in one process, and stops at the first step that fails, with\n" +
			"its fix. Every step converges, so running up again finishes an\n" +
			"interrupted lab and changes nothing on a finished one. --dry-run shows\n" +
			"the whole plan and changes nothing. Exit code 1 when a step failed.",
		Flags: append(nicFlags(),
			configFlag(),
			&cli.StringFlag{Name: "playbook", Usage: "run this playbook instead of the built-in lab"},
			&cli.BoolFlag{Name: "dry-run", Usage: "show what every step would change, change nothing"},
			&cli.BoolFlag{Name: "yes", Aliases: []string{"y"}, Usage: "do not ask for confirmation"},
		),
		Action: func(ctx context.Context, c *cli.Command) error { return e.up(ctx, c, d) },
	}
}

func (e *env) up(ctx context.Context, c *cli.Command, d upDeps) error {
	jsonOut, dryRun := c.String("output") == "json", c.Bool("dry-run")
	// The configuration is read once, before the prompt, and every step
	// works from it: a NIC named in --config is the NIC of every step.
	cfg, err := loadInstallConfig(c, d.install.root)
	if err != nil {
		return err
	}
	if !dryRun && !c.Bool("yes") {
		if err := e.confirm(ctx, "up", "This configures the NICs, installs OpenStack on this machine and creates the lab's resources."); err != nil {
			return err
		}
	}
	in, err := e.prepareInstall(ctx, cfg, installOptions{
		dryRun: dryRun, json: jsonOut, noColor: c.Bool("no-color"), verbose: c.Bool("verbose"),
		holder: "stacklab up",
		// What the net phase repairs is no reason to stop at preflight:
		// Debian's installer maps the hostname to 127.0.1.1, and a
		// student's external NIC is often down or holds a DHCP lease. The
		// net phase rewrites /etc/hosts and removes the address for good
		// (its DHCP client stopped, its stanza changed, each shown and
		// backed up); it still refuses where that would cut the user's own
		// path (a session on that NIC). The user agreed to configuring the
		// NICs above (or with --yes).
		skip:          []string{host.IDHostname, nics.IDExtUp, nics.IDExtNoAddr},
		flushExternal: true,
	}, d.install)
	var f *failure
	if errors.As(err, &f) {
		// The lock, the secrets or the host's NICs: nothing has run yet.
		return &failure{code: f.code, err: fmt.Errorf("up stopped before its first step: %w", f.err)}
	}
	if err != nil {
		return err
	}
	defer in.close()

	// doctor's and the playbook's own reports stream live; with --output
	// json they are kept, and shown on stderr only if a step fails.
	var kept bytes.Buffer
	out := e.stdout
	if jsonOut {
		out = &kept
	}
	do := doctorOptions{config: c.String("config"), mgmtIf: cfg.Network.ManagementInterface, extIf: cfg.Network.ExternalInterface}
	ro := runOptions{path: c.String("playbook"), json: jsonOut, noColor: c.Bool("no-color"), yes: true, locked: true, concurrency: 4}
	steps := up.Steps(in.phases,
		installer.Phase{Name: up.StepDoctor, Title: "the lab's health", Converge: func(ctx context.Context, dryRun bool) (installer.Outcome, error) {
			if dryRun {
				// Nothing to check before install ran; doctor never changes anything.
				in.rep.note(up.StepDoctor, "checks the lab once installed; changes nothing")
				return installer.Outcome{}, nil
			}
			// The install phases may have moved catalog endpoints that a
			// cached token's catalog still names: doctor and the playbook
			// log in afresh (one login).
			if d.install.forgetTokens != nil {
				d.install.forgetTokens()
			}
			return installer.Outcome{}, d.doctor(ctx, do, out)
		}},
		installer.Phase{Name: up.StepPlaybook, Title: "the lab's resources", Converge: func(ctx context.Context, dryRun bool) (installer.Outcome, error) {
			return d.playbook(ctx, ro, dryRun, out)
		}},
	)
	if !jsonOut {
		in.header(e.stdout)
	}
	rep, runErr := up.Run(ctx, steps, dryRun, in.rep)
	if runErr == nil && !dryRun {
		sum, err := d.summary(ctx, in.model, ro.path)
		if err != nil {
			// The lab is up; only the description failed.
			fmt.Fprintln(e.stderr, "stacklab: warning: describe the lab:", err)
		} else {
			rep.Summary = &sum
		}
	}
	if jsonOut {
		if err := writeJSONTo(e.stdout, rep); err != nil {
			return err
		}
		if runErr != nil {
			fmt.Fprint(e.stderr, kept.String())
		}
	} else if runErr == nil {
		rep.WriteText(e.stdout)
	}
	var se *up.StepError
	if errors.As(runErr, &se) {
		return &failure{code: exitFailed, err: runErr}
	}
	return runErr
}

// realUpDeps wires up's steps to this machine, in this process.
func (e *env) realUpDeps() upDeps {
	rd := e.realRunDeps()
	return upDeps{
		install: e.realInstallDeps(),
		doctor: func(ctx context.Context, o doctorOptions, out io.Writer) error {
			sub := *e
			sub.stdout = out
			return sub.doctorOnce(ctx, o)
		},
		playbook: func(ctx context.Context, o runOptions, dryRun bool, out io.Writer) (installer.Outcome, error) {
			if dryRun {
				return describePlaybook(o.path, rd.stateDir)
			}
			sub := *e
			sub.stdout = out
			_, err := sub.runPlaybook(ctx, o, rd)
			return installer.Outcome{}, err
		},
		summary: e.upSummary,
	}
}

// describePlaybook is the playbook step's dry run: the playbook is read
// and validated (a bad one fails the plan, with file:line), and its
// resources listed; nothing reaches the cloud, which may not exist yet.
func describePlaybook(path, stateDir string) (installer.Outcome, error) {
	pb, err := loadPlaybook(path, stateDir)
	if err != nil {
		return installer.Outcome{}, err
	}
	var o installer.Outcome
	for _, r := range pb.Resources() {
		o.Changes = append(o.Changes, fmt.Sprintf("apply %s (created, updated or kept by name)", r.ID()))
	}
	return o, nil
}

// doctorOnce is doctor without --fix, as a step of up: the report, then
// the failed checks as the error, their root causes first.
func (e *env) doctorOnce(ctx context.Context, o doctorOptions) error {
	s, err := e.doctorSetup(ctx, o)
	if err != nil {
		return err
	}
	if s.close != nil {
		defer s.close()
	}
	// Install has just (re)started the lab's services, and on 2 cores an
	// API's first requests can take longer than doctor's probe timeout
	// (measured on a fresh stock VM: glance and neutron "hung" seconds
	// after install's own probes passed). A lab that is still settling is
	// not a failed lab: doctor runs again until it is healthy or the
	// settle time is over, and only the last report is shown.
	rep, err := settle(ctx, upDoctorSettle, upDoctorPoll, func(ctx context.Context) (checks.Report, error) {
		return checks.Run(ctx, s.checks(), checks.Options{})
	}, func(rep checks.Report, left time.Duration) {
		fmt.Fprintf(e.stderr, "doctor: %s failing; the services were just started, checking again (up to %s more)\n",
			strings.Join(failedIDs(rep), ", "), left.Round(time.Second))
	})
	if err != nil {
		return err
	}
	if err := rep.WriteText(e.stdout, checks.TextOptions{}); err != nil {
		return fmt.Errorf("write doctor's report: %w", err)
	}
	if !rep.Failed() {
		return nil
	}
	var lines []string
	for _, en := range rep.Entries {
		if en.Status == checks.Fail {
			lines = append(lines, fmt.Sprintf("%s: %s", en.ID, en.Summary))
		}
	}
	return fix.Wrap(fmt.Errorf("doctor found:\n  %s", strings.Join(lines, "\n  ")), "follow each check's fix above, or run stacklab doctor --fix for the safe repairs")
}

// upDoctorSettle is how long up lets a just-started lab settle before
// doctor's findings count; upDoctorPoll how often it looks again.
var upDoctorSettle, upDoctorPoll = 2 * time.Minute, 5 * time.Second

// settle runs check until its report passes or for as long as window,
// every poll, telling again each time it will look again; it returns the
// last report.
func settle(ctx context.Context, window, poll time.Duration, check func(context.Context) (checks.Report, error), again func(checks.Report, time.Duration)) (checks.Report, error) {
	deadline := time.Now().Add(window)
	for {
		rep, err := check(ctx)
		if err != nil || !rep.Failed() || !time.Now().Before(deadline) {
			return rep, err
		}
		again(rep, time.Until(deadline))
		select {
		case <-ctx.Done():
			return rep, ctx.Err()
		case <-time.After(poll):
		}
	}
}

func failedIDs(rep checks.Report) []string {
	var ids []string
	for _, en := range rep.Entries {
		if en.Status == checks.Fail {
			ids = append(ids, en.ID)
		}
	}
	return ids
}

// writeJSONTo is every command's --output json: one indented document.
func writeJSONTo(w io.Writer, v any) error { return jsonout.Write(w, v) }
