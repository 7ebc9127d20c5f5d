package doctor

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stacklab/stacklab/checks"
	"github.com/stacklab/stacklab/internal/systemd"
)

var bootedAt = time.Date(2026, 12, 4, 6, 0, 0, 0, time.UTC)

// BootTime of the shared fake: an hour before any test's "now".
func (f fakeUnits) BootTime(context.Context) (time.Time, error) { return bootedAt.Add(-time.Hour), nil }

func unit(name, file, active, sub string) systemd.UnitState {
	return systemd.UnitState{Name: name + ".service", LoadState: "loaded", ActiveState: active, SubState: sub, UnitFileState: file}
}

func TestBootVerdict(t *testing.T) {
	units := []string{"mariadb", "placement-api", "nova-conductor", "neutron-api"}
	healthy := map[string]systemd.UnitState{
		"mariadb":        unit("mariadb", "enabled", "active", "running"),
		"placement-api":  unit("placement-api", "enabled", "active", "running"),
		"nova-conductor": unit("nova-conductor", "enabled", "active", "running"),
		"neutron-api":    unit("neutron-api", "enabled", "active", "running"),
	}
	with := func(changes ...systemd.UnitState) map[string]systemd.UnitState {
		m := map[string]systemd.UnitState{}
		for k, v := range healthy {
			m[k] = v
		}
		for _, c := range changes {
			m[strings.TrimSuffix(c.Name, ".service")] = c
		}
		return m
	}
	afterBoot := bootedAt.Add(2 * time.Minute)
	tests := []struct {
		name     string
		states   map[string]systemd.UnitState
		now      time.Time
		want     checks.Status
		summary  []string
		evidence []string
	}{
		{"all enabled", healthy, bootedAt.Add(10 * time.Minute), checks.OK, []string{"every lab unit starts at boot"}, []string{"booted 2026-12-04T06:00:00Z (10m0s ago)"}},
		{"all enabled, just booted: still starting", healthy, afterBoot, checks.Warn, []string{"the lab booted 2m0s ago: its services may still be starting"}, nil},
		{"static and generated start at boot", with(unit("mariadb", "static", "active", "running"), unit("neutron-api", "generated", "active", "running")),
			bootedAt.Add(time.Hour), checks.OK, nil, nil},
		{"disabled but running: the next reboot breaks it", with(unit("neutron-api", "disabled", "active", "running")), afterBoot,
			checks.Warn, []string{"1 lab unit is not enabled", "next reboot", "neutron-api"}, []string{"neutron-api: disabled, but active/running now"}},
		{"just booted: the ones not enabled are the cause", with(
			unit("placement-api", "disabled", "inactive", "dead"),
			unit("neutron-api", "disabled", "inactive", "dead"),
			unit("nova-conductor", "enabled", "activating", "auto-restart")), afterBoot,
			checks.Fail, []string{"booted 2m0s ago", "2 lab units did not start with it", "placement-api, neutron-api"},
			[]string{"placement-api: disabled, inactive/dead", "also not active, most likely because they need the units above: nova-conductor activating/auto-restart"}},
		{"long after boot: still the cause, said plainly", with(unit("placement-api", "disabled", "inactive", "dead")), bootedAt.Add(3 * time.Hour),
			checks.Fail, []string{"1 lab unit is not enabled and not running (placement-api)"}, nil},
		{"masked is the unit check's, unknown is not judged", with(
			systemd.UnitState{Name: "placement-api.service", LoadState: "masked", ActiveState: "inactive", UnitFileState: "masked"},
			unit("neutron-api", "", "inactive", "dead")), bootedAt.Add(time.Hour), checks.OK, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := BootVerdict(units, tt.states, bootedAt, tt.now)
			if r.Status != tt.want {
				t.Fatalf("status %s, want %s: %+v", r.Status, tt.want, r)
			}
			for _, s := range tt.summary {
				if !strings.Contains(r.Summary, s) {
					t.Errorf("summary %q lacks %q", r.Summary, s)
				}
			}
			for _, e := range tt.evidence {
				if !slices.Contains(r.Evidence, e) {
					t.Errorf("evidence %q lacks %q", r.Evidence, e)
				}
			}
			if r.Status != checks.OK && !strings.Contains(r.Summary, "may still be starting") && (!strings.Contains(r.Fix, "stacklab doctor --fix") || !strings.Contains(r.Fix, "systemctl enable")) {
				t.Errorf("fix %q: want doctor --fix and the systemctl command", r.Fix)
			}
		})
	}
}

// bootUnits is systemd just after a reboot with some lab units disabled.
type bootUnits struct {
	fakeUnits
	files map[string]string // unit -> UnitFileState ("" = enabled)
	now   time.Time
}

func (b bootUnits) States(ctx context.Context, units ...string) ([]systemd.UnitState, error) {
	out, err := b.fakeUnits.States(ctx, units...)
	for i, u := range units {
		out[i].UnitFileState = "enabled"
		if f := b.files[u]; f != "" {
			out[i].UnitFileState = f
		}
	}
	return out, err
}

func (b bootUnits) BootTime(context.Context) (time.Time, error) { return b.now.Add(-time.Minute), nil }

// After a reboot with units disabled, every other unit and service check
// is down too; the report leads with the one cause.
func TestBootIsTheOneRootCauseAfterAReboot(t *testing.T) {
	w := newWorld(t)
	now := time.Now()
	w.deps.Now = func() time.Time { return now }
	w.deps.Units = bootUnits{
		fakeUnits: fakeUnits{states: map[string]string{"keystone": "inactive", "apache2": "inactive", "memcached": "activating"}},
		files:     map[string]string{"keystone": "disabled", "apache2": "disabled"},
		now:       now,
	}
	rep := w.run(t)
	if got := rep.RootCauses(); !slices.Equal(got, []string{IDBoot}) {
		t.Fatalf("root causes %v, want only %s", got, IDBoot)
	}
	e, _ := rep.Get(IDBoot)
	if !strings.Contains(e.Summary, "booted 1m0s ago and 2 lab units did not start with it") {
		t.Errorf("summary %q", e.Summary)
	}
	if u, _ := rep.Get(UnitID("memcached")); u.Status != checks.Skip || !slices.Equal(u.RootCauses, []string{IDBoot}) {
		t.Errorf("unit-memcached: %s %v, want skipped for %s", u.Status, u.RootCauses, IDBoot)
	}
}

type bootRepairer struct{ recordingRepairer }

func (f *bootRepairer) EnableAtBoot(_ context.Context, units []string) ([]string, error) {
	f.log = append(f.log, "enable-at-boot "+strings.Join(units, ","))
	return units, nil
}

func (f *bootRepairer) StartStopped(_ context.Context, units []string) ([]string, error) {
	f.log = append(f.log, "start-stopped "+strings.Join(units, ","))
	return units, nil
}

func TestPlanEnablesAndStartsInTierOrder(t *testing.T) {
	cfg := Config{Units: []string{"mariadb", "keystone", "placement-api", "neutron-api"}, MgmtIP: "10.0.0.2"}
	for _, st := range []checks.Status{checks.Fail, checks.Warn} {
		rep := checks.Report{Entries: []checks.Entry{
			{ID: IDBoot, Result: checks.Result{Status: st, Summary: "1 lab unit is not enabled"}},
			// In the warn case unit checks run: a failed one is started by
			// the boot repair, not restarted a second time.
			{ID: UnitID("mariadb"), Result: checks.Failf("mariadb is inactive/dead", "")},
		}}
		f := &bootRepairer{}
		for _, r := range Plan(rep, cfg, f) {
			if err := r.Run(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
		want := "enable-at-boot mariadb,keystone,placement-api,neutron-api|start-stopped mariadb,keystone,placement-api,neutron-api"
		if got := strings.Join(f.log, "|"); got != want {
			t.Errorf("%s: repairs\n got %s\nwant %s", st, got, want)
		}
	}
	// Only just booted: nothing to repair.
	starting := checks.Report{Entries: []checks.Entry{{ID: IDBoot, Result: checks.Warnf("the lab booted 40s ago: its services may still be starting", "")}}}
	if p := Plan(starting, cfg, &bootRepairer{}); len(p) != 0 {
		t.Errorf("plan for a lab still starting: %v", p)
	}
	// A Repairer without the boot repair gets none (and no crash).
	rep := checks.Report{Entries: []checks.Entry{{ID: IDBoot, Result: checks.Failf("x", "")}}}
	if p := Plan(rep, cfg, &recordingRepairer{}); len(p) != 0 {
		t.Errorf("plan without a BootRepairer: %v", p)
	}
}

// `systemctl stop ovs-vswitchd` stops ovsdb-server too (through
// openvswitch-switch): doctor names ovsdb-server and skips the rest behind
// it. --fix restarts ovsdb-server and starts what stood behind it, in tier
// order, or ovs-vswitchd and the agent would stay down.
func TestPlanStartsUnitsSkippedBehindARestartedUnit(t *testing.T) {
	cfg := Config{Units: []string{"ovsdb-server", "ovs-vswitchd", "openvswitch-switch", "neutron-api", "neutron-openvswitch-agent"}}
	behind := func(unit string) checks.Entry {
		return checks.Entry{ID: UnitID(unit), Result: checks.Skipped("not run because unit-ovsdb-server failed"),
			RootCauses: []string{UnitID("ovsdb-server")}}
	}
	rep := checks.Report{Entries: []checks.Entry{
		{ID: UnitID("ovsdb-server"), Result: checks.Failf("ovsdb-server is inactive/dead", "")},
		behind("ovs-vswitchd"), behind("openvswitch-switch"), behind("neutron-openvswitch-agent"),
		// Skipped behind something that is not a unit: not touched.
		{ID: UnitID("neutron-api"), Result: checks.Skipped("not run"), RootCauses: []string{IDLabHost}},
	}}
	f := &bootRepairer{}
	for _, r := range Plan(rep, cfg, f) {
		if err := r.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	want := "restart ovsdb-server|start-stopped ovs-vswitchd,openvswitch-switch,neutron-openvswitch-agent"
	if got := strings.Join(f.log, "|"); got != want {
		t.Errorf("repairs\n got %s\nwant %s", got, want)
	}
	// A Repairer that cannot start only what is stopped restarts nothing more.
	rf := &recordingRepairer{}
	for _, r := range Plan(rep, cfg, rf) {
		_ = r.Run(context.Background())
	}
	if got := strings.Join(rf.log, "|"); got != "restart ovsdb-server" {
		t.Errorf("without a BootRepairer: %s", got)
	}
}
