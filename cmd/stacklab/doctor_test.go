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

// chainLab is systemd where restarting one unit breaks another, as a
// MariaDB outage left nova-compute reporting down in CI: the second
// failure shows only once the first is repaired.
type chainLab struct {
	fakeLab
	failed map[string]bool
	// breaks: restarting the key leaves the value failed, once.
	breaks   map[string]string
	restarts []string
	// stubborn units stay failed whatever is done.
	stubborn map[string]bool
}

func (f *chainLab) States(_ context.Context, units ...string) ([]systemd.UnitState, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []systemd.UnitState
	for _, u := range units {
		st := systemd.UnitState{Name: u + ".service", LoadState: "loaded", ActiveState: "active", SubState: "running"}
		if f.failed[u] {
			st.ActiveState, st.SubState = "failed", "failed"
		}
		out = append(out, st)
	}
	return out, nil
}

func (f *chainLab) Restart(_ context.Context, unit string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.restarts = append(f.restarts, unit)
	f.failed[unit] = f.stubborn[unit]
	if other, ok := f.breaks[unit]; ok {
		delete(f.breaks, unit)
		f.failed[other] = true
	}
	return nil
}

func chainEnv(t *testing.T, lab *chainLab) (*doctorTestEnv, []string) {
	t.Helper()
	units := []string{"mariadb", "memcached"}
	cfg := doctor.Config{Lab: true, MgmtIP: "127.0.0.1", Units: units, DiskPaths: []string{"/"}}
	deps := doctor.Deps{Units: lab, Host: diskHost{},
		Cloud: func(context.Context) (*cloud.Cloud, error) { return nil, errors.New("no cloud") }}
	keep := map[string]bool{doctor.IDLabHost: true, doctor.IDDisk: true}
	for _, u := range units {
		keep[doctor.UnitID(u)] = true
	}
	var skip []string
	for _, c := range doctor.Checks(cfg, deps) {
		if !keep[c.ID] {
			skip = append(skip, "--skip", c.ID)
		}
	}
	d := doctorDeps{
		setup: func(context.Context, doctorOptions) (doctorSetup, error) {
			return doctorSetup{cfg: cfg, deps: deps, repairer: lab}, nil
		},
		// A failure with a repair not yet run ends the wait at once: the
		// settle's bound is never reached (the tests count its lines).
		settle: 5 * time.Second, poll: 10 * time.Millisecond,
	}
	return &doctorTestEnv{e: testEnv(t), d: d}, skip
}

func TestDoctorFixRepairsWhatTheFirstRepairUncovered(t *testing.T) {
	lab := &chainLab{failed: map[string]bool{"mariadb": true}, breaks: map[string]string{"mariadb": "memcached"}}
	e, skip := chainEnv(t, lab)
	r := runDoctor(t, e, append([]string{"doctor", "--fix", "--yes"}, skip...)...)
	if r.code != exitOK || strings.Join(lab.restarts, ",") != "mariadb,memcached" {
		t.Fatalf("exit %d, restarts %v\n%s%s", r.code, lab.restarts, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stdout, "repairs for what the first ones uncovered:\n  - restart memcached") {
		t.Errorf("the second round is not shown:\n%s", r.stdout)
	}
	if n := strings.Count(r.stdout, "waiting for"); n > 2 {
		t.Errorf("waited %d polls for a failure only a repair mends:\n%s", n, r.stdout)
	}

	// JSON lists both rounds' repairs.
	lab.failed, lab.breaks, lab.restarts = map[string]bool{"mariadb": true}, map[string]string{"mariadb": "memcached"}, nil
	r = runDoctor(t, e, append([]string{"-o", "json", "doctor", "--fix", "--yes"}, skip...)...)
	var out struct {
		Repairs []repairOutcome
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil || r.code != exitOK {
		t.Fatalf("exit %d, %v\n%s", r.code, err, r.stdout)
	}
	if len(out.Repairs) != 2 || out.Repairs[1].For != doctor.UnitID("memcached") || out.Repairs[1].Status != "done" {
		t.Errorf("repairs: %+v", out.Repairs)
	}
}

func TestDoctorFixRunsEachRepairOnce(t *testing.T) {
	// memcached fails again whatever is done: restarted once in the first
	// round, never again, and the verdict says it still fails.
	lab := &chainLab{failed: map[string]bool{"memcached": true}, stubborn: map[string]bool{"memcached": true}}
	e, skip := chainEnv(t, lab)
	e.d.settle = 50 * time.Millisecond // nothing new to run: it waits it all
	r := runDoctor(t, e, append([]string{"doctor", "--fix", "--yes"}, skip...)...)
	if r.code != exitFailed || strings.Join(lab.restarts, ",") != "memcached" {
		t.Errorf("exit %d, restarts %v\n%s", r.code, lab.restarts, r.stdout)
	}
	if strings.Contains(r.stdout, "uncovered") {
		t.Errorf("a second round with nothing new:\n%s", r.stdout)
	}
}
