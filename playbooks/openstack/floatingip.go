package openstack

import (
	"context"
	"fmt"

	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/layer3/floatingips"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/ports"

	"github.com/stacklab/stacklab/playbooks"
)

type floatingIPDriver struct{ c *Cloud }

// neutronFIP is a floating IP and, from neutron's fip-port-details
// extension (since Rocky), the device behind its port: who it points at
// without a read of the port. DeviceID is nil when neutron does not say.
type neutronFIP struct {
	floatingips.FloatingIP
	DeviceID *string
}

// address is the floating address (the embedded struct hides its field).
func (f neutronFIP) address() string { return f.FloatingIP.FloatingIP }

// listFloatingIPs lists floating IPs, only those on port when it is set.
func (c *Cloud) listFloatingIPs(ctx context.Context, port string) ([]neutronFIP, error) {
	return cachedRead(ctx, "floatingips?port_id="+port, func() ([]neutronFIP, error) {
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
		// Decoded apart: FloatingIP's own UnmarshalJSON would swallow the
		// field if it were embedded next to it.
		var details []struct {
			PortDetails *struct {
				DeviceID string `json:"device_id"`
			} `json:"port_details"`
		}
		if err := floatingips.ExtractFloatingIPsInto(pages, &details); err != nil || len(details) != len(all) {
			details = nil
		}
		out := make([]neutronFIP, len(all))
		for i, f := range all {
			out[i].FloatingIP = f
			if details != nil && details[i].PortDetails != nil {
				out[i].DeviceID = &details[i].PortDetails.DeviceID
			}
		}
		return out, nil
	})
}

func (d *floatingIPDriver) find(ctx context.Context, name string) (neutronFIP, bool, error) {
	// Listed whole: the name is inside the description, which neutron
	// filters only by equality with the owner unknown here.
	all, err := d.c.listFloatingIPs(ctx, "")
	if err != nil {
		return neutronFIP{}, false, err
	}
	return pickOne(playbooks.KindFloatingIP, name, all,
		func(f neutronFIP) string { _, n := parseFIPDescription(f.Description); return n },
		func(f neutronFIP) string { return f.ID })
}

// deviceOf is the ID of the device behind the floating IP's port ("" for
// none, or a port gone since): from the listing when neutron gives it,
// else read from the port.
func (d *floatingIPDriver) deviceOf(ctx context.Context, f neutronFIP) (string, error) {
	if f.PortID == "" {
		return "", nil
	}
	if f.DeviceID != nil {
		return *f.DeviceID, nil
	}
	nc, err := d.c.neutronClient()
	if err != nil {
		return "", err
	}
	p, err := ports.Get(ctx, nc, f.PortID).Extract()
	switch {
	case isNotFound(err):
		return "", nil
	case err != nil:
		return "", fmt.Errorf("neutron: port %s: %w", f.PortID, err)
	}
	return p.DeviceID, nil
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
	device, err := d.deviceOf(ctx, f)
	if err != nil {
		return playbooks.Current{}, false, fmt.Errorf("floating IP %s: %w", name, err)
	}
	if device != "" {
		s, err := d.c.getServer(ctx, device)
		switch {
		case isNotFound(err):
		case err != nil:
			return playbooks.Current{}, false, fmt.Errorf("nova: server of floating IP %s: %w", name, err)
		default:
			spec.Server = s.Name
		}
	}
	owner, _ := parseFIPDescription(f.Description)
	// The address is what a user reaches the server on; it is allocated,
	// never declared, so the report is where they find it.
	info := map[string]string{"address": f.address()}
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
	s, err := found(d.c.findServer(ctx, server))
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
