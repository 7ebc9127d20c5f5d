package openstack

import (
	"net/netip"
	"slices"
	"strings"

	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/security/rules"

	"github.com/stacklab/stacklab/playbooks"
)

// isDefaultEgress tells the two rules neutron adds to every new group
// (egress, any protocol, anywhere, IPv4 and IPv6). A playbook cannot
// declare them, so reading them back as state would make every group
// differ from its declaration forever.
func isDefaultEgress(r rules.SecGroupRule) bool {
	return r.Direction == "egress" && r.Protocol == "" && r.PortRangeMin == 0 && r.PortRangeMax == 0 &&
		r.RemoteIPPrefix == "" && r.RemoteGroupID == "" && r.RemoteAddressGroupID == ""
}

// ruleFromNeutron describes a neutron rule as a playbook Rule. A rule no
// playbook can write (remote group, any protocol) still gets a distinct
// form, so that it shows as extra and is removed from a managed group.
func ruleFromNeutron(r rules.SecGroupRule) playbooks.Rule {
	out := playbooks.Rule{Direction: r.Direction, Protocol: r.Protocol, Port: r.PortRangeMin, PortMax: r.PortRangeMax, RemoteIP: r.RemoteIPPrefix}
	if out.PortMax == out.Port {
		out.PortMax = 0
	}
	switch {
	case r.RemoteGroupID != "":
		out.RemoteIP = "group:" + r.RemoteGroupID
	case r.RemoteAddressGroupID != "":
		out.RemoteIP = "address-group:" + r.RemoteAddressGroupID
	case out.RemoteIP == "" && r.EtherType == "IPv6":
		out.RemoteIP = "::/0"
	case out.RemoteIP == "":
		out.RemoteIP = "0.0.0.0/0"
	}
	if out.Protocol == "" {
		out.Protocol = "any"
	}
	return out
}

// currentRules is the group's rules as a playbook would declare them,
// neutron's default egress rules left out, with each rule's neutron ID.
func currentRules(rs []rules.SecGroupRule) (declared []playbooks.Rule, ids []string) {
	for _, r := range rs {
		if isDefaultEgress(r) {
			continue
		}
		declared = append(declared, ruleFromNeutron(r))
		ids = append(ids, r.ID)
	}
	return declared, ids
}

// ruleChanges says which declared rules to add and which current rules
// (by neutron ID) to delete; rules compare by their canonical String.
func ruleChanges(want []playbooks.Rule, rs []rules.SecGroupRule) (add []playbooks.Rule, del []string) {
	have, ids := currentRules(rs)
	haveKeys := make([]string, len(have))
	for i, r := range have {
		haveKeys[i] = r.String()
	}
	var wantKeys []string
	for _, r := range want {
		k := r.String()
		if !slices.Contains(haveKeys, k) && !slices.Contains(wantKeys, k) {
			add = append(add, r)
		}
		wantKeys = append(wantKeys, k)
	}
	for i, k := range haveKeys {
		if !slices.Contains(wantKeys, k) {
			del = append(del, ids[i])
		}
	}
	return add, del
}

// ruleCreateOpts is the neutron request for a declared rule; the ethertype
// follows the remote prefix's family.
func ruleCreateOpts(group string, r playbooks.Rule) rules.CreateOpts {
	dir := r.Direction
	if dir == "" {
		dir = "ingress"
	}
	remote := r.RemoteIP
	if remote == "" {
		remote = "0.0.0.0/0"
	}
	ether := rules.EtherType4
	if p, err := netip.ParsePrefix(remote); err == nil && p.Addr().Is6() && !p.Addr().Is4In6() {
		ether = rules.EtherType6
	}
	o := rules.CreateOpts{
		Direction:      rules.RuleDirection(dir),
		EtherType:      ether,
		SecGroupID:     group,
		Protocol:       rules.RuleProtocol(strings.ToLower(r.Protocol)),
		RemoteIPPrefix: remote,
	}
	if r.Port != 0 {
		o.PortRangeMin = r.Port
		o.PortRangeMax = r.Port
		if r.PortMax != 0 {
			o.PortRangeMax = r.PortMax
		}
	}
	return o
}
