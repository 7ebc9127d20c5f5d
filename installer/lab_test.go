package installer

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stacklab/stacklab/installer/apt"
	"github.com/stacklab/stacklab/installer/inifile"
	"github.com/stacklab/stacklab/installer/labstate"
	"github.com/stacklab/stacklab/installer/openstack"
)

func labParams() openstack.Params {
	return openstack.Params{
		Hostname:       "lab1",
		MgmtIP:         "192.0.2.10",
		ExtIf:          "eth1",
		Region:         openstack.DefaultRegion,
		ComputeDriver:  openstack.ComputeLibvirt,
		VirtType:       openstack.VirtQEMU,
		ProviderNet:    openstack.DefaultProviderNet,
		MTU:            1400,
		Workers:        2,
		HorizonWebRoot: openstack.DefaultWebRoot,
		TimeZone:       "UTC",
		AdminUser:      openstack.DefaultAdminUser,
		AdminProject:   openstack.DefaultProject,
		// A lab host: libvirt's qemu.conf (the Flat file) is managed.
		CgroupControllersReadOnly: true,
		Secrets: openstack.Secrets{
			AdminPassword: "test-admin-pw", KeystoneDB: "test-keystone-db-pw",
			GlanceDB: "test-glance-db-pw", GlanceUser: "test-glance-user-pw",
			PlacementDB: "test-placement-db-pw", PlacementUser: "test-placement-user-pw",
			NovaDB: "test-nova-db-pw", NovaUser: "test-nova-user-pw",
			NeutronDB: "test-neutron-db-pw", NeutronUser: "test-neutron-user-pw",
			Rabbit: "test-rabbit-pw", MetadataSecret: "test-metadata-secret",
			HorizonSecretKey: "test-horizon-secret-key",
		},
	}
}

type nopReporter struct{}

func (nopReporter) PhaseStarted(string, string)                     {}
func (nopReporter) PhaseDone(string, Outcome, time.Duration, error) {}

func runLab(t *testing.T, m *MemHost, dryRun bool, sel Selection) (RunResult, error) {
	t.Helper()
	all := LabPhases(m.Host(), m.p, WithProbeTimeouts(50*time.Millisecond, 50*time.Millisecond, time.Millisecond))
	ps, err := Select(all, sel)
	if err != nil {
		t.Fatal(err)
	}
	return Run(context.Background(), ps, dryRun, nopReporter{})
}

// installed returns a MemHost after one full, successful run.
func installed(t *testing.T) *MemHost {
	t.Helper()
	m := NewMemHost(labParams())
	if _, err := runLab(t, m, false, Selection{}); err != nil {
		t.Fatalf("first run: %v", err)
	}
	return m
}

func filter(log []string, prefix string) []string {
	var out []string
	for _, l := range log {
		if strings.HasPrefix(l, prefix) {
			out = append(out, strings.TrimPrefix(l, prefix))
		}
	}
	return out
}

func TestFirstRunConvergesAndSecondChangesNothing(t *testing.T) {
	p := labParams()
	m := NewMemHost(p)
	res, err := runLab(t, m, false, Selection{})
	if err != nil {
		t.Fatalf("first run: %v", err)
	}
	log := m.TakeLog()

	// Packages: preseeded, held, installed, released, in that order.
	i := slices.Index(log, "hold services")
	if i < 1 || !strings.HasPrefix(log[i-1], "preseed") || !strings.HasPrefix(log[i+1], "install ") || log[i+2] != "release services" {
		t.Errorf("packages: want preseed, hold, install, release; log starts %q", log[:min(len(log), 6)])
	}
	// The PreInstall file is written before the install.
	if w := slices.Index(log, "write /etc/default/nova-consoleproxy"); w < 0 || w > i {
		t.Errorf("PreInstall file written at %d, hold at %d", w, i)
	}
	// Every unit started once, in tier order.
	if got, want := filter(log, "start "), openstack.Units(p); !slices.Equal(got, want) {
		t.Errorf("starts:\n got %v\nwant %v", got, want)
	}
	if r := filter(log, "restart "); len(r) != 0 {
		t.Errorf("first run restarted %v; inactive units are started, not restarted", r)
	}
	for _, f := range openstack.Files(p) {
		want := "write " + f.Path
		if f.Kind == openstack.Absent {
			want = "remove " + f.Path
		}
		if !slices.Contains(log, want) {
			t.Errorf("log lacks %q", want)
		}
	}
	// Each sync command ran once; the state dir holds their markers.
	for _, c := range openstack.SyncCommands(p) {
		n := 0
		for _, l := range filter(log, "exec ") {
			if l == strings.Join(redactAll(c.Argv, p.Secrets.Values()), " ") {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%s ran %d times", c.Name, n)
		}
		if _, ok := m.Files["/var/lib/stacklab/markers/"+c.Name]; !ok && len(c.Unless) == 0 {
			t.Errorf("no marker for %s", c.Name)
		}
	}
	// keystone's bootstrap comes after its db sync, before keystone starts;
	// discover_hosts after nova-compute started.
	idx := func(s string) int {
		return slices.IndexFunc(log, func(l string) bool { return strings.HasPrefix(l, s) })
	}
	if !(idx("exec keystone-manage db_sync") < idx("exec keystone-manage bootstrap") && idx("exec keystone-manage bootstrap") < idx("start keystone")) {
		t.Error("keystone: want db_sync, bootstrap, start in that order")
	}
	if !(idx("start nova-compute") < idx("exec sh -c for i in $(seq 20); do out=$(nova-manage cell_v2 discover_hosts")) {
		t.Error("discover_hosts ran before nova-compute started")
	}
	if !(idx("start mariadb") < idx("exec mysql") && idx("exec mysql") < idx("start keystone")) {
		t.Error("databases must be created once mariadb runs, before keystone")
	}
	// Passwords never in argv, and bootstrap's is redacted in the log.
	for _, l := range log {
		for _, s := range p.Secrets.Values() {
			if strings.Contains(l, s) {
				t.Errorf("log line holds a secret: %q", l)
			}
		}
	}
	if _, ok := m.Files["/var/lib/stacklab/pending-restarts"]; ok {
		t.Error("pending restarts left after a successful run")
	}
	if !res.Changed() {
		t.Error("first run reports no changes")
	}

	// Second run over the resulting state.
	res, err = runLab(t, m, false, Selection{})
	if err != nil {
		t.Fatalf("second run: %v", err)
	}
	if log := m.TakeLog(); len(log) != 0 {
		t.Errorf("second run changed things: %q", log)
	}
	if res.Changed() {
		t.Errorf("second run reports changes: %+v", res.Phases)
	}
	if len(res.Phases) != len(PhaseNames()) {
		t.Errorf("ran %d phases, want %d", len(res.Phases), len(PhaseNames()))
	}
}

func TestChangedFileRestartsExactlyItsUnits(t *testing.T) {
	m := installed(t)
	m.TakeLog()
	// Someone edits a managed key of glance-api.conf.
	f := inifile.Parse(m.Files[openstack.GlanceAPIConf])
	if err := f.Apply([]inifile.Set{{Section: "DEFAULT", Key: "workers", Value: "16"}}); err != nil {
		t.Fatal(err)
	}
	m.Files[openstack.GlanceAPIConf] = f.Bytes()

	res, err := runLab(t, m, false, Selection{})
	if err != nil {
		t.Fatal(err)
	}
	log := m.TakeLog()
	if got := filter(log, "restart "); !slices.Equal(got, []string{"glance-api"}) {
		t.Errorf("restarts %v, want [glance-api]", got)
	}
	if s := filter(log, "start "); len(s) != 0 {
		t.Errorf("starts %v, want none", s)
	}
	wantWrites := []string{"/var/lib/stacklab/pending-restarts", openstack.GlanceAPIConf}
	if got := filter(log, "write "); !slices.Equal(got, wantWrites) {
		t.Errorf("writes %v, want %v", got, wantWrites)
	}
	var glance PhaseResult
	for _, ph := range res.Phases {
		if ph.Name == PhaseGlance {
			glance = ph
		} else if len(ph.Changes) > 0 {
			t.Errorf("phase %s changed %v", ph.Name, ph.Changes)
		}
	}
	want := []string{"edit " + openstack.GlanceAPIConf + ": [DEFAULT] workers", "restart glance-api"}
	if !slices.Equal(glance.Changes, want) {
		t.Errorf("glance changes %q, want %q", glance.Changes, want)
	}
}

func TestInterruptedRunRestartsOnNextRun(t *testing.T) {
	m := installed(t)
	m.TakeLog()
	nova := inifile.Parse(m.Files[openstack.NovaConf])
	_ = nova.Apply([]inifile.Set{{Section: "DEFAULT", Key: "my_ip", Value: "10.9.9.9"}})
	m.Files[openstack.NovaConf] = nova.Bytes()
	// The config is rewritten, then restarting nova-api fails.
	m.FailStart["nova-api"] = true
	if _, err := runLab(t, m, false, Selection{Only: []string{PhaseNova}}); err == nil {
		t.Fatal("want an error when nova-api fails to restart")
	}
	m.FailStart["nova-api"] = false
	m.TakeLog()
	// nova.conf no longer differs, yet the units that did not restart yet
	// are restarted now.
	if _, err := runLab(t, m, false, Selection{Only: []string{PhaseNova}}); err != nil {
		t.Fatal(err)
	}
	got := append(filter(m.Log, "restart "), filter(m.Log, "start ")...)
	for _, u := range []string{"nova-api", "nova-conductor", "nova-scheduler", "nova-compute"} {
		if !slices.Contains(got, u) {
			t.Errorf("%s not (re)started after the interrupted run: %v", u, got)
		}
	}
	m.TakeLog()
	if _, err := runLab(t, m, false, Selection{}); err != nil {
		t.Fatal(err)
	}
	if log := m.TakeLog(); len(log) != 0 {
		t.Errorf("third run changed things: %q", log)
	}
}

func TestProbeFailureNamesPhaseJournalAndFix(t *testing.T) {
	p := labParams()
	m := NewMemHost(p)
	m.FailProbes["http://192.0.2.10:5000/v3"] = true
	m.Journal["keystone"] = []string{
		"uwsgi: greenlet.error: cannot switch to a different thread",
		"connection = mysql+pymysql://keystone:" + p.KeystoneDB + "@127.0.0.1/keystone",
	}
	res, err := runLab(t, m, false, Selection{})
	var pe *PhaseError
	if !errors.As(err, &pe) {
		t.Fatalf("err %v, want a PhaseError", err)
	}
	if pe.Phase != PhaseKeystone {
		t.Errorf("phase %q, want keystone", pe.Phase)
	}
	var probe *ProbeError
	if !errors.As(err, &probe) || probe.Tier != openstack.TierKeystone {
		t.Fatalf("cause %v, want a ProbeError of tier keystone", err)
	}
	msg := err.Error()
	for _, want := range []string{"greenlet.error", "keystone.service loaded/active/running", "http://192.0.2.10:5000/v3"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}
	if strings.Contains(msg, p.KeystoneDB) {
		t.Errorf("error shows a password:\n%s", msg)
	}
	if !strings.Contains(pe.Fix, "stacklab install --from keystone") {
		t.Errorf("fix %q", pe.Fix)
	}
	if last := res.Phases[len(res.Phases)-1]; last.Name != PhaseKeystone || last.Error == "" {
		t.Errorf("last phase %+v", last)
	}
}

// A unit that exits while its tier is awaited ends the wait at once, named
// with its journal; libvirtd, which exits when idle by design, does not.
func TestStoppedUnitEndsTheWait(t *testing.T) {
	p := labParams()
	m := NewMemHost(p)
	m.ExitAfterStart["nova-compute"] = true
	m.ExitAfterStart["libvirtd"] = true
	m.FailProbes[p.Hostname] = true
	m.Journal["nova-compute"] = []string{"nova.exception.HypervisorUnavailable: Connection to the hypervisor is broken on host"}
	_, err := runLab(t, m, false, Selection{})
	var probe *ProbeError
	if !errors.As(err, &probe) || probe.Tier != openstack.TierCompute {
		t.Fatalf("err %v, want a ProbeError of tier compute", err)
	}
	msg := err.Error()
	for _, want := range []string{"nova-compute.service stopped (inactive)", "HypervisorUnavailable"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}
	if strings.Contains(msg, "libvirtd.service stopped") {
		t.Errorf("an idle libvirtd was blamed:\n%s", msg)
	}
}

func TestDryRunPerformsNothing(t *testing.T) {
	for _, name := range []string{"fresh", "installed"} {
		t.Run(name, func(t *testing.T) {
			m := NewMemHost(labParams())
			if name == "installed" {
				m = installed(t)
				m.TakeLog()
				// Drift that a real run would repair.
				m.Units["glance-api"] = "failed"
			}
			res, err := runLab(t, m, true, Selection{})
			if err != nil {
				t.Fatalf("dry run: %v", err)
			}
			if len(m.Log) != 0 {
				t.Errorf("dry run changed things: %q", m.Log)
			}
			for _, c := range m.Commands {
				if !c.ReadOnly {
					t.Errorf("dry run ran %v", c.Argv)
				}
			}
			if !res.DryRun || !res.Changed() {
				t.Errorf("dry run should report its plan: %+v", res)
			}
			if name == "installed" {
				var changes []string
				for _, ph := range res.Phases {
					changes = append(changes, ph.Changes...)
				}
				if !slices.Equal(changes, []string{"start glance-api (was failed)"}) {
					t.Errorf("plan %q", changes)
				}
			}
		})
	}
}

func TestPhaseNamesMatchLabPhases(t *testing.T) {
	got := names(LabPhases(NewMemHost(labParams()).Host(), labParams()))
	if !slices.Equal(got, PhaseNames()) {
		t.Errorf("LabPhases %v, PhaseNames %v", got, PhaseNames())
	}
}

func TestEditFlat(t *testing.T) {
	set := []inifile.Set{{Key: "cgroup_controllers", Value: "[ ]"}}
	tests := []struct{ in, want string }{
		{"", "cgroup_controllers = [ ]\n"},
		{"# c\n#cgroup_controllers = [ \"cpu\" ]\n", "# c\n#cgroup_controllers = [ \"cpu\" ]\ncgroup_controllers = [ ]\n"},
		{"a = 1\ncgroup_controllers=[\"cpu\"]\nb = 2\ncgroup_controllers = []\n", "a = 1\ncgroup_controllers = [ ]\nb = 2\n"},
		{"a = 1", "a = 1\ncgroup_controllers = [ ]\n"},
	}
	for _, tt := range tests {
		got := string(editFlat([]byte(tt.in), set))
		if got != tt.want {
			t.Errorf("editFlat(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if again := string(editFlat([]byte(got), set)); again != got {
			t.Errorf("not idempotent: %q -> %q", got, again)
		}
	}
	if got := string(editFlat([]byte("x = 1\ny = 2\n"), []inifile.Set{{Key: "x", Delete: true}})); got != "y = 2\n" {
		t.Errorf("delete: %q", got)
	}
}

func TestPlanDatabases(t *testing.T) {
	p := labParams()
	dbs := openstack.Databases(p)
	sql, changes := planDatabases(dbs, parseDBState(""))
	if !strings.Contains(sql, "CREATE DATABASE IF NOT EXISTS `nova_api`;") ||
		!strings.Contains(sql, "CREATE USER IF NOT EXISTS 'nova'@'127.0.0.1' IDENTIFIED BY 'test-nova-db-pw';") ||
		!strings.Contains(sql, "GRANT ALL PRIVILEGES ON `nova_cell0`.* TO 'nova'@'localhost';") {
		t.Errorf("sql:\n%s", sql)
	}
	if strings.Count(sql, "CREATE USER IF NOT EXISTS 'nova'@'localhost'") != 1 {
		t.Error("nova@localhost created more than once")
	}
	for _, c := range changes {
		for _, s := range p.Secrets.Values() {
			if strings.Contains(c, s) {
				t.Errorf("change shows a password: %q", c)
			}
		}
	}
	m := NewMemHost(p)
	m.dbDone = true
	full := m.dbRows()
	if sql, ch := planDatabases(dbs, parseDBState(full)); sql != "" || len(ch) != 0 {
		t.Errorf("converged state planned %q %q", sql, ch)
	}
	// A password changed in the secrets file is applied.
	stale := strings.Replace(full, nativePasswordHash(p.GlanceDB), nativePasswordHash("old-password"), 1)
	sql, ch := planDatabases(dbs, parseDBState(stale))
	if !strings.Contains(sql, "ALTER USER 'glance'@'localhost' IDENTIFIED BY 'test-glance-db-pw';") || len(ch) != 1 {
		t.Errorf("stale password: %q %q", sql, ch)
	}
	// The hash MariaDB's PASSWORD('password') shows.
	if got := nativePasswordHash("password"); got != "*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19" {
		t.Errorf("hash %s", got)
	}
}

func TestMarkerFollowsPackageVersion(t *testing.T) {
	m := installed(t)
	m.TakeLog()
	m.Installed["glance-common"] = "2.0-1"
	if _, err := runLab(t, m, false, Selection{Only: []string{PhaseGlance}}); err != nil {
		t.Fatal(err)
	}
	if got := filter(m.TakeLog(), "exec "); !slices.Equal(got, []string{"glance-manage db_sync"}) {
		t.Errorf("after an upgrade ran %v, want glance's db_sync", got)
	}
}

// The keystone phase records the management address the catalog was
// converged for; doctor reads it (checks/doctor checkMgmtAddress).
func TestRecordsMgmtAddress(t *testing.T) {
	const file = "/var/lib/stacklab/" + labstate.File
	m := installed(t)
	got, err := labstate.Decode(m.Files[file])
	if err != nil || got.MgmtIP != "192.0.2.10" {
		t.Fatalf("after install: %s = %+v, %v; want mgmt_ip 192.0.2.10", file, got, err)
	}

	// A new address: a dry run says it would record it and writes nothing.
	m.p.MgmtIP = "192.0.2.77"
	m.TakeLog()
	res, err := runLab(t, m, true, Selection{Only: []string{PhaseKeystone}})
	if err != nil {
		t.Fatal(err)
	}
	want := "record management address 192.0.2.77 in " + file
	if !slices.Contains(res.Phases[0].Changes, want) {
		t.Errorf("dry run changes %q lack %q", res.Phases[0].Changes, want)
	}
	if w := filter(m.TakeLog(), "write "); slices.Contains(w, file) {
		t.Errorf("dry run wrote %s", file)
	}

	// The real run records it, once.
	if _, err := runLab(t, m, false, Selection{Only: []string{PhaseKeystone}}); err != nil {
		t.Fatal(err)
	}
	if got, err := labstate.Decode(m.Files[file]); err != nil || got.MgmtIP != "192.0.2.77" {
		t.Errorf("after the new address: %+v, %v", got, err)
	}
	m.TakeLog()
	if _, err := runLab(t, m, false, Selection{Only: []string{PhaseKeystone}}); err != nil {
		t.Fatal(err)
	}
	if w := filter(m.TakeLog(), "write "); slices.Contains(w, file) {
		t.Errorf("an unchanged address rewrote %s", file)
	}

	// A torn record is rewritten, not trusted.
	m.Files[file] = []byte(`{"mgmt_ip":"192.0`)
	if _, err := runLab(t, m, false, Selection{Only: []string{PhaseKeystone}}); err != nil {
		t.Fatal(err)
	}
	if got, err := labstate.Decode(m.Files[file]); err != nil || got.MgmtIP != "192.0.2.77" {
		t.Errorf("after a torn record: %+v, %v", got, err)
	}
}

// TestPackagesConfigureAgainOnce: a maintainer script that fails once
// (openstack-dashboard's asset compress) is configured again, with the
// services still held; any other apt failure, or a second one, stops the
// phase with its error.
func TestPackagesConfigureAgainOnce(t *testing.T) {
	postinst := &apt.CommandError{Op: "install", Err: errors.New("exit status 100"), Failed: []apt.Failure{
		{Package: "openstack-dashboard", Message: "installed openstack-dashboard package post-installation script subprocess returned error exit status 1"},
		{Package: "openstack-dashboard-apache", Message: "dependency problems - leaving unconfigured"},
	}}
	download := &apt.CommandError{Op: "install", Err: errors.New("exit status 100"), Failed: []apt.Failure{
		{Package: "nova-common", Message: "failed to fetch"},
	}}
	// CI58: the dashboard's trigger, run after every named package was
	// configured, failed; only openstack-dashboard (a dependency) was
	// left to configure.
	trigger := &apt.CommandError{Op: "install", Err: errors.New("exit status 100"), Failed: []apt.Failure{
		{Package: "openstack-dashboard", Message: "installed openstack-dashboard package post-installation script subprocess returned error exit status 1"},
	}}
	for _, tc := range []struct {
		name     string
		errs     []error
		installs int
		again    bool // a second apt run, which names what the first did
		fail     bool
	}{
		{"postinst fails once", []error{postinst}, 2, true, false},
		{"trigger fails once", []error{trigger}, 2, true, false},
		{"postinst fails twice", []error{postinst, postinst}, 2, false, true},
		{"download fails", []error{download}, 1, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := NewMemHost(labParams())
			m.InstallErrors = tc.errs
			_, err := runLab(t, m, false, Selection{Only: []string{PhasePackages}})
			if (err != nil) != tc.fail {
				t.Fatalf("err = %v, want failure %v", err, tc.fail)
			}
			log := m.TakeLog()
			installs := filter(log, "install ")
			if got := len(installs); got != tc.installs {
				t.Errorf("%d apt runs, want %d: %q", got, tc.installs, log)
			}
			// The retry names what the first run named: apt configures
			// the failed dependency anyway, and naming it would mark it
			// manually installed, out of uninstall's autoremove (CI65).
			if tc.again && (len(installs) < 2 || installs[1] != installs[0]) {
				t.Errorf("apt runs %q, want the second to name what the first did", installs)
			}
			if m.Manual["openstack-dashboard"] {
				t.Errorf("openstack-dashboard, a dependency, was named to apt: %q", installs)
			}
			if !tc.fail {
				if missing, _ := m.Missing(context.Background(), []string{"openstack-dashboard", "openstack-dashboard-apache"}); len(missing) > 0 {
					t.Errorf("left unconfigured: %q", missing)
				}
			}
			// Every apt run leaves out the Recommends (the lab names
			// what it uses of them) and the test suites' bytecode, and
			// fsyncs once, not per file.
			for i, o := range m.InstallOptions {
				if !o.NoRecommends || !o.UnsafeIO || !o.SkipTestsBytecode {
					t.Errorf("apt run %d: %+v, want no Recommends, no tests' bytecode and unsafe-io", i, o)
				}
			}
			// Every apt run happens with the services held.
			h, r := slices.Index(log, "hold services"), slices.Index(log, "release services")
			for i, l := range log {
				if strings.HasPrefix(l, "install ") && (h < 0 || i < h || r < i) {
					t.Errorf("apt ran outside the hold (hold %d, release %d): %q", h, r, log)
				}
			}
		})
	}
}

// A re-run learns a sync is done from its guard, run as the guard's user,
// or from its marker: nova's cell1 guard reads MariaDB as root instead of
// importing nova, and no re-run runs nova-manage or rabbitmqctl (each cost
// seconds of a re-run that changes nothing).
func TestRerunGuardsRunAsTheirUser(t *testing.T) {
	m := installed(t)
	m.Commands = nil
	if _, err := runLab(t, m, false, Selection{}); err != nil {
		t.Fatal(err)
	}
	var cell1 openstack.Command
	for _, c := range openstack.SyncCommands(m.p) {
		if c.Name == "nova-create-cell1" {
			cell1 = c
		}
	}
	if cell1.UnlessUser != "root" || len(cell1.Unless) == 0 {
		t.Fatalf("nova-create-cell1: unless %q as %q", cell1.Unless, cell1.UnlessUser)
	}
	guarded := false
	for _, c := range m.Commands {
		if slices.Equal(c.Argv, cell1.Unless) {
			guarded = true
			if c.User != "root" || !c.ReadOnly {
				t.Errorf("cell1 guard ran as %q (read-only %v), want root, read-only", c.User, c.ReadOnly)
			}
		}
		if a := strings.Join(c.Argv, " "); strings.Contains(a, "nova-manage") || strings.Contains(a, "rabbitmqctl") {
			t.Errorf("re-run ran %q", c.Argv)
		}
	}
	if !guarded {
		t.Error("re-run never checked nova-create-cell1's guard")
	}
}

// A re-run asks dpkg for the sync packages' versions once, not once per
// sync command; a fresh install reads them after apt installed them.
func TestVersionsReadOncePerRun(t *testing.T) {
	m := NewMemHost(labParams())
	if _, err := runLab(t, m, false, Selection{}); err != nil {
		t.Fatal(err)
	}
	if m.VersionQueries != 1 {
		t.Errorf("fresh install: %d version queries, want 1", m.VersionQueries)
	}
	markers := 0
	for p := range m.Files {
		if strings.HasPrefix(p, "/var/lib/stacklab/markers/") {
			markers++
			if !strings.HasPrefix(string(m.Files[p]), "version 1") {
				t.Errorf("%s records %q: the version read before apt installed the package", p, m.Files[p])
			}
		}
	}
	if markers == 0 {
		t.Fatal("no sync marker written")
	}
	m.VersionQueries = 0
	m.TakeLog()
	if _, err := runLab(t, m, false, Selection{}); err != nil {
		t.Fatal(err)
	}
	if m.VersionQueries != 1 {
		t.Errorf("re-run: %d version queries, want 1", m.VersionQueries)
	}
	if got := filter(m.TakeLog(), "exec "); len(got) != 0 {
		t.Errorf("re-run ran %v", got)
	}
}

// A tier whose HTTP probe connects and never answers while its units run
// (a wedged WSGI daemon, keystone's deadlock) has them restarted once and
// the wait goes on; one still hung after that fails as before, restarted
// only once; a refused probe is never restarted.
func TestHungTierRestartedOnce(t *testing.T) {
	login := "http://192.0.2.10/horizon/auth/login/"
	run := func(m *MemHost) ([]string, error) {
		var notes []string
		all := LabPhases(m.Host(), m.p, WithProbeTimeouts(300*time.Millisecond, 50*time.Millisecond, time.Millisecond),
			WithHangRestart(20*time.Millisecond), WithNotify(func(_, msg string) { notes = append(notes, msg) }))
		_, err := Run(context.Background(), all, false, nopReporter{})
		return notes, err
	}
	restarts := func(m *MemHost) []string {
		var out []string
		for _, u := range filter(m.TakeLog(), "restart ") {
			if u == "apache2" {
				out = append(out, u)
			}
		}
		return out
	}

	m := NewMemHost(labParams())
	m.HangProbes[login] = "apache2"
	notes, err := run(m)
	if err != nil {
		t.Fatalf("a hung dashboard unwedged by a restart: %v", err)
	}
	if got := restarts(m); len(got) != 1 {
		t.Errorf("apache2 restarted %d times after the hang, want 1", len(got))
	}
	if !slices.ContainsFunc(notes, func(n string) bool {
		return strings.Contains(n, login+" accepts connections and has not answered") && strings.HasSuffix(n, "restarting apache2 once")
	}) {
		t.Errorf("no note of the restart in %q", notes)
	}

	// Still hung after its restart: restarted once, then the probe error.
	m = NewMemHost(labParams())
	m.HangProbes[login] = "no-such-unit-unwedges-it"
	if _, err = run(m); err == nil {
		t.Fatal("a dashboard hung for good passed")
	}
	var probe *ProbeError
	if !errors.As(err, &probe) || probe.Tier != openstack.TierDashboard {
		t.Fatalf("err %v, want a ProbeError of the dashboard tier", err)
	}
	if got := restarts(m); len(got) != 1 {
		t.Errorf("apache2 restarted %d times for a lasting hang, want 1", len(got))
	}

	// Refused, not hung: no restart.
	m = NewMemHost(labParams())
	m.FailProbes[login] = true
	if _, err = run(m); err == nil {
		t.Fatal("a refused dashboard passed")
	}
	if got := restarts(m); len(got) != 0 {
		t.Errorf("apache2 restarted %d times for a refused probe, want 0", len(got))
	}
}

// A lab installed when stacklab named nova-compute-qemu keeps it: its
// stand-in counts as installed, so the packages phase has nothing to do
// (apt would swap the two conflicting packages), and uninstall purges it.
// With neither installed, the lab's own name is installed.
func TestStandInSatisfiesThePackagesPhase(t *testing.T) {
	m := installed(t)
	delete(m.Installed, "nova-compute-kvm")
	m.Installed["nova-compute-qemu"] = "2:26.2.2-1~deb12u4"
	m.TakeLog()
	res, err := runLab(t, m, false, Selection{Only: []string{PhasePackages}})
	if err != nil {
		t.Fatal(err)
	}
	if log := filter(m.TakeLog(), "install "); len(log) != 0 {
		t.Errorf("the stand-in's lab ran apt: %q", log)
	}
	if res.Changed() {
		t.Errorf("the packages phase changed %+v", res.Phases)
	}
	if _, err := Uninstall(context.Background(), m.Host(), m.p, "/var/log/stacklab", false); err != nil {
		t.Fatal(err)
	}
	purges := filter(m.TakeLog(), "purge ")
	if len(purges) != 1 || !slices.Contains(strings.Fields(purges[0]), "nova-compute-qemu") {
		t.Errorf("purges %q, want nova-compute-qemu among them", purges)
	}

	m = installed(t)
	delete(m.Installed, "nova-compute-kvm")
	m.TakeLog()
	if _, err := runLab(t, m, false, Selection{Only: []string{PhasePackages}}); err != nil {
		t.Fatal(err)
	}
	if log := filter(m.TakeLog(), "install "); !slices.Equal(log, []string{"nova-compute-kvm"}) {
		t.Errorf("apt runs %q, want install nova-compute-kvm", log)
	}
}

// The compute tier's probe is given nova-compute's start, after a restart
// too, so a report of the process before it cannot pass for this one's;
// the other probes take any answer.
func TestComputeProbeIsGivenNovaComputesStart(t *testing.T) {
	m := installed(t)
	host := m.p.Hostname
	first := m.Probed[host]
	if first.IsZero() || !first.Equal(m.Started[openstack.ComputeUnit]) {
		t.Fatalf("compute probe given %v, want nova-compute's start %v", first, m.Started[openstack.ComputeUnit])
	}
	if since, ok := m.Probed[m.p.MgmtIP+":5672"]; ok && !since.IsZero() {
		t.Errorf("rabbitmq's probe given a start %v: it names no unit", since)
	}
	for target, since := range m.Probed {
		if target != host && !since.IsZero() {
			t.Errorf("probe %s given a start %v: only the compute probe names a unit", target, since)
		}
	}
	if err := m.Restart(context.Background(), openstack.ComputeUnit); err != nil {
		t.Fatal(err)
	}
	if _, err := runLab(t, m, false, Selection{Only: []string{PhaseNova}}); err != nil {
		t.Fatal(err)
	}
	if again := m.Probed[host]; !again.After(first) || !again.Equal(m.Started[openstack.ComputeUnit]) {
		t.Errorf("after a restart the probe was given %v, want nova-compute's new start %v", again, m.Started[openstack.ComputeUnit])
	}
}
