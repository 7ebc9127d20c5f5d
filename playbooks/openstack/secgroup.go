package openstack

import (
	"context"
	"fmt"

	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/security/groups"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/security/rules"

	"github.com/stacklab/stacklab/playbooks"
)

type secGroupDriver struct{ c *Cloud }

// findSecGroup lists by name even while reads are shared: an admin sees
// every project's groups, each with its rules.
func (c *Cloud) findSecGroup(ctx context.Context, name string) (groups.SecGroup, bool, error) {
	all, err := cachedRead(ctx, "security-groups?name="+name, func() ([]groups.SecGroup, error) {
		nc, err := c.neutronClient()
		if err != nil {
			return nil, err
		}
		pages, err := groups.List(nc, groups.ListOpts{Name: name}).AllPages(ctx)
		if err != nil {
			return nil, fmt.Errorf("neutron: list security groups: %w", err)
		}
		all, err := groups.ExtractGroups(pages)
		if err != nil {
			return nil, fmt.Errorf("neutron: list security groups: %w", err)
		}
		return all, nil
	})
	if err != nil {
		return groups.SecGroup{}, false, err
	}
	return pickOne(playbooks.KindSecurityGroup, name, all, func(g groups.SecGroup) string { return g.Name }, func(g groups.SecGroup) string { return g.ID })
}

func (d *secGroupDriver) rules(ctx context.Context, groupID string) ([]rules.SecGroupRule, error) {
	nc, err := d.c.neutronClient()
	if err != nil {
		return nil, err
	}
	pages, err := rules.List(nc, rules.ListOpts{SecGroupID: groupID}).AllPages(ctx)
	if err != nil {
		return nil, fmt.Errorf("neutron: list rules of security group %s: %w", groupID, err)
	}
	all, err := rules.ExtractRules(pages)
	if err != nil {
		return nil, fmt.Errorf("neutron: list rules of security group %s: %w", groupID, err)
	}
	return all, nil
}

func (d *secGroupDriver) Get(ctx context.Context, name string) (playbooks.Current, bool, error) {
	g, found, err := d.c.findSecGroup(ctx, name)
	if err != nil || !found {
		return playbooks.Current{}, found, err
	}
	// Neutron embeds a group's rules in the listing: no second request.
	declared, _ := currentRules(g.Rules)
	return playbooks.Current{ID: g.ID, Owner: playbooks.OwnerOf(g.Description),
		Spec: playbooks.SecurityGroup{Name: g.Name, Rules: declared}}, true, nil
}

func (d *secGroupDriver) Diff(r playbooks.Resource, cur playbooks.Current) []playbooks.FieldChange {
	return playbooks.DiffFields(playbooks.Fields(r.Spec), playbooks.Fields(cur.Spec))
}

func (d *secGroupDriver) Create(ctx context.Context, r playbooks.Resource, owner string) error {
	sg := r.Spec.(playbooks.SecurityGroup)
	nc, err := d.c.neutronClient()
	if err != nil {
		return err
	}
	g, err := groups.Create(ctx, nc, groups.CreateOpts{Name: sg.Name, Description: playbooks.Marker(owner)}).Extract()
	if err != nil {
		return fmt.Errorf("neutron: create security group %s: %w", sg.Name, err)
	}
	return d.converge(ctx, g.ID, sg)
}

func (d *secGroupDriver) converge(ctx context.Context, groupID string, sg playbooks.SecurityGroup) error {
	nc, err := d.c.neutronClient()
	if err != nil {
		return err
	}
	rs, err := d.rules(ctx, groupID)
	if err != nil {
		return err
	}
	add, del := ruleChanges(sg.Rules, rs)
	// Add before delete: a rule being replaced by a wider one never leaves
	// a gap.
	for _, rule := range add {
		if _, err := rules.Create(ctx, nc, ruleCreateOpts(groupID, rule)).Extract(); err != nil {
			return fmt.Errorf("neutron: security group %s: add rule %s: %w", sg.Name, rule, err)
		}
	}
	for _, id := range del {
		if err := ignoreNotFound(rules.Delete(ctx, nc, id).ExtractErr()); err != nil {
			return fmt.Errorf("neutron: security group %s: delete rule %s: %w", sg.Name, id, err)
		}
	}
	return nil
}

func (d *secGroupDriver) Update(ctx context.Context, r playbooks.Resource, cur playbooks.Current, _ []playbooks.FieldChange) error {
	return d.converge(ctx, cur.ID, r.Spec.(playbooks.SecurityGroup))
}

func (d *secGroupDriver) Delete(ctx context.Context, cur playbooks.Current) error {
	nc, err := d.c.neutronClient()
	if err != nil {
		return err
	}
	if err := ignoreNotFound(groups.Delete(ctx, nc, cur.ID).ExtractErr()); err != nil {
		return fmt.Errorf("neutron: delete security group %s: %w", cur.ID, err)
	}
	return nil
}
