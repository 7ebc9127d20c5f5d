package doctor

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stacklab/stacklab/checks"
	"github.com/stacklab/stacklab/installer/openstack"
	"github.com/stacklab/stacklab/lab"
)

func TestSetKeystoneURL(t *testing.T) {
	const u = "http://10.0.0.2:5000/v3"
	const want = `OPENSTACK_KEYSTONE_URL = "` + u + `"` + "\n"
	head := "# Horizon settings\nimport os\nDEBUG = False\n"
	tail := "OPENSTACK_HOST = '10.0.0.2'\nSECRET_KEY = 'k'\n"
	tests := []struct {
		name, in, out string
		changed       bool
	}{
		{"present, double quotes", head + `OPENSTACK_KEYSTONE_URL = "http://10.0.0.2:5999/v3"` + "\n" + tail,
			head + want + tail, true},
		{"present, single quotes, no spaces", head + "OPENSTACK_KEYSTONE_URL='http://old:5000/v3'\n" + tail,
			head + want + tail, true},
		{"Debian's %-formatted default", head + `OPENSTACK_KEYSTONE_URL = "http://%s/identity/v3" % OPENSTACK_HOST` + "\n" + tail,
			head + want + tail, true},
		{"spans lines in brackets", head + "OPENSTACK_KEYSTONE_URL = (\n    'http://old:5000'\n    '/v3'\n)\n" + tail,
			head + want + tail, true},
		{"trailing comment goes with the statement", head + "OPENSTACK_KEYSTONE_URL = 'http://old/v3'  # was this\n" + tail,
			head + want + tail, true},
		{"already right", head + want + tail, head + want + tail, false},
		{"already right, other quoting: rewritten the install's way", head + "OPENSTACK_KEYSTONE_URL = '" + u + "'\n" + tail,
			head + want + tail, true},
		{"commented out: left alone, the setting appended",
			head + "#OPENSTACK_KEYSTONE_URL = 'http://old/v3'\n" + tail,
			head + "#OPENSTACK_KEYSTONE_URL = 'http://old/v3'\n" + tail + "\n" + openstack.PyMarker + "\n" + want, true},
		{"indented in a block: left alone", head + "if DEBUG:\n    OPENSTACK_KEYSTONE_URL = 'http://dev/v3'\n" + want + tail,
			head + "if DEBUG:\n    OPENSTACK_KEYSTONE_URL = 'http://dev/v3'\n" + want + tail, false},
		{"absent: appended under the marker", head + tail, head + tail + "\n" + openstack.PyMarker + "\n" + want, true},
		{"absent, marker there", head + openstack.PyMarker + "\nX = 1\n", head + openstack.PyMarker + "\nX = 1\n" + want, true},
		{"assigned twice: both set", "OPENSTACK_KEYSTONE_URL = 'a'\nX = 1\nOPENSTACK_KEYSTONE_URL = 'b'\n",
			want + "X = 1\n" + want, true},
		{"a string mentioning it is not an assignment", head + "HELP = 'OPENSTACK_KEYSTONE_URL = x'\n" + want,
			head + "HELP = 'OPENSTACK_KEYSTONE_URL = x'\n" + want, false},
		{"CRLF elsewhere kept", "A = 1\r\nOPENSTACK_KEYSTONE_URL = 'x'\nB = 2\r\n", "A = 1\r\n" + want + "B = 2\r\n", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, changed, err := SetKeystoneURL(tt.in, u)
			if err != nil {
				t.Fatal(err)
			}
			if out != tt.out || changed != tt.changed {
				t.Errorf("SetKeystoneURL =\n%q, %v\nwant\n%q, %v", out, changed, tt.out, tt.changed)
			}
		})
	}
}

// A file that ends inside a bracket is not guessed at.
func TestSetKeystoneURLRefusesUnbalanced(t *testing.T) {
	in := "OPENSTACK_KEYSTONE_URL = 'x'\nCACHES = {\n"
	out, changed, err := SetKeystoneURL(in, "http://10.0.0.2:5000/v3")
	if err == nil || changed || out != in {
		t.Errorf("SetKeystoneURL(unbalanced) = %q, %v, %v; want it unchanged and an error", out, changed, err)
	}
}

// The real repair keeps the old file, with its mode, next to the new one,
// changes only the setting's line, and does nothing the second time.
func TestHostRepairerSetHorizonKeystoneURL(t *testing.T) {
	root := t.TempDir()
	file := filepath.Join(root, openstack.HorizonSettings)
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		t.Fatal(err)
	}
	before := "DEBUG = False\nOPENSTACK_KEYSTONE_URL = \"http://10.0.0.2:5999/v3\"\nSECRET_KEY = 'k'\n"
	if err := os.WriteFile(file, []byte(before), 0o640); err != nil {
		t.Fatal(err)
	}
	h := HostRepairer{Host: System{Root: root}, Lab: lab.Of(openstack.Params{MgmtIP: "10.0.0.2"})}
	changed, err := h.SetHorizonKeystoneURL(context.Background())
	if err != nil || !changed {
		t.Fatalf("first: %v, %v", changed, err)
	}
	got, _ := os.ReadFile(file)
	if want := "DEBUG = False\nOPENSTACK_KEYSTONE_URL = \"http://10.0.0.2:5000/v3\"\nSECRET_KEY = 'k'\n"; string(got) != want {
		t.Errorf("settings:\n%s\nwant\n%s", got, want)
	}
	for _, f := range []string{file, file + HorizonBackupSuffix} {
		if st, err := os.Stat(f); err != nil || st.Mode().Perm() != 0o640 {
			t.Errorf("%s: %v, %v; want mode 0640 (it holds SECRET_KEY)", f, st, err)
		}
	}
	if bak, _ := os.ReadFile(file + HorizonBackupSuffix); string(bak) != before {
		t.Errorf("backup = %q, want the file as it was", bak)
	}
	// Converged: no change, and the backup of the broken file stays.
	if changed, err := h.SetHorizonKeystoneURL(context.Background()); err != nil || changed {
		t.Errorf("second: %v, %v; want no change", changed, err)
	}
	if bak, _ := os.ReadFile(file + HorizonBackupSuffix); string(bak) != before {
		t.Errorf("second run replaced the backup with %q", bak)
	}
}

// A dead keystone URL is the root cause, its fix names the line, and Plan
// rewrites it and restarts apache2 — only with a Repairer that can.
func TestPlanHorizonKeystoneURL(t *testing.T) {
	w := newWorld(t)
	w.deps.Host.(fakeHost).files[HorizonSettingsFiles[0]] = "OPENSTACK_KEYSTONE_URL = \"http://127.0.0.1:1/v3\"\n"
	rep := w.run(t)
	e, _ := rep.Get(IDDashboardKeystone)
	if e.Status != checks.Fail || !strings.Contains(e.Fix, `OPENSTACK_KEYSTONE_URL = "http://127.0.0.1:5000/v3" in `+HorizonSettingsFiles[0]) {
		t.Fatalf("dashboard-keystone: %+v", e)
	}
	if roots := rep.RootCauses(); len(roots) != 1 || roots[0] != IDDashboardKeystone {
		t.Errorf("roots %v", roots)
	}
	f := &recordingRepairer{}
	plan := Plan(rep, w.cfg, f)
	if len(plan) != 1 || plan[0].For != IDDashboardKeystone ||
		!strings.Contains(plan[0].Description, HorizonSettingsFiles[0]+HorizonBackupSuffix) {
		t.Fatalf("plan: %+v", plan)
	}
	if err := plan[0].Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(f.log, "|"); got != "keystone-url|restart apache2" {
		t.Errorf("repairs %s", got)
	}
	// Nothing changed (already right): no restart.
	f = &recordingRepairer{keystoneURLUnchanged: true}
	if err := Plan(rep, w.cfg, f)[0].Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(f.log, "|"); got != "keystone-url" {
		t.Errorf("unchanged: repairs %s", got)
	}
	// Unset: the same repair.
	w.deps.Host.(fakeHost).files[HorizonSettingsFiles[0]] = "DEBUG = False\n"
	if p := Plan(w.run(t), w.cfg, &recordingRepairer{}); len(p) != 1 || p[0].For != IDDashboardKeystone {
		t.Errorf("unset: plan %+v", p)
	}
	// A Repairer without the repair gets none.
	if p := Plan(rep, w.cfg, basicRepairer{}); len(p) != 0 {
		t.Errorf("plan without KeystoneURLRepairer: %+v", p)
	}
}

// basicRepairer is a Repairer without the optional repairs.
type basicRepairer struct{}

func (basicRepairer) Restart(context.Context, string) error             { return nil }
func (basicRepairer) ConvergeCatalog(context.Context) ([]string, error) { return nil, nil }
func (basicRepairer) AllowMgmtHost(context.Context) (bool, error)       { return false, nil }
func (basicRepairer) RestoreMemcached(context.Context) (bool, error)    { return false, nil }
func (basicRepairer) DiscoverHosts(context.Context) error               { return nil }
