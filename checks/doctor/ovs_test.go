package doctor

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stacklab/stacklab/checks"
	"github.com/stacklab/stacklab/installer/openstack"
)

type fakeSwitch struct {
	bridges map[string][]string
	err     error
	reads   atomic.Int32
}

func (f *fakeSwitch) BridgePorts(context.Context) (map[string][]string, error) {
	f.reads.Add(1)
	return f.bridges, f.err
}

// ovsWorld is the healthy world with a lab on Open vSwitch.
func ovsWorld(t *testing.T) (*world, *fakeSwitch) {
	w := newWorld(t)
	w.cfg.Units = append(w.cfg.Units, "ovsdb-server", "ovs-vswitchd", "openvswitch-switch", "neutron-openvswitch-agent")
	w.cfg.OVSBridges = []openstack.Bridge{
		{Name: "br-int", Datapath: "netdev"},
		{Name: "br-ex", Datapath: "netdev", Ports: []string{"eth1"}},
	}
	sw := &fakeSwitch{bridges: map[string][]string{"br-int": {"int-br-ex"}, "br-ex": {"eth1", "phy-br-ex"}}}
	w.deps.Switch = sw
	return w, sw
}

func TestOVSHealthy(t *testing.T) {
	w, sw := ovsWorld(t)
	rep := w.run(t)
	// Every bridge check grades one reading of the database (each is
	// several ovs-vsctl runs).
	if n := sw.reads.Load(); n != 1 {
		t.Errorf("the switch was read %d times in one run, want 1", n)
	}
	for _, id := range []string{OVSBridgeID("br-int"), OVSBridgeID("br-ex"), UnitID("ovs-vswitchd"), UnitID("neutron-openvswitch-agent")} {
		if s, _ := status(rep, id); s != checks.OK {
			e, _ := rep.Get(id)
			t.Errorf("%s: %s %s %v", id, s, e.Summary, e.Evidence)
		}
	}
}

func TestOVSRootCauses(t *testing.T) {
	tests := []struct {
		name   string
		break_ func(w *world, sw *fakeSwitch)
		root   string
		skips  []string
		fix    string
	}{
		// The agent dies or idles without the switch; the switch is
		// the cause to report.
		{"ovs-vswitchd stopped", func(w *world, _ *fakeSwitch) {
			st := w.deps.Units.(fakeUnits).states
			st["ovs-vswitchd"], st["neutron-openvswitch-agent"], st["openvswitch-switch"] = "failed", "failed", "inactive"
		}, UnitID("ovs-vswitchd"), []string{UnitID("neutron-openvswitch-agent"), UnitID("openvswitch-switch")}, ""},
		{"ovsdb-server stopped", func(w *world, sw *fakeSwitch) {
			st := w.deps.Units.(fakeUnits).states
			st["ovsdb-server"], st["ovs-vswitchd"] = "failed", "failed"
			sw.err = errors.New("database connection failed (No such file or directory)")
		}, UnitID("ovsdb-server"), []string{UnitID("ovs-vswitchd"), UnitID("neutron-openvswitch-agent"), OVSBridgeID("br-ex"), OVSBridgeID("br-int")}, ""},
		{"br-ex lost its port", func(_ *world, sw *fakeSwitch) { sw.bridges["br-ex"] = []string{"phy-br-ex"} },
			OVSBridgeID("br-ex"), nil, "ovs-vsctl --may-exist add-port br-ex eth1"},
		{"br-int missing", func(_ *world, sw *fakeSwitch) { delete(sw.bridges, "br-int") },
			OVSBridgeID("br-int"), nil, "ovs-vsctl --may-exist add-br br-int -- set Bridge br-int datapath_type=netdev"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, sw := ovsWorld(t)
			tt.break_(w, sw)
			rep := w.run(t)
			e, _ := rep.Get(tt.root)
			if e.Status != checks.Fail {
				t.Fatalf("%s = %s %q, want fail", tt.root, e.Status, e.Summary)
			}
			if !strings.Contains(e.Fix, tt.fix) {
				t.Errorf("fix %q lacks %q", e.Fix, tt.fix)
			}
			for _, id := range tt.skips {
				s, roots := status(rep, id)
				if s != checks.Skip || !slices.Contains(roots, tt.root) {
					t.Errorf("%s = %s (root causes %v), want skipped naming %s", id, s, roots, tt.root)
				}
			}
		})
	}
}

func TestBridgeVerdictHandMade(t *testing.T) {
	r := BridgeVerdict(openstack.Bridge{Name: "br-ex", Datapath: "system", Ports: []string{"ens4"}}, map[string][]string{}, true)
	if r.Status != checks.Fail || strings.Contains(r.Fix, "stacklab") || !strings.Contains(r.Fix, "datapath_type=system") {
		t.Errorf("hand-made verdict %+v", r)
	}
}
