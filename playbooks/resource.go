package playbooks

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Kind is a kind of resource, as named in messages and plans.
type Kind string

// The kinds a playbook declares.
const (
	KindFlavor        Kind = "flavor"
	KindNetwork       Kind = "network"
	KindSubnet        Kind = "subnet"
	KindRouter        Kind = "router"
	KindSecurityGroup Kind = "security_group"
	KindKeypair       Kind = "keypair"
	KindImage         Kind = "image"
	KindServer        Kind = "server"
	KindFloatingIP    Kind = "floating_ip"
)

// Kinds is every kind in the order a playbook lists them.
func Kinds() []Kind {
	return []Kind{KindFlavor, KindNetwork, KindSubnet, KindRouter, KindSecurityGroup, KindKeypair, KindImage, KindServer, KindFloatingIP}
}

// Ref is one resource naming another.
type Ref struct {
	Kind Kind
	Name string
	// At is where the reference was written.
	At Pos
}

// Resource is one declared resource: what it is, what it needs, and its
// typed declaration (Flavor, Network, ...) in Spec.
type Resource struct {
	Kind Kind
	Name string
	At   Pos
	// Refs are the resources it names; those declared in the same
	// playbook are its dependencies.
	Refs []Ref
	// After are further dependencies that are not named references (a
	// server waits for its networks' subnets to have a port to plug).
	After []Ref
	// Beside are the dependencies it needs to exist but not to be ready:
	// it starts once they exist (Exists) and waits for the rest of them
	// only where it must (AwaitDeps). A floating IP needs its server's
	// port, not the guest's boot.
	Beside []Ref
	Spec   any
}

// ID is "kind name", unique within a playbook.
func (r Resource) ID() string { return string(r.Kind) + " " + r.Name }

// FieldChange is one managed field that differs.
type FieldChange struct {
	Field string `json:"field"`
	From  string `json:"from"`
	To    string `json:"to"`
}

// Fields renders the fields a spec manages as strings, the form in which
// desired and current state are compared and shown. The fake cloud and
// the real drivers both describe current state with the same spec types.
func Fields(spec any) map[string]string {
	b := strconv.FormatBool
	i := strconv.Itoa
	switch s := spec.(type) {
	case Flavor:
		return map[string]string{"vcpus": i(s.VCPUs), "ram": i(s.RAM), "disk": i(s.Disk)}
	case Network:
		typ := s.Type
		if typ == "" {
			typ = "vxlan"
		}
		return map[string]string{"type": typ, "physical_network": s.PhysicalNetwork, "external": b(s.External), "shared": b(s.Shared)}
	case Subnet:
		pools := make([]string, len(s.AllocationPools))
		for n, p := range s.AllocationPools {
			pools[n] = p.Start + "-" + p.End
		}
		return map[string]string{"network": s.Network, "cidr": s.CIDR, "gateway": s.Gateway,
			"allocation_pools": strings.Join(pools, ","), "dhcp": b(s.DHCPEnabled()), "dns": strings.Join(s.DNS, ",")}
	case Router:
		return map[string]string{"external_gateway": s.ExternalGateway, "interfaces": sortedJoin(s.Interfaces)}
	case SecurityGroup:
		rules := make([]string, len(s.Rules))
		for n, r := range s.Rules {
			rules[n] = r.String()
		}
		return map[string]string{"rules": sortedJoin(rules)}
	case Keypair:
		// A generated key has nothing to compare: its public half is
		// whatever nova made.
		if s.Generate {
			return map[string]string{}
		}
		return map[string]string{"public_key": strings.TrimSpace(s.PublicKey)}
	case Image:
		if s.FromServer != "" {
			return snapshotFields(s)
		}
		cf := s.ContainerFormat
		if cf == "" {
			cf = "bare"
		}
		vis := s.Visibility
		if vis == "" {
			vis = "private"
		}
		df := s.DetectedFormat
		if df == "" {
			df = s.DiskFormat
		}
		return map[string]string{"disk_format": df, "container_format": cf, "min_disk": i(s.MinDisk), "min_ram": i(s.MinRAM), "visibility": vis}
	case Server:
		return map[string]string{"flavor": s.Flavor, "image": s.Image, "networks": strings.Join(s.Networks, ","),
			"keypair": s.Keypair, "security_groups": sortedJoin(s.SecurityGroups)}
	case FloatingIP:
		return map[string]string{"network": s.Network, "server": s.Server}
	}
	panic(fmt.Sprintf("playbooks: no fields for %T", spec))
}

// snapshotFields are what a playbook may change on a snapshot: nova sets
// its format and, from the flavor, its min_disk; only values declared
// are compared, so a re-run does not take a new snapshot.
func snapshotFields(s Image) map[string]string {
	vis := s.Visibility
	if vis == "" {
		vis = "private"
	}
	out := map[string]string{"visibility": vis}
	if s.MinDisk > 0 {
		out["min_disk"] = strconv.Itoa(s.MinDisk)
	}
	if s.MinRAM > 0 {
		out["min_ram"] = strconv.Itoa(s.MinRAM)
	}
	return out
}

func sortedJoin(list []string) string {
	s := slices.Clone(list)
	slices.Sort(s)
	return strings.Join(s, ",")
}

// DiffFields lists the fields whose values differ, sorted by field; a
// field missing from current counts as "".
func DiffFields(desired, current map[string]string) []FieldChange {
	var out []FieldChange
	for k, want := range desired {
		if have := current[k]; have != want {
			out = append(out, FieldChange{Field: k, From: have, To: want})
		}
	}
	slices.SortFunc(out, func(a, b FieldChange) int { return strings.Compare(a.Field, b.Field) })
	return out
}

// resources lists a playbook's declarations as Resources, in file order.
func resources(pb *Playbook) []Resource {
	var out []Resource
	add := func(kind Kind, name string, at Pos, spec any, refs ...Ref) {
		var keep []Ref
		for _, r := range refs {
			if r.Name != "" {
				keep = append(keep, r)
			}
		}
		out = append(out, Resource{Kind: kind, Name: name, At: at, Refs: keep, Spec: spec})
	}
	for _, f := range pb.Flavors {
		add(KindFlavor, f.Name, f.At, f)
	}
	for _, n := range pb.Networks {
		add(KindNetwork, n.Name, n.At, n)
	}
	for _, s := range pb.Subnets {
		add(KindSubnet, s.Name, s.At, s, Ref{KindNetwork, s.Network, s.pos("network")})
	}
	for _, r := range pb.Routers {
		refs := []Ref{{KindNetwork, r.ExternalGateway, r.pos("external_gateway")}}
		for _, sub := range r.Interfaces {
			refs = append(refs, Ref{KindSubnet, sub, r.pos("interfaces")})
		}
		add(KindRouter, r.Name, r.At, r, refs...)
		// The gateway port takes an address from a subnet of the external
		// network: that subnet must exist first and can only be deleted
		// once the router is gone (neutron answers SubnetInUse).
		for _, sub := range pb.Subnets {
			if sub.Network == r.ExternalGateway && r.ExternalGateway != "" {
				out[len(out)-1].After = append(out[len(out)-1].After, Ref{Kind: KindSubnet, Name: sub.Name})
			}
		}
	}
	for _, sg := range pb.SecurityGroups {
		add(KindSecurityGroup, sg.Name, sg.At, sg)
	}
	for _, k := range pb.Keypairs {
		add(KindKeypair, k.Name, k.At, k)
	}
	for _, img := range pb.Images {
		add(KindImage, img.Name, img.At, img, Ref{KindServer, img.FromServer, img.pos("from_server")})
	}
	for _, s := range pb.Servers {
		refs := []Ref{{KindFlavor, s.Flavor, s.pos("flavor")}, {KindImage, s.Image, s.pos("image")}, {KindKeypair, s.Keypair, s.pos("keypair")}}
		for _, n := range s.Networks {
			refs = append(refs, Ref{KindNetwork, n, s.pos("networks")})
		}
		for _, sg := range s.SecurityGroups {
			refs = append(refs, Ref{KindSecurityGroup, sg, s.pos("security_groups")})
		}
		add(KindServer, s.Name, s.At, s, refs...)
		// A port needs a subnet on its network.
		for _, sub := range pb.Subnets {
			if slices.Contains(s.Networks, sub.Network) {
				out[len(out)-1].After = append(out[len(out)-1].After, Ref{Kind: KindSubnet, Name: sub.Name})
			}
		}
	}
	for _, f := range pb.FloatingIPs {
		for _, s := range pb.Servers {
			if s.Name == f.Server {
				f.ServerConsole = s.Console
			}
		}
		add(KindFloatingIP, f.Name, f.At, f, Ref{KindNetwork, f.Network, f.pos("network")}, Ref{KindServer, f.Server, f.pos("server")})
		if f.Server != "" {
			out[len(out)-1].Beside = []Ref{{Kind: KindServer, Name: f.Server}}
		}
		// Neutron associates a floating IP only once a router joins the
		// external network to the server's subnet.
		for _, r := range pb.Routers {
			if r.ExternalGateway == f.Network {
				out[len(out)-1].After = append(out[len(out)-1].After, Ref{Kind: KindRouter, Name: r.Name})
			}
		}
	}
	return out
}
