package openstack

import (
	"context"
	"fmt"

	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/subnets"

	"github.com/stacklab/stacklab/playbooks"
)

type subnetDriver struct{ c *Cloud }

func (c *Cloud) listSubnets(ctx context.Context, opts subnets.ListOpts) ([]subnets.Subnet, error) {
	return cachedRead(ctx, "subnets?name="+opts.Name, func() ([]subnets.Subnet, error) {
		nc, err := c.neutronClient()
		if err != nil {
			return nil, err
		}
		pages, err := subnets.List(nc, opts).AllPages(ctx)
		if err != nil {
			return nil, fmt.Errorf("neutron: list subnets: %w", err)
		}
		all, err := subnets.ExtractSubnets(pages)
		if err != nil {
			return nil, fmt.Errorf("neutron: list subnets: %w", err)
		}
		return all, nil
	})
}

func (c *Cloud) findSubnet(ctx context.Context, name string) (subnets.Subnet, bool, error) {
	all, err := c.listSubnets(ctx, subnets.ListOpts{Name: byName(ctx, name)})
	if err != nil {
		return subnets.Subnet{}, false, err
	}
	return pickOne(playbooks.KindSubnet, name, all, func(s subnets.Subnet) string { return s.Name }, func(s subnets.Subnet) string { return s.ID })
}

func (d *subnetDriver) Get(ctx context.Context, name string) (playbooks.Current, bool, error) {
	s, found, err := d.c.findSubnet(ctx, name)
	if err != nil || !found {
		return playbooks.Current{}, found, err
	}
	names, err := d.c.networkNames(ctx)
	if err != nil {
		return playbooks.Current{}, false, err
	}
	return playbooks.Current{ID: s.ID, Owner: playbooks.OwnerOf(s.Description), Spec: subnetSpec(s, names)}, true, nil
}

// subnetSpec describes a neutron subnet as a declaration; a network not
// visible by name is shown by its ID.
func subnetSpec(s subnets.Subnet, networkNames map[string]string) playbooks.Subnet {
	net := networkNames[s.NetworkID]
	if net == "" {
		net = s.NetworkID
	}
	dhcp := s.EnableDHCP
	out := playbooks.Subnet{Name: s.Name, Network: net, CIDR: s.CIDR, Gateway: s.GatewayIP, DHCP: &dhcp, DNS: s.DNSNameservers}
	for _, p := range s.AllocationPools {
		out.AllocationPools = append(out.AllocationPools, playbooks.Pool{Start: p.Start, End: p.End})
	}
	return out
}

// subnetComparable is cur with what want leaves to neutron's defaults
// (gateway, allocation pools) taken from want, so that a default neutron
// chose is not a difference.
func subnetComparable(want, cur playbooks.Subnet) playbooks.Subnet {
	if want.Gateway == "" {
		cur.Gateway = ""
	}
	if len(want.AllocationPools) == 0 {
		cur.AllocationPools = nil
	}
	return cur
}

func (d *subnetDriver) Diff(r playbooks.Resource, cur playbooks.Current) []playbooks.FieldChange {
	want := r.Spec.(playbooks.Subnet)
	have := subnetComparable(want, cur.Spec.(playbooks.Subnet))
	return playbooks.DiffFields(playbooks.Fields(want), playbooks.Fields(have))
}

func pools(s playbooks.Subnet) []subnets.AllocationPool {
	var out []subnets.AllocationPool
	for _, p := range s.AllocationPools {
		out = append(out, subnets.AllocationPool{Start: p.Start, End: p.End})
	}
	return out
}

func (d *subnetDriver) Create(ctx context.Context, r playbooks.Resource, owner string) error {
	s := r.Spec.(playbooks.Subnet)
	netID, err := d.c.networkID(ctx, s.Network)
	if err != nil {
		return fmt.Errorf("neutron: create subnet %s: %w", s.Name, err)
	}
	nc, err := d.c.neutronClient()
	if err != nil {
		return err
	}
	dhcp := s.DHCPEnabled()
	opts := subnets.CreateOpts{
		NetworkID: netID, Name: s.Name, Description: playbooks.Marker(owner), CIDR: s.CIDR,
		IPVersion: ipVersion(s.CIDR), AllocationPools: pools(s), EnableDHCP: &dhcp, DNSNameservers: s.DNS,
	}
	if s.Gateway != "" {
		opts.GatewayIP = &s.Gateway
	}
	if _, err := subnets.Create(ctx, nc, opts).Extract(); err != nil {
		return fmt.Errorf("neutron: create subnet %s: %w", s.Name, err)
	}
	return nil
}

func (d *subnetDriver) Update(ctx context.Context, r playbooks.Resource, cur playbooks.Current, changes []playbooks.FieldChange) error {
	if err := immutableChanges(playbooks.KindSubnet, r.Name, changes, "network", "cidr"); err != nil {
		return err
	}
	s := r.Spec.(playbooks.Subnet)
	nc, err := d.c.neutronClient()
	if err != nil {
		return err
	}
	dhcp := s.DHCPEnabled()
	dns := s.DNS
	if dns == nil {
		dns = []string{}
	}
	opts := subnets.UpdateOpts{EnableDHCP: &dhcp, DNSNameservers: &dns}
	if s.Gateway != "" {
		opts.GatewayIP = &s.Gateway
	}
	if len(s.AllocationPools) > 0 {
		opts.AllocationPools = pools(s)
	}
	if _, err := subnets.Update(ctx, nc, cur.ID, opts).Extract(); err != nil {
		return fmt.Errorf("neutron: update subnet %s: %w", s.Name, err)
	}
	return nil
}

func (d *subnetDriver) Delete(ctx context.Context, cur playbooks.Current) error {
	nc, err := d.c.neutronClient()
	if err != nil {
		return err
	}
	if err := ignoreNotFound(subnets.Delete(ctx, nc, cur.ID).ExtractErr()); err != nil {
		return fmt.Errorf("neutron: delete subnet %s: %w", cur.ID, err)
	}
	return nil
}
