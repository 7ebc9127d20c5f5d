package doctor

import "strings"

// Signature is a known failure recognised by a line in a unit's journal.
type Signature struct {
	Match   string // substring of a journal line
	Meaning string
	Fix     string
}

// Signatures are failures this project has met (see the notes on
// OpenStack on Debian); the first match explains a failed unit.
var Signatures = []Signature{
	{"cannot switch to a different thread", "keystone worker deadlock (greenlet): the worker accepts requests and never answers",
		"systemctl restart keystone"},
	{"EndpointNotFound", "region mismatch: [keystone_authtoken] region_name differs from the catalog's region (case counts: regionOne vs RegionOne)",
		"stacklab install --yes   (sets the region everywhere)"},
	{"Invalid command 'SSLEngine'", "the default-ssl site is enabled without mod_ssl",
		"a2dissite default-ssl && systemctl restart apache2"},
	{"for VNI", "vxlan MTU above what the underlay carries (global_physnet_mtu)",
		"stacklab install --yes   (sets global_physnet_mtu from the NIC's MTU)"},
	{"start operation timed out", "a Type=notify service missed its 90 s start timeout (restart storm on a small host?)",
		"restart in dependency order: stacklab doctor --fix"},
	{"ACCESS_REFUSED", "RabbitMQ refuses the service's credentials",
		"stacklab install --yes   (re-creates the RabbitMQ user)"},
	{"Can't connect to MySQL", "the service cannot reach MariaDB", "systemctl start mariadb"},
	{"Unable to create tap device", "no CAP_NET_ADMIN for libvirt/neutron (a container without it?)", "give the host CAP_NET_ADMIN"},
	{"Address already in use", "another process holds the service's port", "ss -ltnp to find it; stop it, then restart the unit"},
	{"No space left on device", "a file system is full", "free space (see the disk check)"},
}

// MatchSignature returns the first known signature among lines.
func MatchSignature(lines []string) (Signature, bool) {
	for _, s := range Signatures {
		for _, l := range lines {
			if strings.Contains(l, s.Match) {
				return s, true
			}
		}
	}
	return Signature{}, false
}
