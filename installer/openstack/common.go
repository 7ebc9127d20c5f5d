package openstack

import (
	"io/fs"
	"strconv"

	"github.com/stacklab/stacklab/installer/inifile"
)

// Kind says how a File is applied.
type Kind string

const (
	// INI: apply Sets with the INI editor (installer/inifile), keeping
	// the maintainer's comments. Section "" is [DEFAULT].
	INI Kind = "ini"
	// Flat: `key = value` lines without any section (libvirt's
	// qemu.conf, read by libvirt's own parser, which rejects a
	// "[DEFAULT]" header). Sets all have Section "". installer/inifile
	// maps "" to [DEFAULT] and would add that header, so these need a
	// section-less mode of the editor.
	Flat Kind = "flat"
	// PythonSettings: apply Settings with EditPythonSettings.
	PythonSettings Kind = "python"
	// Text: a whole small file of our own; write Content.
	Text Kind = "text"
	// Absent: the path must not exist (a removed symlink, e.g. a
	// disabled Apache site).
	Absent Kind = "absent"
)

// PySetting is one top-level assignment in a Python settings file: Name =
// Expr, where Expr is Python source.
type PySetting struct {
	Name string
	Expr string
}

// File is one configuration file the lab manages.
type File struct {
	Path     string
	Kind     Kind
	Sets     []inifile.Set // Kind INI
	Settings []PySetting   // Kind PythonSettings
	Content  string        // Kind Text
	// Mode, Owner and Group apply to files we create (Text); zero values
	// keep what the package installed.
	Mode  fs.FileMode
	Owner string
	Group string
	// Units are restarted when applying this file changed it.
	Units []string
	// PreInstall files are written before `apt-get install` because a
	// package's maintainer scripts read them.
	PreInstall bool
	// Secret: the file holds passwords; never log its content or diff.
	Secret bool
	// SystemdUnit: a unit file or drop-in; systemd must re-read its
	// configuration (daemon-reload) once it changed.
	SystemdUnit bool
}

const sectionDefault = "" // [DEFAULT], see inifile.Set

func set(section, key, value string) inifile.Set {
	return inifile.Set{Section: section, Key: key, Value: value}
}

func itoa(n int) string { return strconv.Itoa(n) }

func memcacheServer(p Params) string { return p.MgmtIP + ":11211" }

// dbURL: MariaDB listens on loopback only. Secrets are URL-safe (Validate).
func dbURL(user, password, db string) string {
	return "mysql+pymysql://" + user + ":" + password + "@127.0.0.1/" + db
}

// RabbitUser is the RabbitMQ account every service uses.
const RabbitUser = "openstack"

func transportURL(p Params) string {
	return "rabbit://" + RabbitUser + ":" + p.Rabbit + "@127.0.0.1:5672/"
}

// ServiceProject is the project the service users live in.
const ServiceProject = "service"

// AdminRole is the role bootstrap creates and service users are granted on
// ServiceProject.
const AdminRole = "admin"

// authtoken is keystonemiddleware's section for a service user. The region
// is set explicitly: Debian ships region_name = regionOne (lower case) and
// a mismatch with the bootstrapped region fails every request with
// EndpointNotFound ("Region case" in the notes).
func authtoken(p Params, user, password string) []inifile.Set {
	const s = "keystone_authtoken"
	sets := []inifile.Set{
		set(s, "www_authenticate_uri", keystoneBase(p.MgmtIP)),
		set(s, "auth_url", keystoneBase(p.MgmtIP)),
		set(s, "memcached_servers", memcacheServer(p)),
		set(s, "memcache_pool_dead_retry", memcacheDeadRetry),
	}
	sets = append(sets, serviceLogin(s, user, password)...)
	return append(sets, set(s, "region_name", p.Region))
}

// serviceAuth is a keystoneauth password plugin block in section s (nova's
// [placement], [neutron], [service_user]; neutron's [nova]).
func serviceAuth(p Params, s, user, password string, region bool) []inifile.Set {
	sets := append([]inifile.Set{set(s, "auth_url", KeystoneURL(p.MgmtIP))}, serviceLogin(s, user, password)...)
	if region {
		sets = append(sets, set(s, "region_name", p.Region))
	}
	return sets
}

// serviceLogin is keystoneauth's password login as a service user of the
// service project, in section s: the part [keystone_authtoken] and the
// services' client sections share.
func serviceLogin(s, user, password string) []inifile.Set {
	return []inifile.Set{
		set(s, "auth_type", "password"),
		set(s, "project_domain_name", "Default"),
		set(s, "user_domain_name", "Default"),
		set(s, "project_name", ServiceProject),
		set(s, "username", user),
		set(s, "password", password),
	}
}

// uwsgi sets the process count of a Debian uwsgi service: Debian's
// processes=8 (nova-api 16) with 32 threads each is the main cause of
// ~10 GB RAM and >5 min restarts on 2 cores ("Worker counts").
func uwsgi(path, unit string, processes, threads int) File {
	f := File{
		Path:  path,
		Kind:  INI,
		Sets:  []inifile.Set{set("uwsgi", "processes", itoa(processes))},
		Units: []string{unit},
	}
	if threads > 0 {
		f.Sets = append(f.Sets, set("uwsgi", "threads", itoa(threads)))
	}
	return f
}
