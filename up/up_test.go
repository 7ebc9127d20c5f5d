package up

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stacklab/stacklab/installer"
)

// fakeSteps records the order steps ran in, and whether each was told to
// dry-run; the one named failAt fails with err.
type fakeSteps struct {
	ran    []string
	dry    []bool
	failAt string
	err    error
}

func (f *fakeSteps) phase(name string) installer.Phase {
	return installer.Phase{Name: name, Converge: func(_ context.Context, dryRun bool) (installer.Outcome, error) {
		f.ran = append(f.ran, name)
		f.dry = append(f.dry, dryRun)
		if name == f.failAt {
			return installer.Outcome{}, f.err
		}
		return installer.Outcome{Changes: []string{"change by " + name}}, nil
	}}
}

func (f *fakeSteps) steps() []installer.Phase {
	var install []installer.Phase
	for _, n := range installer.PhaseNames() {
		install = append(install, f.phase(n))
	}
	return Steps(install, f.phase(StepDoctor), f.phase(StepPlaybook))
}

type quiet struct{}

func (quiet) PhaseStarted(string, string)                               {}
func (quiet) PhaseDone(string, installer.Outcome, time.Duration, error) {}

// preflight and net run once each, first, and doctor and the playbook
// last: up is install's phases plus two, not install run after its own
// preflight and net.
func TestStepOrder(t *testing.T) {
	f := &fakeSteps{}
	rep, err := Run(context.Background(), f.steps(), false, quiet{})
	if err != nil || !rep.OK {
		t.Fatalf("Run: %v, %+v", err, rep)
	}
	want := append(installer.PhaseNames(), StepDoctor, StepPlaybook)
	if !slices.Equal(f.ran, want) {
		t.Errorf("ran %v\nwant %v", f.ran, want)
	}
	if want[0] != installer.PhasePreflight || want[1] != installer.PhaseNet {
		t.Errorf("install's phases do not begin with preflight and net: %v", want)
	}
	for _, n := range []string{installer.PhasePreflight, installer.PhaseNet} {
		if c := countOf(f.ran, n); c != 1 {
			t.Errorf("%s ran %d times", n, c)
		}
	}
	if len(rep.Steps) != len(want) || rep.Steps[len(want)-1].Changes[0] != "change by playbook" {
		t.Errorf("report steps %+v", rep.Steps)
	}
}

func countOf(s []string, v string) int {
	n := 0
	for _, x := range s {
		if x == v {
			n++
		}
	}
	return n
}

// A dry run reaches every step as a dry run: none of them may apply.
func TestDryRunReachesEveryStep(t *testing.T) {
	f := &fakeSteps{}
	rep, err := Run(context.Background(), f.steps(), true, quiet{})
	if err != nil || !rep.DryRun {
		t.Fatalf("Run: %v, %+v", err, rep)
	}
	if len(f.dry) != len(f.ran) || slices.Contains(f.dry, false) {
		t.Errorf("dry-run flags per step %v for %v", f.dry, f.ran)
	}
	var b bytes.Buffer
	rep.WriteText(&b)
	if !strings.Contains(b.String(), "nothing was changed") || strings.Contains(b.String(), "The lab is up") {
		t.Errorf("dry run text:\n%s", b.String())
	}
}

type fixErr struct{ msg, fix string }

func (e fixErr) Error() string { return e.msg }
func (e fixErr) Fix() string   { return e.fix }

func TestFailureNamesStepCauseAndFix(t *testing.T) {
	tests := []struct {
		name, at string
		err      error
		want     []string
	}{
		{"a cause with its fix", installer.PhasePreflight, fixErr{"ext-nic-unaddressed: eth1 has 10.0.3.5/24", "stacklab net apply --flush-external"},
			[]string{"up stopped at preflight: ext-nic-unaddressed: eth1 has 10.0.3.5/24", "fix: stacklab net apply --flush-external", "run stacklab up again"}},
		{"a cause without a fix points at the step's own command", StepDoctor, errors.New("unit-keystone: keystone is failed"),
			[]string{"up stopped at doctor: unit-keystone: keystone is failed", "fix: run stacklab doctor for the details"}},
		{"an empty error still says something", installer.PhasePreflight, errors.New(""),
			[]string{"up stopped at preflight: " + noReason, "fix: run stacklab preflight"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeSteps{failAt: tt.at, err: tt.err}
			rep, err := Run(context.Background(), f.steps(), false, quiet{})
			var se *StepError
			if !errors.As(err, &se) || se.Step != tt.at || rep.OK || rep.Failed != tt.at {
				t.Fatalf("err %v, report %+v", err, rep)
			}
			if f.ran[len(f.ran)-1] != tt.at {
				t.Errorf("a step ran after the failed %s: %v", tt.at, f.ran)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("message lacks %q:\n%s", w, err)
				}
			}
			if strings.Contains(err.Error(), ": ;") {
				t.Errorf("empty reason: %s", err)
			}
		})
	}
}

func TestInterruptIsNotAStepFailure(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	f := &fakeSteps{}
	steps := f.steps()
	steps[1].Converge = func(context.Context, bool) (installer.Outcome, error) {
		cancel()
		return installer.Outcome{}, context.Canceled
	}
	_, err := Run(ctx, steps, false, quiet{})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
}

func TestSummaryText(t *testing.T) {
	r := Report{OK: true, Seconds: 61, Summary: &Summary{Dashboard: "http://192.0.2.10/dashboard",
		Credentials: []string{"/root/admin-openrc", "/etc/openstack/clouds.yaml"}, Server: "lab-vm", FixedIP: "172.16.1.5", FloatingIP: "203.0.113.150",
		Console: []string{"http://192.0.2.10:6080/vnc_auto.html?path=%3Ftoken%3Dt", "second line"}}}
	var b bytes.Buffer
	r.WriteText(&b)
	for _, w := range []string{"The lab is up (1m1s)", "  Console:      http://192.0.2.10:6080/vnc_auto.html?path=%3Ftoken%3Dt\n                second line\n", "Dashboard:    http://192.0.2.10/dashboard", "                /etc/openstack/clouds.yaml", "lab-vm, fixed 172.16.1.5, floating 203.0.113.150"} {
		if !strings.Contains(b.String(), w) {
			t.Errorf("text lacks %q:\n%s", w, b.String())
		}
	}
}
