package openstack

import (
	"fmt"

	"github.com/stacklab/stacklab/installer/inifile"
)

// NeutronBackend is the ML2 mechanism the lab's networking runs on: its
// packages, agent units and files, and what it contributes to the shared
// neutron files. The rest of neutron (server, dhcp/l3/metadata agents,
// ML2 type drivers, the flat provider network) does not depend on it.
//
// Only LinuxBridge exists. Debian 13's neutron (2025.1) ships no
// linuxbridge code, so an Open vSwitch backend will follow behind this
// interface. What it needs, from the notes:
//   - Packages: neutron-openvswitch-agent (pulls openvswitch-switch);
//     ExcludedPackages: none.
//   - No OVS kernel datapath on these machines: every bridge must be
//     created with datapath_type=netdev (userspace), i.e. [ovs]
//     datapath_type = netdev in openvswitch_agent.ini, and br-int/br-ex
//     created that way before the agent starts (the agent's own bridge
//     creation would otherwise try the kernel datapath). Neutron's OVS
//     agent on netdev is not yet tested here.
//   - openvswitch_agent.ini: [ovs] bridge_mappings = provider:br-ex,
//     local_ip = MgmtIP, [agent] tunnel_types = vxlan, l2_population =
//     true, [securitygroup] firewall_driver = openvswitch (or
//     iptables_hybrid); ExtIf added as a port of br-ex.
//   - MechanismDriver "openvswitch", InterfaceDriver "openvswitch",
//     no NeutronConfSets ([experimental] linuxbridge is linuxbridge-only).
//   - Units: openvswitch-switch (infra tier, before neutron),
//     neutron-openvswitch-agent; AgentType "Open vSwitch agent".
//   - On a single node tenant traffic never leaves the host, so the vxlan
//     tunnel could be dropped for a local/flat-only setup if netdev
//     tunnelling proves troublesome.
type NeutronBackend interface {
	// Name is the value of Params.NeutronBackend selecting it.
	Name() string
	Packages(p Params) []string
	// ExcludedPackages must not be installed (apt "pkg-").
	ExcludedPackages() []string
	// AgentUnits are the backend's systemd units, in start order.
	AgentUnits() []string
	// AgentType is the agent_type neutron reports for the L2 agent
	// (`openstack network agent list`), for doctor's liveness check.
	AgentType() string
	// MechanismDriver is the ML2 mechanism driver name.
	MechanismDriver() string
	// InterfaceDriver is the dhcp/l3 agents' interface_driver.
	InterfaceDriver() string
	// NeutronConfSets are extra settings for neutron.conf.
	NeutronConfSets(p Params) []inifile.Set
	// Files are the backend's own files (agent configuration).
	Files(p Params) []File
}

// Backend returns the NeutronBackend p selects. p must be valid.
func Backend(p Params) NeutronBackend { return mustBackend(p) }

func mustBackend(p Params) NeutronBackend {
	b, err := backendFor(p.NeutronBackend)
	if err != nil {
		panic(err) // Validate rejects unknown backends first
	}
	return b
}

func backendFor(name string) (NeutronBackend, error) {
	switch name {
	case "", LinuxBridge{}.Name():
		return LinuxBridge{}, nil
	}
	return nil, fmt.Errorf("neutron backend %q: want %q (openvswitch is not implemented yet)", name, LinuxBridge{}.Name())
}

// LinuxBridge is ML2 linuxbridge + vxlan with l2population, measured end
// to end on Debian 12 (Zed).
type LinuxBridge struct{}

// LinuxBridgeAgentConf is the linuxbridge agent's file.
const LinuxBridgeAgentConf = "/etc/neutron/plugins/ml2/linuxbridge_agent.ini"

func (LinuxBridge) Name() string { return "linuxbridge" }

func (LinuxBridge) Packages(Params) []string { return []string{"neutron-linuxbridge-agent"} }

// ExcludedPackages: neutron-l3-agent recommends openvswitch-switch, which
// linuxbridge does not use (and these kernels have no OVS datapath).
func (LinuxBridge) ExcludedPackages() []string { return []string{"openvswitch-switch"} }

func (LinuxBridge) AgentUnits() []string { return []string{"neutron-linuxbridge-agent"} }

func (LinuxBridge) AgentType() string { return "Linux bridge agent" }

func (LinuxBridge) MechanismDriver() string { return "linuxbridge" }

func (LinuxBridge) InterfaceDriver() string { return "linuxbridge" }

// NeutronConfSets: linuxbridge is experimental in Zed; neutron refuses to
// load it without this ("Linuxbridge is experimental in Zed").
func (LinuxBridge) NeutronConfSets(Params) []inifile.Set {
	return []inifile.Set{set("experimental", "linuxbridge", "true")}
}

func (LinuxBridge) Files(p Params) []File {
	return []File{{
		Path: LinuxBridgeAgentConf,
		Kind: INI,
		Sets: []inifile.Set{
			set("linux_bridge", "physical_interface_mappings", p.ProviderNet+":"+p.ExtIf),
			set("vxlan", "enable_vxlan", "true"),
			set("vxlan", "local_ip", p.MgmtIP),
			set("vxlan", "l2_population", "true"),
			set("securitygroup", "enable_security_group", "true"),
			set("securitygroup", "firewall_driver", "neutron.agent.linux.iptables_firewall.IptablesFirewallDriver"),
		},
		Units: []string{"neutron-linuxbridge-agent"},
	}}
}
