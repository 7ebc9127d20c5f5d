package openstack

import (
	"net"
	"strconv"
	"strings"
)

// TierDashboard starts Horizon (in Apache).
const TierDashboard = "dashboard"

// Horizon's files.
const (
	HorizonSettings = "/etc/openstack-dashboard/local_settings.py"
	// Debian's local_settings.d snippets run AFTER local_settings.py
	// (openstack_dashboard/settings.py exec()s them) and would override
	// what we set there: _0005 sets WEBROOT, _0006 sets CACHES to
	// LocMemCache, a per-process cache, so with Horizon embedded in
	// several Apache workers a session stored by one is unknown to the
	// next ("Horizon under Apache loses sessions").
	HorizonWebRootSnippet = "/etc/openstack-dashboard/local_settings.d/_0005_debian_webroot.py"
	HorizonCacheSnippet   = "/etc/openstack-dashboard/local_settings.d/_0006_debian_cache.py"
	HorizonApacheSite     = "/etc/apache2/sites-available/openstack-dashboard-alias-only.conf"
	// ApachePIDFileDropIn names Apache's PID file to systemd.
	ApachePIDFileDropIn = "/etc/systemd/system/apache2.service.d/stacklab-pidfile.conf"
)

var horizonService = service{
	packages: func(Params) []string {
		return []string{
			"openstack-dashboard-apache",
			// Horizon's CACHES backend is django's PyMemcacheCache, which
			// needs pymemcache; python3-django only Suggests it.
			"python3-pymemcache",
		}
	},
	preseeds: func(Params) []Preseed {
		return []Preseed{
			// No vhost: Horizon under /horizon on the default site. The
			// postinst then enables default-ssl without mod_ssl;
			// horizonFiles disables it again.
			no("openstack-dashboard-apache", "horizon/activate_vhost"),
			no("openstack-dashboard-apache", "horizon/use_ssl"),
		}
	},
	files: horizonFiles,
	tiers: func(p Params) []Tier {
		root, _ := horizonWebRoot(p)
		return []Tier{{
			Name:   TierDashboard,
			Units:  []string{"apache2"},
			After:  []string{TierKeystone},
			Probes: []Probe{{Kind: ProbeHTTP, Target: DashboardLoginURL(DashboardURL(p.MgmtIP, root)), Status: 200}},
		}}
	},
	syncs: horizonSyncs,
}

// horizonSyncs: Horizon's static files are compressed offline for the web
// root Debian configured (/horizon); another root needs them rebuilt, as
// the postinst does when it changes the root.
func horizonSyncs(p Params) []Command {
	if root, _ := horizonWebRoot(p); root == DefaultWebRoot {
		return nil
	}
	return []Command{
		{Name: "horizon-collectstatic", Tier: TierDashboard, Phase: BeforeStart, User: "root",
			Argv: []string{"/usr/share/openstack-dashboard/manage.py", "collectstatic", "--noinput", "--clear"}},
		{Name: "horizon-compress", Tier: TierDashboard, Phase: BeforeStart, User: "root",
			Argv: []string{"/usr/share/openstack-dashboard/manage.py", "compress", "--force"}},
		{Name: "horizon-static-owner", Tier: TierDashboard, Phase: BeforeStart, User: "root",
			Argv: []string{"chown", "-R", "www-data", "/var/lib/openstack-dashboard/static"}},
	}
}

// DashboardURL is Horizon's root on host under webRoot ("/horizon").
func DashboardURL(host, webRoot string) string {
	h := host
	if ip := net.ParseIP(host); ip != nil && ip.To4() == nil {
		h = "[" + host + "]"
	}
	return "http://" + h + webRoot
}

// DashboardLoginURL is the login page of the dashboard rooted at
// dashboardURL: the page the install waits for and doctor probes.
func DashboardLoginURL(dashboardURL string) string {
	return strings.TrimSuffix(dashboardURL, "/") + "/auth/login/"
}

// horizonWebRoot returns the web root without and with the trailing slash
// (Apache aliases want the former, Horizon's WEBROOT the latter).
func horizonWebRoot(p Params) (string, string) {
	r := strings.TrimSuffix(p.HorizonWebRoot, "/")
	return r, r + "/"
}

func pyString(s string) string { return strconv.Quote(s) }

// horizonCaches keeps Horizon's sessions in memcached. dead_timeout: once
// memcached refused it twice, pymemcache's client drops the server for
// dead_timeout and answers every request with "All servers seem to be
// down right now" (HTTP 500), and it looks again only when that much time
// has passed since both its last look and the drop: with the default 60 s
// the dashboard stayed down 84 s after memcached was back (CI64, doctor's
// memcached-listen row, where --fix waits 30 s for what a repair mends).
// 5 s brings it back within 10 s; a server really down costs one refused
// connection every 5 s per process.
func horizonCaches(p Params) string {
	return "{\n" +
		"    'default': {\n" +
		"        'BACKEND': 'django.core.cache.backends.memcached.PyMemcacheCache',\n" +
		"        'LOCATION': '" + memcacheServer(p) + "',\n" +
		"        'OPTIONS': {'dead_timeout': 5},\n" +
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
			// Debian's apache2.service forks without naming its PID
			// file, and Debian 12's systemd cannot guess the main
			// process among Apache's and Horizon's: MainPID=0, so
			// doctor's port-80 check scanned every process's
			// descriptors (ss -p) on each run instead of the main
			// process's. Apache writes this file (APACHE_PID_FILE).
			Path:        ApachePIDFileDropIn,
			Kind:        Text,
			Content:     "# Managed by stacklab: tells systemd Apache's main process.\n[Service]\nPIDFile=/run/apache2/apache2.pid\n",
			Mode:        0o644,
			Owner:       "root",
			Group:       "root",
			Units:       apache,
			SystemdUnit: true,
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
