package openstack

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/layer3/floatingips"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/layer3/routers"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/portsbinding"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/security/groups"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/ports"

	"github.com/stacklab/stacklab/playbooks"
)

// RouterNamespace is the network namespace neutron's l3 agent gives a
// router on the node that hosts it; a prober there reaches the router's
// floating IPs even where the node's own external NIC has no address.
func RouterNamespace(routerID string) string { return "qrouter-" + routerID }

// Hop is one piece of the path between the external network and a guest,
// as the cloud reports it.
type Hop struct {
	Name     string `json:"name"`
	OK       bool   `json:"ok"`
	Evidence string `json:"evidence"`
	Fix      string `json:"fix,omitempty"`
}

// UnreachableError is a floating IP that never answered ping, with every
// hop the cloud can see: the first one not OK is the likely cause.
type UnreachableError struct {
	FloatingIP string `json:"floating_ip"`
	Address    string `json:"address"`
	Ping       string `json:"ping"`
	Hops       []Hop  `json:"hops"`
}

func (e *UnreachableError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "floating IP %s (%s) does not answer: %s", e.FloatingIP, e.Address, e.Ping)
	failed := false
	for _, h := range e.Hops {
		if !h.OK {
			fmt.Fprintf(&b, "; first failed hop: %s: %s", h.Name, h.Evidence)
			if h.Fix != "" {
				fmt.Fprintf(&b, "; fix: %s", h.Fix)
			}
			failed = true
			break
		}
	}
	if !failed {
		b.WriteString("; every hop the cloud reports is up, so the packets are lost outside it: between where stacklab runs and the external network (its gateway, a firewall, or no route to it)")
	}
	b.WriteString(" [hops:")
	for _, h := range e.Hops {
		mark := "✓"
		if !h.OK {
			mark = "✗"
		}
		fmt.Fprintf(&b, " %s %s: %s;", mark, h.Name, h.Evidence)
	}
	b.WriteString("]")
	return b.String()
}

// ProbeError is a prober that could not send at all (no raw socket
// without root, say): nothing is known of the address, so no hop is
// blamed.
type ProbeError struct{ Err error }

func (e *ProbeError) Error() string { return e.Err.Error() }
func (e *ProbeError) Unwrap() error { return e.Err }

// reachFacts is what the cloud says about the path to one floating IP.
type reachFacts struct {
	Name, Address, FixedIP string
	FIPStatus              string
	RouterID               string

	Server       string
	ServerStatus string
	ServerFault  string

	PortID, PortStatus, VIFType string

	RouterName, RouterStatus string
	RouterGateway            bool
	GatewayPortStatus        string // "" when there is no gateway port

	Groups []groupFacts

	ConsoleWant    string // the server's console pattern, "" when none
	ConsoleLines   int
	ConsoleLast    string
	ConsoleMatched bool
}

type groupFacts struct {
	Name   string
	ICMPIn bool
}

// diagnoseReach orders the hops from the guest outwards, so the first one
// that fails is the cause and not a consequence (a server in ERROR also
// has its port DOWN).
func diagnoseReach(f reachFacts) []Hop {
	var hops []Hop
	add := func(name string, ok bool, evidence, fix string) {
		h := Hop{Name: name, OK: ok, Evidence: evidence}
		if !ok {
			h.Fix = fix
		}
		hops = append(hops, h)
	}

	srv := fmt.Sprintf("server %s is %s", f.Server, orNone(f.ServerStatus))
	if f.ServerFault != "" {
		srv += ": nova says: " + f.ServerFault
	}
	add("server", f.ServerStatus == "ACTIVE", srv,
		fmt.Sprintf("see why with `openstack server show %s`; stacklab doctor checks compute", f.Server))

	portOK := f.PortStatus == "ACTIVE" && f.VIFType != "binding_failed" && f.VIFType != "unbound"
	add("port", portOK,
		fmt.Sprintf("port %s (%s) is %s, binding %s", orNone(f.PortID), orNone(f.FixedIP), orNone(f.PortStatus), orNone(f.VIFType)),
		"the network agent did not wire the port: run stacklab doctor (is the linuxbridge agent alive?)")

	switch {
	case f.ConsoleLines == 0:
		add("guest console", false, "the guest wrote nothing on its serial console",
			"the image does not boot, or logs elsewhere: check the image with stacklab image inspect")
	case f.ConsoleWant != "" && !f.ConsoleMatched:
		add("guest console", false, fmt.Sprintf("no line matches %q; last line: %q", f.ConsoleWant, f.ConsoleLast),
			fmt.Sprintf("read the guest's console (`openstack console log show %s`): it booted but did not get its network up", f.Server))
	case f.ConsoleWant != "":
		add("guest console", true, fmt.Sprintf("the guest's line matching %q is there", f.ConsoleWant), "")
	default:
		add("guest console", true, fmt.Sprintf("%d lines; last: %q", f.ConsoleLines, f.ConsoleLast), "")
	}

	var open, names []string
	for _, g := range f.Groups {
		names = append(names, g.Name)
		if g.ICMPIn {
			open = append(open, g.Name)
		}
	}
	switch {
	case len(f.Groups) == 0:
		add("security groups", true, "the port has no security group (port security off): nothing filters", "")
	case len(open) > 0:
		add("security groups", true, fmt.Sprintf("ICMP in is allowed by %s", strings.Join(open, ", ")), "")
	default:
		add("security groups", false, fmt.Sprintf("no rule of %s lets ICMP in from outside", strings.Join(names, ", ")),
			fmt.Sprintf("add `- protocol: icmp` to the rules of security group %s", names[0]))
	}

	if f.RouterID == "" {
		add("router", false, "no router NATs this address",
			"add a router with external_gateway set to the floating IP's network and the server's subnet as an interface")
		return hops
	}
	add("floating IP", f.FIPStatus == "ACTIVE",
		fmt.Sprintf("%s → %s is %s", f.Address, orNone(f.FixedIP), orNone(f.FIPStatus)),
		"the l3 agent has not applied the NAT for it: run stacklab doctor (is neutron-l3-agent alive?)")
	gw := fmt.Sprintf("router %s is %s", f.RouterName, orNone(f.RouterStatus))
	switch {
	case !f.RouterGateway:
		gw += ", with no external gateway"
	case f.GatewayPortStatus == "":
		gw += ", its gateway port is missing"
	default:
		gw += ", gateway port " + f.GatewayPortStatus
	}
	add("router gateway", f.RouterStatus == "ACTIVE" && f.RouterGateway && f.GatewayPortStatus == "ACTIVE", gw,
		fmt.Sprintf("the l3 agent has not set up router %s: run stacklab doctor (is neutron-l3-agent alive?)", f.RouterName))
	return hops
}

// icmpIn tells whether a rule lets IPv4 echo requests in from anywhere:
// a rule that admits only members of a group does not admit the outside.
func icmpIn(r groupRule) bool {
	if r.Direction != "ingress" || (r.EtherType != "" && r.EtherType != "IPv4") {
		return false
	}
	if r.Protocol != "" && r.Protocol != "icmp" && r.Protocol != "1" {
		return false
	}
	if r.RemoteGroupID != "" {
		return false
	}
	return r.RemoteIPPrefix == "" || r.RemoteIPPrefix == "0.0.0.0/0"
}

type groupRule struct {
	Direction, EtherType, Protocol, RemoteIPPrefix, RemoteGroupID string
}

// proveReachable waits, when the playbook asks for it, until the floating
// IP answers; when it does not, it reads every hop and says which failed.
func (c *Cloud) proveReachable(ctx context.Context, spec playbooks.FloatingIP, fipID string) error {
	if !spec.Ping || c.o.Reach == nil {
		return nil
	}
	// Made beside its server's boot: the guest answers only once the
	// server is done (ACTIVE, its console line seen).
	if err := playbooks.AwaitDeps(ctx); err != nil {
		return fmt.Errorf("floating IP %s: not pinged: %w", spec.Name, err)
	}
	nc, err := c.neutronClient()
	if err != nil {
		return err
	}
	fip, err := floatingips.Get(ctx, nc, fipID).Extract()
	if err != nil {
		return fmt.Errorf("neutron: floating IP %s: %w", spec.Name, err)
	}
	ns := ""
	if fip.RouterID != "" {
		ns = RouterNamespace(fip.RouterID)
	}
	wctx, cancel := context.WithTimeout(ctx, spec.PingWait())
	perr := c.o.Reach(wctx, fip.FloatingIP, ns)
	cancel()
	if perr == nil {
		c.logf("floating IP %s: %s answers ping", spec.Name, fip.FloatingIP)
		return nil
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	var pe *ProbeError
	if errors.As(perr, &pe) {
		return fmt.Errorf("floating IP %s (%s): cannot ping from here: %w; run stacklab as root, or drop ping: true", spec.Name, fip.FloatingIP, perr)
	}
	f, err := c.reachFacts(ctx, spec, fipID)
	if err != nil {
		return fmt.Errorf("floating IP %s (%s) does not answer (%w), and reading its path failed: %w", spec.Name, fip.FloatingIP, perr, err)
	}
	return &UnreachableError{FloatingIP: spec.Name, Address: f.Address, Ping: perr.Error(), Hops: diagnoseReach(f)}
}

// reachFacts reads the path as it is now (the wait may have changed it).
func (c *Cloud) reachFacts(ctx context.Context, spec playbooks.FloatingIP, fipID string) (reachFacts, error) {
	nc, err := c.neutronClient()
	if err != nil {
		return reachFacts{}, err
	}
	fip, err := floatingips.Get(ctx, nc, fipID).Extract()
	if err != nil {
		return reachFacts{}, fmt.Errorf("neutron: floating IP %s: %w", spec.Name, err)
	}
	f := reachFacts{Name: spec.Name, Address: fip.FloatingIP, FixedIP: fip.FixedIP, FIPStatus: fip.Status,
		RouterID: fip.RouterID, Server: spec.Server, ConsoleWant: spec.ServerConsole}

	s, found, err := c.findServer(ctx, spec.Server)
	if err != nil {
		return f, err
	}
	if found {
		f.ServerStatus, f.ServerFault = s.Status, s.Fault.Message
		nova, err := c.novaClient()
		if err != nil {
			return f, err
		}
		out, err := servers.ShowConsoleOutput(ctx, nova, s.ID, servers.ShowConsoleOutputOpts{Length: consoleLines}).Extract()
		if err != nil && !isNotFound(err) {
			return f, fmt.Errorf("nova: console of server %s: %w", spec.Server, err)
		}
		lines := lastLines(out, consoleLines)
		f.ConsoleLines = len(lines)
		if len(lines) > 0 {
			f.ConsoleLast = lines[len(lines)-1]
		}
		if f.ConsoleWant != "" {
			_, f.ConsoleMatched = firstMatch(regexp.MustCompile(f.ConsoleWant), out)
		}
	} else {
		f.ServerStatus = "missing"
	}

	if fip.PortID != "" {
		var p struct {
			ports.Port
			portsbinding.PortsBindingExt
		}
		if err := ports.Get(ctx, nc, fip.PortID).ExtractInto(&p); err != nil {
			return f, fmt.Errorf("neutron: port %s: %w", fip.PortID, err)
		}
		f.PortID, f.PortStatus, f.VIFType = p.ID, p.Status, p.VIFType
		for _, id := range p.SecurityGroups {
			g, err := groups.Get(ctx, nc, id).Extract()
			if err != nil {
				return f, fmt.Errorf("neutron: security group %s: %w", id, err)
			}
			gf := groupFacts{Name: g.Name}
			for _, r := range g.Rules {
				if icmpIn(groupRule{Direction: r.Direction, EtherType: r.EtherType, Protocol: r.Protocol,
					RemoteIPPrefix: r.RemoteIPPrefix, RemoteGroupID: r.RemoteGroupID}) {
					gf.ICMPIn = true
				}
			}
			f.Groups = append(f.Groups, gf)
		}
	}

	if fip.RouterID != "" {
		r, err := routers.Get(ctx, nc, fip.RouterID).Extract()
		if err != nil {
			return f, fmt.Errorf("neutron: router %s: %w", fip.RouterID, err)
		}
		f.RouterName, f.RouterStatus = r.Name, r.Status
		f.RouterGateway = r.GatewayInfo.NetworkID != ""
		gws, err := c.listPorts(ctx, ports.ListOpts{DeviceID: r.ID, DeviceOwner: "network:router_gateway"})
		if err != nil {
			return f, err
		}
		if len(gws) > 0 {
			f.GatewayPortStatus = gws[0].Status
		}
	}
	return f, nil
}
