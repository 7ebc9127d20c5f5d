package openstack

import (
	"context"
	"fmt"

	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/flavors"

	"github.com/stacklab/stacklab/playbooks"
)

type flavorDriver struct{ c *Cloud }

func (d *flavorDriver) find(ctx context.Context, name string) (flavors.Flavor, bool, error) {
	all, err := cachedRead(ctx, "flavors", func() ([]flavors.Flavor, error) {
		nova, err := d.c.novaClient()
		if err != nil {
			return nil, err
		}
		// Nova lists flavors without a name filter; private ones only with
		// is_public=None.
		pages, err := flavors.ListDetail(nova, flavors.ListOpts{AccessType: flavors.AllAccess}).AllPages(ctx)
		if err != nil {
			return nil, fmt.Errorf("nova: list flavors: %w", err)
		}
		all, err := flavors.ExtractFlavors(pages)
		if err != nil {
			return nil, fmt.Errorf("nova: list flavors: %w", err)
		}
		return all, nil
	})
	if err != nil {
		return flavors.Flavor{}, false, err
	}
	return pickOne(playbooks.KindFlavor, name, all, func(f flavors.Flavor) string { return f.Name }, func(f flavors.Flavor) string { return f.ID })
}

func (d *flavorDriver) Get(ctx context.Context, name string) (playbooks.Current, bool, error) {
	f, found, err := d.find(ctx, name)
	if err != nil || !found {
		return playbooks.Current{}, found, err
	}
	return playbooks.Current{ID: f.ID, Owner: playbooks.OwnerOf(f.Description),
		Spec: playbooks.Flavor{Name: f.Name, VCPUs: f.VCPUs, RAM: f.RAM, Disk: f.Disk}}, true, nil
}

func (d *flavorDriver) Create(ctx context.Context, r playbooks.Resource, owner string) error {
	f := r.Spec.(playbooks.Flavor)
	nova, err := d.c.novaClient()
	if err != nil {
		return err
	}
	public := true
	_, err = flavors.Create(ctx, nova, flavors.CreateOpts{
		Name: f.Name, VCPUs: f.VCPUs, RAM: f.RAM, Disk: &f.Disk, IsPublic: &public,
		Description: playbooks.Marker(owner),
	}).Extract()
	if err != nil {
		return fmt.Errorf("nova: create flavor %s: %w", f.Name, err)
	}
	return nil
}

// Update recreates the flavor: nova flavors are immutable. Servers booted
// from the old one keep running, as nova embeds a copy of the flavor in
// each server.
func (d *flavorDriver) Update(ctx context.Context, r playbooks.Resource, cur playbooks.Current, _ []playbooks.FieldChange) error {
	d.c.logf("flavor %s: nova flavors cannot change; deleting and recreating it", r.Name)
	if err := d.Delete(ctx, cur); err != nil {
		return err
	}
	return d.Create(ctx, r, cur.Owner)
}

func (d *flavorDriver) Delete(ctx context.Context, cur playbooks.Current) error {
	nova, err := d.c.novaClient()
	if err != nil {
		return err
	}
	if err := ignoreNotFound(flavors.Delete(ctx, nova, cur.ID).ExtractErr()); err != nil {
		return fmt.Errorf("nova: delete flavor %s: %w", cur.ID, err)
	}
	return nil
}

func (d *flavorDriver) Diff(r playbooks.Resource, cur playbooks.Current) []playbooks.FieldChange {
	return playbooks.DiffFields(playbooks.Fields(r.Spec), playbooks.Fields(cur.Spec))
}
