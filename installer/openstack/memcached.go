package openstack

var memcachedService = service{
	packages: func(Params) []string { return []string{"memcached"} },
	files:    func(p Params) []File { return []File{memcachedConf(p), memcachedRetry()} },
	tiers: func(p Params) []Tier {
		return []Tier{{Name: TierInfra, Units: []string{"memcached"}, Probes: []Probe{{Kind: ProbeTCP, Target: memcacheServer(p)}}}}
	},
}

// memcacheDeadRetry is how long, in seconds, a service's memcached client
// skips a server it failed to reach before trying it again (keystone's
// [cache] memcache_dead_retry, keystonemiddleware's
// memcache_pool_dead_retry). The default, 300 s, is for a fleet of remote
// servers; the lab's one memcached is on the same host and refuses at once
// when it is down. Measured: after memcached restarted, keystone ran
// without its cache for the next five minutes and Horizon's project page
// took 0.9-1.0 s instead of 0.2 s (over 6 s on a loaded 2-core host).
const memcacheDeadRetry = "5"

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

// MemcachedRetryPath is memcached's drop-in that keeps it retrying at boot.
const MemcachedRetryPath = "/etc/systemd/system/memcached.service.d/stacklab-wait-for-address.conf"

// memcachedRetry: memcached listens on the management address, which a
// VM's DHCP client may give after memcached's first start at boot (measured
// on Debian 13: dhcpcd let the boot go on with a link-local address while
// it still probed the offered one). Debian's unit restarts it at once and
// gives up after five failures in a second ("Cannot assign requested
// address"), leaving the dashboard down; retrying every 2 s without limit
// brings it up as soon as the address is there.
func memcachedRetry() File {
	return File{
		Path: MemcachedRetryPath,
		Kind: Text,
		Content: `# Managed by stacklab: memcached listens on the management address, which
# DHCP may give after memcached first starts at boot; keep trying.
[Unit]
StartLimitIntervalSec=0

[Service]
RestartSec=2
`,
		Mode:        0o644,
		Owner:       "root",
		Group:       "root",
		SystemdUnit: true,
	}
}
