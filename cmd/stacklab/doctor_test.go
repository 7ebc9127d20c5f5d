package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stacklab/stacklab/checks/doctor"
	"github.com/stacklab/stacklab/internal/cloud"
	"github.com/stacklab/stacklab/internal/systemd"
)

// fakeLab is systemd with one unit whose state a restart repairs.
type fakeLab struct {
	mu       sync.Mutex
	active   bool
	restarts int
}

func (f *fakeLab) States(_ context.Context, units ...string) ([]systemd.UnitState, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []systemd.UnitState
	for _, u := range units {
		st := systemd.UnitState{Name: u + ".service", LoadState: "loaded", ActiveState: "failed", SubState: "failed"}
		if f.active {
			st.ActiveState, st.SubState = "active", "running"
		}
		out = append(out, st)
	}
	return out, nil
}

// BootTime: a lab booted long ago.
func (f *fakeLab) BootTime(context.Context) (time.Time, error) { return time.Unix(0, 0), nil }

func (f *fakeLab) JournalTail(context.Context, string, int) ([]string, error) {
	return []string{"memcached: killed"}, nil
}

func (f *fakeLab) Restart(context.Context, string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.restarts++
	f.active = true
	return nil
}

func (f *fakeLab) ConvergeCatalog(context.Context) ([]string, error) { return nil, nil }
func (f *fakeLab) AllowMgmtHost(context.Context) (bool, error)       { return false, nil }
func (f *fakeLab) RestoreMemcached(context.Context) (bool, error)    { return false, nil }
func (f *fakeLab) DiscoverHosts(context.Context) error               { return nil }

type diskHost struct{}

func (diskHost) DiskUsage(string) (float64, error) { return 10, nil }
func (diskHost) ReadFile(string) ([]byte, error)   { return nil, errors.New("no file") }
func (diskHost) Readlink(string) (string, error)   { return "", errors.New("no link") }
func (diskHost) ReadDir(string) ([]string, error)  { return nil, nil }
func (diskHost) Run(context.Context, string, ...string) ([]byte, error) {
	return nil, errors.New("no commands here")
}

// doctorEnv runs doctor against fakeLab, keeping only the checks that need
// no network (the others are --skip'ed).
func doctorEnv(t *testing.T, lab *fakeLab, lab2 bool) (*doctorTestEnv, []string) {
	t.Helper()
	cfg := doctor.Config{Lab: lab2, NotLabReason: "no secrets", MgmtIP: "127.0.0.1", Units: []string{"memcached"}, DiskPaths: []string{"/"}}
	if lab2 {
		cfg.NotLabReason = ""
	}
	deps := doctor.Deps{Units: lab, Host: diskHost{},
		Cloud: func(context.Context) (*cloud.Cloud, error) { return nil, errors.New("no cloud") }}
	keep := map[string]bool{doctor.IDLabHost: true, doctor.IDDisk: true, doctor.UnitID("memcached"): true}
	var skip []string
	for _, c := range doctor.Checks(cfg, deps) {
		if !keep[c.ID] {
			skip = append(skip, "--skip", c.ID)
		}
	}
	e := testEnv(t)
	d := doctorDeps{
		setup: func(context.Context, doctorOptions) (doctorSetup, error) {
			s := doctorSetup{cfg: cfg, deps: deps}
			if lab2 {
				s.repairer = lab
			}
			return s, nil
		},
		settle: time.Second, poll: 10 * time.Millisecond,
	}
	return &doctorTestEnv{e: e, d: d}, skip
}

type doctorTestEnv struct {
	e *env
	d doctorDeps
}

// runDoctor is runWith with the doctor command wired to the fakes.
func runDoctor(t *testing.T, te *doctorTestEnv, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	e := te.e
	e.stdout, e.stderr, e.stdin = &out, &errb, strings.NewReader("")
	app := newApp(e)
	for i, c := range app.Commands {
		if c.Name == "doctor" {
			app.Commands[i] = e.doctorCommandWith(te.d)
		}
	}
	err := app.Run(context.Background(), append([]string{"stacklab"}, args...))
	code := exitCode(context.Background(), err, &errb)
	return result{code, out.String(), errb.String()}
}

func TestDoctorCLI(t *testing.T) {
	lab := &fakeLab{}
	e, skip := doctorEnv(t, lab, true)

	r := runDoctor(t, e, append([]string{"-o", "json", "doctor"}, skip...)...)
	if r.code != exitFailed {
		t.Fatalf("failed unit: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	var rep struct {
		Checks []struct {
			ID, Status string
			Evidence   []string
		}
	}
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatal(err, r.stdout)
	}
	found := false
	for _, c := range rep.Checks {
		if c.ID == "unit-memcached" {
			found = c.Status == "fail" && strings.Contains(strings.Join(c.Evidence, "\n"), "journal: memcached: killed")
		}
	}
	if !found {
		t.Errorf("unit-memcached not failed with its journal:\n%s", r.stdout)
	}

	// --fix without --yes off a terminal is refused; --dry-run changes nothing.
	if r := runDoctor(t, e, append([]string{"doctor", "--fix"}, skip...)...); r.code != exitUsage || lab.restarts != 0 {
		t.Errorf("--fix without --yes: exit %d, %d restarts", r.code, lab.restarts)
	}
	r = runDoctor(t, e, append([]string{"doctor", "--fix", "--dry-run"}, skip...)...)
	if r.code != exitFailed || lab.restarts != 0 || !strings.Contains(r.stdout, "restart memcached") {
		t.Errorf("dry run: exit %d, %d restarts\n%s", r.code, lab.restarts, r.stdout)
	}

	r = runDoctor(t, e, append([]string{"doctor", "--fix", "--yes"}, skip...)...)
	if r.code != exitOK || lab.restarts != 1 {
		t.Fatalf("fix: exit %d, %d restarts\n%s%s", r.code, lab.restarts, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stdout, "unit-memcached: fail → ok") {
		t.Errorf("no before → after:\n%s", r.stdout)
	}

	// Healthy now: nothing to repair, exit 0, and a timing line.
	r = runDoctor(t, e, append([]string{"doctor"}, skip...)...)
	if r.code != exitOK || !strings.Contains(r.stdout, "checked in") {
		t.Errorf("healthy: exit %d\n%s", r.code, r.stdout)
	}
}

func TestDoctorNotLabHost(t *testing.T) {
	e, skip := doctorEnv(t, &fakeLab{}, false)
	r := runDoctor(t, e, append([]string{"doctor", "--fix", "--yes"}, skip...)...)
	if r.code != exitFailed || !strings.Contains(r.stdout, "root cause: lab-host") || !strings.Contains(r.stdout, "lab host only") {
		t.Errorf("exit %d\n%s", r.code, r.stdout)
	}
	if r := runDoctor(t, e, "doctor", "--skip", "no-such-check"); r.code != exitUsage {
		t.Errorf("bad --skip: exit %d", r.code)
	}
}

func TestDoctorBundle(t *testing.T) {
	e, skip := doctorEnv(t, &fakeLab{active: true}, true)
	file := filepath.Join(t.TempDir(), "b.tar.gz")
	r := runDoctor(t, e, append([]string{"doctor", "--bundle", file}, skip...)...)
	if r.code != exitOK || !strings.Contains(r.stderr, "support bundle written") {
		t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	st, err := os.Stat(file)
	if err != nil || st.Mode().Perm() != 0o600 || st.Size() == 0 {
		t.Errorf("bundle: %v %v", st, err)
	}
}
