package netcfg

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// Layout names the two NICs the lab uses.
type Layout struct {
	Mgmt string `json:"mgmt"`
	Ext  string `json:"ext"`
	// MgmtFrom and ExtFrom say how each was chosen: "override" (a flag),
	// "default-route" or "only-candidate".
	MgmtFrom string `json:"mgmt_from"`
	ExtFrom  string `json:"ext_from"`
}

// Sentinels for errors.Is; the *DetectError carries the details a fix needs.
var (
	ErrNoDefaultRoute    = errors.New("no IPv4 default route")
	ErrNoSuchInterface   = errors.New("no such interface")
	ErrNoExternalNIC     = errors.New("no second NIC for the external network")
	ErrAmbiguousExternal = errors.New("more than one NIC could be the external NIC")
	ErrExternalIsMgmt    = errors.New("external NIC is the management NIC")
	ErrNotANIC           = errors.New("not a NIC that neutron can take")
)

// DetectError explains why a layout could not be decided.
type DetectError struct {
	Err error
	// Role is "management" or "external".
	Role string
	// Name is the interface concerned, if any.
	Name string
	// Candidates lists the NICs that matched (ambiguity) and Seen every
	// link that was considered, so the user can see what we saw.
	Candidates []string
	Seen       []string
}

func (e *DetectError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "netcfg: %s NIC", e.Role)
	if e.Name != "" {
		fmt.Fprintf(&b, " %s", e.Name)
	}
	fmt.Fprintf(&b, ": %v", e.Err)
	switch {
	case errors.Is(e.Err, ErrAmbiguousExternal):
		fmt.Fprintf(&b, " (%s); pass --ext-if NAME to choose", strings.Join(e.Candidates, ", "))
	case errors.Is(e.Err, ErrNoDefaultRoute):
		b.WriteString("; pass --mgmt-if NAME or add a default route")
	case len(e.Seen) > 0:
		fmt.Fprintf(&b, " (interfaces: %s)", strings.Join(e.Seen, ", "))
	}
	return b.String()
}

func (e *DetectError) Unwrap() error { return e.Err }

// nicName matches names the kernel or udev give to NICs of a VM:
// eth0, enp0s3, ens34, eno1, enx001122334455, em1. Wireless (wl*) is left
// out on purpose: 802.11 drops frames with foreign source MACs, so a
// linuxbridge port on Wi-Fi cannot carry instance traffic.
var nicName = regexp.MustCompile(`^(eth[0-9]+|en[a-z0-9]+|em[0-9]+)$`)

// virtualPrefixes are names our own stack (neutron, libvirt, docker) gives
// to links; they never count as a NIC even when their kind would.
var virtualPrefixes = []string{"veth", "vnet", "tap", "brq", "vxlan-", "virbr", "docker", "br-", "qr-", "qg-", "ns-"}

// IsCandidate reports whether l looks like a physical NIC of the VM, with
// the reason when it does not.
func IsCandidate(l Link) (bool, string) {
	switch {
	case l.Loopback || l.Name == "lo":
		return false, "loopback"
	case l.Kind != "device" && l.Kind != "veth":
		return false, "kind " + l.Kind
	case l.MasterKind == "bond" || l.MasterKind == "team":
		return false, "enslaved to " + l.MasterKind + " " + l.Master
	}
	for _, p := range virtualPrefixes {
		if strings.HasPrefix(l.Name, p) {
			return false, "virtual link name " + p + "*"
		}
	}
	if !nicName.MatchString(l.Name) {
		return false, "name does not look like a NIC"
	}
	return true, ""
}

// usableExternal reports whether l may be handed to neutron as the
// external NIC when a user names it: loopback, bridges, tunnels and the
// stack's own links never, nor a bond's slave. Unlike IsCandidate it does
// not judge the name: a NIC renamed by udev rules is still a NIC.
func usableExternal(l Link) (bool, string) {
	switch {
	case l.Loopback || l.Name == "lo":
		return false, "it is the loopback interface"
	case l.Kind != "device" && l.Kind != "veth":
		return false, "it is a " + l.Kind + ", not a NIC"
	case l.MasterKind == "bond" || l.MasterKind == "team":
		return false, "it is enslaved to " + l.MasterKind + " " + l.Master
	}
	for _, p := range virtualPrefixes {
		if strings.HasPrefix(l.Name, p) {
			return false, "its name " + p + "* is a virtual link's"
		}
	}
	return true, ""
}

// carriesMgmt says how l carries the management NIC's traffic: as a port
// of the management bridge, or as the lower link of a management vlan or
// macvlan; "" when it does not.
func carriesMgmt(l, mgmt Link) string {
	switch {
	case l.Name == mgmt.Name:
		return ""
	case l.MasterIndex != 0 && l.MasterIndex == mgmt.Index:
		return "is a port of the management bridge " + mgmt.Name
	case mgmt.ParentIndex != 0 && mgmt.ParentIndex == l.Index:
		return "is the lower link of the management " + mgmt.Kind + " " + mgmt.Name
	}
	return ""
}

// Detect decides the layout. The management NIC carries the IPv4 default
// route; the external NIC is the one other NIC-looking link. Overrides win
// over detection but must name existing links.
func Detect(s Snapshot, mgmtOverride, extOverride string) (Layout, error) {
	var lay Layout
	switch {
	case mgmtOverride != "":
		if _, ok := s.Link(mgmtOverride); !ok {
			return Layout{}, &DetectError{Err: ErrNoSuchInterface, Role: "management", Name: mgmtOverride, Seen: s.Names()}
		}
		lay.Mgmt, lay.MgmtFrom = mgmtOverride, "override"
	default:
		r, ok := s.DefaultIPv4()
		if !ok {
			return Layout{}, &DetectError{Err: ErrNoDefaultRoute, Role: "management", Seen: s.Names()}
		}
		lay.Mgmt, lay.MgmtFrom = r.Link, "default-route"
	}

	mgmt, _ := s.Link(lay.Mgmt)
	if extOverride != "" {
		l, ok := s.Link(extOverride)
		if !ok {
			return Layout{}, &DetectError{Err: ErrNoSuchInterface, Role: "external", Name: extOverride, Seen: s.Names()}
		}
		if extOverride == lay.Mgmt {
			return Layout{}, &DetectError{Err: ErrExternalIsMgmt, Role: "external", Name: extOverride}
		}
		if why := carriesMgmt(l, mgmt); why != "" {
			return Layout{}, &DetectError{Err: fmt.Errorf("%w: it %s", ErrExternalIsMgmt, why), Role: "external", Name: extOverride}
		}
		if ok, why := usableExternal(l); !ok {
			return Layout{}, &DetectError{Err: fmt.Errorf("%w: %s", ErrNotANIC, why), Role: "external", Name: extOverride}
		}
		lay.Ext, lay.ExtFrom = extOverride, "override"
		return lay, nil
	}

	var cands, seen []string
	for _, l := range s.Links {
		ok, why := IsCandidate(l)
		if l.Name == lay.Mgmt {
			ok, why = false, "management NIC"
		} else if w := carriesMgmt(l, mgmt); w != "" {
			ok, why = false, strings.TrimPrefix(w, "is ")
		}
		if ok {
			cands = append(cands, l.Name)
			seen = append(seen, l.Name+" (candidate)")
		} else {
			seen = append(seen, l.Name+" ("+why+")")
		}
	}
	switch len(cands) {
	case 0:
		return Layout{}, &DetectError{Err: ErrNoExternalNIC, Role: "external", Seen: seen}
	case 1:
		lay.Ext, lay.ExtFrom = cands[0], "only-candidate"
		return lay, nil
	default:
		return Layout{}, &DetectError{Err: ErrAmbiguousExternal, Role: "external", Candidates: cands, Seen: seen}
	}
}
