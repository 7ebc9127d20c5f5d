package openstack

// Preseed is one debconf answer, as a line of debconf-set-selections:
// "Owner Question Type Value". Owner is the package whose templates
// define the question.
type Preseed struct {
	Owner    string
	Question string
	Type     string
	Value    string
}

// String renders p as a debconf-set-selections line.
func (p Preseed) String() string {
	return p.Owner + " " + p.Question + " " + p.Type + " " + p.Value
}

// Preseeds returns the debconf answers to load before installing.
//
// Every OpenStack package would otherwise configure its own database,
// RabbitMQ user, keystone auth and endpoints ("Packages and debconf" in the
// notes): stacklab does all of that itself, so every such question is
// answered false. Question names and types are checked against the real
// templates in testdata/debconf-templates.txt.
func Preseeds(p Params) []Preseed {
	f := func(owner, q string) Preseed { return Preseed{owner, q, "boolean", "false"} }
	return []Preseed{
		f("keystone", "keystone/configure_db"),
		f("keystone", "keystone/create-admin-tenant"),
		f("keystone", "keystone/register-endpoint"),

		f("glance-common", "glance/configure_db"),
		f("glance-common", "glance/configure_rabbit"),
		f("glance-common", "glance/configure_ksat"),
		f("glance-api", "glance/configure_api-endpoint"),

		f("placement-common", "placement/configure_db"),
		f("placement-common", "placement/configure_ksat"),
		f("placement-api", "placement/configure_api-endpoint"),

		f("nova-common", "nova/configure_db"),
		f("nova-common", "nova/configure_rabbit"),
		f("nova-common", "nova/configure_ksat"),
		f("nova-common", "nova/configure_neutron"),
		f("nova-common", "nova/configure_placement"),
		{"nova-common", "nova/my-ip", "string", p.MgmtIP},
		f("nova-api", "novaapi/configure_db"),
		f("nova-api", "nova/configure_api-endpoint"),
		// The config script derives this from /etc/default/nova-consoleproxy
		// and overrides the preseed; that file is written first (see
		// Files, PreInstall). Answered here too for consistency.
		{"nova-consoleproxy", "nova-consoleproxy/daemon_type", "select", "novnc"},

		f("neutron-common", "neutron/configure_db"),
		f("neutron-common", "neutron/configure_rabbit"),
		f("neutron-common", "neutron/configure_ksat"),
		f("neutron-common", "neutron/configure_nova"),
		f("neutron-api", "neutron/configure_api-endpoint"),
		f("neutron-metadata-agent", "neutron-metadata/configure"),

		// No vhost: Horizon under /horizon on the default site. The
		// postinst then enables default-ssl without mod_ssl; Files
		// disables it again.
		f("openstack-dashboard-apache", "horizon/activate_vhost"),
		f("openstack-dashboard-apache", "horizon/use_ssl"),

		// "Continue with incorrect libvirt-qemu user/group ID(s)?": yes,
		// instead of stopping a non-interactive install on it.
		{"libvirt-daemon-system", "libvirt-daemon-system/id_warning", "boolean", "true"},
	}
}
