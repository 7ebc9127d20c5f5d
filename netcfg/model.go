// Package netcfg models the host's NICs, decides which one is the management
// NIC and which the external (provider) NIC, plans and applies the changes
// that make the external NIC usable by neutron (up, no address), and makes
// that state survive a reboot in the host's own network configuration.
//
// Reading and deciding are pure functions over a Snapshot; only Host touches
// the kernel (netlink) and the file system (through a root prefix), so every
// decision is table-tested and the side effects are tested once against a
// real network namespace.
package netcfg

import (
	"fmt"
	"net/netip"
	"strings"
)

// Family is an address family as users know it from `ip`.
type Family string

const (
	IPv4 Family = "inet"
	IPv6 Family = "inet6"
)

// Scope is an address scope; only the distinction between link-local and the
// rest matters to us, but the kernel's value is kept for the evidence.
type Scope string

const (
	ScopeGlobal Scope = "global"
	ScopeSite   Scope = "site"
	ScopeLink   Scope = "link"
	ScopeHost   Scope = "host"
)

// Addr is one address on a link.
type Addr struct {
	Prefix netip.Prefix `json:"prefix"`
	Family Family       `json:"family"`
	Scope  Scope        `json:"scope"`
}

func (a Addr) String() string { return fmt.Sprintf("%s %s scope %s", a.Family, a.Prefix, a.Scope) }

// Blocking reports whether the address must go before neutron can own the
// link: every IPv4 address, and IPv6 beyond link-local (a link-local IPv6 is
// harmless on a bridge port and comes back by itself anyway).
func (a Addr) Blocking() bool {
	if a.Family == IPv4 {
		return true
	}
	return a.Scope != ScopeLink && a.Scope != ScopeHost
}

// Link is one network interface as the kernel reports it.
type Link struct {
	Name  string `json:"name"`
	Index int    `json:"index"`
	// Kind is netlink's link type: device, veth, bridge, vxlan, tuntap,
	// dummy, ifb, bond, vlan, ...
	Kind string `json:"kind"`
	// Up is the administrative state (IFF_UP); OperState is what the
	// driver reports (up, down, lowerlayerdown, unknown, ...).
	Up        bool   `json:"up"`
	OperState string `json:"oper_state"`
	Loopback  bool   `json:"loopback,omitempty"`
	MTU       int    `json:"mtu"`
	MAC       string `json:"mac,omitempty"`
	// MasterIndex is the bridge or bond the link is enslaved to, 0 if none;
	// Master and MasterKind are resolved from it for the evidence.
	MasterIndex int    `json:"master_index,omitempty"`
	Master      string `json:"master,omitempty"`
	MasterKind  string `json:"master_kind,omitempty"`
	// ParentIndex is the lower link of a vlan, macvlan or ipvlan, 0 if
	// none; Parent is its name.
	ParentIndex int    `json:"parent_index,omitempty"`
	Parent      string `json:"parent,omitempty"`
	Addrs       []Addr `json:"addrs"`
}

// BlockingAddrs lists the addresses that keep the link from being a clean
// provider NIC.
func (l Link) BlockingAddrs() []Addr {
	var out []Addr
	for _, a := range l.Addrs {
		if a.Blocking() {
			out = append(out, a)
		}
	}
	return out
}

// PrimaryIPv4 is the first global IPv4 address, the one services bind to.
func (l Link) PrimaryIPv4() (netip.Prefix, bool) {
	for _, a := range l.Addrs {
		if a.Family == IPv4 && a.Scope == ScopeGlobal {
			return a.Prefix, true
		}
	}
	return netip.Prefix{}, false
}

// Evidence is the one-line `ip -br addr`-like description used in reports.
func (l Link) Evidence() string {
	state := "DOWN"
	if l.Up {
		state = "UP"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s: kind %s, admin %s, oper %s, mtu %d", l.Name, l.Kind, state, l.OperState, l.MTU)
	if l.MAC != "" {
		fmt.Fprintf(&b, ", mac %s", l.MAC)
	}
	if l.Master != "" {
		fmt.Fprintf(&b, ", master %s (%s)", l.Master, l.MasterKind)
	}
	if len(l.Addrs) == 0 {
		b.WriteString(", no addresses")
	}
	for _, a := range l.Addrs {
		fmt.Fprintf(&b, ", %s", a)
	}
	return b.String()
}

// Route is a unicast route of the main table: a default route when Dst
// is the zero prefix.
type Route struct {
	Family   Family       `json:"family"`
	Dst      netip.Prefix `json:"dst,omitzero"`
	Link     string       `json:"link"`
	Index    int          `json:"index"`
	Gateway  netip.Addr   `json:"gateway,omitzero"`
	Priority int          `json:"metric"`
}

func (r Route) String() string {
	s := "default"
	switch {
	case r.Dst.IsValid():
		s = r.Dst.String()
	case r.Family == IPv6:
		s = "default (IPv6)"
	}
	if r.Gateway.IsValid() {
		s += " via " + r.Gateway.String()
	}
	return fmt.Sprintf("%s dev %s metric %d", s, r.Link, r.Priority)
}

// Session is an established TCP connection: someone's SSH session, or any
// other conversation that removing Local's address would cut.
type Session struct {
	Local  netip.AddrPort `json:"local"`
	Remote netip.AddrPort `json:"remote"`
}

func (s Session) String() string { return s.Local.String() + " ← " + s.Remote.String() }

// Snapshot is the NIC state read at one moment.
type Snapshot struct {
	Links         []Link  `json:"links"`
	DefaultRoutes []Route `json:"default_routes"`
	// Routes are the main table's other unicast routes.
	Routes []Route `json:"routes,omitempty"`
	// Sessions are the established TCP connections of this namespace.
	Sessions []Session `json:"sessions,omitempty"`
}

// RoutesVia lists the non-default routes leaving by name that go away with
// its removable addresses: IPv4, and IPv6 beyond link-local.
func (s Snapshot) RoutesVia(name string) []Route {
	var out []Route
	for _, r := range s.Routes {
		if r.Link == name && !(r.Family == IPv6 && r.Dst.Addr().IsLinkLocalUnicast()) {
			out = append(out, r)
		}
	}
	return out
}

// SessionsTo lists the established TCP connections whose local end is one
// of l's addresses.
func (s Snapshot) SessionsTo(l Link) []Session {
	var out []Session
	for _, se := range s.Sessions {
		for _, a := range l.Addrs {
			if a.Prefix.Addr().WithZone("") == se.Local.Addr().WithZone("") {
				out = append(out, se)
				break
			}
		}
	}
	return out
}

// Link returns the link called name.
func (s Snapshot) Link(name string) (Link, bool) {
	for _, l := range s.Links {
		if l.Name == name {
			return l, true
		}
	}
	return Link{}, false
}

// DefaultRoutesVia lists the default routes (either family) leaving by name.
func (s Snapshot) DefaultRoutesVia(name string) []Route {
	var out []Route
	for _, r := range s.DefaultRoutes {
		if r.Link == name {
			out = append(out, r)
		}
	}
	return out
}

// DefaultIPv4 is the IPv4 default route the kernel prefers (lowest metric).
func (s Snapshot) DefaultIPv4() (Route, bool) {
	var best Route
	found := false
	for _, r := range s.DefaultRoutes {
		if r.Family != IPv4 {
			continue
		}
		if !found || r.Priority < best.Priority {
			best, found = r, true
		}
	}
	return best, found
}

// Names lists the link names, for error messages.
func (s Snapshot) Names() []string {
	out := make([]string, 0, len(s.Links))
	for _, l := range s.Links {
		out = append(out, l.Name)
	}
	return out
}
