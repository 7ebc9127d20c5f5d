package playbooks

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
)

func TestExternalSubnet(t *testing.T) {
	a := netip.MustParseAddr
	tests := []struct {
		name    string
		addr    string
		gw      netip.Addr
		avoid   []netip.Addr
		cidr    string
		gateway string
		pools   []Pool
		err     error
	}{
		{name: "VirtualBox host-only, DHCP server .100, lease .101, no router", addr: "192.168.56.101/24",
			avoid: []netip.Addr{a("192.168.56.100"), a("192.168.56.1")},
			cidr:  "192.168.56.0/24", gateway: "192.168.56.1",
			pools: []Pool{{Start: "192.168.56.20", End: "192.168.56.99"}}},
		{name: "home router's /24, neighbours inside the pool range skipped", addr: "192.168.1.57/24", gw: a("192.168.1.254"),
			avoid: []netip.Addr{a("192.168.1.254"), a("192.168.1.30"), a("192.168.1.31"), a("192.168.1.99")},
			cidr:  "192.168.1.0/24", gateway: "192.168.1.254",
			pools: []Pool{{Start: "192.168.1.20", End: "192.168.1.29"}, {Start: "192.168.1.32", End: "192.168.1.56"}, {Start: "192.168.1.58", End: "192.168.1.98"}}},
		{name: "a /27 fits host numbers 20-30", addr: "10.9.0.2/27", cidr: "10.9.0.0/27", gateway: "10.9.0.1",
			pools: []Pool{{Start: "10.9.0.20", End: "10.9.0.30"}}},
		{name: "a /16: the same host numbers", addr: "172.20.3.4/16", cidr: "172.20.0.0/16", gateway: "172.20.0.1",
			pools: []Pool{{Start: "172.20.0.20", End: "172.20.0.99"}}},
		{name: "a tiny /30 is refused", addr: "192.0.2.1/30", err: ErrExternalTooSmall},
		{name: "a /28 is refused", addr: "192.0.2.1/28", err: ErrExternalTooSmall},
		{name: "a /27 crowded by neighbours is refused", addr: "10.9.0.2/27",
			avoid: []netip.Addr{a("10.9.0.20"), a("10.9.0.21"), a("10.9.0.22"), a("10.9.0.23")}, err: ErrExternalTooSmall},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := ExternalSubnet("ext_net-subnet", "ext_net", netip.MustParsePrefix(tt.addr), tt.gw, tt.avoid)
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("err = %v, want %v", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s.CIDR != tt.cidr || s.Gateway != tt.gateway || s.DHCPEnabled() || s.Name != "ext_net-subnet" || s.Network != "ext_net" {
				t.Errorf("subnet = %+v", s)
			}
			if len(s.AllocationPools) != len(tt.pools) {
				t.Fatalf("pools = %+v, want %+v", s.AllocationPools, tt.pools)
			}
			for i, p := range tt.pools {
				if s.AllocationPools[i].Start != p.Start || s.AllocationPools[i].End != p.End {
					t.Errorf("pool %d = %+v, want %+v", i, s.AllocationPools[i], p)
				}
			}
		})
	}
}

// The refusal names the way out: the user's own subnet in a playbook.
func TestExternalSubnetRefusalSaysTheFix(t *testing.T) {
	_, err := ExternalSubnet("s", "n", netip.MustParsePrefix("192.0.2.1/30"), netip.Addr{}, nil)
	if err == nil || !strings.Contains(err.Error(), "stacklab run --show-default > lab.yaml") {
		t.Errorf("err = %v", err)
	}
}

func TestPlaceExternalOnDefault(t *testing.T) {
	pb, err := LoadDefault(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ok, err := pb.PlaceExternal(func(name, network string) (Subnet, error) {
		return ExternalSubnet(name, network, netip.MustParsePrefix("192.168.56.101/24"), netip.Addr{}, nil)
	})
	if err != nil || !ok {
		t.Fatalf("placed %v, %v", ok, err)
	}
	for _, s := range pb.Subnets {
		if s.Name == "ext_net-subnet" && s.CIDR != "192.168.56.0/24" {
			t.Errorf("ext_net-subnet = %+v", s)
		}
		if s.Name == "selfservice-subnet" && s.CIDR != "172.16.1.0/24" {
			t.Errorf("selfservice touched: %+v", s)
		}
	}
}
