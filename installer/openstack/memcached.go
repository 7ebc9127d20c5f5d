package openstack

var memcachedService = service{
	packages: func(Params) []string { return []string{"memcached"} },
	files:    func(p Params) []File { return []File{memcachedConf(p)} },
	tiers: func(p Params) []Tier {
		return []Tier{{Name: TierInfra, Units: []string{"memcached"}, Probes: []Probe{{Kind: ProbeTCP, Target: memcacheServer(p)}}}}
	},
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
