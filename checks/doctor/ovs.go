package doctor

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/stacklab/stacklab/checks"
	"github.com/stacklab/stacklab/installer/openstack"
)

// Switch reads the Open vSwitch database: each bridge with its ports.
type Switch interface {
	BridgePorts(ctx context.Context) (map[string][]string, error)
}

// OVSBridgeID is the check ID of one of the lab's OVS bridges.
func OVSBridgeID(bridge string) string { return "ovs-bridge-" + bridge }

// unitNeeds: a unit that cannot work while another is down. A stopped
// ovs-vswitchd leaves the agent running but unable to program anything
// (or stopped with it), and ovs-vswitchd needs ovsdb-server's socket: the
// report then names the one that is really down.
var unitNeeds = map[string][]string{
	openstack.UnitVswitchd:  {openstack.UnitOVSDB},
	openstack.UnitOVSSwitch: {openstack.UnitOVSDB, openstack.UnitVswitchd},
	openstack.UnitOVSAgent:  {openstack.UnitOVSDB, openstack.UnitVswitchd},
}

// switchChecks: one per bridge the lab needs, on a lab on Open vSwitch.
func (dr *doctor) switchChecks() []checks.Check {
	var list []checks.Check
	for _, b := range dr.cfg.OVSBridges {
		list = append(list, checks.Check{
			ID:    OVSBridgeID(b.Name),
			Title: bridgeTitle(b),
			// The bridges live in ovsdb-server's database; ovs-vsctl
			// answers without ovs-vswitchd, so the latter is no
			// dependency of reading them.
			DependsOn: dr.deps(IDLabHost, UnitID(openstack.UnitOVSDB)),
			Run:       func(ctx context.Context) checks.Result { return dr.checkBridge(ctx, b) },
		})
	}
	return list
}

func bridgeTitle(b openstack.Bridge) string {
	if len(b.Ports) == 0 {
		return "Open vSwitch bridge " + b.Name + " exists"
	}
	return "Open vSwitch bridge " + b.Name + " exists with " + strings.Join(b.Ports, ", ") + " as its port"
}

func (dr *doctor) checkBridge(ctx context.Context, b openstack.Bridge) checks.Result {
	if r, ok := dr.notLab(); ok {
		return r
	}
	if dr.d.Switch == nil {
		return checks.Skipped("the Open vSwitch database cannot be read here")
	}
	have, err := dr.bridges.get(ctx, dr.d.Switch.BridgePorts)
	if err != nil {
		return checks.Failf("the Open vSwitch database does not answer",
			"systemctl restart ovsdb-server ovs-vswitchd; journalctl -u ovsdb-server -n 50", err.Error())
	}
	return BridgeVerdict(b, have, dr.cfg.HandMade)
}

// BridgeVerdict judges one wanted bridge against the database's bridges.
func BridgeVerdict(b openstack.Bridge, have map[string][]string, handMade bool) checks.Result {
	var names []string
	for n := range have {
		names = append(names, n)
	}
	slices.Sort(names)
	ev := []string{"bridges: " + strings.Join(names, ", ")}
	byHand := fmt.Sprintf("ovs-vsctl --may-exist add-br %s -- set Bridge %s datapath_type=%s", b.Name, b.Name, b.Datapath)
	for _, p := range b.Ports {
		byHand += fmt.Sprintf("; ovs-vsctl --may-exist add-port %s %s", b.Name, p)
	}
	fix := "stacklab install --only neutron   (re-creates the lab's bridges)\nor by hand: " + byHand
	if handMade {
		fix = byHand
	}
	ports, ok := have[b.Name]
	if !ok {
		return checks.Failf("bridge "+b.Name+" is missing: neutron's agent cannot wire ports", fix, ev...)
	}
	ev = append(ev, b.Name+" ports: "+strings.Join(ports, ", "))
	for _, p := range b.Ports {
		if !slices.Contains(ports, p) {
			return checks.Failf(fmt.Sprintf("%s is not a port of %s: the provider network (ext_net, floating IPs) has no way out", p, b.Name), fix, ev...)
		}
	}
	return checks.Pass(bridgeTitle(b), ev...)
}

// wireSwitch makes what needs a running switch depend on its units.
func (dr *doctor) wireSwitch(list []checks.Check) {
	for i := range list {
		var needs []string
		for unit, deps := range unitNeeds {
			if list[i].ID == UnitID(unit) {
				needs = deps
			}
		}
		if list[i].ID == IDNetworkAgents {
			needs = []string{openstack.UnitOVSDB, openstack.UnitVswitchd}
		}
		for _, u := range needs {
			ids := dr.deps(UnitID(u))
			if len(ids) == 0 || slices.Contains(list[i].DependsOn, ids[0]) {
				continue
			}
			list[i].DependsOn = append(slices.Clip(list[i].DependsOn), ids[0])
		}
	}
}
