package openstack

import (
	"context"
	"fmt"
	"slices"

	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/layer3/routers"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/ports"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/subnets"

	"github.com/stacklab/stacklab/playbooks"
)

type routerDriver struct{ c *Cloud }

func (c *Cloud) listPorts(ctx context.Context, opts ports.ListOpts) ([]ports.Port, error) {
	return cachedRead(ctx, fmt.Sprintf("ports?%+v", opts), func() ([]ports.Port, error) {
		nc, err := c.neutronClient()
		if err != nil {
			return nil, err
		}
		pages, err := ports.List(nc, opts).AllPages(ctx)
		if err != nil {
			return nil, fmt.Errorf("neutron: list ports: %w", err)
		}
		all, err := ports.ExtractPorts(pages)
		if err != nil {
			return nil, fmt.Errorf("neutron: list ports: %w", err)
		}
		return all, nil
	})
}

func (c *Cloud) findRouter(ctx context.Context, name string) (routers.Router, bool, error) {
	all, err := cachedRead(ctx, "routers?name="+name, func() ([]routers.Router, error) {
		nc, err := c.neutronClient()
		if err != nil {
			return nil, err
		}
		pages, err := routers.List(nc, routers.ListOpts{Name: name}).AllPages(ctx)
		if err != nil {
			return nil, fmt.Errorf("neutron: list routers: %w", err)
		}
		all, err := routers.ExtractRouters(pages)
		if err != nil {
			return nil, fmt.Errorf("neutron: list routers: %w", err)
		}
		return all, nil
	})
	if err != nil {
		return routers.Router{}, false, err
	}
	return pickOne(playbooks.KindRouter, name, all, func(r routers.Router) string { return r.Name }, func(r routers.Router) string { return r.ID })
}

// routerInterfaceOwners are the device_owner values of a router's ports on
// its internal subnets (the gateway port is network:router_gateway).
var routerInterfaceOwners = []string{"network:router_interface", "network:router_interface_distributed", "network:ha_router_replicated_interface"}

// interfaceSubnets lists the subnet IDs a router has interfaces on.
func interfaceSubnets(ps []ports.Port) []string {
	var out []string
	for _, p := range ps {
		if !slices.Contains(routerInterfaceOwners, p.DeviceOwner) {
			continue
		}
		for _, ip := range p.FixedIPs {
			if !slices.Contains(out, ip.SubnetID) {
				out = append(out, ip.SubnetID)
			}
		}
	}
	return out
}

func (c *Cloud) subnetNames(ctx context.Context) (map[string]string, error) {
	all, err := c.listSubnets(ctx, subnets.ListOpts{})
	if err != nil {
		return nil, err
	}
	m := make(map[string]string, len(all))
	for _, s := range all {
		m[s.ID] = s.Name
	}
	return m, nil
}

func nameOr(names map[string]string, id string) string {
	if n := names[id]; n != "" {
		return n
	}
	return id
}

func (d *routerDriver) read(ctx context.Context, name string) (routers.Router, playbooks.Router, []string, bool, error) {
	rt, found, err := d.c.findRouter(ctx, name)
	if err != nil || !found {
		return rt, playbooks.Router{}, nil, found, err
	}
	ps, err := d.c.listPorts(ctx, ports.ListOpts{DeviceID: rt.ID})
	if err != nil {
		return rt, playbooks.Router{}, nil, false, err
	}
	subnetIDs := interfaceSubnets(ps)
	spec := playbooks.Router{Name: rt.Name}
	if rt.GatewayInfo.NetworkID != "" {
		nets, err := d.c.networkNames(ctx)
		if err != nil {
			return rt, spec, nil, false, err
		}
		spec.ExternalGateway = nameOr(nets, rt.GatewayInfo.NetworkID)
	}
	if len(subnetIDs) > 0 {
		subs, err := d.c.subnetNames(ctx)
		if err != nil {
			return rt, spec, nil, false, err
		}
		for _, id := range subnetIDs {
			spec.Interfaces = append(spec.Interfaces, nameOr(subs, id))
		}
		slices.Sort(spec.Interfaces)
	}
	return rt, spec, subnetIDs, true, nil
}

func (d *routerDriver) Get(ctx context.Context, name string) (playbooks.Current, bool, error) {
	rt, spec, _, found, err := d.read(ctx, name)
	if err != nil || !found {
		return playbooks.Current{}, found, err
	}
	return playbooks.Current{ID: rt.ID, Owner: playbooks.OwnerOf(rt.Description), Spec: spec}, true, nil
}

func (d *routerDriver) Diff(r playbooks.Resource, cur playbooks.Current) []playbooks.FieldChange {
	return playbooks.DiffFields(playbooks.Fields(r.Spec), playbooks.Fields(cur.Spec))
}

func (d *routerDriver) gateway(ctx context.Context, network string) (*routers.GatewayInfo, error) {
	if network == "" {
		return &routers.GatewayInfo{}, nil
	}
	id, err := d.c.networkID(ctx, network)
	if err != nil {
		return nil, err
	}
	return &routers.GatewayInfo{NetworkID: id}, nil
}

func (d *routerDriver) Create(ctx context.Context, r playbooks.Resource, owner string) error {
	spec := r.Spec.(playbooks.Router)
	nc, err := d.c.neutronClient()
	if err != nil {
		return err
	}
	opts := routers.CreateOpts{Name: spec.Name, Description: playbooks.Marker(owner)}
	if spec.ExternalGateway != "" {
		gw, err := d.gateway(ctx, spec.ExternalGateway)
		if err != nil {
			return fmt.Errorf("neutron: create router %s: %w", spec.Name, err)
		}
		opts.GatewayInfo = gw
	}
	rt, err := routers.Create(ctx, nc, opts).Extract()
	if err != nil {
		return fmt.Errorf("neutron: create router %s: %w", spec.Name, err)
	}
	return d.setInterfaces(ctx, rt.ID, spec, nil)
}

// interfaceChanges says which subnets (by name) to attach and detach.
func interfaceChanges(want, have []string) (add, remove []string) {
	for _, s := range want {
		if !slices.Contains(have, s) && !slices.Contains(add, s) {
			add = append(add, s)
		}
	}
	for _, s := range have {
		if !slices.Contains(want, s) {
			remove = append(remove, s)
		}
	}
	return add, remove
}

// setInterfaces attaches the declared subnets and detaches the others;
// haveIDs are the subnet IDs attached now. Attach comes first so that an
// instance moving between subnets never loses its route.
func (d *routerDriver) setInterfaces(ctx context.Context, routerID string, spec playbooks.Router, haveIDs []string) error {
	nc, err := d.c.neutronClient()
	if err != nil {
		return err
	}
	names, err := d.c.subnetNames(ctx)
	if err != nil {
		return err
	}
	var have []string
	for _, id := range haveIDs {
		have = append(have, nameOr(names, id))
	}
	add, remove := interfaceChanges(spec.Interfaces, have)
	for _, sub := range add {
		s, err := found(d.c.findSubnet(ctx, sub))
		if err != nil {
			return fmt.Errorf("neutron: router %s: interface on %w", spec.Name, refError(playbooks.KindSubnet, sub, err))
		}
		if _, err := routers.AddInterface(ctx, nc, routerID, routers.AddInterfaceOpts{SubnetID: s.ID}).Extract(); err != nil {
			return fmt.Errorf("neutron: router %s: add interface on subnet %s: %w", spec.Name, sub, err)
		}
	}
	for _, sub := range remove {
		id := sub
		for i, h := range have {
			if h == sub {
				id = haveIDs[i]
			}
		}
		if err := d.removeInterface(ctx, routerID, id); err != nil {
			return fmt.Errorf("neutron: router %s: %w", spec.Name, err)
		}
	}
	return nil
}

func (d *routerDriver) removeInterface(ctx context.Context, routerID, subnetID string) error {
	nc, err := d.c.neutronClient()
	if err != nil {
		return err
	}
	_, err = routers.RemoveInterface(ctx, nc, routerID, routers.RemoveInterfaceOpts{SubnetID: subnetID}).Extract()
	if err := ignoreNotFound(err); err != nil {
		return fmt.Errorf("remove interface on subnet %s: %w", subnetID, err)
	}
	return nil
}

func (d *routerDriver) Update(ctx context.Context, r playbooks.Resource, cur playbooks.Current, changes []playbooks.FieldChange) error {
	spec := r.Spec.(playbooks.Router)
	rt, have, haveIDs, found, err := d.read(ctx, r.Name)
	if err != nil {
		return err
	}
	if !found {
		return fmt.Errorf("neutron: router %s vanished", r.Name)
	}
	nc, err := d.c.neutronClient()
	if err != nil {
		return err
	}
	if have.ExternalGateway != spec.ExternalGateway {
		gw, err := d.gateway(ctx, spec.ExternalGateway)
		if err != nil {
			return fmt.Errorf("neutron: router %s: %w", spec.Name, err)
		}
		if _, err := routers.Update(ctx, nc, rt.ID, routers.UpdateOpts{GatewayInfo: gw}).Extract(); err != nil {
			return fmt.Errorf("neutron: router %s: set gateway: %w", spec.Name, err)
		}
	}
	return d.setInterfaces(ctx, cur.ID, spec, haveIDs)
}

// Delete detaches every interface and clears the gateway first: neutron
// refuses to delete a router that still has ports.
func (d *routerDriver) Delete(ctx context.Context, cur playbooks.Current) error {
	nc, err := d.c.neutronClient()
	if err != nil {
		return err
	}
	ps, err := d.c.listPorts(ctx, ports.ListOpts{DeviceID: cur.ID})
	if err != nil {
		return err
	}
	for _, id := range interfaceSubnets(ps) {
		if err := d.removeInterface(ctx, cur.ID, id); err != nil {
			return fmt.Errorf("neutron: delete router %s: %w", cur.ID, err)
		}
	}
	_, err = routers.Update(ctx, nc, cur.ID, routers.UpdateOpts{GatewayInfo: &routers.GatewayInfo{}}).Extract()
	if err := ignoreNotFound(err); err != nil {
		return fmt.Errorf("neutron: delete router %s: clear gateway: %w", cur.ID, err)
	}
	if err := ignoreNotFound(routers.Delete(ctx, nc, cur.ID).ExtractErr()); err != nil {
		return fmt.Errorf("neutron: delete router %s: %w", cur.ID, err)
	}
	return nil
}
