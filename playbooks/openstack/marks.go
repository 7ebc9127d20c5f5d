package openstack

import (
	"net/netip"

	"strings"

	"github.com/gophercloud/gophercloud/v2"

	"github.com/stacklab/stacklab/playbooks"
)

// fipNameSep joins the marker and the playbook's name for a floating IP in
// its description, since a floating IP has no name of its own:
//
//	managed-by: stacklab playbook lab; name: lab-vm-fip
//
// A playbook name containing "; name: " would be ambiguous; the last
// occurrence wins so that at least the resource name is exact.
const fipNameSep = "; name: "

// fipDescription is the description of the floating IP name made by owner.
func fipDescription(owner, name string) string {
	return playbooks.Marker(owner) + fipNameSep + name
}

// parseFIPDescription returns the owner and name a floating IP's
// description carries; both "" for one made by hand.
func parseFIPDescription(desc string) (owner, name string) {
	i := strings.LastIndex(desc, fipNameSep)
	if i < 0 {
		return "", ""
	}
	owner = playbooks.OwnerOf(desc[:i])
	if owner == "" {
		return "", ""
	}
	return owner, strings.TrimSpace(desc[i+len(fipNameSep):])
}

// splitPublicKey splits an OpenSSH public key line into "type material"
// and the comment (everything after, which may hold spaces).
func splitPublicKey(line string) (key, comment string) {
	f := strings.Fields(line)
	switch len(f) {
	case 0:
		return "", ""
	case 1:
		return f[0], ""
	}
	return f[0] + " " + f[1], strings.Join(f[2:], " ")
}

// markedPublicKey is the key as imported into nova: nova keypairs have no
// description, so the comment carries the owner's marker instead.
func markedPublicKey(line, owner string) string {
	key, _ := splitPublicKey(line)
	return key + " " + playbooks.Marker(owner)
}

// keyOwner is the playbook named by a stored public key's comment.
func keyOwner(line string) string {
	_, comment := splitPublicKey(line)
	return playbooks.OwnerOf(comment)
}

// ipVersion is 6 for an IPv6 prefix, else 4 (Load validated it).
func ipVersion(cidr string) gophercloud.IPVersion {
	if p, err := netip.ParsePrefix(cidr); err == nil && p.Addr().Is6() {
		return gophercloud.IPv6
	}
	return gophercloud.IPv4
}
