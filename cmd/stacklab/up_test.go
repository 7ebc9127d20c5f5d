package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/urfave/cli/v3"
)

// upLab records the steps up runs and fails the one named failAt.
type upLab struct {
	ran    [][]string
	failAt string
}

func (l *upLab) deps() upDeps {
	return upDeps{
		step: func(_ context.Context, args []string, stdout, _ io.Writer) error {
			l.ran = append(l.ran, args)
			fmt.Fprintf(stdout, "output of %s\n", strings.Join(args[1:], " "))
			if slices.Contains(args, l.failAt) {
				return &failure{code: exitFailed, err: fmt.Errorf("%s failed: do this to fix it", l.failAt)}
			}
			return nil
		},
		summary: func(context.Context, *cli.Command) (upSummary, error) {
			return upSummary{Dashboard: "http://192.0.2.10/horizon", Credentials: []string{"/root/admin-openrc"},
				Server: "lab-vm", FixedIP: "172.16.1.5", FloatingIP: "203.0.113.150"}, nil
		},
	}
}

func (l *upLab) run(t *testing.T, args ...string) result {
	t.Helper()
	e := testEnv(t)
	var out, errb bytes.Buffer
	e.stdout, e.stderr, e.stdin = &out, &errb, strings.NewReader("")
	app := newApp(e)
	app.Commands = slices.DeleteFunc(app.Commands, func(c *cli.Command) bool { return c.Name == "up" })
	app.Commands = append(app.Commands, e.upCommandWith(l.deps()))
	err := app.Run(context.Background(), append([]string{"stacklab"}, args...))
	return result{exitCode(context.Background(), err, &errb), out.String(), errb.String()}
}

func TestUpRunsEveryStepInOrderAndSummarises(t *testing.T) {
	l := &upLab{}
	r := l.run(t, "up", "--yes", "--config", "/etc/x.yaml", "--ext-if", "eth2", "--mgmt-if", "eth0")
	if r.code != exitOK {
		t.Fatalf("exit %d, stderr %s", r.code, r.stderr)
	}
	choice := []string{"--config", "/etc/x.yaml", "--mgmt-if", "eth0", "--ext-if", "eth2"}
	want := [][]string{
		append([]string{"stacklab", "preflight", "--skip", "hostname", "--skip", "ext-nic-up", "--skip", "ext-nic-unaddressed"}, choice...),
		append([]string{"stacklab", "net", "apply", "--flush-external"}, choice...),
		append([]string{"stacklab", "install", "--yes"}, choice...),
		append([]string{"stacklab", "doctor"}, choice...),
		{"stacklab", "run"},
	}
	if !slices.EqualFunc(l.ran, want, slices.Equal) {
		t.Errorf("steps:\n%v\nwant:\n%v", l.ran, want)
	}
	for _, s := range []string{"✓ preflight", "✓ playbook"} {
		if !strings.Contains(r.stderr, s) {
			t.Errorf("stderr lacks %q:\n%s", s, r.stderr)
		}
	}
	for _, s := range []string{"output of install --yes", "http://192.0.2.10/horizon", "203.0.113.150"} {
		if !strings.Contains(r.stdout, s) {
			t.Errorf("stdout lacks %q:\n%s", s, r.stdout)
		}
	}
}

// The configuration and the NIC choice must reach every step that reads
// them: with --config lab.yaml naming eth2 external, a net step left to
// detect "the other NIC" could bring up eth1 while install hands eth2 to
// neutron. Each step's argv is also parsed by the real command, so up can
// never pass a flag a step would refuse.
func TestUpPassesConfigAndNICsToEveryStep(t *testing.T) {
	l := &upLab{}
	if r := l.run(t, "up", "--yes", "--config", "./lab.yaml", "--ext-if", "eth2", "--mgmt-if", "eth0"); r.code != exitOK {
		t.Fatalf("exit %d, stderr %s", r.code, r.stderr)
	}
	// The playbook step works through clouds.yaml: it reads neither.
	readers := map[string]bool{"preflight": true, "net": true, "install": true, "doctor": true}
	real := newApp(testEnv(t))
	for _, argv := range l.ran {
		name := argv[1]
		cmd := real
		for _, a := range argv[1:] {
			if sub := cmd.Command(a); sub != nil {
				cmd = sub
			}
		}
		for _, flag := range []string{"--config", "--ext-if", "--mgmt-if"} {
			i := slices.Index(argv, flag)
			if readers[name] != (i >= 0) {
				t.Errorf("%s step %v: %s passed = %v, want %v", name, argv, flag, i >= 0, readers[name])
			}
			if i < 0 {
				continue
			}
			if !slices.ContainsFunc(cmd.Flags, func(f cli.Flag) bool { return slices.Contains(f.Names(), flag[2:]) }) {
				t.Errorf("%s step: stacklab %s has no %s flag", name, cmd.Name, flag)
			}
		}
	}
	if len(l.ran) != 5 {
		t.Errorf("ran %d steps, want 5", len(l.ran))
	}
}

func TestUpStopsAtFirstFailureWithItsFix(t *testing.T) {
	l := &upLab{failAt: "install"}
	r := l.run(t, "up", "--yes")
	if r.code != exitFailed {
		t.Fatalf("exit %d, want %d", r.code, exitFailed)
	}
	if len(l.ran) != 3 {
		t.Errorf("ran %d steps after a failed install: %v", len(l.ran), l.ran)
	}
	if !strings.Contains(r.stderr, "✗ install") || !strings.Contains(r.stderr, "up stopped at install: install failed: do this to fix it") {
		t.Errorf("stderr:\n%s", r.stderr)
	}
}

func TestUpJSONReportsSteps(t *testing.T) {
	l := &upLab{failAt: "doctor"}
	r := l.run(t, "--output", "json", "up", "--yes")
	if r.code != exitFailed {
		t.Fatalf("exit %d", r.code)
	}
	var rep upReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, r.stdout)
	}
	if rep.OK || rep.Failed != "doctor" || len(rep.Steps) != 4 || rep.Steps[3].OK || !strings.Contains(rep.Steps[3].Error, "do this to fix it") {
		t.Errorf("report: %+v", rep)
	}
	// The failed step's own output is shown, on stderr, not mixed into
	// the JSON.
	if !strings.Contains(r.stderr, "output of doctor") {
		t.Errorf("stderr lacks the failed step's output:\n%s", r.stderr)
	}
}

func TestUpAsksWithoutYes(t *testing.T) {
	l := &upLab{}
	r := l.run(t, "up")
	if r.code != exitUsage || len(l.ran) != 0 {
		t.Fatalf("exit %d, ran %v", r.code, l.ran)
	}
}
