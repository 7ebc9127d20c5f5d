package openstack

import "slices"

// Tier names, in start order.
const (
	TierInfra = "infra"
	// TierSwitch is the backend's switch (Open vSwitch); absent with
	// linuxbridge.
	TierSwitch    = "switch"
	TierKeystone  = "keystone"
	TierGlance    = "glance"
	TierPlacement = "placement"
	TierNova      = "nova"
	TierCompute   = "compute"
	TierNeutron   = "neutron"
	TierAgents    = "network-agents"
	TierDashboard = "dashboard"
)

// ProbeKind says how a Probe is checked.
type ProbeKind string

const (
	// ProbeTCP: Target (host:port) accepts a connection.
	ProbeTCP ProbeKind = "tcp"
	// ProbeHTTP: GET Target (a URL) answers with Status, or with any
	// status below 500 when Status is 0. Answering matters: keystone can
	// accept TCP and never answer ("Keystone worker deadlock"), so the
	// request needs a timeout.
	ProbeHTTP ProbeKind = "http"
	// ProbeComputeService: nova lists Target (a host name) as an enabled
	// nova-compute that is up. Needs the API.
	ProbeComputeService ProbeKind = "compute-service"
	// ProbeUnix: the unix socket at Target (a path) accepts a
	// connection (ovsdb-server's db.sock).
	ProbeUnix ProbeKind = "unix"
	// ProbeNetworkAgent: neutron lists an alive agent of type Target
	// (agent_type, e.g. "L3 agent") on this host. Needs the API.
	ProbeNetworkAgent ProbeKind = "network-agent"
)

// Probe is one readiness check of a tier.
type Probe struct {
	Kind   ProbeKind
	Target string
	Status int
}

// Tier is a group of units started (or restarted) together once every
// earlier tier answers; it is ready when all its probes pass. Starting in
// this order and waiting for each tier avoids the restart storms that make
// eventlet services miss their 90 s start timeout on 2 cores ("Restart
// storms").
type Tier struct {
	Name string
	// Units in start order (Debian unit names). Install enables them: a
	// lab that does not come back after a reboot is no lab (several
	// Debian packages leave their unit disabled when debconf is told not
	// to configure them).
	Units []string
	// After names the tiers whose units must have started before this
	// tier's at boot. It is the real dependency, not the install order:
	// independent tiers start side by side, dependent ones wait, so a
	// 2-core VM neither starts twenty services at once (start timeouts,
	// restart storms) nor waits for them one by one.
	After []string
	// Unwanted are units that the tier's packages, or packages they
	// recommend, ship and enable but the lab does not use: install stops
	// and disables them, so they neither run nor start at boot.
	Unwanted []string
	Probes   []Probe
}

// Tiers returns the lab's tiers in start order.
func Tiers(p Params) []Tier {
	b := mustBackend(p)
	mgmt := "http://" + p.MgmtIP
	root, _ := horizonWebRoot(p)
	httpAny := func(url string) Probe { return Probe{Kind: ProbeHTTP, Target: url} }
	compute := []string{"nova-compute"}
	if p.ComputeDriver == ComputeLibvirt {
		compute = []string{"libvirtd", "nova-compute"}
	}
	agents := append([]string{}, b.AgentUnits()...)
	agents = append(agents, "neutron-dhcp-agent", "neutron-l3-agent", "neutron-metadata-agent")
	agentsAfter := []string{TierNeutron}
	var switchTier []Tier
	if su := b.SwitchUnits(); len(su) > 0 {
		// Needs nothing of the lab; the agents need it (their bridges
		// and ports live in it).
		switchTier = []Tier{{
			Name:   TierSwitch,
			Units:  su,
			Probes: []Probe{{Kind: ProbeUnix, Target: OVSDBSock}},
		}}
		agentsAfter = append(agentsAfter, TierSwitch)
	}
	return slices.Concat([]Tier{
		{
			Name:  TierInfra,
			Units: []string{"mariadb", "rabbitmq-server", "memcached"},
			Probes: []Probe{
				{Kind: ProbeTCP, Target: "127.0.0.1:3306"},
				{Kind: ProbeTCP, Target: "127.0.0.1:5672"},
				{Kind: ProbeTCP, Target: p.MgmtIP + ":11211"},
			},
		},
	}, switchTier, []Tier{
		{
			Name:   TierKeystone,
			Units:  []string{"keystone"},
			After:  []string{TierInfra},
			Probes: []Probe{{Kind: ProbeHTTP, Target: keystoneURL(p) + "/v3", Status: 200}},
		},
		{
			Name:   TierGlance,
			Units:  []string{"glance-api"},
			After:  []string{TierKeystone},
			Probes: []Probe{httpAny(mgmt + ":9292/")},
		},
		{
			Name:   TierPlacement,
			Units:  []string{"placement-api"},
			After:  []string{TierKeystone},
			Probes: []Probe{{Kind: ProbeHTTP, Target: mgmt + ":8778/", Status: 200}},
		},
		{
			// The control services first: nova-compute needs the
			// conductor to report in.
			Name:  TierNova,
			Units: []string{"nova-api", "nova-api-metadata", "nova-conductor", "nova-scheduler", "nova-novncproxy"},
			// nova-conductor and nova-scheduler give up on a placement
			// that does not answer yet ("does not have any supported
			// versions") and crash-loop.
			After: []string{TierGlance, TierPlacement},
			// nova-consoleproxy ships every console proxy; the lab's
			// console is noVNC.
			Unwanted: []string{"nova-serialproxy", "nova-spicehtml5proxy"},
			Probes: []Probe{
				httpAny(mgmt + ":8774/"),
				httpAny(mgmt + ":8775/"),
				httpAny(mgmt + ":6080/vnc_auto.html"),
			},
		},
		{
			Name:  TierCompute,
			Units: compute,
			After: []string{TierNova},
			// nova resumes its guests at boot
			// (resume_guests_state_on_host_boot); libvirt-guests would
			// shut them down at power-off (up to 5 minutes for a guest
			// that ignores ACPI) and fight nova over them at boot.
			// open-iscsi comes with os-brick for volumes the lab has not.
			Unwanted: []string{"libvirt-guests", "open-iscsi"},
			Probes:   []Probe{{Kind: ProbeComputeService, Target: p.Hostname}},
		},
		{
			// Debian splits neutron-server into these two.
			Name:   TierNeutron,
			Units:  []string{"neutron-api", "neutron-rpc-server"},
			After:  []string{TierKeystone},
			Probes: []Probe{httpAny(mgmt + ":9696/")},
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
			Probes: []Probe{
				{Kind: ProbeNetworkAgent, Target: b.AgentType()},
				{Kind: ProbeNetworkAgent, Target: "DHCP agent"},
				{Kind: ProbeNetworkAgent, Target: "L3 agent"},
				{Kind: ProbeNetworkAgent, Target: "Metadata agent"},
			},
		},
		{
			Name:   TierDashboard,
			Units:  []string{"apache2"},
			After:  []string{TierKeystone},
			Probes: []Probe{{Kind: ProbeHTTP, Target: mgmt + root + "/auth/login/", Status: 200}},
		},
	})
}

// Units returns every unit of the lab in start order.
func Units(p Params) []string {
	var units []string
	for _, t := range Tiers(p) {
		units = append(units, t.Units...)
	}
	return units
}

// UnwantedUnits returns every unit the lab stops and disables.
func UnwantedUnits(p Params) []string {
	var units []string
	for _, t := range Tiers(p) {
		units = append(units, t.Unwanted...)
	}
	return units
}
