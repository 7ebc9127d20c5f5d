package doctor

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stacklab/stacklab/checks"
	"github.com/stacklab/stacklab/internal/systemd/systemdtest"
)

// TestUnitsAgainstRealSystemd reads unit states and the journal from a real
// systemd, then repairs the failed unit through HostRepairer as --fix does.
func TestUnitsAgainstRealSystemd(t *testing.T) {
	inst := systemdtest.Boot(t)
	inst.WriteUnit("memcached.service", "[Service]\nExecStart=/bin/sleep infinity\n")
	// Fails once with a message, then runs: a crash that a restart cures.
	inst.WriteUnit("apache2.service", "[Service]\nExecStart=/bin/sh -c 'if [ -e /run/doctor-crashed ]; then exec sleep infinity; fi; echo AH00526: syntax error; touch /run/doctor-crashed; exit 3'\n")
	ctx := context.Background()
	c := inst.Client()
	if err := c.Start(ctx, "memcached"); err != nil {
		t.Fatal(err)
	}
	_ = c.Start(ctx, "apache2") // fails, as intended
	// A Type=simple start returns once the process is forked, before it
	// crashes: wait until systemd has seen it fail, or the checks race the
	// crash (they lost under a loaded CI run).
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, err := c.States(ctx, "apache2")
		if err == nil && st[0].Failed() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("apache2 stand-in never failed: %+v %v", st, err)
		}
		time.Sleep(20 * time.Millisecond) // polling systemd with a deadline
	}

	cfg := Config{Lab: true, Units: []string{"memcached", "apache2"}}
	only := func() []checks.Check { return unitChecks(cfg, Deps{Units: c, Host: fakeHost{}}) }
	rep, err := checks.Run(ctx, only(), checks.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if e, _ := rep.Get(UnitID("memcached")); e.Status != checks.OK {
		t.Errorf("memcached: %+v", e)
	}
	e, _ := rep.Get(UnitID("apache2"))
	if e.Status != checks.Fail || !strings.Contains(strings.Join(e.Evidence, "\n"), "AH00526") {
		t.Fatalf("apache2: %+v", e)
	}
	plan := Plan(rep, cfg, HostRepairer{Units: c})
	if len(plan) != 1 {
		t.Fatalf("plan: %+v", plan)
	}
	if err := plan[0].Run(ctx); err != nil {
		t.Fatal(err)
	}
	after, err := checks.Run(ctx, only(), checks.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if ch := Compare(rep, after); len(ch) != 1 || ch[0].ID != UnitID("apache2") || ch[0].After != checks.OK {
		t.Errorf("before → after: %v", ch)
	}
}

// TestBootAgainstRealSystemd: a lab unit that is installed but not enabled
// and not running (as Debian leaves placement-api) is the one root cause;
// --fix enables it, so it starts at boot, and starts it.
func TestBootAgainstRealSystemd(t *testing.T) {
	inst := systemdtest.Boot(t)
	inst.WriteUnit("memcached.service", "[Service]\nExecStart=/bin/sleep infinity\n[Install]\nWantedBy=multi-user.target\n")
	inst.WriteUnit("placement-api.service", "[Service]\nExecStart=/bin/sleep infinity\n[Install]\nWantedBy=multi-user.target\n")
	ctx := context.Background()
	c := inst.Client()
	if err := c.Enable(ctx, "memcached"); err != nil {
		t.Fatal(err)
	}
	if err := c.Start(ctx, "memcached"); err != nil {
		t.Fatal(err)
	}
	cfg := Config{Lab: true, Units: []string{"memcached", "placement-api"}}
	only := func() []checks.Check { return unitChecks(cfg, Deps{Units: c, Host: fakeHost{}}) }
	rep, err := checks.Run(ctx, only(), checks.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := rep.RootCauses(); len(got) != 1 || got[0] != IDBoot {
		t.Fatalf("root causes %v, want %s: %+v", got, IDBoot, rep)
	}
	e, _ := rep.Get(IDBoot)
	// The instance booted moments ago: the summary says so.
	if !strings.Contains(e.Summary, "did not start with it") || !strings.Contains(e.Summary, "placement-api") ||
		!strings.Contains(strings.Join(e.Evidence, "\n"), "placement-api: disabled, inactive/dead") {
		t.Errorf("%s: %+v", IDBoot, e)
	}
	for _, r := range Plan(rep, cfg, HostRepairer{Units: c}) {
		if err := r.Run(ctx); err != nil {
			t.Fatal(err)
		}
	}
	after, err := checks.Run(ctx, only(), checks.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if after.Failed() {
		t.Errorf("after --fix: %v still fail", after.RootCauses())
	}
	st, err := c.States(ctx, "placement-api")
	if err != nil || st[0].UnitFileState != "enabled" || !st[0].Active() {
		t.Errorf("placement-api after --fix: %v %v, want enabled and active", st, err)
	}
}

// unitChecks are the checks a real systemd alone can answer: the unit
// checks and those they are skipped behind (units-at-boot, oom-kill,
// port-N-owner, service-region).
func unitChecks(cfg Config, d Deps) []checks.Check {
	var out []checks.Check
	for _, ch := range Checks(cfg, d) {
		if ch.ID == IDLabHost || ch.ID == IDBoot || ch.ID == IDOOMKill || ch.ID == IDServiceRegion || strings.HasPrefix(ch.ID, "unit-") || strings.HasPrefix(ch.ID, "port-") {
			out = append(out, ch)
		}
	}
	return out
}
