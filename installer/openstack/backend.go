package openstack

import (
	"github.com/stacklab/stacklab/installer/inifile"
)

// NeutronBackend is the ML2 mechanism the lab's networking runs on: its
// packages, agent units and files, and what it contributes to the shared
// neutron files. The rest of neutron (server, dhcp/l3/metadata agents,
// ML2 type drivers, the flat provider network) does not depend on it.
// LinuxBridge (linuxbridge.go) is Debian 12's default; Debian 13's
// neutron (2025.1) ships no linuxbridge code and runs OpenVSwitch (ovs.go). Which release may
// run which is Release's knowledge (release.go).
type NeutronBackend interface {
	// Name is the value of Params.NeutronBackend selecting it.
	Name() string
	Packages(p Params) []string
	// ExcludedPackages must not be installed (apt "pkg-").
	ExcludedPackages() []string
	// AgentUnits are the backend's systemd units, in start order.
	AgentUnits() []string
	// SwitchUnits are the units of a switch the agents program, in start
	// order; they form the switch tier, which the agents wait for. None
	// for linuxbridge (the kernel's bridges need no daemon).
	SwitchUnits() []string
	// AgentType is the agent_type neutron reports for the L2 agent
	// (`openstack network agent list`), for doctor's liveness check.
	AgentType() string
	// MechanismDriver is the ML2 mechanism driver name.
	MechanismDriver() string
	// InterfaceDriver is the dhcp/l3 agents' interface_driver.
	InterfaceDriver() string
	// VIFPrivsepSection is the config section of the privsep context
	// os-vif's plugin for this backend starts inside nova-compute.
	VIFPrivsepSection() string
	// NeutronConfSets are extra settings for neutron.conf.
	NeutronConfSets(p Params) []inifile.Set
	// Files are the backend's own files (agent configuration).
	Files(p Params) []File
}

// TierSwitch is the backend's switch (Open vSwitch); absent with
// linuxbridge.
const TierSwitch = "switch"

// switchService is the backend's switch as a service of its own, started
// right after infra: it needs nothing of the lab, and the agents need it.
// Its packages are the backend's (neutronPackages).
var switchService = service{
	tiers: func(p Params) []Tier {
		su := mustBackend(p).SwitchUnits()
		if len(su) == 0 {
			return nil
		}
		return []Tier{{Name: TierSwitch, Units: su, Probes: []Probe{{Kind: ProbeUnix, Target: OVSDBSock}}}}
	},
}

// Backend returns the NeutronBackend p selects. p must be valid.
func Backend(p Params) NeutronBackend { return mustBackend(p) }

func mustBackend(p Params) NeutronBackend {
	b, err := p.backend()
	if err != nil {
		panic(err) // Validate rejects unknown backends first
	}
	return b
}

// ResolveBackend is the backend named name ("" for the release's default)
// on the Debian release with VERSION_ID release, or why there is none.
func ResolveBackend(release, name string) (NeutronBackend, error) {
	return Params{Release: release, NeutronBackend: name}.backend()
}

// backend resolves p.NeutronBackend for p's release ("" is the release's
// default).
func (p Params) backend() (NeutronBackend, error) {
	r, err := ReleaseFor(p.Release)
	if err != nil {
		return nil, err
	}
	return r.backendFor(p.NeutronBackend)
}
