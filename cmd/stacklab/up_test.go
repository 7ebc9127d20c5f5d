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
	r := l.run(t, "up", "--yes", "--config", "/etc/x.yaml")
	if r.code != exitOK {
		t.Fatalf("exit %d, stderr %s", r.code, r.stderr)
	}
	want := [][]string{
		{"stacklab", "preflight"},
		{"stacklab", "net", "apply"},
		{"stacklab", "install", "--yes", "--config", "/etc/x.yaml"},
		{"stacklab", "doctor", "--config", "/etc/x.yaml"},
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
