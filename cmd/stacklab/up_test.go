package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/urfave/cli/v3"

	"github.com/stacklab/stacklab/installer"
	"github.com/stacklab/stacklab/installer/config"
	"github.com/stacklab/stacklab/internal/fix"
	"github.com/stacklab/stacklab/lab"
	"github.com/stacklab/stacklab/up"
)

// upLab runs the real up command over install's MemHost fake, recording
// what each step was given.
type upLab struct {
	inst *installLab
	// ran lists the steps whose side effects ran, in order: preflight and
	// net (install's hooks), doctor, playbook.
	ran []string
	// cfgs is the configuration each step saw.
	cfgs   map[string]config.Config
	doctor doctorOptions
	run    runOptions
	// failAt fails that step with failErr.
	failAt  string
	failErr error
}

func newUpLab(t *testing.T) *upLab {
	return &upLab{inst: newInstallLab(t), cfgs: map[string]config.Config{}}
}

func (l *upLab) step(name string, err error) error {
	l.ran = append(l.ran, name)
	if name == l.failAt {
		return l.failErr
	}
	return err
}

func (l *upLab) deps() upDeps {
	inst := l.inst.deps()
	facts := inst.facts
	inst.facts = func(ctx context.Context, cfg config.Config) (lab.Facts, error) {
		l.cfgs["facts"] = cfg
		return facts(ctx, cfg)
	}
	inst.hooks = func(cfg config.Config, o installOptions) (installer.HookFunc, installer.HookFunc) {
		l.cfgs["hooks"] = cfg
		hook := func(name string) installer.HookFunc {
			return func(context.Context, bool) (installer.Outcome, error) {
				// What net repairs must not stop preflight, and net must
				// be allowed to remove the external NIC's lease.
				for _, id := range []string{"hostname", "ext-nic-up", "ext-nic-unaddressed"} {
					if name == installer.PhasePreflight && !slices.Contains(o.skip, id) {
						return installer.Outcome{}, fmt.Errorf("up's preflight must skip %s: its net phase repairs it", id)
					}
				}
				if name == installer.PhaseNet && !o.flushExternal {
					return installer.Outcome{}, errors.New("up's net phase must flush the external NIC's addresses")
				}
				return installer.Outcome{}, l.step(name, nil)
			}
		}
		return hook(installer.PhasePreflight), hook(installer.PhaseNet)
	}
	return upDeps{
		install: inst,
		doctor: func(_ context.Context, o doctorOptions, out io.Writer) error {
			l.doctor = o
			fmt.Fprintln(out, "output of doctor")
			return l.step(up.StepDoctor, nil)
		},
		playbook: func(_ context.Context, o runOptions, dryRun bool, out io.Writer) (installer.Outcome, error) {
			l.run = o
			if dryRun {
				l.ran = append(l.ran, "playbook (planned)")
				return installer.Outcome{Changes: []string{"apply server lab-vm"}}, nil
			}
			fmt.Fprintln(out, "output of playbook")
			return installer.Outcome{}, l.step(up.StepPlaybook, nil)
		},
		summary: func(_ context.Context, m lab.Model, _ string) (up.Summary, error) {
			return up.Summary{Dashboard: m.DashboardURL(), Credentials: []string{"/root/admin-openrc"},
				Server: "lab-vm", FixedIP: "172.16.1.5", FloatingIP: "203.0.113.150"}, nil
		},
	}
}

func (l *upLab) runUp(t *testing.T, args ...string) result {
	t.Helper()
	e := testEnv(t)
	e.lockPath = filepath.Join(l.inst.root, "run/stacklab/install.lock")
	return runUpWith(t, e, l.deps(), args...)
}

// runUpWith runs the CLI on e with up's side effects replaced by d.
func runUpWith(t *testing.T, e *env, d upDeps, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	e.stdout, e.stderr, e.stdin = &out, &errb, strings.NewReader("")
	app := newApp(e)
	app.Commands = slices.DeleteFunc(app.Commands, func(c *cli.Command) bool { return c.Name == "up" })
	app.Commands = append(app.Commands, e.upCommandWith(d))
	err := app.Run(context.Background(), append([]string{"stacklab"}, args...))
	return result{exitCode(context.Background(), err, &errb), out.String(), errb.String()}
}

// writeConfig puts a configuration file under the lab's root and returns
// its path as --config names it.
func (l *upLab) writeConfig(t *testing.T, yaml string) string {
	t.Helper()
	p := filepath.Join(l.inst.root, "etc/stacklab/lab.yaml")
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	return "/etc/stacklab/lab.yaml"
}

func TestUpRunsEveryStepOnceInOrderAndSummarises(t *testing.T) {
	l := newUpLab(t)
	cfg := l.writeConfig(t, "horizon:\n  web_root: /dashboard\n")
	r := l.runUp(t, "up", "--yes", "--config", cfg)
	if r.code != exitOK {
		t.Fatalf("exit %d, stderr %s\nstdout %s", r.code, r.stderr, r.stdout)
	}
	want := []string{installer.PhasePreflight, installer.PhaseNet, up.StepDoctor, up.StepPlaybook}
	if !slices.Equal(l.ran, want) {
		t.Errorf("steps ran %v, want %v (preflight and net once each)", l.ran, want)
	}
	for _, s := range []string{"✓ preflight", "✓ keystone", "✓ doctor", "✓ playbook", "output of doctor", "The lab is up",
		// The summary's dashboard is the model's: the configured web root.
		"http://192.0.2.10/dashboard", "203.0.113.150"} {
		if !strings.Contains(r.stdout, s) {
			t.Errorf("stdout lacks %q:\n%s", s, r.stdout)
		}
	}
	if strings.Contains(r.stdout, "/horizon") {
		t.Errorf("a hard-coded /horizon slipped through:\n%s", r.stdout)
	}
}

// The configuration and the NIC choice reach every step that reads them:
// with --config naming eth2 external, a net step left to detect "the
// other NIC" could bring up eth1 while install hands eth2 to neutron.
func TestUpPassesConfigAndNICsToEveryStep(t *testing.T) {
	l := newUpLab(t)
	cfg := l.writeConfig(t, "network:\n  external_interface: eth2\n")
	r := l.runUp(t, "up", "--yes", "--config", cfg, "--mgmt-if", "eth0", "--playbook", "/tmp/pb.yaml")
	if r.code != exitOK {
		t.Fatalf("exit %d, stderr %s", r.code, r.stderr)
	}
	for step, c := range l.cfgs {
		if c.Network.ExternalInterface != "eth2" || c.Network.ManagementInterface != "eth0" {
			t.Errorf("%s saw NICs %q/%q, want eth0/eth2", step, c.Network.ManagementInterface, c.Network.ExternalInterface)
		}
	}
	if len(l.cfgs) != 2 {
		t.Errorf("configuration reached %v", l.cfgs)
	}
	if l.doctor.config != cfg || l.doctor.extIf != "eth2" || l.doctor.mgmtIf != "eth0" {
		t.Errorf("doctor's options %+v", l.doctor)
	}
	if l.run.path != "/tmp/pb.yaml" || !l.run.locked || !l.run.yes {
		t.Errorf("playbook's options %+v", l.run)
	}
}

func TestUpStopsAtFirstFailureWithItsCauseAndFix(t *testing.T) {
	tests := []struct {
		name, at string
		err      error
		want     []string
	}{
		{"doctor", up.StepDoctor, fix.Wrap(errors.New("doctor found:\n  unit-keystone: keystone is failed"), "stacklab doctor --fix"),
			[]string{"✗ doctor", "up stopped at doctor: doctor found:", "unit-keystone: keystone is failed", "fix: stacklab doctor --fix"}},
		// The message up once printed was "up stopped at preflight: ;".
		{"preflight without a reason", installer.PhasePreflight, errors.New(""),
			[]string{"✗ preflight", "up stopped at preflight: it failed without saying why", "fix: run stacklab preflight for the details"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newUpLab(t)
			l.failAt, l.failErr = tt.at, tt.err
			r := l.runUp(t, "up", "--yes")
			if r.code != exitFailed {
				t.Fatalf("exit %d, want %d; stderr %s", r.code, exitFailed, r.stderr)
			}
			if l.ran[len(l.ran)-1] != tt.at {
				t.Errorf("ran %v after the failed %s", l.ran, tt.at)
			}
			all := r.stdout + r.stderr
			for _, w := range tt.want {
				if !strings.Contains(all, w) {
					t.Errorf("output lacks %q:\n%s", w, all)
				}
			}
			if strings.Contains(all, ": ;") || strings.Contains(all, "The lab is up") {
				t.Errorf("output:\n%s", all)
			}
		})
	}
}

func TestUpJSONReportsSteps(t *testing.T) {
	l := newUpLab(t)
	l.failAt, l.failErr = up.StepDoctor, fix.Wrap(errors.New("keystone is failed"), "do this to fix it")
	r := l.runUp(t, "--output", "json", "up", "--yes")
	if r.code != exitFailed {
		t.Fatalf("exit %d", r.code)
	}
	var rep up.Report
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, r.stdout)
	}
	last := rep.Steps[len(rep.Steps)-1]
	if rep.OK || rep.Failed != up.StepDoctor || rep.Fix != "do this to fix it" || last.Name != up.StepDoctor || last.OK || !strings.Contains(last.Error, "keystone is failed") {
		t.Errorf("report: %+v", rep)
	}
	if len(rep.Steps) != len(installer.PhaseNames())+1 {
		t.Errorf("%d steps reported, want install's %d and doctor", len(rep.Steps), len(installer.PhaseNames()))
	}
	// The failed step's own output is shown, on stderr, not mixed into
	// the JSON.
	if !strings.Contains(r.stderr, "output of doctor") {
		t.Errorf("stderr lacks the failed step's output:\n%s", r.stderr)
	}
}

// up --dry-run shows every step's plan and writes nothing: no file under
// the root, no host change, no doctor run, no playbook applied.
func TestUpDryRunShowsThePlanAndChangesNothing(t *testing.T) {
	l := newUpLab(t)
	cfg := l.writeConfig(t, "network:\n  external_interface: eth2\n")
	before := listTree(t, l.inst.root)
	r := l.runUp(t, "up", "--dry-run", "--config", cfg)
	if r.code != exitOK {
		t.Fatalf("exit %d, stderr %s\nstdout %s", r.code, r.stderr, r.stdout)
	}
	if after := listTree(t, l.inst.root); !slices.Equal(before, after) {
		t.Errorf("dry run wrote files: %v → %v", before, after)
	}
	if len(l.inst.mem.Log) != 0 {
		t.Errorf("dry run changed the host: %q", l.inst.mem.Log)
	}
	if want := []string{installer.PhasePreflight, installer.PhaseNet, "playbook (planned)"}; !slices.Equal(l.ran, want) {
		t.Errorf("ran %v, want %v", l.ran, want)
	}
	for _, s := range []string{"planning (dry run)", "external NIC eth2", "changes planned", "apply server lab-vm", "dry run: nothing was changed"} {
		if !strings.Contains(r.stdout, s) {
			t.Errorf("stdout lacks %q:\n%s", s, r.stdout)
		}
	}
	if strings.Contains(r.stdout, "The lab is up") {
		t.Errorf("a dry run claims the lab is up:\n%s", r.stdout)
	}
}

func TestUpAsksWithoutYes(t *testing.T) {
	l := newUpLab(t)
	r := l.runUp(t, "up")
	if r.code != exitUsage || len(l.ran) != 0 {
		t.Fatalf("exit %d, ran %v", r.code, l.ran)
	}
}

// linuxbridge asked for on Debian 13, whose neutron has no linuxbridge:
// up stops before its first step, naming the reason and the fix, and
// writes nothing, the secrets file included.
func TestUpRefusesABackendTheReleaseLacksBeforeAnyChange(t *testing.T) {
	l := newUpLab(t)
	l.inst.facts = func(f *lab.Facts) { f.Release = "13" }
	cfg := l.writeConfig(t, "openstack:\n  neutron_backend: linuxbridge\n")
	r := l.runUp(t, "up", "--yes", "--config", cfg)
	if r.code != exitFailed {
		t.Fatalf("exit %d, want %d; stderr %s", r.code, exitFailed, r.stderr)
	}
	for _, want := range []string{"before its first step", "Debian 13", "no linuxbridge driver", "openstack.neutron_backend to openvswitch"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	if len(l.ran) != 0 {
		t.Errorf("steps ran: %v", l.ran)
	}
	if _, err := os.Stat(filepath.Join(l.inst.root, config.SecretsPath)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("secrets written before the refusal: %v", err)
	}
	if l.inst.mem != nil && len(l.inst.mem.Log) != 0 {
		t.Errorf("the host changed: %q", l.inst.mem.Log)
	}
}
