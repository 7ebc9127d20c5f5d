package openstack

import (
	"net"
	"strconv"

	"github.com/stacklab/stacklab/installer/inifile"
)

// TierKeystone starts keystone.
const TierKeystone = "keystone"

// KeystoneConf is keystone's configuration file.
const KeystoneConf = "/etc/keystone/keystone.conf"

// KeystonePort is where keystone (and so every login) answers.
const KeystonePort = 5000

var keystoneAPI = API{Name: "keystone", Type: "identity", Unit: "keystone", Port: KeystonePort, Path: "/v3/"}

// keystoneBase is keystone's unversioned root, as keystonemiddleware's
// www_authenticate_uri and auth_url take it.
func keystoneBase(host string) string {
	return "http://" + net.JoinHostPort(host, strconv.Itoa(KeystonePort))
}

// KeystoneURL is the identity v3 URL on host, as clients (clouds.yaml,
// Horizon's OPENSTACK_KEYSTONE_URL, keystoneauth's auth_url) take it.
func KeystoneURL(host string) string { return keystoneBase(host) + "/v3" }

// KeystoneEndpoint is the identity endpoint keystone-manage bootstrap
// registers; the catalog must hold exactly this string, trailing slash
// included, so that converging the catalog later finds nothing to change.
func KeystoneEndpoint(host string) string { return keystoneAPI.URL(host) }

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
	syncs: keystoneSyncs,
	apis:  []API{keystoneAPI},
}

func keystoneSyncs(p Params) []Command {
	k := KeystoneEndpoint(p.MgmtIP)
	return []Command{
		{Name: "keystone-db-sync", Tier: TierKeystone, Phase: BeforeStart, User: "keystone",
			Argv: []string{"keystone-manage", "db_sync"}, Databases: []string{"keystone"}},
		// Both leave an existing key repository alone.
		{Name: "keystone-fernet-setup", Tier: TierKeystone, Phase: BeforeStart, User: "root",
			Argv: []string{"keystone-manage", "fernet_setup", "--keystone-user", "keystone", "--keystone-group", "keystone"}},
		{Name: "keystone-credential-setup", Tier: TierKeystone, Phase: BeforeStart, User: "root",
			Argv: []string{"keystone-manage", "credential_setup", "--keystone-user", "keystone", "--keystone-group", "keystone"}},
		{
			// Creates (or updates) the admin user, project and role,
			// the member and reader roles, the region and the identity
			// service with its endpoints. The region given here is the
			// one every config names ("Region case").
			Name: "keystone-bootstrap", Tier: TierKeystone, Phase: BeforeStart, User: "keystone",
			// keystone-manage reads the password from the environment
			// when --bootstrap-password is not given.
			Env: []string{"OS_BOOTSTRAP_PASSWORD=" + p.AdminPassword},
			Argv: []string{"keystone-manage", "bootstrap",
				"--bootstrap-username", p.AdminUser,
				"--bootstrap-project-name", p.AdminProject,
				"--bootstrap-role-name", AdminRole,
				"--bootstrap-region-id", p.Region,
				"--bootstrap-admin-url", k,
				"--bootstrap-internal-url", k,
				"--bootstrap-public-url", k,
			},
			Secret: true,
		},
	}
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
			// Every password login checks a bcrypt hash: at keystone's
			// default cost (12) that took 0.22–0.27 s on these 2-core
			// hosts, and doctor's dashboard login, Horizon's and the
			// playbooks' first token each pay it; cost 8 took 17 ms, 4
			// (bcrypt's least) takes 1.2 ms, and doctor's healthy run
			// fell from 178 to 162 ms with it (its login is the run's
			// longest chain). Lab only: the hashes stay in the lab's own
			// database, the lab's own passwords are 32 random
			// characters. Passwords set before this keep their cost
			// until changed.
			set("identity", "password_hash_rounds", "4"),
			// Recommended for eventlet servers by the option's own help.
			set("cache", "enabled", "true"),
			set("cache", "backend", "oslo_cache.memcache_pool"),
			set("cache", "memcache_servers", memcacheServer(p)),
			set("cache", "memcache_dead_retry", memcacheDeadRetry),
			// The catalog each token carries is computed anew: cached, it
			// kept serving a re-pointed endpoint's old address for minutes
			// after the repair (CI21: doctor --fix put glance back, the
			// next tokens still sent clients to the dead address), while
			// the endpoint list said otherwise. Computing it is a few small
			// queries.
			set("catalog", "caching", "false"),
		},
		Units:  []string{"keystone"},
		Secret: true,
	}
}
