package openstack

import (
	"context"
	"fmt"
	"strings"

	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/networks"

	"github.com/stacklab/stacklab/playbooks"
)

// neutronNetwork is a network with the provider and external extensions'
// attributes, which gophercloud's networks.Network leaves out.
type neutronNetwork struct {
	ID              string `json:"id"`
	Name            string `json:"name"`
	Description     string `json:"description"`
	Shared          bool   `json:"shared"`
	External        bool   `json:"router:external"`
	NetworkType     string `json:"provider:network_type"`
	PhysicalNetwork string `json:"provider:physical_network"`
	SegmentationID  int    `json:"provider:segmentation_id"`
}

func (n neutronNetwork) spec() playbooks.Network {
	return playbooks.Network{Name: n.Name, Type: n.NetworkType, PhysicalNetwork: n.PhysicalNetwork,
		SegmentationID: n.SegmentationID, External: n.External, Shared: n.Shared}
}

// listNetworks lists networks, all of them when opts.Name is "".
func (c *Cloud) listNetworks(ctx context.Context, opts networks.ListOpts) ([]neutronNetwork, error) {
	return cachedRead(ctx, "networks?name="+opts.Name, func() ([]neutronNetwork, error) {
		nc, err := c.neutronClient()
		if err != nil {
			return nil, err
		}
		pages, err := networks.List(nc, opts).AllPages(ctx)
		if err != nil {
			return nil, fmt.Errorf("neutron: list networks: %w", err)
		}
		var out []neutronNetwork
		if err := networks.ExtractNetworksInto(pages, &out); err != nil {
			return nil, fmt.Errorf("neutron: list networks: %w", err)
		}
		return out, nil
	})
}

// byName is the name filter of a finder's list: none while reads are
// shared, so that one listing serves every name (and every reference by
// ID) in the plan.
func byName(ctx context.Context, name string) string {
	if sharingReads(ctx) {
		return ""
	}
	return name
}

func (c *Cloud) findNetwork(ctx context.Context, name string) (neutronNetwork, bool, error) {
	all, err := c.listNetworks(ctx, networks.ListOpts{Name: byName(ctx, name)})
	if err != nil {
		return neutronNetwork{}, false, err
	}
	return pickOne(playbooks.KindNetwork, name, all, func(n neutronNetwork) string { return n.Name }, func(n neutronNetwork) string { return n.ID })
}

// networkID resolves a referenced network.
func (c *Cloud) networkID(ctx context.Context, name string) (string, error) {
	n, found, err := c.findNetwork(ctx, name)
	if err != nil {
		return "", err
	}
	if !found {
		return "", refError(playbooks.KindNetwork, name, errNotFoundRef)
	}
	return n.ID, nil
}

// networkNames maps every visible network's ID to its name, to describe
// references by name.
func (c *Cloud) networkNames(ctx context.Context) (map[string]string, error) {
	all, err := c.listNetworks(ctx, networks.ListOpts{})
	if err != nil {
		return nil, err
	}
	m := make(map[string]string, len(all))
	for _, n := range all {
		m[n.ID] = n.Name
	}
	return m, nil
}

type networkDriver struct{ c *Cloud }

func (d *networkDriver) Get(ctx context.Context, name string) (playbooks.Current, bool, error) {
	n, found, err := d.c.findNetwork(ctx, name)
	if err != nil || !found {
		return playbooks.Current{}, found, err
	}
	return playbooks.Current{ID: n.ID, Owner: playbooks.OwnerOf(n.Description), Spec: n.spec()}, true, nil
}

// extendedOpts adds attributes gophercloud has no field for to a request's
// top-level object (key is "network", "subnet", ...).
type extendedOpts struct {
	key   string
	base  func() (map[string]any, error)
	extra map[string]any
}

func (o extendedOpts) build() (map[string]any, error) {
	m, err := o.base()
	if err != nil {
		return nil, err
	}
	inner, ok := m[o.key].(map[string]any)
	if !ok {
		return nil, fmt.Errorf("request has no %q object", o.key)
	}
	for k, v := range o.extra {
		inner[k] = v
	}
	return m, nil
}

func (o extendedOpts) ToNetworkCreateMap() (map[string]any, error) { return o.build() }
func (o extendedOpts) ToNetworkUpdateMap() (map[string]any, error) { return o.build() }

// networkCreateAttrs are the extension attributes a declared network sets.
// A vxlan network leaves the type to neutron's tenant_network_types, so a
// user without the admin role (who may not set provider attributes) can
// still make one.
func networkCreateAttrs(n playbooks.Network) map[string]any {
	m := map[string]any{"router:external": n.External}
	if n.Type != "" && n.Type != "vxlan" {
		m["provider:network_type"] = n.Type
		m["provider:physical_network"] = n.PhysicalNetwork
		if n.SegmentationID != 0 {
			m["provider:segmentation_id"] = n.SegmentationID
		}
	}
	return m
}

func (d *networkDriver) Create(ctx context.Context, r playbooks.Resource, owner string) error {
	n := r.Spec.(playbooks.Network)
	nc, err := d.c.neutronClient()
	if err != nil {
		return err
	}
	shared := n.Shared
	base := networks.CreateOpts{Name: n.Name, Description: playbooks.Marker(owner), Shared: &shared}
	opts := extendedOpts{key: "network", base: base.ToNetworkCreateMap, extra: networkCreateAttrs(n)}
	if _, err := networks.Create(ctx, nc, opts).Extract(); err != nil {
		return fmt.Errorf("neutron: create network %s: %w", n.Name, err)
	}
	return nil
}

// immutableChanges returns an error naming the changed fields that the
// service cannot change in place, or nil.
func immutableChanges(kind playbooks.Kind, name string, changes []playbooks.FieldChange, immutable ...string) error {
	var bad []string
	for _, c := range changes {
		for _, f := range immutable {
			if c.Field == f {
				bad = append(bad, fmt.Sprintf("%s %q -> %q", c.Field, c.From, c.To))
			}
		}
	}
	if len(bad) == 0 {
		return nil
	}
	return fmt.Errorf("%s %s: %s cannot change in place: destroy it (stacklab playbook destroy, or delete it by hand) and apply again",
		kind, name, strings.Join(bad, ", "))
}

func (d *networkDriver) Update(ctx context.Context, r playbooks.Resource, cur playbooks.Current, changes []playbooks.FieldChange) error {
	if err := immutableChanges(playbooks.KindNetwork, r.Name, changes, "type", "physical_network"); err != nil {
		return err
	}
	n := r.Spec.(playbooks.Network)
	nc, err := d.c.neutronClient()
	if err != nil {
		return err
	}
	shared := n.Shared
	base := networks.UpdateOpts{Shared: &shared}
	opts := extendedOpts{key: "network", base: base.ToNetworkUpdateMap, extra: map[string]any{"router:external": n.External}}
	if _, err := networks.Update(ctx, nc, cur.ID, opts).Extract(); err != nil {
		return fmt.Errorf("neutron: update network %s: %w", n.Name, err)
	}
	return nil
}

func (d *networkDriver) Delete(ctx context.Context, cur playbooks.Current) error {
	nc, err := d.c.neutronClient()
	if err != nil {
		return err
	}
	if err := ignoreNotFound(networks.Delete(ctx, nc, cur.ID).ExtractErr()); err != nil {
		return fmt.Errorf("neutron: delete network %s: %w", cur.ID, err)
	}
	return nil
}

func (d *networkDriver) Diff(r playbooks.Resource, cur playbooks.Current) []playbooks.FieldChange {
	return playbooks.DiffFields(playbooks.Fields(r.Spec), playbooks.Fields(cur.Spec))
}
