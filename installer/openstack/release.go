package openstack

import (
	"fmt"
	"slices"
	"strings"
)

// Release is what the lab's build depends on in a Debian release: which
// OpenStack it ships and which neutron backends that OpenStack can run.
// Every difference between releases lives here, so the rest of the tree
// asks the release instead of testing version numbers.
type Release struct {
	// VersionID is os-release's VERSION_ID ("12").
	VersionID string
	Name      string
	OpenStack string
	// DefaultBackend is the neutron backend used when the configuration
	// does not name one.
	DefaultBackend string
	// Refused maps a backend the release cannot run to the reason.
	Refused map[string]string
}

// DefaultRelease is the release Params without one describe: the one the
// lab was first measured on.
const DefaultRelease = "12"

// Releases lists the Debian releases the build knows.
func Releases() []Release {
	return []Release{
		{
			VersionID: "12", Name: "Debian 12 (bookworm)", OpenStack: "Zed",
			// Linuxbridge is what was measured end to end on Zed;
			// openvswitch is there for who asks for it.
			DefaultBackend: LinuxBridge{}.Name(),
		},
		{
			VersionID: "13", Name: "Debian 13 (trixie)", OpenStack: "2025.1",
			DefaultBackend: OpenVSwitch{}.Name(),
			Refused: map[string]string{
				// Measured: neutron-api logs "The following mechanism
				// drivers were not found: {'linuxbridge'}" and never
				// answers. The agent package still exists, the driver
				// in python3-neutron does not.
				LinuxBridge{}.Name(): "neutron 2025.1 in Debian 13 ships no linuxbridge driver (neutron-api would stop with \"mechanism drivers were not found: {'linuxbridge'}\")",
			},
		},
	}
}

// ReleaseFor returns the release with os-release VERSION_ID id; "" is
// DefaultRelease.
func ReleaseFor(id string) (Release, error) {
	if id == "" {
		id = DefaultRelease
	}
	var known []string
	for _, r := range Releases() {
		if r.VersionID == id {
			return r, nil
		}
		known = append(known, r.Name)
	}
	return Release{}, fmt.Errorf("debian release %q: the build knows %s", id, strings.Join(known, ", "))
}

// backends are every neutron backend the build knows, whichever releases
// refuse them.
func backends() []NeutronBackend { return []NeutronBackend{LinuxBridge{}, OpenVSwitch{}} }

// backendFor resolves name ("" is the release's default) and refuses a
// backend the release cannot run, saying why and what to set instead.
func (r Release) backendFor(name string) (NeutronBackend, error) {
	if name == "" {
		name = r.DefaultBackend
	}
	all := backends()
	var names []string
	for _, b := range all {
		if _, refused := r.Refused[b.Name()]; !refused {
			names = append(names, b.Name())
		}
	}
	if why, ok := r.Refused[name]; ok {
		return nil, fmt.Errorf("neutron backend %q on %s: %s; set openstack.neutron_backend to %s (or leave it at auto)",
			name, r.Name, why, strings.Join(names, " or "))
	}
	i := slices.IndexFunc(all, func(b NeutronBackend) bool { return b.Name() == name })
	if i < 0 {
		return nil, fmt.Errorf("neutron backend %q: want one of %s", name, strings.Join(names, ", "))
	}
	return all[i], nil
}
