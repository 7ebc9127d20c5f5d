package openstack

import (
	"net"
	"strconv"
	"time"

	"github.com/stacklab/stacklab/installer/inifile"
)

// nova's tiers: the control services, then the hypervisor and
// nova-compute.
const (
	TierNova    = "nova"
	TierCompute = "compute"
)

// ComputeUnit is the unit whose process reports as nova's compute service.
const ComputeUnit = "nova-compute"

// ReportedSince says whether a compute service's last report (nova's
// updated_at, in whole seconds) can come from the process that started at
// start. nova calls a service up for service_down_time (60 s) after its
// last report, and nova-compute first reports 10–30 s after it starts
// (init_host, then a fixed 5 s delay): for that long after a restart or a
// boot, "up" is its predecessor's word. A zero report (a record this
// process created and has not updated yet) or a zero start (unknown) proves
// nothing either way.
func ReportedSince(report, start time.Time) bool {
	return report.IsZero() || start.IsZero() || !report.Before(start.Truncate(time.Second))
}

// nova's configuration files.
const (
	NovaConf        = "/etc/nova/nova.conf"
	NovaComputeConf = "/etc/nova/nova-compute.conf"
)

// ConsolePort is nova-novncproxy's port.
const ConsolePort = 6080

// ConsoleBaseURL is nova's novncproxy_base_url on host: the page a browser
// opens, to which nova appends each console's token. vnc_lite.html connects
// as it opens; Debian's vnc_auto.html (nova's default) is a link to noVNC's
// full page, which waits for a click on Connect.
func ConsoleBaseURL(host string) string {
	return "http://" + net.JoinHostPort(host, strconv.Itoa(ConsolePort)) + "/vnc_lite.html"
}

var novaService = service{
	packages:    novaPackages,
	standIns:    novaStandIns,
	preseeds:    novaPreseeds,
	depPreseeds: libvirtPreseeds,
	files:       novaFiles,
	// nova's three databases share one account.
	databases: func(p Params) []Database {
		return []Database{
			database("nova_api", "nova", p.NovaDB),
			database("nova", "nova", p.NovaDB),
			database("nova_cell0", "nova", p.NovaDB),
		}
	},
	tiers: novaTiers,
	syncs: novaSyncs,
	apis:  []API{{Name: "nova", Type: "compute", Description: "OpenStack Compute", Unit: "nova-api", Port: 8774, Path: "/v2.1"}},
}

func novaPackages(p Params) []string {
	return []string{
		"nova-api", "nova-conductor", "nova-scheduler", "nova-consoleproxy",
		"nova-compute", hypervisorPackage,
		// qemu-img, for building and converting guest images; with the
		// FAT and boot loader tools, what `stacklab image tiny` needs to
		// build the default lab's guest (tiny.HostPackages; a test in cmd
		// keeps the two lists agreeing).
		"qemu-utils", "syslinux", "syslinux-common", "mtools", "dosfstools",
	}
}

// hypervisorPackage: nova-compute depends on "nova-compute-kvm |
// nova-compute-hypervisor", so one has to be named. nova-compute-kvm is
// named for every lab, TCG ones too: it and nova-compute-qemu differ only
// in the nova-compute.conf they ship (whose virt_type the lab sets
// anyway) and in what they pull in. nova-compute-qemu depends on
// qemu-system, the emulators of every architecture: on Debian 13 88 MB
// to download and 410 MB unpacked (ARM, MIPS, PowerPC, RISC-V, s390x,
// SPARC and the rest) that an x86 lab never runs; nova-compute-kvm on
// qemu-system-x86 alone, which also runs TCG guests.
const hypervisorPackage = "nova-compute-kvm"

// novaStandIns: labs installed before hypervisorPackage changed have
// nova-compute-qemu, which conflicts with nova-compute-kvm and does the
// same job; swapping one for the other on an installed lab would only
// churn packages and restart nova-compute.
func novaStandIns(Params) map[string][]string {
	return map[string][]string{hypervisorPackage: {"nova-compute-qemu"}}
}

func novaPreseeds(p Params) []Preseed {
	return []Preseed{
		no("nova-common", "nova/configure_db"),
		no("nova-common", "nova/configure_rabbit"),
		no("nova-common", "nova/configure_ksat"),
		no("nova-common", "nova/configure_neutron"),
		no("nova-common", "nova/configure_placement"),
		{"nova-common", "nova/my-ip", "string", p.MgmtIP},
		no("nova-api", "novaapi/configure_db"),
		no("nova-api", "nova/configure_api-endpoint"),
		// The config script derives this from /etc/default/nova-consoleproxy
		// and overrides the preseed; that file is written first (see
		// novaFiles, PreInstall). Answered here too for consistency.
		{"nova-consoleproxy", "nova-consoleproxy/daemon_type", "select", "novnc"},
	}
}

// libvirtPreseeds answer libvirt-daemon-system, which the hypervisor
// package pulls in.
func libvirtPreseeds(Params) []Preseed {
	return []Preseed{
		// "Continue with incorrect libvirt-qemu user/group ID(s)?": yes,
		// instead of stopping a non-interactive install on it.
		{"libvirt-daemon-system", "libvirt-daemon-system/id_warning", "boolean", "true"},
	}
}

// novaComputeRestartDropIn makes systemd start nova-compute again after
// any exit, a clean one too.
const novaComputeRestartDropIn = "/etc/systemd/system/nova-compute.service.d/stacklab-restart.conf"

// novaComputeRestart: Debian's unit restarts nova-compute only on a
// failure, and on Debian 13 (Python 3.13, eventlet) it was seen to end
// with status 0 after an eventlet AssertionError in threading._after_fork
// while RabbitMQ refused its login: the lab lost its compute service for
// good, with nothing in the journal but a clean stop. An explicit
// `systemctl stop` still stops it; the start-rate limit still ends a
// crash loop.
func novaComputeRestart() File {
	return File{
		Path: novaComputeRestartDropIn, Kind: Text,
		Content: "# Managed by stacklab: nova-compute starts again after any exit, as a lab\n" +
			"# needs its compute service; `systemctl stop nova-compute` still stops it.\n" +
			"[Service]\nRestart=always\n",
		Mode: 0o644, Owner: "root", Group: "root",
		Units: []string{"nova-compute"}, SystemdUnit: true,
	}
}

func novaFiles(p Params) []File {
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
		novaConf(p),
		novaComputeConf(p),
		novaComputeRestart(),
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
	return files
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
		set("vnc", "novncproxy_base_url", ConsoleBaseURL(p.MgmtIP)),
		// Debian's nova.conf turns SPICE on beside VNC, so every guest
		// got a second display and agent channel no proxy of the lab
		// serves; Debian 13's QEMU has SPICE only in a package QEMU
		// just recommends, and defining such a guest fails there.
		set("spice", "enabled", "false"),
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
	sets := []inifile.Set{
		set(sectionDefault, "compute_driver", computeDriver(p)),
		set("libvirt", "virt_type", p.VirtType),
		// By default nova converts every image it caches to raw before
		// the first server of it boots: a student's 400 MB qcow2 cloud
		// image becomes a raw file of its whole virtual size (GBs written
		// to a small lab disk, on that server's way to ACTIVE), and even
		// the lab's 12 MB image costs a qemu-img convert and one more
		// qemu-img info (a Python start, under prlimit) on the first
		// server's chain.
		// Servers' disks are qcow2 overlays either way; over a qcow2
		// base they read it through qemu's qcow2 driver, which a lab
		// does not notice.
		set(sectionDefault, "force_raw_images", "false"),
	}
	// The first server after nova-compute starts (after every reboot)
	// waits for nova's privsep daemon, which by default starts through
	// nova-rootwrap: one more Python start that loads every filter file,
	// 4.3-4.5 s of the server's chain on 2 cores, 2.5-3.0 s through sudo.
	// Only the privsep helpers skip rootwrap (Debian's nova sudoers
	// allows /usr/bin/privsep-helper); [workarounds] disable_rootwrap
	// would send nova's other root commands through plain sudo too, which
	// the sudoers file refuses.
	for _, sec := range novaPrivsepSections(p) {
		sets = append(sets, set(sec, "helper_command", novaPrivsepHelper))
	}
	return File{Path: NovaComputeConf, Kind: INI, Sets: sets, Units: []string{"nova-compute"}}
}

// novaPrivsepHelper is the command oslo.privsep runs for a context (it
// appends --privsep_context and --privsep_sock_path): the config files of
// Debian's nova-compute unit, in its order.
var novaPrivsepHelper = "sudo privsep-helper --config-file " + NovaConf + " --config-file " + NovaComputeConf

// novaPrivsepSections are the privsep contexts nova-compute starts for the
// lab: nova's own (nova.privsep.sys_admin_pctxt) and os-vif's plugin for
// the neutron backend.
func novaPrivsepSections(p Params) []string {
	return []string{"nova_sys_admin", mustBackend(p).VIFPrivsepSection()}
}

func novaTiers(p Params) []Tier {
	mgmt := "http://" + p.MgmtIP
	compute := []string{"nova-compute"}
	if p.ComputeDriver == ComputeLibvirt {
		compute = []string{"libvirtd", "nova-compute"}
	}
	return []Tier{
		{
			// The control services first: nova-compute needs the
			// conductor to report in.
			Name:  TierNova,
			Units: []string{"nova-api", "nova-api-metadata", "nova-conductor", "nova-scheduler", "nova-novncproxy"},
			// nova-conductor and nova-scheduler give up on a placement
			// that does not answer yet ("does not have any supported
			// versions") and crash-loop.
			After: []string{TierGlance, TierPlacement},
			// nova-consoleproxy ships every console proxy; the lab's
			// console is noVNC.
			Unwanted: []string{"nova-serialproxy", "nova-spicehtml5proxy"},
			Probes: []Probe{
				answers(mgmt + ":8774/"),
				answers(mgmt + ":8775/"),
				answers(mgmt + ":6080/vnc_auto.html"),
			},
		},
		{
			Name:  TierCompute,
			Units: compute,
			After: []string{TierNova},
			// nova resumes its guests at boot
			// (resume_guests_state_on_host_boot); libvirt-guests would
			// shut them down at power-off (up to 5 minutes for a guest
			// that ignores ACPI) and fight nova over them at boot.
			// open-iscsi comes with os-brick for volumes the lab has not.
			Unwanted: []string{"libvirt-guests", "open-iscsi"},
			Probes:   []Probe{{Kind: ProbeComputeService, Target: p.Hostname, Unit: ComputeUnit}},
		},
	}
}

func novaSyncs(p Params) []Command {
	return []Command{
		{Name: "nova-api-db-sync", Tier: TierNova, Phase: BeforeStart, User: "nova",
			Argv: []string{"nova-manage", "api_db", "sync"}, Databases: []string{"nova_api"}},
		{Name: "nova-map-cell0", Tier: TierNova, Phase: BeforeStart, User: "nova",
			Argv: []string{"nova-manage", "cell_v2", "map_cell0"}},
		{
			// create_cell fails when the cell exists. The guard reads
			// nova_api's table as root over MariaDB's socket: asking
			// nova-manage (list_cells) took about 3 s of every re-run,
			// most of it importing nova.
			Name: "nova-create-cell1", Tier: TierNova, Phase: BeforeStart, User: "nova",
			Argv:       []string{"nova-manage", "cell_v2", "create_cell", "--name=cell1", "--verbose"},
			Unless:     []string{"sh", "-c", "mysql --batch --skip-column-names -e \"SELECT name FROM nova_api.cell_mappings\" | grep -qx cell1"},
			UnlessUser: "root",
		},
		{Name: "nova-db-sync", Tier: TierNova, Phase: BeforeStart, User: "nova",
			Argv: []string{"nova-manage", "db", "sync"}, Databases: []string{"nova", "nova_cell0"}},
		{
			// Host discovery maps compute nodes, which nova-compute
			// records some seconds after it is listed up (and which the
			// hypervisor API lists only once mapped): a discovery in
			// between maps nothing, and every instance then fails with
			// "Host is not mapped to any cell". So it runs again until
			// it names this host. The guard is the mapping itself, so a
			// host an earlier run missed is mapped on the next one.
			Name: "nova-discover-hosts", Tier: TierCompute, Phase: AfterReady, User: "nova",
			Argv: []string{"sh", "-c", "for i in $(seq 20); do " +
				"out=$(nova-manage cell_v2 discover_hosts --verbose) || exit; echo \"$out\"; " +
				"case $out in *\"compute host '" + p.Hostname + "'\"*) exit 0 ;; esac; sleep 3; done; " +
				"echo \"nova-compute on " + p.Hostname + " recorded no compute node to map after 20 discoveries: journalctl -u nova-compute\" >&2; exit 1"},
			Unless:     []string{"sh", "-c", "mysql --batch --skip-column-names -e \"SELECT host FROM nova_api.host_mappings\" | grep -qxF '" + p.Hostname + "'"}, // Validate allows no quote in a hostname
			UnlessUser: "root",
		},
	}
}
