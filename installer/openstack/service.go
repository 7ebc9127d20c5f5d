package openstack

import (
	"net"
	"slices"
	"strconv"
)

// service is everything the lab knows about one service, so that changing
// a service means changing its one file (keystone.go, nova.go, …). Every
// part is optional; the exported functions (Packages, Files, …) gather a
// part over services in table order.
type service struct {
	// packages are installed by name; excluded must not be installed
	// although something recommends them (apt "pkg-").
	packages, excluded func(Params) []string
	// standIns name, for one of its packages, the packages that do its
	// job when installed instead (what earlier stacklab versions named).
	standIns func(Params) map[string][]string
	// preseeds answer its packages' debconf questions; depPreseeds those
	// of packages they pull in, which come after every service's own.
	preseeds, depPreseeds func(Params) []Preseed
	files                 func(Params) []File
	databases             func(Params) []Database
	// tiers hold its units; services that share a tier (infra) each give
	// their part of it, merged in table order.
	tiers func(Params) []Tier
	// syncs are its one-off commands (database syncs, bootstrap), by
	// tier and phase.
	syncs func(Params) []Command
	// apis are its HTTP APIs, as keystone's catalog registers them.
	apis []API
}

// services in the lab's start order, which is also the order of every
// gathered part.
var services = []service{
	mariadbService,
	rabbitmqService,
	memcachedService,
	switchService,
	keystoneService,
	glanceService,
	placementService,
	novaService,
	neutronService,
	horizonService,
	clientService,
}

// gather concatenates part over services, in table order.
func gather[T any](p Params, part func(service) func(Params) []T) []T {
	var out []T
	for _, s := range services {
		if f := part(s); f != nil {
			out = append(out, f(p)...)
		}
	}
	return out
}

// Packages returns the Debian packages of the lab, for one
// `apt-get install` (with ExcludedPackages appended with a '-' suffix).
//
// Real package names are used where Debian's list in the notes names a
// virtual one: neutron-plugin-ml2 is provided by neutron-common and
// nova-novncproxy by nova-consoleproxy.
func Packages(p Params) []string {
	return gather(p, func(s service) func(Params) []string { return s.packages })
}

// StandIns maps a package of the lab to the packages that stand in for it
// when installed: the packages phase does not install it beside them, and
// uninstall purges them with the lab.
func StandIns(p Params) map[string][]string {
	out := map[string][]string{}
	for _, s := range services {
		if s.standIns == nil {
			continue
		}
		for pkg, alts := range s.standIns(p) {
			out[pkg] = append(out[pkg], alts...)
		}
	}
	return out
}

// ExcludedPackages are packages apt must not install although something
// recommends them (neutron-l3-agent recommends openvswitch-switch, useless
// and unloadable without the OVS kernel datapath with linuxbridge).
func ExcludedPackages(p Params) []string {
	return gather(p, func(s service) func(Params) []string { return s.excluded })
}

// Preseed is one debconf answer, as a line of debconf-set-selections:
// "Owner Question Type Value". Owner is the package whose templates
// define the question.
type Preseed struct {
	Owner    string
	Question string
	Type     string
	Value    string
}

// String renders p as a debconf-set-selections line.
func (p Preseed) String() string {
	return p.Owner + " " + p.Question + " " + p.Type + " " + p.Value
}

// no answers a boolean question false.
func no(owner, question string) Preseed { return Preseed{owner, question, "boolean", "false"} }

// Preseeds returns the debconf answers to load before installing.
//
// Every OpenStack package would otherwise configure its own database,
// RabbitMQ user, keystone auth and endpoints ("Packages and debconf" in the
// notes): stacklab does all of that itself, so every such question is
// answered false. Question names and types are checked against the real
// templates in testdata/debconf-templates.txt.
func Preseeds(p Params) []Preseed {
	return slices.Concat(
		gather(p, func(s service) func(Params) []Preseed { return s.preseeds }),
		gather(p, func(s service) func(Params) []Preseed { return s.depPreseeds }),
	)
}

// Files returns every file the lab manages, in the order to apply them:
// first the files a package's maintainer scripts read (PreInstall), as
// install writes them before any package, then each service's, then the
// boot order drop-ins.
func Files(p Params) []File {
	var pre, files []File
	for _, f := range gather(p, func(s service) func(Params) []File { return s.files }) {
		if f.PreInstall {
			pre = append(pre, f)
		} else {
			files = append(files, f)
		}
	}
	return slices.Concat(pre, files, bootOrderFiles(Tiers(p)))
}

// Databases returns the lab's databases.
func Databases(p Params) []Database {
	return gather(p, func(s service) func(Params) []Database { return s.databases })
}

// TierInfra is the tier of the services every other one needs (MariaDB,
// RabbitMQ, memcached).
const TierInfra = "infra"

// ProbeKind says how a Probe is checked.
type ProbeKind string

const (
	// ProbeTCP: Target (host:port) accepts a connection.
	ProbeTCP ProbeKind = "tcp"
	// ProbeHTTP: GET Target (a URL) answers with Status, or with any
	// status below 500 when Status is 0. Answering matters: keystone can
	// accept TCP and never answer ("Keystone worker deadlock"), so the
	// request needs a timeout.
	ProbeHTTP ProbeKind = "http"
	// ProbeComputeService: nova lists Target (a host name) as an enabled
	// nova-compute that is up, on a report of Unit's running process
	// (ReportedSince). Needs the API.
	ProbeComputeService ProbeKind = "compute-service"
	// ProbeUnix: the unix socket at Target (a path) accepts a
	// connection (ovsdb-server's db.sock).
	ProbeUnix ProbeKind = "unix"
	// ProbeNetworkAgent: neutron lists an alive agent of type Target
	// (agent_type, e.g. "L3 agent") on this host. Needs the API.
	ProbeNetworkAgent ProbeKind = "network-agent"
)

// Probe is one readiness check of a tier.
type Probe struct {
	Kind   ProbeKind
	Target string
	Status int
	// Unit is the unit whose running process must have answered: a
	// report older than its start is its predecessor's (empty: any).
	Unit string
}

// Tier is a group of units started (or restarted) together once every
// earlier tier answers; it is ready when all its probes pass. Starting in
// this order and waiting for each tier avoids the restart storms that make
// eventlet services miss their 90 s start timeout on 2 cores ("Restart
// storms").
type Tier struct {
	Name string
	// Units in start order (Debian unit names). Install enables them: a
	// lab that does not come back after a reboot is no lab (several
	// Debian packages leave their unit disabled when debconf is told not
	// to configure them).
	Units []string
	// After names the tiers whose units must have started before this
	// tier's at boot. It is the real dependency, not the install order:
	// independent tiers start side by side, dependent ones wait, so a
	// 2-core VM neither starts twenty services at once (start timeouts,
	// restart storms) nor waits for them one by one.
	After []string
	// Unwanted are units that the tier's packages, or packages they
	// recommend, ship and enable but the lab does not use: install stops
	// and disables them, so they neither run nor start at boot.
	Unwanted []string
	Probes   []Probe
}

// answers is a probe of an HTTP URL that answers at all.
func answers(url string) Probe { return Probe{Kind: ProbeHTTP, Target: url} }

// Tiers returns the lab's tiers in start order.
func Tiers(p Params) []Tier {
	var tiers []Tier
	at := map[string]int{}
	for _, t := range gather(p, func(s service) func(Params) []Tier { return s.tiers }) {
		i, ok := at[t.Name]
		if !ok {
			at[t.Name] = len(tiers)
			tiers = append(tiers, t)
			continue
		}
		m := &tiers[i]
		m.Units = slices.Concat(m.Units, t.Units)
		m.After = slices.Concat(m.After, t.After)
		m.Unwanted = slices.Concat(m.Unwanted, t.Unwanted)
		m.Probes = slices.Concat(m.Probes, t.Probes)
	}
	return tiers
}

// Units returns every unit of the lab in start order.
func Units(p Params) []string {
	var units []string
	for _, t := range Tiers(p) {
		units = append(units, t.Units...)
	}
	return units
}

// UnwantedUnits returns every unit the lab stops and disables.
func UnwantedUnits(p Params) []string {
	var units []string
	for _, t := range Tiers(p) {
		units = append(units, t.Unwanted...)
	}
	return units
}

// Phase says when a Command runs relative to its tier.
type Phase string

const (
	// BeforeStart: after the earlier tiers answer, before this tier's
	// units start (schema migrations, key repositories).
	BeforeStart Phase = "before-start"
	// AfterReady: once this tier's probes pass.
	AfterReady Phase = "after-ready"
)

// Command is a one-off command of the build. Every command is safe to run
// again (idempotent by itself or guarded by Unless).
type Command struct {
	// Name identifies the command in logs and progress lines.
	Name  string
	Tier  string
	Phase Phase
	// User runs the command (root, or the service's system user so the
	// files and logs it creates are the service's).
	User string
	Argv []string
	// Unless, when set, is run first (as UnlessUser, else User); exit
	// status 0 means the work is done and Argv is skipped.
	Unless     []string
	UnlessUser string
	// Env (NAME=value) is added to the command's environment and Stdin
	// is fed to it: the ways a password reaches a command. Never put one
	// in Argv, which every local user can read in /proc/PID/cmdline;
	// /proc/PID/environ is readable only by the command's owner and root.
	Env   []string
	Stdin string
	// Secret: Env or Stdin holds a password; never log them.
	Secret bool
	// Databases are those whose schema the command builds. MariaDB's DDL
	// is not transactional: a first sync killed half-way leaves tables the
	// next run cannot create again, so the installer runs it again on
	// fresh databases when it made them and no sync of theirs finished.
	Databases []string
}

// SyncCommands returns the database syncs and bootstrap commands in the
// order to run them, grouped by tier (Tiers order) and phase.
func SyncCommands(p Params) []Command {
	return gather(p, func(s service) func(Params) []Command { return s.syncs })
}

// API is one of the lab's HTTP APIs: what keystone's catalog registers,
// what preflight wants free and what doctor probes all come from APIs, so
// a port or a path changes in one place, its service's entry.
type API struct {
	// Name and Type are the catalog's service name and type.
	Name, Type  string
	Description string
	// Unit is the systemd unit that listens on Port.
	Unit string
	Port int
	// Path follows host:port in the catalog's URL ("/v2.1" for nova).
	Path string
}

// APIs are the lab's APIs in catalog order, keystone first; the ports are
// Debian's defaults.
func APIs() []API {
	var apis []API
	for _, s := range services {
		apis = append(apis, s.apis...)
	}
	return apis
}

// URL is the API's endpoint on host, as registered in the catalog.
func (a API) URL(host string) string {
	return "http://" + net.JoinHostPort(host, strconv.Itoa(a.Port)) + a.Path
}

// clientService is the OpenStack command-line client, which no service
// needs: installed only when asked for (neutron-api pulls it in on
// Debian 12 anyway).
var clientService = service{
	packages: func(p Params) []string {
		if p.WithClient {
			return []string{"python3-openstackclient"}
		}
		return nil
	},
}
