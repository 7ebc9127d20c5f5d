package playbooks

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
)

// ErrExternalTooSmall means the external NIC's network has no room for a
// floating-IP pool beside what already lives on it.
var ErrExternalTooSmall = errors.New("external network too small for a floating-IP pool")

// Host numbers of the floating-IP pool inside the external network. They
// keep clear of the laptop or router at .1 and of VirtualBox's host-only
// DHCP server (.100) and the leases it hands out (.101–.254).
const (
	poolFirst = 20
	poolLast  = 99
	// poolMin is the fewest addresses worth a pool: the router's gateway
	// port takes one, each floating IP another.
	poolMin = 8
)

// ExternalSubnet is ext_net's subnet on the network the external NIC was
// on: its CIDR, its gateway (the one recorded, else Neutron's usual first
// address), and a pool of host numbers 20–99 that skips every address in
// avoid (the NIC's own former address, neighbours seen on the link).
func ExternalSubnet(name, network string, addr netip.Prefix, gateway netip.Addr, avoid []netip.Addr) (Subnet, error) {
	if !addr.Addr().Is4() {
		return Subnet{}, fmt.Errorf("external network %s: only IPv4 is supported for ext_net", addr)
	}
	pfx := addr.Masked()
	size := 1 << (32 - pfx.Bits())
	last := min(poolLast, size-2) // the broadcast address is not a host
	if last-poolFirst+1 < poolMin {
		return Subnet{}, fmt.Errorf("%w: %s has %d addresses, a pool needs host numbers %d–%d (at least %d of them); "+
			"give the external NIC's network a /27 or larger, or set ext_net's subnet yourself: "+
			"stacklab run --show-default > lab.yaml, edit ext_net-subnet, stacklab run lab.yaml",
			ErrExternalTooSmall, pfx, size, poolFirst, poolLast, poolMin)
	}
	gw := gateway
	if !gw.IsValid() || !pfx.Contains(gw) {
		gw = nth(pfx, 1)
	}
	avoid = append(slices.Clone(avoid), gw, addr.Addr())
	var pools []Pool
	count := 0
	for n := poolFirst; n <= last; n++ {
		a := nth(pfx, n)
		if slices.Contains(avoid, a) {
			continue
		}
		count++
		if k := len(pools) - 1; k >= 0 && pools[k].End == nth(pfx, n-1).String() {
			pools[k].End = a.String()
			continue
		}
		pools = append(pools, Pool{Start: a.String(), End: a.String()})
	}
	if count < poolMin {
		return Subnet{}, fmt.Errorf("%w: only %d free addresses in %s host numbers %d–%d", ErrExternalTooSmall, count, pfx, poolFirst, last)
	}
	off := false
	return Subnet{Name: name, Network: network, CIDR: pfx.String(), Gateway: gw.String(), AllocationPools: pools, DHCP: &off}, nil
}

// nth is host number n of pfx.
func nth(pfx netip.Prefix, n int) netip.Addr {
	b := pfx.Addr().As4()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	v += uint32(n)
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// PlaceExternal puts the external network's subnet (the subnet of the
// network routers take their gateway from) where sub says, keeping its
// name, network and DNS. It reports false when the playbook has no such
// subnet.
func (p *Playbook) PlaceExternal(sub func(name, network string) (Subnet, error)) (bool, error) {
	for i, s := range p.Subnets {
		ext := false
		for _, n := range p.Networks {
			if n.Name == s.Network && n.External {
				ext = true
			}
		}
		if cidr, err := netip.ParsePrefix(s.CIDR); !ext || err != nil || !cidr.Addr().Is4() {
			continue
		}
		placed, err := sub(s.Name, s.Network)
		if err != nil {
			return false, err
		}
		placed.DNS, placed.Meta = s.DNS, s.Meta
		p.Subnets[i] = placed
		return true, nil
	}
	return false, nil
}
