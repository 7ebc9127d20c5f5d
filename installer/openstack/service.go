package openstack

import "slices"

// service is everything the lab knows about one service, so that changing
// a service means changing its one file (keystone.go, nova.go, …). Every
// part is optional; the exported functions (Packages, Files, …) gather a
// part over services in table order.
type service struct {
	// packages are installed by name; excluded must not be installed
	// although something recommends them (apt "pkg-").
	packages, excluded func(Params) []string
	// preseeds answer its packages' debconf questions; depPreseeds those
	// of packages they pull in, which come after every service's own.
	preseeds, depPreseeds func(Params) []Preseed
	files                 func(Params) []File
	databases             func(Params) []Database
}

// services in the lab's start order, which is also the order of every
// gathered part.
var services = []service{
	mariadbService,
	rabbitmqService,
	memcachedService,
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
