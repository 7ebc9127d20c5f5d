package openstack

import (
	"strings"

	"github.com/stacklab/stacklab/installer/inifile"
)

// Open vSwitch datapaths (the Bridge table's datapath_type).
const (
	// DatapathSystem is the kernel's openvswitch module: what a real VM
	// has.
	DatapathSystem = "system"
	// DatapathNetdev is ovs-vswitchd's userspace datapath, for kernels
	// without the module (these CI machines): slower, needs /dev/net/tun
	// for internal ports, and works (measured in an nspawn lab host).
	DatapathNetdev = "netdev"
)

// Bridge names the lab's OVS bridges use.
const (
	IntegrationBridge = "br-int"
	ExternalBridge    = "br-ex"
	// TunnelBridge is the agent's vxlan bridge (its default tunnel_bridge),
	// which the agent makes itself.
	TunnelBridge = "br-tun"
)

// OVSAgentConf is the Open vSwitch agent's file.
const OVSAgentConf = "/etc/neutron/plugins/ml2/openvswitch_agent.ini"

// OVS paths Debian's openvswitch-switch uses.
const (
	OVSRunDir = "/run/openvswitch"
	OVSDBSock = OVSRunDir + "/db.sock"
	// OVSDBFile is where Debian 13's openvswitch-switch keeps the
	// database (measured); Debian 12's used /etc/openvswitch/conf.db.
	OVSDBFile = "/var/lib/openvswitch/conf.db"
	OVSLogDir = "/var/log/openvswitch"
)

// VswitchdDropIn replaces ovs-vswitchd's start on the netdev datapath.
const VswitchdDropIn = "/etc/systemd/system/ovs-vswitchd.service.d/stacklab-datapath.conf"

// OVS units, in start order. openvswitch-switch is a oneshot that
// Requires the two daemons and is the one Debian enables (the daemons'
// units are static, pulled in by it).
const (
	UnitOVSDB      = "ovsdb-server"
	UnitVswitchd   = "ovs-vswitchd"
	UnitOVSSwitch  = "openvswitch-switch"
	UnitOVSAgent   = "neutron-openvswitch-agent"
	OVSAgentType   = "Open vSwitch agent"
	ovsAgentMarker = "openvswitch"
)

// OpenVSwitch is ML2/OVS with the OVS agent: vxlan tenant networks on
// br-int/br-tun and the flat provider network through br-ex, whose port is
// the external NIC. Debian 13's backend (no linuxbridge there).
type OpenVSwitch struct{}

func (OpenVSwitch) Name() string { return "openvswitch" }

// Packages: the agent depends on openvswitch-switch; it is named because
// the lab manages its units.
func (OpenVSwitch) Packages(Params) []string {
	return []string{"neutron-openvswitch-agent", "openvswitch-switch"}
}

func (OpenVSwitch) ExcludedPackages() []string { return nil }

func (OpenVSwitch) AgentUnits() []string { return []string{UnitOVSAgent} }

func (OpenVSwitch) SwitchUnits() []string { return []string{UnitOVSDB, UnitVswitchd, UnitOVSSwitch} }

func (OpenVSwitch) AgentType() string { return OVSAgentType }

func (OpenVSwitch) MechanismDriver() string { return ovsAgentMarker }

func (OpenVSwitch) InterfaceDriver() string { return ovsAgentMarker }

func (OpenVSwitch) VIFPrivsepSection() string { return "vif_plug_ovs_privileged" }

// NeutronConfSets: none; [experimental] linuxbridge is linuxbridge's own.
func (OpenVSwitch) NeutronConfSets(Params) []inifile.Set { return nil }

func (OpenVSwitch) Files(p Params) []File {
	agent := File{
		Path: OVSAgentConf,
		Kind: INI,
		Sets: []inifile.Set{
			set("ovs", "integration_bridge", IntegrationBridge),
			set("ovs", "bridge_mappings", p.ProviderNet+":"+ExternalBridge),
			set("ovs", "local_ip", p.MgmtIP),
			// The agent creates br-tun and patch ports itself, with
			// this datapath; br-int and br-ex are made beforehand
			// (OVSBridges) with the same one, since every bridge
			// joined by patch ports must share it.
			set("ovs", "datapath_type", p.OVSDatapath),
			set("agent", "tunnel_types", "vxlan"),
			set("agent", "l2_population", "true"),
			set("securitygroup", "enable_security_group", "true"),
			// The native OVS firewall, not iptables_hybrid: it keeps
			// security groups in the one datapath (OpenFlow + OVS
			// conntrack, which the userspace datapath implements
			// itself), where hybrid adds a Linux bridge and a veth pair
			// per port that on netdev every packet would cross through
			// AF_PACKET twice. Neutron's OVS-DPDK guide, the other
			// userspace-datapath setup, names the same driver.
			set("securitygroup", "firewall_driver", "openvswitch"),
			agentRPCTimeout(),
		},
		Units: []string{UnitOVSAgent},
	}
	return []File{agent, vswitchdDropIn(p)}
}

// vswitchdDropIn: Debian's ovs-vswitchd.service starts the daemon through
// ovs-ctl, which first runs `modprobe openvswitch` and gives up when that
// fails, i.e. always on a kernel without the module. On the netdev
// datapath the daemon is started directly, without the kernel datapath
// (--disable-system); on the system datapath the drop-in must not exist.
func vswitchdDropIn(p Params) File {
	if p.OVSDatapath != DatapathNetdev {
		return File{Path: VswitchdDropIn, Kind: Absent, Units: []string{UnitVswitchd}, SystemdUnit: true}
	}
	content := "# Managed by stacklab: this kernel has no openvswitch module, so the lab's\n" +
		"# bridges use the userspace (netdev) datapath and ovs-vswitchd starts without\n" +
		"# ovs-ctl's modprobe, which would fail. Removing this file restores Debian's start.\n" +
		"# userspace-tso-enable (read only at start) makes ovs-vswitchd read the guests'\n" +
		"# taps with their virtio-net header: without it a guest's TCP segments keep the\n" +
		"# partial checksum the guest left to offload, and conntrack (security groups)\n" +
		"# and the receiver drop them (ping works, TCP does not).\n" +
		"[Service]\n" +
		"ExecStartPre=" + strings.Join(VswitchdOffloadArgs(OVSDBSock), " ") + "\n" +
		"ExecStart=\nExecStart=" + strings.Join(VswitchdUserspaceArgs(OVSDBSock, OVSRunDir, OVSLogDir), " ") + "\n" +
		// ovs-ctl's reload restarts through the same modprobe.
		"ExecReload=\n"
	return File{
		Path: VswitchdDropIn, Kind: Text, Content: content,
		Mode: 0o644, Owner: "root", Group: "root",
		Units: []string{UnitVswitchd}, SystemdUnit: true,
	}
}

// VswitchdOffloadArgs sets, before ovs-vswitchd starts on the netdev
// datapath, the one setting that datapath needs for TCP to and from
// guests (measured on Debian 13, OVS 3.5, qemu guests with virtio-net: a
// guest's SYN-ACK reached br-int with its checksum left partial, and the
// firewall's userspace conntrack never saw the connection established;
// DHCP and ping were fine). With it, ovs-vswitchd reads every Linux port
// with its virtio-net header and so knows which checksums are still to be
// filled in.
func VswitchdOffloadArgs(dbSock string) []string {
	return []string{
		"/usr/bin/ovs-vsctl", "--no-wait", "--db=unix:" + dbSock,
		"set", "Open_vSwitch", ".", "other_config:userspace-tso-enable=true",
	}
}

// VswitchdUserspaceArgs is ovs-vswitchd's command line on the netdev
// datapath, detached with a pid file (the unit's Type=forking). The
// integration test starts its private daemon with the same arguments.
func VswitchdUserspaceArgs(dbSock, runDir, logDir string) []string {
	return []string{
		"/usr/sbin/ovs-vswitchd", "unix:" + dbSock,
		"--disable-system",
		"-vconsole:emer", "-vsyslog:err", "-vfile:info",
		"--no-chdir",
		"--log-file=" + logDir + "/ovs-vswitchd.log",
		"--pidfile=" + runDir + "/ovs-vswitchd.pid",
		"--detach",
	}
}

// Bridge is an OVS bridge the lab makes before the agent starts.
type Bridge struct {
	Name     string
	Datapath string
	// Ports are the system interfaces it must hold (its own internal
	// port is implied).
	Ports []string
}

// OVSBridges returns the bridges p needs: none for linuxbridge; br-int
// and br-ex (with the external NIC) for openvswitch. The agent would make
// them itself, but with the datapath of its file only once it runs, and
// without the external NIC's port.
func OVSBridges(p Params) []Bridge {
	if len(mustBackend(p).SwitchUnits()) == 0 {
		return nil
	}
	return []Bridge{
		{Name: IntegrationBridge, Datapath: p.OVSDatapath},
		{Name: ExternalBridge, Datapath: p.OVSDatapath, Ports: []string{p.ExtIf}},
	}
}

// LabBridges names every OVS bridge of a lab p describes: the ones the lab
// makes (OVSBridges) and the agent's tunnel bridge; none for linuxbridge.
// Uninstall deletes them while the switch still runs: on the kernel
// datapath a bridge outlives ovs-vswitchd in the kernel, holding the
// external NIC as its port until the next boot, and purging the package
// removes only the database.
func LabBridges(p Params) []string {
	var names []string
	for _, b := range OVSBridges(p) {
		names = append(names, b.Name)
	}
	if len(names) > 0 {
		names = append(names, TunnelBridge)
	}
	return names
}

// SwitchLeftovers are what purging the switch's packages leaves of the
// lab: openvswitch-switch's postrm removes /etc/openvswitch/conf.db, but
// Debian 13 keeps the database in /var/lib/openvswitch (measured: after
// `stacklab uninstall` the bridges' database was still there). None for
// linuxbridge.
func SwitchLeftovers(p Params) []string {
	if len(mustBackend(p).SwitchUnits()) == 0 {
		return nil
	}
	return []string{OVSDBFile, "/var/lib/openvswitch/.conf.db.~lock~", "/etc/openvswitch/conf.db", "/etc/openvswitch/.conf.db.~lock~"}
}
