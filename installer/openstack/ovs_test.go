package openstack

import (
	"slices"
	"strings"
	"testing"

	"github.com/stacklab/stacklab/installer/inifile"
)

func ovsParams(datapath string) Params {
	p := sampleParams()
	p.Release, p.OVSDatapath = "13", datapath
	return p
}

// The release decides the default: Debian 13 has no linuxbridge, so an
// unset backend is openvswitch there and linuxbridge on Debian 12.
func TestReleaseDefaultBackend(t *testing.T) {
	for _, tt := range []struct{ release, want string }{
		{"", "linuxbridge"}, {"12", "linuxbridge"}, {"13", "openvswitch"},
	} {
		p := sampleParams()
		p.Release, p.OVSDatapath = tt.release, DatapathNetdev
		if err := p.Validate(); err != nil {
			t.Fatalf("release %q: %v", tt.release, err)
		}
		if got := Backend(p).Name(); got != tt.want {
			t.Errorf("release %q: backend %s, want %s", tt.release, got, tt.want)
		}
	}
	// Debian 12 may run openvswitch when asked.
	p := sampleParams()
	p.NeutronBackend, p.OVSDatapath = "openvswitch", DatapathSystem
	if err := p.Validate(); err != nil {
		t.Fatalf("openvswitch on 12: %v", err)
	}
}

// The refusal names the release, the reason and the fix.
func TestLinuxbridgeRefusedOnTrixie(t *testing.T) {
	p := ovsParams(DatapathNetdev)
	p.NeutronBackend = "linuxbridge"
	err := p.Validate()
	if err == nil {
		t.Fatal("linuxbridge on Debian 13 accepted")
	}
	for _, want := range []string{"Debian 13", "no linuxbridge driver", "openstack.neutron_backend to openvswitch"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

func TestOVSBackendRenders(t *testing.T) {
	p := ovsParams(DatapathNetdev)
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	pkgs := Packages(p)
	for _, w := range []string{"neutron-openvswitch-agent", "openvswitch-switch"} {
		if !slices.Contains(pkgs, w) {
			t.Errorf("packages lack %s", w)
		}
	}
	if slices.Contains(pkgs, "neutron-linuxbridge-agent") || len(ExcludedPackages(p)) != 0 {
		t.Errorf("linuxbridge leftovers: %v, excluded %v", pkgs, ExcludedPackages(p))
	}
	files := map[string]File{}
	for _, f := range Files(p) {
		files[f.Path] = f
	}
	want := map[string]map[[2]string]string{
		OVSAgentConf: {
			{"ovs", "bridge_mappings"}:                 "provider:br-ex",
			{"ovs", "local_ip"}:                        p.MgmtIP,
			{"ovs", "datapath_type"}:                   "netdev",
			{"ovs", "integration_bridge"}:              "br-int",
			{"agent", "tunnel_types"}:                  "vxlan",
			{"agent", "l2_population"}:                 "true",
			{"securitygroup", "firewall_driver"}:       "openvswitch",
			{"securitygroup", "enable_security_group"}: "true",
		},
		ML2Conf:       {{"ml2", "mechanism_drivers"}: "openvswitch,l2population"},
		L3AgentConf:   {{"", "interface_driver"}: "openvswitch"},
		DHCPAgentConf: {{"", "interface_driver"}: "openvswitch"},
	}
	for path, kv := range want {
		f, ok := files[path]
		if !ok {
			t.Errorf("no %s", path)
			continue
		}
		for k, v := range kv {
			if got := setValue(f.Sets, k[0], k[1]); got != v {
				t.Errorf("%s [%s] %s = %q, want %q", path, k[0], k[1], got, v)
			}
		}
	}
	if got := setValue(files[NeutronConf].Sets, "experimental", "linuxbridge"); got != "" {
		t.Errorf("neutron.conf keeps [experimental] linuxbridge = %s", got)
	}
	d := files[VswitchdDropIn]
	if d.Kind != Text || !strings.Contains(d.Content, "--disable-system") || !d.SystemdUnit {
		t.Errorf("netdev drop-in = %+v", d)
	}
	// Guests' TCP needs the virtio-net header read on the netdev datapath.
	if !strings.Contains(d.Content, "ExecStartPre=/usr/bin/ovs-vsctl --no-wait --db=unix:/run/openvswitch/db.sock set Open_vSwitch . other_config:userspace-tso-enable=true") {
		t.Errorf("netdev drop-in does not enable the offload header:\n%s", d.Content)
	}
	// On the kernel datapath Debian's own start (with modprobe) is right.
	if d := fileAt(Files(ovsParams(DatapathSystem)), VswitchdDropIn); d.Kind != Absent {
		t.Errorf("system datapath drop-in kind %q, want absent", d.Kind)
	}
}

// The switch starts before the agents, which wait for it at boot too.
func TestOVSTiers(t *testing.T) {
	p := ovsParams(DatapathNetdev)
	tiers := Tiers(p)
	idx := func(name string) int {
		return slices.IndexFunc(tiers, func(t Tier) bool { return t.Name == name })
	}
	sw, ag := idx(TierSwitch), idx(TierAgents)
	if sw < 0 || ag < sw {
		t.Fatalf("switch tier %d, agents %d", sw, ag)
	}
	if got := tiers[sw].Units; !slices.Equal(got, []string{"ovsdb-server", "ovs-vswitchd", "openvswitch-switch"}) {
		t.Errorf("switch units %v", got)
	}
	if !slices.Contains(tiers[ag].After, TierSwitch) || tiers[ag].Units[0] != "neutron-openvswitch-agent" {
		t.Errorf("agents tier %+v", tiers[ag])
	}
	if !slices.ContainsFunc(tiers[ag].Probes, func(pr Probe) bool { return pr.Target == "Open vSwitch agent" }) {
		t.Errorf("agents probes %+v", tiers[ag].Probes)
	}
	drop := fileAt(Files(p), BootOrderPath("neutron-openvswitch-agent"))
	if !strings.Contains(drop.Content, "ovs-vswitchd.service") {
		t.Errorf("agent boot order lacks ovs-vswitchd: %q", drop.Content)
	}
	if idx := idx(TierSwitch); idx >= 0 && slices.ContainsFunc(Tiers(sampleParams()), func(t Tier) bool { return t.Name == TierSwitch }) {
		t.Error("linuxbridge lab has a switch tier")
	}
	br := OVSBridges(p)
	if len(br) != 2 || br[1].Name != "br-ex" || !slices.Equal(br[1].Ports, []string{"eth1"}) || br[0].Datapath != "netdev" {
		t.Errorf("bridges %+v", br)
	}
	if OVSBridges(sampleParams()) != nil {
		t.Error("linuxbridge lab has OVS bridges")
	}
}

// Doctor restarts a dead agent by AgentTypeByUnit: on either backend,
// each unit of the agents tier has the agent_type the tier waits for.
func TestAgentTypeByUnitCoversBothBackends(t *testing.T) {
	types := AgentTypeByUnit()
	for _, p := range []Params{sampleParams(), ovsParams(DatapathNetdev)} {
		i := slices.IndexFunc(Tiers(p), func(t Tier) bool { return t.Name == TierAgents })
		tier := Tiers(p)[i]
		var want []string
		for _, u := range tier.Units {
			typ, ok := types[u]
			if !ok {
				t.Errorf("%s: agent unit %s has no agent type", Backend(p).Name(), u)
			}
			want = append(want, typ)
		}
		var probed []string
		for _, pr := range tier.Probes {
			probed = append(probed, pr.Target)
		}
		if !slices.Equal(probed, want) {
			t.Errorf("%s: the tier probes %q, its units report %q", Backend(p).Name(), probed, want)
		}
	}
	if types["neutron-linuxbridge-agent"] != "Linux bridge agent" || types["neutron-openvswitch-agent"] != "Open vSwitch agent" {
		t.Errorf("L2 agents %v", types)
	}
}

func setValue(sets []inifile.Set, section, key string) string {
	for _, s := range sets {
		if s.Section == section && s.Key == key {
			return s.Value
		}
	}
	return ""
}

func fileAt(files []File, path string) File {
	for _, f := range files {
		if f.Path == path {
			return f
		}
	}
	return File{}
}
