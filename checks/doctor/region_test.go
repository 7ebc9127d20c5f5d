package doctor

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/stacklab/stacklab/checks"
	"github.com/stacklab/stacklab/installer/openstack"
	"github.com/stacklab/stacklab/lab"
)

// journalUnits is fakeUnits with a journal per unit.
type journalUnits struct {
	fakeUnits
	journal map[string][]string
}

func (f journalUnits) JournalTail(_ context.Context, unit string, _ int) ([]string, error) {
	return f.journal[unit], nil
}

const novaConfRegion = `[DEFAULT]
my_ip = 10.0.0.2

[keystone_authtoken]
region_name = RegionOne

[placement]
# The region (Debian's default below).
region_name = regionOne
username = placement

[cinder]
os_region_name = RegionOne
`

func TestRegionVerdict(t *testing.T) {
	settings := RegionSettings(openstack.NovaConf, []byte(novaConfRegion))
	if len(settings) != 3 || settings[1].String() != "/etc/nova/nova.conf [placement] region_name = regionOne" {
		t.Fatalf("settings %v", settings)
	}
	for _, tt := range []struct {
		name     string
		region   string
		settings []RegionSetting
		status   checks.Status
		summary  string
		fix      string
	}{
		{"all match", "RegionOne", settings[:1], checks.OK, "1 region setting(s) name the lab's region RegionOne", ""},
		{"none set", "RegionOne", nil, checks.OK, "no service names a region", ""},
		{"case differs", "RegionOne", settings, checks.Fail,
			"nova.conf [placement] region_name = regionOne, but the catalog's region is RegionOne (case counts): requests fail with EndpointNotFound",
			"set region_name = RegionOne in /etc/nova/nova.conf [placement]\nthen systemctl restart nova-api nova-compute"},
		{"another region", "RegionTwo", settings, checks.Fail, "(and 2 more), but the catalog's region is RegionTwo: requests", "set os_region_name = RegionTwo in /etc/nova/nova.conf [cinder]"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := RegionVerdict(tt.region, tt.settings, map[string]string{"nova-compute": "ERROR nova keystoneauth1.exceptions.catalog.EndpointNotFound"},
				[]string{"nova-api", "nova-compute"})
			if r.Status != tt.status || !strings.Contains(r.Summary, tt.summary) || !strings.Contains(r.Fix, tt.fix) {
				t.Errorf("%s %q\nfix %q", r.Status, r.Summary, r.Fix)
			}
			if tt.status == checks.Fail && !slices.Contains(r.Evidence, "journal nova-compute: ERROR nova keystoneauth1.exceptions.catalog.EndpointNotFound") {
				t.Errorf("evidence %q lacks the journal line", r.Evidence)
			}
		})
	}
}

func TestIsEndpointNotFound(t *testing.T) {
	for l, want := range map[string]bool{
		"ERROR keystonemiddleware.auth_token keystoneauth1.exceptions.catalog.EndpointNotFound: Could not find requested endpoint in Service Catalog.": true,
		"WARNING nova.scheduler.client.report [None req-1] The placement API endpoint was not found.":                                                  true,
		"INFO nova.compute.manager Looking for unclaimed instances stuck in BUILDING status":                                                           false,
	} {
		if got := isEndpointNotFound(l); got != want {
			t.Errorf("%q: %v, want %v", l, got, want)
		}
	}
}

func TestRegionRootCause(t *testing.T) {
	w := newWorld(t)
	w.cfg.Units = append(w.cfg.Units, "nova-api", "nova-conductor", "nova-compute")
	w.cfg.Region = "RegionOne"
	w.deps.Units = journalUnits{fakeUnits: fakeUnits{states: map[string]string{}}, journal: map[string][]string{
		"nova-compute": {"INFO starting", "ERROR nova.compute.manager keystoneauth1.exceptions.catalog.EndpointNotFound: ['internal', 'public'] endpoint for placement service in regionOne region not found", "INFO later"},
	}}
	w.deps.Host.(fakeHost).files[openstack.NovaConf] = novaConfRegion
	rep := w.run(t)
	if roots := rep.RootCauses(); len(roots) != 1 || roots[0] != IDServiceRegion {
		t.Fatalf("roots %v", roots)
	}
	e, _ := rep.Get(IDServiceRegion)
	if !slices.ContainsFunc(e.Evidence, func(s string) bool { return strings.HasPrefix(s, "journal nova-compute: ERROR") }) ||
		!strings.Contains(e.Fix, "systemctl restart nova-api nova-conductor nova-compute") {
		t.Errorf("%+v", e)
	}
	// The APIs, compute and the units of services that read a region
	// (nova-compute exits at start without placement) are consequences:
	// skipped behind it.
	for _, c := range Checks(w.cfg, w.deps) {
		want := slices.Contains([]string{IDGlance, IDPlacement, IDNova, IDNeutron, IDComputeServices, IDPlacementInv,
			UnitID("nova-api"), UnitID("nova-conductor"), UnitID("nova-compute")}, c.ID)
		if got := slices.Contains(c.DependsOn, IDServiceRegion); got != want {
			t.Errorf("%s depends on %s: %v, want %v", c.ID, IDServiceRegion, got, want)
		}
	}
	f := &regionRepairer{changed: []string{openstack.NovaConf}}
	plan := Plan(rep, w.cfg, f)
	if len(plan) != 1 || plan[0].For != IDServiceRegion ||
		plan[0].Description != "set the region to RegionOne in /etc/nova/nova.conf (the old files kept as *.stacklab-bak) and restart nova-api nova-conductor nova-compute" {
		t.Fatalf("plan %+v", plan)
	}
	if err := plan[0].Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(f.log, "|"); got != "region|restart nova-api|restart nova-conductor|restart nova-compute" {
		t.Errorf("repairs %s", got)
	}
	// Nothing changed: nothing restarted.
	f = &regionRepairer{}
	_ = Plan(rep, w.cfg, f)[0].Run(context.Background())
	if got := strings.Join(f.log, "|"); got != "region" {
		t.Errorf("unchanged: repairs %s", got)
	}
}

type regionRepairer struct {
	recordingRepairer
	changed []string
}

func (f *regionRepairer) SetRegion(context.Context) ([]string, error) {
	f.log = append(f.log, "region")
	return f.changed, nil
}

// The real repair changes only the region lines, keeps the old file with
// its mode, and does nothing the second time.
func TestHostRepairerSetRegion(t *testing.T) {
	root := t.TempDir()
	file := filepath.Join(root, openstack.NovaConf)
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, []byte(novaConfRegion), 0o640); err != nil {
		t.Fatal(err)
	}
	// The service reads its file through its group: the rewrite and the
	// backup keep owner and group, or the service cannot start.
	const uid, gid = 4242, 4343
	if err := os.Chown(file, uid, gid); err != nil {
		t.Fatalf("chown (the test runs as root): %v", err)
	}
	h := HostRepairer{Host: System{Root: root}, Lab: lab.Of(openstack.Params{Region: "RegionOne"})}
	changed, err := h.SetRegion(context.Background())
	if err != nil || len(changed) != 1 || changed[0] != openstack.NovaConf {
		t.Fatalf("first: %v, %v", changed, err)
	}
	got, _ := os.ReadFile(file)
	if want := strings.Replace(novaConfRegion, "region_name = regionOne", "region_name = RegionOne", 1); string(got) != want {
		t.Errorf("nova.conf:\n%s\nwant\n%s", got, want)
	}
	for _, f := range []string{file, file + HorizonBackupSuffix} {
		st, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		sys := st.Sys().(*syscall.Stat_t)
		if st.Mode().Perm() != 0o640 || sys.Uid != uid || sys.Gid != gid {
			t.Errorf("%s: mode %v owner %d:%d; want 0640 %d:%d (it holds passwords; the service reads it)", f, st.Mode().Perm(), sys.Uid, sys.Gid, uid, gid)
		}
	}
	if changed, err := h.SetRegion(context.Background()); err != nil || len(changed) != 0 {
		t.Errorf("second: %v, %v; want no change", changed, err)
	}
}

// Debian's nova.conf says os_region_name = regionOne under [cinder], and a
// lab installed by the guide keeps it: with no cinder on the host nova
// never reads it, so it is no root cause; with cinder it is.
func TestRegionIgnoresCinderWithoutCinder(t *testing.T) {
	w := newWorld(t)
	w.cfg.Units = append(w.cfg.Units, "nova-api")
	w.cfg.Region = "RegionOne"
	h := w.deps.Host.(fakeHost)
	h.files[openstack.NovaConf] = "[placement]\nregion_name = RegionOne\n[cinder]\nos_region_name = regionOne\n"
	if e, _ := w.run(t).Get(IDServiceRegion); e.Status != checks.OK {
		t.Errorf("no cinder: %s %s", e.Status, e.Summary)
	}
	h.files[CinderConf] = "[DEFAULT]\n"
	if e, _ := w.run(t).Get(IDServiceRegion); e.Status != checks.Fail || !strings.Contains(e.Summary, "[cinder] os_region_name = regionOne") {
		t.Errorf("with cinder: %s %s", e.Status, e.Summary)
	}
}
