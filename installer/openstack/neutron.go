package openstack

import "github.com/stacklab/stacklab/installer/inifile"

// neutron's tiers: the server (Debian splits neutron-server into
// neutron-api and neutron-rpc-server), then the agents.
const (
	TierNeutron = "neutron"
	TierAgents  = "network-agents"
)

// neutron's configuration files; the backend's agent has its own
// (linuxbridge.go, ovs.go).
const (
	NeutronConf       = "/etc/neutron/neutron.conf"
	ML2Conf           = "/etc/neutron/plugins/ml2/ml2_conf.ini"
	L3AgentConf       = "/etc/neutron/l3_agent.ini"
	DHCPAgentConf     = "/etc/neutron/dhcp_agent.ini"
	MetadataAgentConf = "/etc/neutron/metadata_agent.ini"
)

var neutronService = service{
	packages: neutronPackages,
	excluded: func(p Params) []string { return mustBackend(p).ExcludedPackages() },
	preseeds: func(Params) []Preseed {
		return []Preseed{
			no("neutron-common", "neutron/configure_db"),
			no("neutron-common", "neutron/configure_rabbit"),
			no("neutron-common", "neutron/configure_ksat"),
			no("neutron-common", "neutron/configure_nova"),
			no("neutron-api", "neutron/configure_api-endpoint"),
			no("neutron-metadata-agent", "neutron-metadata/configure"),
		}
	},
	files:     neutronFiles,
	databases: func(p Params) []Database { return []Database{database("neutron", "neutron", p.NeutronDB)} },
	tiers:     neutronTiers,
	syncs: func(Params) []Command {
		return []Command{{Name: "neutron-db-upgrade", Tier: TierNeutron, Phase: BeforeStart, User: "neutron",
			Argv: []string{"neutron-db-manage", "--config-file", NeutronConf, "--config-file", ML2Conf, "upgrade", "heads"}, Databases: []string{"neutron"}}}
	},
	apis: []API{{Name: "neutron", Type: "network", Description: "OpenStack Networking", Unit: "neutron-api", Port: 9696}},
}

// neutronPackages: the API is neutron-api (uwsgi) + neutron-rpc-server;
// neutron-server is only a metapackage depending on both.
func neutronPackages(p Params) []string {
	pkgs := []string{
		"neutron-api", "neutron-rpc-server",
		"neutron-dhcp-agent", "neutron-l3-agent", "neutron-metadata-agent",
	}
	return append(pkgs, mustBackend(p).Packages(p)...)
}

// agentRPCTimeout goes in each agent's own file, read after neutron.conf,
// so the servers keep the default. At boot the agents start calling
// neutron-rpc-server (the L3 agent's HA router count, the DHCP agent's
// networks, the first state report) before it has declared its queues;
// RabbitMQ drops those messages and each call waits out its timeout, then
// up to as long again before its retry (neutron-lib's backoff): with the
// default 60 s the L3 agent came up 110 s after boot on Debian 13 and doctor
// waited on it alone. A lab's server answers in well under 10 s, and a
// method that times out gets its timeout doubled for the next call.
func agentRPCTimeout() inifile.Set { return set(sectionDefault, "rpc_response_timeout", "10") }

func neutronFiles(p Params) []File {
	b := mustBackend(p)
	files := []File{
		neutronPrivsepSudoers(b),
		neutronConf(p, b),
		ml2Conf(p, b),
	}
	files = append(files, b.Files(p)...)
	files = append(files,
		File{
			Path: L3AgentConf,
			Kind: INI,
			// Debian ships interface_driver = openvswitch.
			Sets:  []inifile.Set{set(sectionDefault, "interface_driver", b.InterfaceDriver()), agentRPCTimeout()},
			Units: []string{"neutron-l3-agent"},
		},
		File{
			Path: DHCPAgentConf,
			Kind: INI,
			Sets: []inifile.Set{
				// Debian ships interface_driver = openvswitch.
				set(sectionDefault, "interface_driver", b.InterfaceDriver()),
				set(sectionDefault, "dhcp_driver", "neutron.agent.linux.dhcp.Dnsmasq"),
				// Metadata through the DHCP namespace too, so instances
				// on networks without a router get it.
				set(sectionDefault, "enable_isolated_metadata", "true"),
				agentRPCTimeout(),
			},
			Units: []string{"neutron-dhcp-agent"},
		},
		File{
			Path: MetadataAgentConf,
			Kind: INI,
			Sets: []inifile.Set{
				set(sectionDefault, "nova_metadata_host", p.MgmtIP),
				set(sectionDefault, "metadata_proxy_shared_secret", p.MetadataSecret),
				// 0: the proxy serves from the agent's own process (eventlet
				// on Zed; 2025.1's agent is one threaded process whatever
				// this says). A forked worker cost Debian 12's lab 145 MB
				// to answer one guest's cloud-init.
				set(sectionDefault, "metadata_workers", "0"),
				agentRPCTimeout(),
			},
			Units:  []string{"neutron-metadata-agent"},
			Secret: true,
		},
		// One thread per process: neutron monkey-patches eventlet, and
		// under Debian's 32 uwsgi threads a worker thread dies with
		// "greenlet.error: cannot switch to a different thread" and every
		// request routed to it then hangs (measured on the lab: list
		// networks unanswered for 2 min after a playbook benchmark). Twice
		// the processes keep the concurrency the playbooks use.
		uwsgi("/etc/neutron/neutron-api-uwsgi.ini", "neutron-api", 2*p.Workers, 1),
	)
	return files
}

// The agents start a privsep daemon per context they use (the L2 agent
// two, the DHCP and L3 agents three each), by default through
// `sudo neutron-rootwrap`: a Python start that loads every filter file
// (1.6 CPU-s on the slow 2-core lab, idle) before privsep-helper's own.
// After a boot the L2 agent reports alive only once its two daemons run.
// The helper runs straight from sudo, as Debian's nova sudoers lets
// nova-compute do, with neutron.conf: no privileged neutron function
// reads the agents' other files, and the contexts' own sections are here.
const neutronPrivsepHelper = "sudo privsep-helper --config-file " + NeutronConf

// neutronPrivsepSections are neutron's privsep contexts
// (neutron/privileged/__init__.py), the same in both releases.
var neutronPrivsepSections = []string{"privsep", "privsep_dhcp_release", "privsep_ovs_vsctl",
	"privsep_namespace", "privsep_conntrack", "privsep_link"}

// NeutronPrivsepSudoers lets the neutron user start privsep-helper as
// root, the line Debian's nova-common ships for nova. Debian's neutron
// sudoers allows only neutron-rootwrap (and its daemon), whose filters
// allow the helper.
const NeutronPrivsepSudoers = "/etc/sudoers.d/stacklab-neutron-privsep"

func neutronPrivsepSudoers(b NeutronBackend) File {
	return File{
		Path: NeutronPrivsepSudoers, Kind: Text,
		// sudo skips a file in sudoers.d whose name has a dot, and
		// refuses to run at all if one does not parse: one fixed
		// line, in the form Debian's nova sudoers uses.
		Content: "# Managed by stacklab: neutron's agents start their privsep daemons with\n" +
			"# sudo privsep-helper (helper_command in /etc/neutron/neutron.conf) instead\n" +
			"# of through neutron-rootwrap, as Debian's nova sudoers lets nova do.\n" +
			"neutron ALL = (root) NOPASSWD: /usr/bin/privsep-helper *\n",
		Mode: 0o440, Owner: "root", Group: "root",
		// The agents that start privsep daemons, so that theirs run
		// through the helper the file allows.
		Units: append([]string{"neutron-dhcp-agent", "neutron-l3-agent"}, b.AgentUnits()...),
	}
}

// neutronRootwrapDaemon is the line Debian's neutron sudoers file allows
// (in both releases) for the rootwrap daemon.
const neutronRootwrapDaemon = "sudo neutron-rootwrap-daemon /etc/neutron/rootwrap.conf"

func neutronConf(p Params, b NeutronBackend) File {
	w := itoa(p.Workers)
	sets := []inifile.Set{
		set(sectionDefault, "core_plugin", "ml2"),
		// Debian ships router,metering,qos.
		set(sectionDefault, "service_plugins", "router"),
		set(sectionDefault, "transport_url", transportURL(p)),
		set(sectionDefault, "auth_strategy", "keystone"),
		set(sectionDefault, "notify_nova_on_port_status_changes", "true"),
		set(sectionDefault, "notify_nova_on_port_data_changes", "true"),
		// The underlay MTU: with the default 1500 on a 1400 underlay,
		// vxlan networks get 1450 and the agent fails ("MTU").
		set(sectionDefault, "global_physnet_mtu", itoa(p.MTU)),
		set(sectionDefault, "api_workers", w),
		set(sectionDefault, "rpc_workers", w),
		// 0: the agents' state reports are served by the RPC workers,
		// which consume that queue too ("process state reports despite
		// dedicated rpc workers"), not by one more forked process.
		set(sectionDefault, "rpc_state_report_workers", "0"),
		set("database", "connection", dbURL("neutron", p.NeutronDB, "neutron")),
		// An agent's first state report is an RPC call whose timeout is
		// this interval; after a boot it is lost while neutron-rpc-server
		// has not yet declared its queue, and the agent is not alive until
		// the next one. 30 s (the default) held doctor red 50 s past the
		// rest of the lab on 2 cores; 10 s keeps agent_down_time's (75 s)
		// margin.
		set("agent", "report_interval", "10"),
		// The agents run their root commands (ip netns exec, iptables,
		// dnsmasq, keepalived) through rootwrap: without its daemon each
		// one is a new sudo and Python start that loads every filter
		// file, and a router's creation runs dozens. DevStack's default;
		// Debian's neutron sudoers allows exactly this command line.
		set("agent", "root_helper_daemon", neutronRootwrapDaemon),
	}
	for _, sec := range neutronPrivsepSections {
		sets = append(sets, set(sec, "helper_command", neutronPrivsepHelper))
	}
	sets = append(sets, authtoken(p, "neutron", p.NeutronUser)...)
	sets = append(sets, serviceAuth(p, "nova", "nova", p.NovaUser, true)...)
	sets = append(sets, set("oslo_concurrency", "lock_path", "/var/lock/neutron"))
	sets = append(sets, b.NeutronConfSets(p)...)
	units := []string{"neutron-api", "neutron-rpc-server", "neutron-dhcp-agent", "neutron-l3-agent", "neutron-metadata-agent"}
	units = append(units, b.AgentUnits()...)
	return File{Path: NeutronConf, Kind: INI, Sets: sets, Units: units, Secret: true}
}

func ml2Conf(p Params, b NeutronBackend) File {
	units := []string{"neutron-api", "neutron-rpc-server"}
	units = append(units, b.AgentUnits()...)
	return File{
		Path: ML2Conf,
		Kind: INI,
		Sets: []inifile.Set{
			set("ml2", "type_drivers", "flat,vlan,vxlan"),
			set("ml2", "tenant_network_types", "vxlan"),
			set("ml2", "mechanism_drivers", b.MechanismDriver()+",l2population"),
			// Debian ships port_security,qos; the qos extension needs
			// the qos service plugin, which service_plugins = router
			// drops. The install guide's value.
			set("ml2", "extension_drivers", "port_security"),
			set("ml2_type_flat", "flat_networks", p.ProviderNet),
			set("ml2_type_vxlan", "vni_ranges", "1:1000"),
			set("securitygroup", "enable_ipset", "true"),
		},
		Units: units,
	}
}

// neutronAgent is one of neutron's own agents, which every backend runs
// beside its L2 agent.
type neutronAgent struct {
	unit string
	// agentType is the agent_type neutron reports for it.
	agentType string
}

// neutronAgents, in start order.
var neutronAgents = []neutronAgent{
	{"neutron-dhcp-agent", "DHCP agent"},
	{"neutron-l3-agent", "L3 agent"},
	{"neutron-metadata-agent", "Metadata agent"},
}

// AgentTypeByUnit maps the unit of each neutron agent to the agent_type
// neutron reports for it (`openstack network agent list`), so that doctor
// can restart the unit of an agent neutron reports dead. It covers every
// backend, not one lab's: on a lab installed by hand the backend is
// whatever the host runs, and the lab's units pick the entries that apply.
func AgentTypeByUnit() map[string]string {
	out := map[string]string{}
	for _, b := range backends() {
		for _, u := range b.AgentUnits() {
			out[u] = b.AgentType()
		}
	}
	for _, a := range neutronAgents {
		out[a.unit] = a.agentType
	}
	return out
}

// Agent is what readiness reads of one neutron agent.
type Agent struct {
	Type, Host     string
	Alive, AdminUp bool
}

// AgentsNotReady is the one readiness rule for neutron's agents, used by
// install's verify and by doctor alike, so that install never ends green
// on a lab doctor calls red: every agent listed must be alive and
// administratively up (install once accepted an agent set admin down). It
// names each one that is not.
func AgentsNotReady(list []Agent) []string {
	var bad []string
	for _, a := range list {
		if !a.Alive {
			bad = append(bad, a.Type+" on "+a.Host)
		}
		if !a.AdminUp {
			bad = append(bad, a.Type+" on "+a.Host+" (admin down)")
		}
	}
	return bad
}

func neutronTiers(p Params) []Tier {
	b := mustBackend(p)
	agents := append([]string{}, b.AgentUnits()...)
	probes := []Probe{{Kind: ProbeNetworkAgent, Target: b.AgentType()}}
	for _, a := range neutronAgents {
		agents = append(agents, a.unit)
		probes = append(probes, Probe{Kind: ProbeNetworkAgent, Target: a.agentType})
	}
	agentsAfter := []string{TierNeutron}
	if len(b.SwitchUnits()) > 0 {
		// Their bridges and ports live in the switch.
		agentsAfter = append(agentsAfter, TierSwitch)
	}
	return []Tier{
		{
			Name:   TierNeutron,
			Units:  []string{"neutron-api", "neutron-rpc-server"},
			After:  []string{TierKeystone},
			Probes: []Probe{answers("http://" + p.MgmtIP + ":9696/")},
		},
		{
			Name:  TierAgents,
			Units: agents,
			After: agentsAfter,
			// neutron-l3-agent recommends them and their packages enable
			// their units; the agents run their own haproxy (metadata
			// proxy) per router, the lab has no HA routers (keepalived)
			// and no IPv6 router advertisements (radvd).
			Unwanted: []string{"haproxy", "keepalived", "radvd"},
			Probes:   probes,
		},
	}
}
