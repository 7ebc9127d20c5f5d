package doctor

import (
	"slices"
	"strings"
	"testing"

	"github.com/stacklab/stacklab/checks"
	"github.com/stacklab/stacklab/installer/identity"
)

func TestHorizonKeystoneURL(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{`OPENSTACK_KEYSTONE_URL = "http://10.0.0.11:5000/v3"`, "http://10.0.0.11:5000/v3", true},
		{"OPENSTACK_HOST = \"controller\"\nOPENSTACK_KEYSTONE_URL = \"http://%s:5000/v3\" % OPENSTACK_HOST", "http://controller:5000/v3", true},
		{"OPENSTACK_HOST = '127.0.0.1'\nOPENSTACK_KEYSTONE_URL = 'http://%s/identity/v3' %OPENSTACK_HOST", "http://127.0.0.1/identity/v3", true},
		{`OPENSTACK_KEYSTONE_URL = "http://%s:5000/v3" % OPENSTACK_HOST`, "", false}, // no host to put in
		{"#OPENSTACK_KEYSTONE_URL = \"http://x/v3\"", "", false},
	} {
		got, ok := horizonKeystoneURL([]byte(tc.in))
		if got != tc.want || ok != tc.ok {
			t.Errorf("%q: got %q %v", tc.in, got, ok)
		}
	}
}

// The guide's Horizon settings ("http://%s:5000/v3" % OPENSTACK_HOST, a
// name for the management address) are right, not a broken dashboard.
func TestDashboardKeystoneGuideForm(t *testing.T) {
	w := newWorld(t)
	port := w.cfg.KeystoneURL[strings.LastIndex(w.cfg.KeystoneURL, ":")+1 : len(w.cfg.KeystoneURL)-len("/v3")]
	w.deps.Host.(fakeHost).files[HorizonSettingsFiles[0]] = "OPENSTACK_HOST = \"localhost\"\n" +
		"OPENSTACK_KEYSTONE_URL = \"http://%s:" + port + "/v3\" % OPENSTACK_HOST\n"
	if s, _ := status(w.run(t), IDDashboardKeystone); s != checks.Warn {
		t.Errorf("without knowing localhost names the management address: %s, want warn", s)
	}
	w.cfg.MgmtNames = []string{"localhost"}
	rep := w.run(t)
	if s, _ := status(rep, IDDashboardKeystone); s != checks.OK {
		e, _ := rep.Get(IDDashboardKeystone)
		t.Errorf("guide form: %s %s %v", s, e.Summary, e.Evidence)
	}
}

func TestCatalogNamesOfTheManagementAddress(t *testing.T) {
	cfg := Config{MgmtIP: "10.0.0.11", MgmtNames: []string{"controller"}}
	eps := []identity.Endpoint{
		{Service: "keystone", URL: "http://controller:5000/v3"},
		{Service: "glance", URL: "http://10.0.0.11:9292"},
		{Service: "nova", URL: "http://old-name:8774/v2.1"},
	}
	mism := cfg.notMgmtNames(identity.Mismatches(eps, cfg.MgmtIP))
	if len(mism) != 1 || mism[0].Host != "old-name" {
		t.Errorf("got %v", mism)
	}
}

// A lab with one neutron-server unit (not Debian's split) ties neutron's
// checks, and so their root cause and advice, to the unit it has.
func TestNeutronServerUnitNamedInAdvice(t *testing.T) {
	for _, tc := range []struct {
		units    []string
		api, rpc string
	}{
		{[]string{"neutron-server", "neutron-linuxbridge-agent"}, "neutron-server", "neutron-server"},
		{[]string{"neutron-api", "neutron-rpc-server"}, "neutron-api", "neutron-rpc-server"},
	} {
		dr := &doctor{cfg: Config{Lab: true, Units: tc.units}}
		for _, c := range dr.apiChecks() {
			if c.ID == IDNeutron && !slices.Contains(c.DependsOn, UnitID(tc.api)) {
				t.Errorf("%v: neutron-api check depends on %v", tc.units, c.DependsOn)
			}
			if c.ID == IDNetworkAgents && !slices.Contains(c.DependsOn, UnitID(tc.rpc)) {
				t.Errorf("%v: agents check depends on %v", tc.units, c.DependsOn)
			}
		}
	}
}
