package openstack

// Packages returns the Debian packages of the lab, for one
// `apt-get install` (with ExcludedPackages appended with a '-' suffix).
//
// Real package names are used where Debian's list in the notes names a
// virtual one: neutron-plugin-ml2 is provided by neutron-common and
// nova-novncproxy by nova-consoleproxy.
func Packages(p Params) []string {
	pkgs := []string{
		// infra
		"mariadb-server", "rabbitmq-server", "memcached",
		// identity, image, placement
		"keystone", "glance", "placement-api",
		// compute
		"nova-api", "nova-conductor", "nova-scheduler", "nova-consoleproxy",
		"nova-compute", hypervisorPackage(p),
		// qemu-img, for building and converting guest images; with the
		// FAT and boot loader tools, what `stacklab image tiny` needs to
		// build the default lab's guest (tiny.HostPackages; a test in cmd
		// keeps the two lists agreeing).
		"qemu-utils", "syslinux", "syslinux-common", "mtools", "dosfstools",
		// network: the API is neutron-api (uwsgi) + neutron-rpc-server;
		// neutron-server is only a metapackage depending on both.
		"neutron-api", "neutron-rpc-server",
		"neutron-dhcp-agent", "neutron-l3-agent", "neutron-metadata-agent",
	}
	pkgs = append(pkgs, mustBackend(p).Packages(p)...)
	pkgs = append(pkgs,
		"openstack-dashboard-apache",
		// Horizon's CACHES backend is django's PyMemcacheCache, which
		// needs pymemcache; python3-django only Suggests it.
		"python3-pymemcache",
	)
	if p.WithClient {
		pkgs = append(pkgs, "python3-openstackclient")
	}
	return pkgs
}

// hypervisorPackage: nova-compute depends on "nova-compute-kvm |
// nova-compute-hypervisor", so without naming one apt picks kvm. The fake
// driver needs none, but the dependency still has to be met: qemu.
func hypervisorPackage(p Params) string {
	if p.ComputeDriver == ComputeLibvirt && p.VirtType == VirtKVM {
		return "nova-compute-kvm"
	}
	return "nova-compute-qemu"
}

// ExcludedPackages are packages apt must not install although something
// recommends them (neutron-l3-agent recommends openvswitch-switch, useless
// and unloadable without the OVS kernel datapath with linuxbridge).
func ExcludedPackages(p Params) []string {
	return mustBackend(p).ExcludedPackages()
}
