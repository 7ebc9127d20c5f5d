package openstack

import "github.com/stacklab/stacklab/installer/inifile"

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

func (LinuxBridge) SwitchUnits() []string { return nil }

func (LinuxBridge) AgentType() string { return "Linux bridge agent" }

func (LinuxBridge) MechanismDriver() string { return "linuxbridge" }

func (LinuxBridge) InterfaceDriver() string { return "linuxbridge" }

func (LinuxBridge) VIFPrivsepSection() string { return "vif_plug_linux_bridge_privileged" }

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
			agentRPCTimeout(),
		},
		Units: []string{"neutron-linuxbridge-agent"},
	}}
}
