package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/urfave/cli/v3"

	"github.com/stacklab/stacklab/installer"
	"github.com/stacklab/stacklab/installer/config"
	"github.com/stacklab/stacklab/installer/openstack"
	"github.com/stacklab/stacklab/internal/lock"
	"github.com/stacklab/stacklab/lab"
)

// installLab runs the real install command against a MemHost, with the
// host facts fixed and the preflight/net phases passing.
type installLab struct {
	root string
	mem  *installer.MemHost
	// setup adjusts the MemHost once Params are known.
	setup func(m *installer.MemHost, p openstack.Params)
	// facts adjusts the host facts (nil: a Debian 12 host's).
	facts func(f *lab.Facts)
}

func newInstallLab(t *testing.T) *installLab {
	return &installLab{root: t.TempDir()}
}

func (l *installLab) deps() installDeps {
	return installDeps{
		root: l.root,
		facts: func(context.Context, config.Config) (lab.Facts, error) {
			f := lab.Facts{Hostname: "lab1", MgmtIP: "192.0.2.10", ExtIf: "eth1", MTU: 1400, CPUs: 2, VirtType: "qemu"}
			if l.facts != nil {
				l.facts(&f)
			}
			return f, nil
		},
		host: func(_ context.Context, p openstack.Params, _ func(string)) (installer.Host, func(), error) {
			if l.mem == nil {
				l.mem = installer.NewMemHost(p)
				if l.setup != nil {
					l.setup(l.mem, p)
				}
			}
			return l.mem.Host(), func() {}, nil
		},
		hooks:   func(config.Config, installOptions) (installer.HookFunc, installer.HookFunc) { return nil, nil },
		labOpts: []installer.LabOption{installer.WithProbeTimeouts(50*time.Millisecond, 50*time.Millisecond, time.Millisecond)},
	}
}

func (l *installLab) run(t *testing.T, args ...string) result {
	t.Helper()
	e := testEnv(t)
	e.lockPath = filepath.Join(l.root, lock.Path)
	var out, errb bytes.Buffer
	e.stdout, e.stderr, e.stdin = &out, &errb, strings.NewReader("")
	app := newApp(e)
	// Replace the install and uninstall commands (once main.go lists
	// them) by ones on the fake.
	app.Commands = slices.DeleteFunc(app.Commands, func(c *cli.Command) bool { return c.Name == "install" || c.Name == "uninstall" })
	app.Commands = append(app.Commands, e.installCommandWith(l.deps()), e.uninstallCommandWith(l.deps()))
	err := app.Run(context.Background(), append([]string{"stacklab"}, args...))
	return result{exitCode(context.Background(), err, &errb), out.String(), errb.String()}
}

func listTree(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if p != root {
			out = append(out, p)
		}
		return err
	})
	return out
}

func decodeRun(t *testing.T, s string) installer.RunResult {
	t.Helper()
	var res installer.RunResult
	if err := json.Unmarshal([]byte(s), &res); err != nil {
		t.Fatalf("stdout is not a RunResult: %v\n%s", err, s)
	}
	return res
}

func TestInstallDryRunJSONPrintsPlanAndChangesNothing(t *testing.T) {
	l := newInstallLab(t)
	r := l.run(t, "--output", "json", "install", "--dry-run")
	if r.code != exitOK {
		t.Fatalf("exit %d, stderr %s", r.code, r.stderr)
	}
	res := decodeRun(t, r.stdout)
	if !res.DryRun || len(res.Phases) != len(installer.PhaseNames()) || !res.Changed() {
		t.Errorf("plan: %+v", res)
	}
	var pk installer.PhaseResult
	for _, p := range res.Phases {
		if p.Name == installer.PhasePackages {
			pk = p
		}
	}
	if !slices.ContainsFunc(pk.Changes, func(c string) bool { return strings.HasPrefix(c, "install ") }) {
		t.Errorf("packages plan %q lacks the install", pk.Changes)
	}
	if len(l.mem.Log) != 0 {
		t.Errorf("dry run changed the host: %q", l.mem.Log)
	}
	if files := listTree(t, l.root); len(files) != 0 {
		t.Errorf("dry run wrote %v", files)
	}
	for _, s := range []string{"-pw", "secret"} {
		if strings.Contains(r.stdout, s) {
			t.Errorf("plan mentions %q", s)
		}
	}
}

func TestInstallUnknownPhaseExits2(t *testing.T) {
	l := newInstallLab(t)
	for _, args := range [][]string{
		{"install", "--dry-run", "--only", "nope"},
		{"install", "--dry-run", "--from", "nope"},
		{"install", "--dry-run", "--from", "nova", "--only", "nova"},
	} {
		r := l.run(t, args...)
		if r.code != exitUsage || !strings.Contains(r.stderr, "--only") && !strings.Contains(r.stderr, "phases:") {
			t.Errorf("%v: exit %d, stderr %q; want 2 naming the phases", args, r.code, r.stderr)
		}
	}
	if l.mem != nil {
		t.Error("host opened before the flags were checked")
	}
}

func TestInstallNeedsYesWithoutTerminal(t *testing.T) {
	l := newInstallLab(t)
	r := l.run(t, "install")
	if r.code != exitUsage || !strings.Contains(r.stderr, "--yes") {
		t.Errorf("exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestInstallRunsSavesAndConverges(t *testing.T) {
	l := newInstallLab(t)
	r := l.run(t, "install", "--yes")
	if r.code != exitOK {
		t.Fatalf("exit %d\nstdout %s\nstderr %s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{"✓ packages", "✓ keystone", "✓ verify", "the lab is ready"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}
	if _, err := os.Stat(filepath.Join(l.root, config.SecretsPath)); err != nil {
		t.Errorf("secrets not generated: %v", err)
	}
	data, err := os.ReadFile(filepath.Join(l.root, "var/lib/stacklab/last-run.json"))
	if err != nil || !decodeRun(t, string(data)).Changed() {
		t.Errorf("last-run.json: %v", err)
	}
	l.mem.TakeLog()

	r = l.run(t, "--output", "json", "install", "--yes")
	if r.code != exitOK {
		t.Fatalf("second run: exit %d, stderr %s", r.code, r.stderr)
	}
	if res := decodeRun(t, r.stdout); res.Changed() {
		t.Errorf("second run changed %+v", res.Phases)
	}
	if log := l.mem.TakeLog(); len(log) != 0 {
		t.Errorf("second run touched the host: %q", log)
	}
}

func TestInstallFailureExits1WithPhaseCauseAndFix(t *testing.T) {
	l := newInstallLab(t)
	l.setup = func(m *installer.MemHost, p openstack.Params) {
		m.FailProbes["http://"+p.MgmtIP+":9292/"] = true
		m.Journal["glance-api"] = []string{"ERROR glance: Unable to connect to the database"}
	}
	r := l.run(t, "install", "--yes", "--only", "packages", "--only", "infra", "--only", "keystone", "--only", "glance")
	if r.code != exitFailed {
		t.Fatalf("exit %d, want 1\nstderr %s", r.code, r.stderr)
	}
	for _, want := range []string{"phase glance", "Unable to connect to the database", "fix:", "stacklab install --from glance"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	if !strings.Contains(r.stdout, "✗ glance") {
		t.Errorf("no failed step line:\n%s", r.stdout)
	}
}

func TestInstallLockNamesHolder(t *testing.T) {
	l := newInstallLab(t)
	held, err := lock.Acquire(filepath.Join(l.root, lock.Path), "stacklab install (test)")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Release()
	r := l.run(t, "install", "--yes")
	if r.code != exitFailed || !strings.Contains(r.stderr, "stacklab install (test)") {
		t.Errorf("exit %d, stderr %q; want 1 naming the holder", r.code, r.stderr)
	}
}
