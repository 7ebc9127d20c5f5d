package doctor

import (
	"slices"
	"strings"
	"time"

	"github.com/stacklab/stacklab/checks"
)

// Causes are checks for the real reasons a dashboard suddenly won't open
// that the older checks only saw the consequences of (a lost login, a dead
// unit, an API's 500). Each consequence is made to depend on its cause, so
// that when the cause is reported the consequence is skipped naming it,
// instead of being reported beside it as a second root cause. The wiring
// lives here rather than in each consequence's DependsOn so that the
// causes stay one table to read.
func (dr *doctor) causeChecks() []checks.Check {
	list := []checks.Check{
		{ID: IDHorizonWSGI, Title: "Horizon runs in its WSGI daemon process, not embedded in Apache's workers",
			DependsOn: dr.deps(IDLabHost, UnitID("apache2"), IDApache), Run: dr.checkHorizonWSGI},
		// Every unit check waits behind it: room for the journal's probe
		// after systemd's answer, so that a slow read is not a timeout
		// blamed on memory.
		{ID: IDOOMKill, Title: "no lab service was killed by the kernel's OOM killer",
			DependsOn: []string{IDLabHost}, Timeout: 2*dr.cfg.probe() + time.Second, Run: dr.checkOOM},
		{ID: IDKeystoneKeys, Title: "keystone's fernet and credential keys exist and are keystone's alone",
			DependsOn: []string{IDLabHost}, Run: dr.checkKeystoneKeys},
		{ID: IDRabbitServices, Title: "RabbitMQ accepts the logins in the services' transport_url",
			DependsOn: []string{IDLabHost, IDRabbitMQ}, Run: dr.checkRabbitServices},
		{ID: IDMariaDBConnections, Title: "MariaDB has connections to spare for the services",
			DependsOn: dr.deps(IDLabHost, UnitID("mariadb")), Run: dr.checkMariaDBConnections},
		{ID: IDServiceRegion, Title: "every service names the catalog's region (case counts)",
			DependsOn: []string{IDLabHost}, Run: dr.checkRegion},
	}
	return append(list, dr.portChecks()...)
}

// causeOf maps a consequence's check ID to the causes it depends on.
func (dr *doctor) causeOf() map[string][]string {
	of := map[string][]string{
		IDDashboardLogin: {IDHorizonWSGI},
		// Embedded in Apache's workers, Debian 13's Horizon answers 500
		// on every page (Debian 12's loses sessions): the page's failure
		// is the process group's.
		IDDashboardPage: {IDHorizonWSGI},
		// MariaDB at its limit: root still gets in (its reserved
		// connection), keystone does not.
		IDMariaDB:  {IDMariaDBConnections},
		IDKeystone: {IDMariaDBConnections},
		// No readable fernet key: keystone answers, and issues no token.
		IDKeystoneAuth: {IDKeystoneKeys},
		// A region the catalog lacks: keystonemiddleware answers 500,
		// nova cannot reach placement or neutron.
		IDGlance:          {IDServiceRegion},
		IDPlacement:       {IDServiceRegion},
		IDNova:            {IDServiceRegion, IDRabbitServices},
		IDNeutron:         {IDServiceRegion, IDRabbitServices},
		IDComputeServices: {IDServiceRegion, IDRabbitServices},
		// Agents report in over RabbitMQ.
		IDNetworkAgents: {IDRabbitServices},
		IDPlacementInv:  {IDServiceRegion},
	}
	for port, u := range servicePorts() {
		// Another server on its port: the unit cannot start.
		of[UnitID(u)] = append(of[UnitID(u)], PortOwnerID(port))
	}
	for _, u := range dr.cfg.Units {
		// A unit the OOM killer stopped is down because of memory.
		of[UnitID(u)] = append(of[UnitID(u)], IDOOMKill)
		// A service whose region the catalog lacks can die at start:
		// nova-compute exits when it cannot find placement.
		if readsRegion(u) {
			of[UnitID(u)] = append(of[UnitID(u)], IDServiceRegion)
		}
	}
	return of
}

// withCauses appends the cause checks to list and makes the consequences
// present in list depend on them.
func (dr *doctor) withCauses(list []checks.Check) []checks.Check {
	causes := dr.causeChecks()
	have := map[string]bool{}
	for _, c := range causes {
		have[c.ID] = true
	}
	of := dr.causeOf()
	for i := range list {
		for _, cause := range of[list[i].ID] {
			if have[cause] && !slices.Contains(list[i].DependsOn, cause) {
				// A fresh slice: DependsOn may share its array with
				// another check's (dr.deps, literals).
				list[i].DependsOn = append(slices.Clip(list[i].DependsOn), cause)
			}
		}
	}
	return append(list, causes...)
}

// planCauses are doctor --fix's repairs for the causes, after Plan's own.
func planCauses(rep checks.Report, cfg Config, f Repairer) []Repair {
	var out []Repair
	// keystone first: the others' repairs are checked through it.
	out = append(out, planFernet(rep, f)...)
	out = append(out, planRegion(rep, cfg, f)...)
	out = append(out, planHorizonWSGI(rep, f)...)
	return out
}

// readsRegion reports whether unit's service reads one of the files whose
// region service-region compares with the catalog.
func readsRegion(unit string) bool {
	for _, p := range []string{"nova-", "neutron-", "glance-", "placement-"} {
		if strings.HasPrefix(unit, p) {
			return true
		}
	}
	return false
}
