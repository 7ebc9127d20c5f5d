package openstack

import "github.com/stacklab/stacklab/installer/inifile"

// TierPlacement starts placement.
const TierPlacement = "placement"

// PlacementConf is placement's configuration file.
const PlacementConf = "/etc/placement/placement.conf"

var placementService = service{
	packages: func(Params) []string { return []string{"placement-api"} },
	preseeds: func(Params) []Preseed {
		return []Preseed{
			no("placement-common", "placement/configure_db"),
			no("placement-common", "placement/configure_ksat"),
			no("placement-api", "placement/configure_api-endpoint"),
		}
	},
	files:     placementFiles,
	databases: func(p Params) []Database { return []Database{database("placement", "placement", p.PlacementDB)} },
	tiers: func(p Params) []Tier {
		return []Tier{{
			Name:   TierPlacement,
			Units:  []string{"placement-api"},
			After:  []string{TierKeystone},
			Probes: []Probe{{Kind: ProbeHTTP, Target: "http://" + p.MgmtIP + ":8778/", Status: 200}},
		}}
	},
	syncs: func(Params) []Command {
		return []Command{{Name: "placement-db-sync", Tier: TierPlacement, Phase: BeforeStart, User: "placement",
			Argv: []string{"placement-manage", "db", "sync"}, Databases: []string{"placement"}}}
	},
	apis: []API{{Name: "placement", Type: "placement", Description: "Placement API", Unit: "placement-api", Port: 8778}},
}

func placementFiles(p Params) []File {
	return []File{
		placementConf(p),
		uwsgi("/etc/placement/placement-api-uwsgi.ini", "placement-api", p.Workers, 0),
	}
}

func placementConf(p Params) File {
	sets := []inifile.Set{
		set("placement_database", "connection", dbURL("placement", p.PlacementDB, "placement")),
		set("api", "auth_strategy", "keystone"),
	}
	sets = append(sets, authtoken(p, "placement", p.PlacementUser)...)
	return File{Path: PlacementConf, Kind: INI, Sets: sets, Units: []string{"placement-api"}, Secret: true}
}
