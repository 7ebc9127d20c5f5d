package openstack

import "github.com/stacklab/stacklab/installer/inifile"

// TierKeystone starts keystone.
const TierKeystone = "keystone"

// KeystoneConf is keystone's configuration file.
const KeystoneConf = "/etc/keystone/keystone.conf"

var keystoneService = service{
	packages: func(Params) []string { return []string{"keystone"} },
	preseeds: func(Params) []Preseed {
		return []Preseed{
			no("keystone", "keystone/configure_db"),
			no("keystone", "keystone/create-admin-tenant"),
			no("keystone", "keystone/register-endpoint"),
		}
	},
	files:     keystoneFiles,
	databases: func(p Params) []Database { return []Database{database("keystone", "keystone", p.KeystoneDB)} },
	tiers: func(p Params) []Tier {
		return []Tier{{
			Name:   TierKeystone,
			Units:  []string{"keystone"},
			After:  []string{TierInfra},
			Probes: []Probe{{Kind: ProbeHTTP, Target: KeystoneURL(p.MgmtIP), Status: 200}},
		}}
	},
}

func keystoneFiles(p Params) []File {
	return []File{
		keystoneConf(p),
		uwsgi("/etc/keystone/keystone-uwsgi.ini", "keystone", p.Workers, p.KeystoneThreads),
	}
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
