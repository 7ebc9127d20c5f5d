package openstack

import (
	"context"
	"fmt"

	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/layer3/floatingips"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/ports"

	"github.com/stacklab/stacklab/playbooks"
)

type floatingIPDriver struct{ c *Cloud }

// listFloatingIPs lists floating IPs, only those on port when it is set.
func (c *Cloud) listFloatingIPs(ctx context.Context, port string) ([]floatingips.FloatingIP, error) {
	return cachedRead(ctx, "floatingips?port_id="+port, func() ([]floatingips.FloatingIP, error) {
		nc, err := c.neutronClient()
		if err != nil {
			return nil, err
		}
		pages, err := floatingips.List(nc, floatingips.ListOpts{PortID: port}).AllPages(ctx)
		if err != nil {
			return nil, fmt.Errorf("neutron: list floating IPs: %w", err)
		}
		all, err := floatingips.ExtractFloatingIPs(pages)
		if err != nil {
			return nil, fmt.Errorf("neutron: list floating IPs: %w", err)
		}
		return all, nil
	})
}

func (d *floatingIPDriver) find(ctx context.Context, name string) (floatingips.FloatingIP, bool, error) {
	// Listed whole: the name is inside the description, which neutron
	// filters only by equality with the owner unknown here.
	all, err := d.c.listFloatingIPs(ctx, "")
	if err != nil {
		return floatingips.FloatingIP{}, false, err
	}
	return pickOne(playbooks.KindFloatingIP, name, all,
		func(f floatingips.FloatingIP) string { _, n := parseFIPDescription(f.Description); return n },
		func(f floatingips.FloatingIP) string { return f.ID })
}

func (d *floatingIPDriver) Get(ctx context.Context, name string) (playbooks.Current, bool, error) {
	f, found, err := d.find(ctx, name)
	if err != nil || !found {
		return playbooks.Current{}, found, err
	}
	nets, err := d.c.networkNames(ctx)
	if err != nil {
		return playbooks.Current{}, false, err
	}
	spec := playbooks.FloatingIP{Name: name, Network: nameOr(nets, f.FloatingNetworkID)}
	if f.PortID != "" {
		nc, err := d.c.neutronClient()
		if err != nil {
			return playbooks.Current{}, false, err
		}
		p, err := ports.Get(ctx, nc, f.PortID).Extract()
		if err != nil && !isNotFound(err) {
			return playbooks.Current{}, false, fmt.Errorf("neutron: port %s of floating IP %s: %w", f.PortID, name, err)
		}
		if err == nil && p.DeviceID != "" {
			s, err := d.c.getServer(ctx, p.DeviceID)
			switch {
			case isNotFound(err):
			case err != nil:
				return playbooks.Current{}, false, fmt.Errorf("nova: server of floating IP %s: %w", name, err)
			default:
				spec.Server = s.Name
			}
		}
	}
	owner, _ := parseFIPDescription(f.Description)
	// The address is what a user reaches the server on; it is allocated,
	// never declared, so the report is where they find it.
	info := map[string]string{"address": f.FloatingIP}
	if f.FixedIP != "" {
		info["fixed_ip"] = f.FixedIP
	}
	return playbooks.Current{ID: f.ID, Owner: owner, Spec: spec, Info: info}, true, nil
}

func (d *floatingIPDriver) Diff(r playbooks.Resource, cur playbooks.Current) []playbooks.FieldChange {
	return playbooks.DiffFields(playbooks.Fields(r.Spec), playbooks.Fields(cur.Spec))
}

// serverPort is the port a floating IP of server attaches to: its first.
func (d *floatingIPDriver) serverPort(ctx context.Context, server string) (string, error) {
	if server == "" {
		return "", nil
	}
	s, found, err := d.c.findServer(ctx, server)
	if err == nil && !found {
		err = errNotFoundRef
	}
	if err != nil {
		return "", refError(playbooks.KindServer, server, err)
	}
	_, ps, err := d.c.serverNetworks(ctx, s.ID)
	if err != nil {
		return "", err
	}
	if len(ps) == 0 {
		return "", fmt.Errorf("server %s has no port to attach a floating IP to", server)
	}
	return ps[0].ID, nil
}

func (d *floatingIPDriver) Create(ctx context.Context, r playbooks.Resource, owner string) error {
	f := r.Spec.(playbooks.FloatingIP)
	netID, err := d.c.networkID(ctx, f.Network)
	if err != nil {
		return fmt.Errorf("neutron: floating IP %s: %w", f.Name, err)
	}
	port, err := d.serverPort(ctx, f.Server)
	if err != nil {
		return fmt.Errorf("neutron: floating IP %s: %w", f.Name, err)
	}
	nc, err := d.c.neutronClient()
	if err != nil {
		return err
	}
	created, err := floatingips.Create(ctx, nc, floatingips.CreateOpts{
		FloatingNetworkID: netID, PortID: port, Description: fipDescription(owner, f.Name),
	}).Extract()
	if err != nil {
		return fmt.Errorf("neutron: create floating IP %s: %w", f.Name, err)
	}
	return d.c.proveReachable(ctx, f, created.ID)
}

func (d *floatingIPDriver) Update(ctx context.Context, r playbooks.Resource, cur playbooks.Current, changes []playbooks.FieldChange) error {
	f := r.Spec.(playbooks.FloatingIP)
	for _, c := range changes {
		if c.Field == "network" {
			// An address belongs to its network: take one from the other.
			d.c.logf("floating IP %s: moving to network %s; releasing it and allocating a new one", f.Name, f.Network)
			if err := d.Delete(ctx, cur); err != nil {
				return err
			}
			return d.Create(ctx, r, cur.Owner)
		}
	}
	port, err := d.serverPort(ctx, f.Server)
	if err != nil {
		return fmt.Errorf("neutron: floating IP %s: %w", f.Name, err)
	}
	nc, err := d.c.neutronClient()
	if err != nil {
		return err
	}
	// An empty port disassociates (gophercloud sends it as null).
	if _, err := floatingips.Update(ctx, nc, cur.ID, floatingips.UpdateOpts{PortID: &port}).Extract(); err != nil {
		return fmt.Errorf("neutron: associate floating IP %s: %w", f.Name, err)
	}
	return d.c.proveReachable(ctx, f, cur.ID)
}

func (d *floatingIPDriver) Delete(ctx context.Context, cur playbooks.Current) error {
	nc, err := d.c.neutronClient()
	if err != nil {
		return err
	}
	if err := ignoreNotFound(floatingips.Delete(ctx, nc, cur.ID).ExtractErr()); err != nil {
		return fmt.Errorf("neutron: release floating IP %s: %w", cur.ID, err)
	}
	return nil
}
