package doctor

import (
	"strings"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/services"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/agents"

	"github.com/stacklab/stacklab/checks"
	"github.com/stacklab/stacklab/installer/identity"
	"github.com/stacklab/stacklab/internal/systemd"
)

func TestDiskVerdict(t *testing.T) {
	order := []string{"/", "/var/lib/mysql"}
	tests := []struct {
		usage map[string]float64
		want  checks.Status
		in    string
	}{
		{map[string]float64{"/": 40, "/var/lib/mysql": 84.9}, checks.OK, ""},
		{map[string]float64{"/": 85}, checks.Warn, "/ 85 %"},
		{map[string]float64{"/": 86, "/var/lib/mysql": 95}, checks.Fail, "/var/lib/mysql 95 %"},
		{map[string]float64{}, checks.OK, ""},
	}
	for _, tt := range tests {
		r := DiskVerdict(tt.usage, order)
		if r.Status != tt.want || !strings.Contains(r.Summary, tt.in) {
			t.Errorf("%v: %s %q, want %s containing %q", tt.usage, r.Status, r.Summary, tt.want, tt.in)
		}
	}
}

func TestUnitVerdict(t *testing.T) {
	active := systemd.UnitState{Name: "memcached.service", LoadState: "loaded", ActiveState: "active", SubState: "running"}
	failed := systemd.UnitState{Name: "memcached.service", LoadState: "loaded", ActiveState: "failed", SubState: "failed", Result: "exit-code"}
	masked := systemd.UnitState{Name: "memcached.service", LoadState: "masked", ActiveState: "inactive", SubState: "dead"}
	gone := systemd.UnitState{Name: "memcached.service", LoadState: "not-found", ActiveState: "inactive"}
	if r := UnitVerdict("memcached", active, nil); r.Status != checks.OK {
		t.Errorf("active: %+v", r)
	}
	r := UnitVerdict("memcached", failed, []string{"memcached: bind failed"})
	if r.Status != checks.Fail || !strings.Contains(r.Fix, "systemctl restart memcached") ||
		!strings.Contains(strings.Join(r.Evidence, "\n"), "journal: memcached: bind failed") ||
		!strings.Contains(strings.Join(r.Evidence, "\n"), "last result: exit-code") {
		t.Errorf("failed: %+v", r)
	}
	if r := UnitVerdict("memcached", masked, nil); r.Status != checks.Fail || !strings.Contains(r.Fix, "unmask") {
		t.Errorf("masked: %+v", r)
	}
	if r := UnitVerdict("memcached", gone, nil); r.Status != checks.Fail || !strings.Contains(r.Summary, "not installed") {
		t.Errorf("not found: %+v", r)
	}
}

func TestVirtVerdict(t *testing.T) {
	tests := []struct {
		conf, host string
		want       checks.Status
		fix        string
	}{
		{"kvm", "qemu", checks.Fail, "virt_type = qemu"},
		{"qemu", "qemu", checks.OK, ""},
		{"kvm", "kvm", checks.OK, ""},
		{"qemu", "kvm", checks.Warn, "virt_type = kvm"},
		{"", "qemu", checks.Skip, ""},
	}
	for _, tt := range tests {
		r := VirtVerdict(tt.conf, tt.host, "cpu flags")
		if r.Status != tt.want || !strings.Contains(r.Fix, tt.fix) {
			t.Errorf("%s on %s: %+v", tt.conf, tt.host, r)
		}
	}
}

func TestComputeVerdict(t *testing.T) {
	up := services.Service{Binary: "nova-compute", Host: "lab", State: "up", Status: "enabled"}
	down := services.Service{Binary: "nova-compute", Host: "lab", State: "down", Status: "enabled"}
	cond := services.Service{Binary: "nova-conductor", Host: "lab", State: "up", Status: "enabled"}
	if r := ComputeVerdict([]services.Service{cond, up}, "lab", time.Time{}); r.Status != checks.OK {
		t.Errorf("up: %+v", r)
	}
	if r := ComputeVerdict([]services.Service{cond, down}, "lab", time.Time{}); r.Status != checks.Fail || !strings.Contains(r.Summary, "lab (enabled/down)") {
		t.Errorf("down: %+v", r)
	}
	if r := ComputeVerdict([]services.Service{cond}, "lab", time.Time{}); r.Status != checks.Fail || !strings.Contains(r.Summary, "no nova-compute") {
		t.Errorf("none: %+v", r)
	}
}

// After a boot or a restart nova shows the previous process's report as
// "up" for a minute: only this host's nova-compute, started after it, is
// held to a report of its own.
func TestComputeVerdictWantsAReportOfTheRunningProcess(t *testing.T) {
	started := time.Date(2026, 12, 7, 10, 0, 30, 0, time.UTC)
	svc := func(host string, updated time.Time) services.Service {
		return services.Service{Binary: "nova-compute", Host: host, State: "up", Status: "enabled", UpdatedAt: updated}
	}
	stale, own := started.Add(-25*time.Second), started.Add(12*time.Second)
	tests := []struct {
		name    string
		list    []services.Service
		host    string
		started time.Time
		want    checks.Status
	}{
		{"a report of its own", []services.Service{svc("lab", own)}, "lab", started, checks.OK},
		{"only the predecessor's", []services.Service{svc("lab", stale)}, "lab", started, checks.Fail},
		{"nova names the host with its domain", []services.Service{svc("lab.example", stale)}, "lab", started, checks.Fail},
		{"another host's nova-compute is not this one's", []services.Service{svc("lab2", stale)}, "lab", started, checks.OK},
		{"start unknown (not the lab host)", []services.Service{svc("lab", stale)}, "lab", time.Time{}, checks.OK},
		{"created, not yet updated", []services.Service{svc("lab", time.Time{})}, "lab", started, checks.OK},
	}
	for _, tt := range tests {
		r := ComputeVerdict(tt.list, tt.host, tt.started)
		if r.Status != tt.want {
			t.Errorf("%s: %s %q, want %s", tt.name, r.Status, r.Summary, tt.want)
		}
		// Not "down": --fix must not restart a nova-compute still starting.
		if r.Status == checks.Fail && (strings.Contains(r.Summary, "down") || !strings.Contains(r.Fix, "wait")) {
			t.Errorf("%s: %q / %q, want a wait and no \"down\"", tt.name, r.Summary, r.Fix)
		}
	}
}

func TestCellAndInventoryVerdicts(t *testing.T) {
	if r := CellVerdict([]string{"lab"}, []string{"lab"}); r.Status != checks.OK {
		t.Errorf("mapped: %+v", r)
	}
	if r := CellVerdict([]string{"lab"}, nil); r.Status != checks.Fail || !strings.Contains(r.Fix, "discover_hosts") {
		t.Errorf("unmapped: %+v", r)
	}
	full := ProviderInventory{Name: "lab", Classes: []string{"DISK_GB", "MEMORY_MB", "VCPU"}}
	if r := InventoryVerdict([]string{"lab"}, []ProviderInventory{full}); r.Status != checks.OK {
		t.Errorf("inventory: %+v", r)
	}
	if r := InventoryVerdict([]string{"lab"}, []ProviderInventory{{Name: "lab", Classes: []string{"VCPU"}}}); r.Status != checks.Fail || !strings.Contains(r.Summary, "lab lacks MEMORY_MB") {
		t.Errorf("partial: %+v", r)
	}
	if r := InventoryVerdict([]string{"lab"}, nil); r.Status != checks.Fail || !strings.Contains(r.Summary, "no resource provider") {
		t.Errorf("none: %+v", r)
	}
}

func TestAgentsVerdict(t *testing.T) {
	alive := agents.Agent{AgentType: "L3 agent", Host: "lab", Alive: true, AdminStateUp: true}
	dead := agents.Agent{AgentType: "DHCP agent", Host: "lab", Alive: false, AdminStateUp: true}
	if r := AgentsVerdict([]agents.Agent{alive}); r.Status != checks.OK {
		t.Errorf("alive: %+v", r)
	}
	if r := AgentsVerdict([]agents.Agent{alive, dead}); r.Status != checks.Fail || !strings.Contains(r.Summary, "DHCP agent on lab") {
		t.Errorf("dead: %+v", r)
	}
	if r := AgentsVerdict(nil); r.Status != checks.Fail {
		t.Errorf("none: %+v", r)
	}
}

func TestCatalogVerdict(t *testing.T) {
	ok := []EndpointProbe{{Service: "glance", Interface: "public", URL: "http://10.0.0.2:9292"}}
	if r := CatalogVerdict("10.0.0.2", nil, ok); r.Status != checks.OK {
		t.Errorf("healthy: %+v", r)
	}
	mism := []identity.Mismatch{{Endpoint: identity.Endpoint{Service: "glance", Type: "image", Interface: "public", Region: "RegionOne", URL: "http://10.0.0.99:9292"}, Host: "10.0.0.99"}}
	r := CatalogVerdict("10.0.0.2", mism, ok)
	if r.Status != checks.Fail || !strings.Contains(r.Fix, "doctor --fix") || !strings.HasPrefix(r.Evidence[0], "wrong address:") {
		t.Errorf("mismatch: %+v", r)
	}
	// A dead endpoint at the right address is the service's own problem.
	dead := []EndpointProbe{{Service: "glance", Interface: "public", URL: "http://10.0.0.2:9292", Err: errString("refused")}}
	if r := CatalogVerdict("10.0.0.2", nil, dead); r.Status != checks.OK || len(r.Evidence) != 1 {
		t.Errorf("dead at mgmt: %+v", r)
	}
	// On a remote cloud (no management address) a dead endpoint fails.
	if r := CatalogVerdict("", nil, dead); r.Status != checks.Fail {
		t.Errorf("dead remote: %+v", r)
	}
}

type errString string

func (e errString) Error() string { return string(e) }

func TestPageVerdict(t *testing.T) {
	tests := []struct {
		status int
		body   string
		want   checks.Status
		in     string
	}{
		{200, "<html>", checks.OK, ""},
		{400, "Bad Request (400)", checks.Fail, "ALLOWED_HOSTS"},
		{500, "OfflineGenerationError: You have offline compression enabled", checks.Fail, "OfflineGenerationError"},
		{500, "Internal Server Error", checks.Fail, "HTTP 500"},
		{404, "", checks.Fail, "no dashboard"},
	}
	for _, tt := range tests {
		r := PageVerdict("http://10.0.0.2/horizon/auth/login/", "10.0.0.2", tt.status, []byte(tt.body))
		if r.Status != tt.want || !strings.Contains(r.Summary, tt.in) {
			t.Errorf("%d: %+v", tt.status, r)
		}
	}
}

func TestAllowedHostsExpr(t *testing.T) {
	tests := []struct {
		settings, want string
		add            bool
	}{
		{"ALLOWED_HOSTS = ['lab', 'localhost']\n", `['lab', 'localhost', "10.0.0.2"]`, true},
		{"ALLOWED_HOSTS = [\"10.0.0.2\", 'lab']\n", "", false},
		{"ALLOWED_HOSTS = ['*']\n", "", false},
		{"DEBUG = False\n", `["10.0.0.2"]`, true},
		{"ALLOWED_HOSTS = []\n", `["10.0.0.2"]`, true},
	}
	for _, tt := range tests {
		got, add := AllowedHostsExpr(tt.settings, "10.0.0.2")
		if got != tt.want || add != tt.add {
			t.Errorf("%q: %q %v, want %q %v", tt.settings, got, add, tt.want, tt.add)
		}
	}
}

func TestAssetsAndFormFields(t *testing.T) {
	page := []byte(`<link rel="stylesheet" href="/horizon/static/dashboard/css/a1.css" type="text/css">
<script src='/horizon/static/dashboard/js/b2.js'></script><script src="/horizon/static/x.js"></script>
<form><input type='hidden' name='csrfmiddlewaretoken' value='TOKEN'>
<input name="region" type="hidden" value="http://10.0.0.2:5000/v3" id="id_region">
<input type="text" name="username"></form>`)
	a := Assets(page)
	if len(a) != 2 || a[0] != "/horizon/static/dashboard/css/a1.css" || a[1] != "/horizon/static/dashboard/js/b2.js" {
		t.Errorf("assets: %v", a)
	}
	f := FormFields(page)
	if f["csrfmiddlewaretoken"] != "TOKEN" || f["region"] != "http://10.0.0.2:5000/v3" || len(f) != 2 {
		t.Errorf("fields: %v", f)
	}
}

func TestMgmtAddressVerdict(t *testing.T) {
	tests := []struct {
		name, installed, current, note string
		want                           checks.Status
		summary                        string
	}{
		{"same", "10.0.0.2", "10.0.0.2", "", checks.OK, "unchanged: 10.0.0.2"},
		{"moved", "10.0.0.2", "10.0.0.7", "", checks.Fail, "installed with 10.0.0.2, now 10.0.0.7"},
		{"unknown", "", "10.0.0.7", "", checks.Skip, "no record"},
		{"fallback keeps its note", "10.0.0.2", "10.0.0.2", "fell back", checks.OK, "unchanged"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := MgmtAddressVerdict(tt.installed, "SOURCE", tt.current, tt.note)
			if r.Status != tt.want || !strings.Contains(r.Summary, tt.summary) {
				t.Fatalf("got %s %q, want %s containing %q", r.Status, r.Summary, tt.want, tt.summary)
			}
			ev := strings.Join(r.Evidence, "\n")
			if tt.installed != "" && !strings.Contains(ev, "installed with "+tt.installed+" (SOURCE)") {
				t.Errorf("evidence lacks the source: %q", ev)
			}
			if tt.note != "" && !strings.Contains(ev, tt.note) {
				t.Errorf("evidence lacks the note: %q", ev)
			}
		})
	}
}

func TestUnitVerdictSignature(t *testing.T) {
	failed := systemd.UnitState{Name: "apache2.service", LoadState: "loaded", ActiveState: "failed", SubState: "failed"}
	r := UnitVerdict("apache2", failed, []string{"AH00526: Syntax error on line 2: Invalid command 'SSLEngine', perhaps misspelled"})
	if r.Status != checks.Fail || !strings.Contains(r.Summary, "default-ssl") || !strings.HasPrefix(r.Fix, "a2dissite default-ssl") {
		t.Errorf("%+v", r)
	}
	if _, ok := MatchSignature([]string{"all good"}); ok {
		t.Error("matched nothing known")
	}
}

func TestApacheSyntaxFix(t *testing.T) {
	for _, tc := range []struct {
		name  string
		lines []string
		want  string // "" = no match
	}{
		{"configtest", []string{"AH00526: Syntax error on line 229 of /etc/apache2/apache2.conf:", "Invalid command 'Bogus', perhaps misspelled"},
			"fix line 229 of /etc/apache2/apache2.conf (Invalid command 'Bogus', perhaps misspelled)"},
		{"journal prefix", []string{"apachectl[42]: AH00526: Syntax error on line 3 of /etc/apache2/conf-enabled/x.conf:"},
			"fix line 3 of /etc/apache2/conf-enabled/x.conf;"},
		{"from checkUnit", []string{"apache2ctl configtest: AH00526: Syntax error on line 7 of /etc/apache2/ports.conf:", "apache2ctl configtest: Listen takes one argument"},
			"fix line 7 of /etc/apache2/ports.conf (Listen takes one argument)"},
		{"no file", []string{"AH00526: Syntax error on line 2: Invalid command 'SSLEngine'"}, ""},
		{"healthy", []string{"Syntax OK"}, ""},
	} {
		fix, ok := ApacheSyntaxFix(tc.lines)
		if ok != (tc.want != "") || !strings.Contains(fix, tc.want) {
			t.Errorf("%s: %q %v, want %q", tc.name, fix, ok, tc.want)
		}
	}
}

func TestUnitVerdictApacheSyntax(t *testing.T) {
	failed := systemd.UnitState{Name: "apache2.service", LoadState: "loaded", ActiveState: "failed", SubState: "failed"}
	r := UnitVerdict("apache2", failed, []string{"apache2ctl configtest: AH00526: Syntax error on line 229 of /etc/apache2/apache2.conf:", "apache2ctl configtest: Invalid command 'Bogus'"})
	if r.Status != checks.Fail || !strings.Contains(r.Summary, "does not parse") || !strings.Contains(r.Fix, "line 229 of /etc/apache2/apache2.conf") {
		t.Errorf("%+v", r)
	}
}
