package openstack

import "github.com/stacklab/stacklab/installer/inifile"

// TierGlance starts glance.
const TierGlance = "glance"

// GlanceAPIConf is glance-api's configuration file.
const GlanceAPIConf = "/etc/glance/glance-api.conf"

var glanceService = service{
	packages: func(Params) []string { return []string{"glance"} },
	preseeds: func(Params) []Preseed {
		return []Preseed{
			no("glance-common", "glance/configure_db"),
			no("glance-common", "glance/configure_rabbit"),
			no("glance-common", "glance/configure_ksat"),
			no("glance-api", "glance/configure_api-endpoint"),
		}
	},
	files:     glanceFiles,
	databases: func(p Params) []Database { return []Database{database("glance", "glance", p.GlanceDB)} },
	tiers: func(p Params) []Tier {
		return []Tier{{
			Name:   TierGlance,
			Units:  []string{"glance-api"},
			After:  []string{TierKeystone},
			Probes: []Probe{answers("http://" + p.MgmtIP + ":9292/")},
		}}
	},
	syncs: func(Params) []Command {
		return []Command{{Name: "glance-db-sync", Tier: TierGlance, Phase: BeforeStart, User: "glance",
			Argv: []string{"glance-manage", "db_sync"}, Databases: []string{"glance"}}}
	},
	apis: []API{{Name: "glance", Type: "image", Description: "OpenStack Image", Unit: "glance-api", Port: 9292}},
}

func glanceFiles(p Params) []File { return []File{glanceAPIConf(p)} }

func glanceAPIConf(p Params) File {
	sets := []inifile.Set{
		// 0: glance's eventlet server answers from its own process. Any
		// other count forks that many workers beside the parent, which
		// then only watches them: 135 MB more for a lab that uploads one
		// image at a time.
		set(sectionDefault, "workers", "0"),
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
