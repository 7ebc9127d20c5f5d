package openstack

import (
	"strconv"
	"strings"

	"github.com/stacklab/stacklab/installer/inifile"
)

// Well-known paths.
const (
	KeystoneConf      = "/etc/keystone/keystone.conf"
	GlanceAPIConf     = "/etc/glance/glance-api.conf"
	PlacementConf     = "/etc/placement/placement.conf"
	NovaConf          = "/etc/nova/nova.conf"
	NovaComputeConf   = "/etc/nova/nova-compute.conf"
	NeutronConf       = "/etc/neutron/neutron.conf"
	ML2Conf           = "/etc/neutron/plugins/ml2/ml2_conf.ini"
	L3AgentConf       = "/etc/neutron/l3_agent.ini"
	DHCPAgentConf     = "/etc/neutron/dhcp_agent.ini"
	MetadataAgentConf = "/etc/neutron/metadata_agent.ini"
	HorizonSettings   = "/etc/openstack-dashboard/local_settings.py"
	// Debian's local_settings.d snippets run AFTER local_settings.py
	// (openstack_dashboard/settings.py exec()s them) and would override
	// what we set there: _0005 sets WEBROOT, _0006 sets CACHES to
	// LocMemCache, a per-process cache, so with Horizon embedded in
	// several Apache workers a session stored by one is unknown to the
	// next ("Horizon under Apache loses sessions").
	HorizonWebRootSnippet = "/etc/openstack-dashboard/local_settings.d/_0005_debian_webroot.py"
	HorizonCacheSnippet   = "/etc/openstack-dashboard/local_settings.d/_0006_debian_cache.py"
	HorizonApacheSite     = "/etc/apache2/sites-available/openstack-dashboard-alias-only.conf"
)

// Files returns every file the lab manages, in the order to apply them.
func Files(p Params) []File {
	b := mustBackend(p)
	files := []File{
		{
			// nova-consoleproxy's config script derives its debconf answer
			// from this file and overrides any preseed, so it must exist
			// before the package is installed.
			Path:       "/etc/default/nova-consoleproxy",
			Kind:       Text,
			Content:    "# Managed by stacklab: nova-consoleproxy's config script reads this\n# before debconf, so it is written before the package is installed.\nNOVA_CONSOLE_PROXY_TYPE=novnc\n",
			Mode:       0o644,
			Owner:      "root",
			Group:      "root",
			Units:      []string{"nova-novncproxy"},
			PreInstall: true,
		},
		mariadbConf(),
		rabbitmqEnv(),
		memcachedConf(p),
		keystoneConf(p),
		uwsgi("/etc/keystone/keystone-uwsgi.ini", "keystone", p.Workers, p.KeystoneThreads),
		glanceAPIConf(p),
		placementConf(p),
		uwsgi("/etc/placement/placement-api-uwsgi.ini", "placement-api", p.Workers, 0),
		novaConf(p),
		novaComputeConf(p),
		// Debian runs nova-api and nova-api-metadata under uwsgi: these
		// `processes`, not osapi_compute_workers, set their worker count
		// (Debian: 16 and 8). Debian's nova-api-metadata-uwsgi.ini sets
		// processes twice (4, then 8); the INI editor rewrites the first
		// and drops the others.
		uwsgi("/etc/nova/nova-api-uwsgi.ini", "nova-api", p.Workers, 0),
		uwsgi("/etc/nova/nova-api-metadata-uwsgi.ini", "nova-api-metadata", p.Workers, 0),
	}
	if p.CgroupControllersReadOnly && p.ComputeDriver == ComputeLibvirt {
		files = append(files, File{
			// "Failed to create v1 controller cpu for group: Read-only
			// file system": libvirt must use no cgroup controller where
			// they are mounted read-only. Written before libvirtd first
			// starts (a restart right after the first start orphaned
			// libvirt's capability probe).
			Path:  "/etc/libvirt/qemu.conf",
			Kind:  Flat,
			Sets:  []inifile.Set{set(sectionDefault, "cgroup_controllers", "[ ]")},
			Units: []string{"libvirtd"},
		})
	}
	files = append(files,
		neutronConf(p, b),
		ml2Conf(p, b),
	)
	files = append(files, b.Files(p)...)
	files = append(files,
		File{
			Path: L3AgentConf,
			Kind: INI,
			// Debian ships interface_driver = openvswitch.
			Sets:  []inifile.Set{set(sectionDefault, "interface_driver", b.InterfaceDriver())},
			Units: []string{"neutron-l3-agent"},
		},
		File{
			Path: DHCPAgentConf,
			Kind: INI,
			Sets: []inifile.Set{
				// Debian ships interface_driver = openvswitch.
				set(sectionDefault, "interface_driver", b.InterfaceDriver()),
				set(sectionDefault, "dhcp_driver", "neutron.agent.linux.dhcp.Dnsmasq"),
				// Metadata through the DHCP namespace too, so instances
				// on networks without a router get it.
				set(sectionDefault, "enable_isolated_metadata", "true"),
			},
			Units: []string{"neutron-dhcp-agent"},
		},
		File{
			Path: MetadataAgentConf,
			Kind: INI,
			Sets: []inifile.Set{
				set(sectionDefault, "nova_metadata_host", p.MgmtIP),
				set(sectionDefault, "metadata_proxy_shared_secret", p.MetadataSecret),
				set(sectionDefault, "metadata_workers", itoa(p.Workers)),
			},
			Units:  []string{"neutron-metadata-agent"},
			Secret: true,
		},
		// One thread per process: neutron monkey-patches eventlet, and
		// under Debian's 32 uwsgi threads a worker thread dies with
		// "greenlet.error: cannot switch to a different thread" and every
		// request routed to it then hangs (measured on the lab: list
		// networks unanswered for 2 min after a playbook benchmark). Twice
		// the processes keep the concurrency the playbooks use.
		uwsgi("/etc/neutron/neutron-api-uwsgi.ini", "neutron-api", 2*p.Workers, 1),
	)
	files = append(files, horizonFiles(p)...)
	return append(files, bootOrderFiles(Tiers(p))...)
}

func keystoneConf(p Params) File {
	return File{
		Path: KeystoneConf,
		Kind: INI,
		Sets: []inifile.Set{
			set("database", "connection", dbURL("keystone", p.KeystoneDB, "keystone")),
			set("token", "provider", "fernet"),
			// Recommended for eventlet servers by the option's own help.
			set("cache", "enabled", "true"),
			set("cache", "backend", "oslo_cache.memcache_pool"),
			set("cache", "memcache_servers", memcacheServer(p)),
		},
		Units:  []string{"keystone"},
		Secret: true,
	}
}

func glanceAPIConf(p Params) File {
	sets := []inifile.Set{
		set(sectionDefault, "workers", itoa(p.Workers)),
		set("database", "connection", dbURL("glance", p.GlanceDB, "glance")),
	}
	sets = append(sets, authtoken(p, "glance", p.GlanceUser)...)
	sets = append(sets,
		set("paste_deploy", "flavor", "keystone"),
		set("glance_store", "stores", "file,http"),
		set("glance_store", "default_store", "file"),
		set("glance_store", "filesystem_store_datadir", "/var/lib/glance/images/"),
	)
	return File{Path: GlanceAPIConf, Kind: INI, Sets: sets, Units: []string{"glance-api"}, Secret: true}
}

func placementConf(p Params) File {
	sets := []inifile.Set{
		set("placement_database", "connection", dbURL("placement", p.PlacementDB, "placement")),
		set("api", "auth_strategy", "keystone"),
	}
	sets = append(sets, authtoken(p, "placement", p.PlacementUser)...)
	return File{Path: PlacementConf, Kind: INI, Sets: sets, Units: []string{"placement-api"}, Secret: true}
}

// novaUnits are the units that read nova.conf.
func novaUnits() []string {
	return []string{"nova-api", "nova-api-metadata", "nova-scheduler", "nova-conductor", "nova-novncproxy", "nova-compute"}
}

func novaConf(p Params) File {
	w := itoa(p.Workers)
	sets := []inifile.Set{
		set(sectionDefault, "my_ip", p.MgmtIP),
		set(sectionDefault, "transport_url", transportURL(p)),
		// Only used when nova-api runs as its own eventlet server; under
		// Debian's uwsgi the *-uwsgi.ini processes count. Set anyway so
		// neither way of running it falls back to one worker per CPU.
		set(sectionDefault, "osapi_compute_workers", w),
		set(sectionDefault, "metadata_workers", w),
		set(sectionDefault, "compute_driver", computeDriver(p)),
		// A student's VM reboots: nova-compute then starts the instances
		// that were running before (by default it leaves them shut off,
		// and their floating IPs answer nothing).
		set(sectionDefault, "resume_guests_state_on_host_boot", "true"),
		set("api", "auth_strategy", "keystone"),
		set("api_database", "connection", dbURL("nova", p.NovaDB, "nova_api")),
		set("database", "connection", dbURL("nova", p.NovaDB, "nova")),
	}
	sets = append(sets, authtoken(p, "nova", p.NovaUser)...)
	sets = append(sets, set("service_user", "send_service_user_token", "true"))
	sets = append(sets, serviceAuth(p, "service_user", "nova", p.NovaUser, false)...)
	sets = append(sets,
		set("vnc", "enabled", "true"),
		// Debian listens on 0.0.0.0; services stay on the management
		// address.
		set("vnc", "server_listen", p.MgmtIP),
		set("vnc", "server_proxyclient_address", p.MgmtIP),
		set("vnc", "novncproxy_host", p.MgmtIP),
		set("vnc", "novncproxy_base_url", "http://"+p.MgmtIP+":6080/vnc_auto.html"),
		set("glance", "api_servers", "http://"+p.MgmtIP+":9292"),
		set("glance", "region_name", p.Region),
		// Debian's value, under the unit's RuntimeDirectory.
		set("oslo_concurrency", "lock_path", "/var/lock/nova"),
		// Debian ships region regionOne here too; no cinder in the lab,
		// but a wrong region would fail any volume call confusingly.
		set("cinder", "os_region_name", p.Region),
	)
	// Debian ships [placement] username = "=" (sic).
	sets = append(sets, serviceAuth(p, "placement", "placement", p.PlacementUser, true)...)
	// Debian ships [neutron] project_name = admin, username = admin.
	sets = append(sets, serviceAuth(p, "neutron", "neutron", p.NeutronUser, true)...)
	sets = append(sets,
		set("neutron", "service_metadata_proxy", "true"),
		set("neutron", "metadata_proxy_shared_secret", p.MetadataSecret),
		// Debian's default is the CPU count ("Worker counts").
		set("conductor", "workers", w),
		set("scheduler", "workers", w),
		set("libvirt", "virt_type", p.VirtType),
	)
	return File{Path: NovaConf, Kind: INI, Sets: sets, Units: novaUnits(), Secret: true}
}

func computeDriver(p Params) string {
	if p.ComputeDriver == ComputeFake {
		return "fake.FakeDriver"
	}
	return "libvirt.LibvirtDriver"
}

// novaComputeConf: nova-compute is started with nova.conf AND
// nova-compute.conf, which Debian ships with its own compute_driver and
// virt_type (kvm from nova-compute-kvm); the later file wins, so both are
// set here too ("nova-compute" in the notes).
func novaComputeConf(p Params) File {
	return File{
		Path: NovaComputeConf,
		Kind: INI,
		Sets: []inifile.Set{
			set(sectionDefault, "compute_driver", computeDriver(p)),
			set("libvirt", "virt_type", p.VirtType),
		},
		Units: []string{"nova-compute"},
	}
}

func neutronConf(p Params, b NeutronBackend) File {
	w := itoa(p.Workers)
	sets := []inifile.Set{
		set(sectionDefault, "core_plugin", "ml2"),
		// Debian ships router,metering,qos.
		set(sectionDefault, "service_plugins", "router"),
		set(sectionDefault, "transport_url", transportURL(p)),
		set(sectionDefault, "auth_strategy", "keystone"),
		set(sectionDefault, "notify_nova_on_port_status_changes", "true"),
		set(sectionDefault, "notify_nova_on_port_data_changes", "true"),
		// The underlay MTU: with the default 1500 on a 1400 underlay,
		// vxlan networks get 1450 and the agent fails ("MTU").
		set(sectionDefault, "global_physnet_mtu", itoa(p.MTU)),
		set(sectionDefault, "api_workers", w),
		set(sectionDefault, "rpc_workers", w),
		set(sectionDefault, "rpc_state_report_workers", w),
		set("database", "connection", dbURL("neutron", p.NeutronDB, "neutron")),
		// An agent's first state report is an RPC call whose timeout is
		// this interval; after a boot it is lost while neutron-rpc-server
		// has not yet declared its queue, and the agent is not alive until
		// the next one. 30 s (the default) held doctor red 50 s past the
		// rest of the lab on 2 cores; 10 s keeps agent_down_time's (75 s)
		// margin.
		set("agent", "report_interval", "10"),
	}
	sets = append(sets, authtoken(p, "neutron", p.NeutronUser)...)
	sets = append(sets, serviceAuth(p, "nova", "nova", p.NovaUser, true)...)
	sets = append(sets, set("oslo_concurrency", "lock_path", "/var/lock/neutron"))
	sets = append(sets, b.NeutronConfSets(p)...)
	units := []string{"neutron-api", "neutron-rpc-server", "neutron-dhcp-agent", "neutron-l3-agent", "neutron-metadata-agent"}
	units = append(units, b.AgentUnits()...)
	return File{Path: NeutronConf, Kind: INI, Sets: sets, Units: units, Secret: true}
}

func ml2Conf(p Params, b NeutronBackend) File {
	units := []string{"neutron-api", "neutron-rpc-server"}
	units = append(units, b.AgentUnits()...)
	return File{
		Path: ML2Conf,
		Kind: INI,
		Sets: []inifile.Set{
			set("ml2", "type_drivers", "flat,vlan,vxlan"),
			set("ml2", "tenant_network_types", "vxlan"),
			set("ml2", "mechanism_drivers", b.MechanismDriver()+",l2population"),
			// Debian ships port_security,qos; the qos extension needs
			// the qos service plugin, which service_plugins = router
			// drops. The install guide's value.
			set("ml2", "extension_drivers", "port_security"),
			set("ml2_type_flat", "flat_networks", p.ProviderNet),
			set("ml2_type_vxlan", "vni_ranges", "1:1000"),
			set("securitygroup", "enable_ipset", "true"),
		},
		Units: units,
	}
}

// horizonWebRoot returns the web root without and with the trailing slash
// (Apache aliases want the former, Horizon's WEBROOT the latter).
func horizonWebRoot(p Params) (string, string) {
	r := strings.TrimSuffix(p.HorizonWebRoot, "/")
	return r, r + "/"
}

func pyString(s string) string { return strconv.Quote(s) }

func horizonCaches(p Params) string {
	return "{\n" +
		"    'default': {\n" +
		"        'BACKEND': 'django.core.cache.backends.memcached.PyMemcacheCache',\n" +
		"        'LOCATION': '" + memcacheServer(p) + "',\n" +
		"    },\n" +
		"}"
}

func horizonFiles(p Params) []File {
	root, webroot := horizonWebRoot(p)
	apache := []string{"apache2"}
	return []File{
		{
			Path: HorizonSettings,
			Kind: PythonSettings,
			Settings: []PySetting{
				{"OPENSTACK_HOST", pyString(p.MgmtIP)},
				{"OPENSTACK_KEYSTONE_URL", pyString(KeystoneURL(p.MgmtIP))},
				{"OPENSTACK_KEYSTONE_DEFAULT_ROLE", pyString("member")},
				{"ALLOWED_HOSTS", "[" + pyString(p.MgmtIP) + ", " + pyString(p.Hostname) + ", 'localhost', '127.0.0.1']"},
				{"SESSION_ENGINE", pyString("django.contrib.sessions.backends.cache")},
				// Also in _0006 below, which would override it.
				{"CACHES", horizonCaches(p)},
				{"TIME_ZONE", pyString(p.TimeZone)},
				// Also in _0005 below, which would override it.
				{"WEBROOT", pyString(webroot)},
				// A fixed key instead of Debian's generated file, so every
				// Apache process and every rebuild agree.
				{"SECRET_KEY", pyString(p.HorizonSecretKey)},
			},
			Units:  apache,
			Secret: true,
		},
		{
			Path:     HorizonWebRootSnippet,
			Kind:     PythonSettings,
			Settings: []PySetting{{"WEBROOT", pyString(webroot)}},
			Units:    apache,
		},
		{
			Path:     HorizonCacheSnippet,
			Kind:     PythonSettings,
			Settings: []PySetting{{"CACHES", horizonCaches(p)}},
			Units:    apache,
		},
		{
			// Replaces Debian's conffile of the same name, which the
			// postinst enables when horizon/activate_vhost is false.
			Path:    HorizonApacheSite,
			Kind:    Text,
			Content: horizonApacheSite(root),
			Mode:    0o644,
			Owner:   "root",
			Group:   "root",
			Units:   apache,
		},
		{
			// With horizon/activate_vhost false the postinst enables
			// default-ssl without mod_ssl, and Apache fails with
			// "Invalid command 'SSLEngine'" ("Horizon vhost").
			Path:  "/etc/apache2/sites-enabled/default-ssl.conf",
			Kind:  Absent,
			Units: apache,
		},
	}
}

// horizonApacheSite is Debian's openstack-dashboard-alias-only.conf plus
// WSGIProcessGroup/WSGIApplicationGroup. Debian declares the daemon process
// but never assigns Horizon to it, so Horizon runs embedded in every Apache
// worker; measured, about 1 login in 6 then survived to the next page, and
// 12 of 12 with these two lines ("Horizon under Apache loses sessions").
func horizonApacheSite(root string) string {
	return `# Managed by stacklab: Debian's openstack-dashboard-alias-only.conf with
# Horizon running in its WSGI daemon process (WSGIProcessGroup), not
# embedded in every Apache worker, where logins were lost.
WSGIScriptAlias ` + root + ` /usr/share/openstack-dashboard/wsgi.py
WSGIDaemonProcess horizon user=www-data group=www-data
WSGIProcessGroup horizon
WSGIApplicationGroup %{GLOBAL}
Alias /static /var/lib/openstack-dashboard/static
Alias ` + root + `/static /var/lib/openstack-dashboard/static

<Directory /usr/share/openstack-dashboard>
	Require all granted
</Directory>

<Directory /var/lib/openstack-dashboard/static>
	Require all granted
</Directory>
`
}

// mariadbConf: our own drop-in, read after Debian's 50-server.cnf. The
// install guide's settings; loopback only (services reach it on
// 127.0.0.1).
func mariadbConf() File {
	return File{
		Path: "/etc/mysql/mariadb.conf.d/99-stacklab.cnf",
		Kind: Text,
		Content: `# Managed by stacklab.
[mysqld]
bind-address = 127.0.0.1
default-storage-engine = innodb
innodb_file_per_table = on
max_connections = 4096
collation-server = utf8_general_ci
character-set-server = utf8
`,
		Mode:  0o644,
		Owner: "root",
		Group: "root",
		Units: []string{"mariadb"},
	}
}

// rabbitmqEnv: RabbitMQ binds to every interface by default; loopback only
// here. The postinst installs Debian's commented template only when the
// file does not exist.
func rabbitmqEnv() File {
	return File{
		Path:    "/etc/rabbitmq/rabbitmq-env.conf",
		Kind:    Text,
		Content: "# Managed by stacklab: RabbitMQ on loopback only.\nNODE_IP_ADDRESS=127.0.0.1\nNODE_PORT=5672\n",
		Mode:    0o644,
		Owner:   "rabbitmq",
		Group:   "rabbitmq",
		Units:   []string{"rabbitmq-server"},
	}
}

// memcachedConf: Debian's memcached.conf.default, listening on loopback and
// on the management address (Horizon's and the services' memcached_servers
// use the latter).
func memcachedConf(p Params) File {
	return File{
		Path: "/etc/memcached.conf",
		Kind: Text,
		Content: `# Managed by stacklab: Debian's defaults, listening on loopback and the
# management address.
-d
logfile /var/log/memcached.log
-m 64
-p 11211
-u memcache
-l 127.0.0.1,` + p.MgmtIP + `
-P /var/run/memcached/memcached.pid
`,
		Mode:  0o644,
		Owner: "root",
		Group: "root",
		Units: []string{"memcached"},
	}
}
