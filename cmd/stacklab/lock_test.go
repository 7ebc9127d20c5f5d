package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stacklab/stacklab/internal/lock"
	"github.com/stacklab/stacklab/internal/systemd"
	"github.com/stacklab/stacklab/netcfg"
)

// testEnv is defaultEnv with its lock in a temporary directory: tests must
// neither take nor wait on the machine's own /run/stacklab lock.
func testEnv(t *testing.T) *env {
	t.Helper()
	e := defaultEnv(nil, nil, nil)
	e.lockPath = filepath.Join(t.TempDir(), "stacklab.lock")
	return e
}

// countingUnits is systemd that counts the operations asked of it.
type countingUnits struct{ calls int }

func (u *countingUnits) States(_ context.Context, units ...string) ([]systemd.UnitState, error) {
	var out []systemd.UnitState
	for _, n := range units {
		out = append(out, systemd.UnitState{Name: n + ".service", LoadState: "loaded", ActiveState: "active", SubState: "running"})
	}
	return out, nil
}
func (u *countingUnits) Start(context.Context, string) error   { u.calls++; return nil }
func (u *countingUnits) Stop(context.Context, string) error    { u.calls++; return nil }
func (u *countingUnits) Restart(context.Context, string) error { u.calls++; return nil }

// Every command that changes the lab or the cloud takes the one lock:
// while another run holds it, each is refused before it changes anything,
// with exit 1 and the holder's name.
func TestChangingCommandsShareOneLock(t *testing.T) {
	e := testEnv(t)
	held, err := lock.Acquire(e.lockPath, "stacklab install (the other run)")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Release()
	units := &countingUnits{}
	e.units = func(context.Context) (unitController, error) { return units, nil }
	e.network = func() (netcfg.Host, error) {
		t.Error("net apply read the NICs while another run held the lock")
		return netcfg.Host{}, errors.New("no network in this test")
	}
	refused := func(r result, what string) {
		t.Helper()
		if r.code != exitFailed || !strings.Contains(r.stderr, "stacklab install (the other run)") {
			t.Errorf("%s: exit %d, stderr %q; want 1 naming the holder", what, r.code, r.stderr)
		}
	}
	for _, args := range [][]string{
		{"services", "restart", "memcached"},
		{"services", "stop"},
		{"services", "start"},
		{"net", "apply"},
		{"run", "--cloud", "nowhere"},
		{"run", "--destroy", "--yes", "--cloud", "nowhere"},
	} {
		refused(runWith(t, e, args...), "stacklab "+strings.Join(args, " "))
	}
	if units.calls != 0 {
		t.Errorf("%d unit operations ran while another run held the lock", units.calls)
	}

	lab := &fakeLab{}
	de, skip := doctorEnv(t, lab, true)
	de.e.lockPath = e.lockPath
	refused(runDoctor(t, de, append([]string{"doctor", "--fix", "--yes"}, skip...)...), "doctor --fix")
	if lab.restarts != 0 {
		t.Errorf("doctor --fix restarted %d units while another run held the lock", lab.restarts)
	}

	// Looking changes nothing and needs no lock.
	if r := runWith(t, e, "services"); r.code == exitFailed && strings.Contains(r.stderr, "holds") {
		t.Errorf("services (list) wanted the lock: %s", r.stderr)
	}

	// The holder gone, the next command takes the lock, and drops it.
	if err := held.Release(); err != nil {
		t.Fatal(err)
	}
	if r := runWith(t, e, "services", "restart", "memcached"); r.code != exitOK || units.calls != 1 {
		t.Fatalf("after release: exit %d, %d calls: %s", r.code, units.calls, r.stderr)
	}
	l, err := lock.Acquire(e.lockPath, "probe")
	if err != nil {
		t.Fatalf("the lock was not released after services restart: %v", err)
	}
	_ = l.Release()
}

// A second holder gets a LockedError naming the first, with its PID.
func TestLockLabNamesHolder(t *testing.T) {
	e := testEnv(t)
	release, err := e.lockLab("stacklab doctor --fix")
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	_, err = e.lockLab("stacklab services restart")
	var le *lock.LockedError
	if !errors.As(err, &le) || !strings.Contains(le.Holder, "stacklab doctor --fix") || lock.HolderPID(le.Holder) != os.Getpid() {
		t.Fatalf("second lockLab = %v, want a LockedError naming the first holder", err)
	}
	var f *failure
	if !errors.As(err, &f) || f.code != exitFailed {
		t.Errorf("a held lock should exit 1, got %v", err)
	}
}
