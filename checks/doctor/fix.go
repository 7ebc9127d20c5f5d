package doctor

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/stacklab/stacklab/checks"
	"github.com/stacklab/stacklab/installer/openstack"
	"github.com/stacklab/stacklab/internal/cloud"
)

// Repairer performs the safe, reversible repairs. Each method converges: it
// does nothing when there is nothing to do.
type Repairer interface {
	// Restart (re)starts a unit and waits for systemd's job to finish.
	Restart(ctx context.Context, unit string) error
	// ConvergeCatalog re-points the catalog to the current management
	// address (identity.Converge with LabSpec) and returns the changes.
	ConvergeCatalog(ctx context.Context) ([]string, error)
	// AllowMgmtHost adds the management address to Horizon's ALLOWED_HOSTS.
	AllowMgmtHost(ctx context.Context) (bool, error)
	// RestoreMemcached rewrites memcached's configuration with the lab's
	// listen addresses.
	RestoreMemcached(ctx context.Context) (bool, error)
	// DiscoverHosts runs nova-manage cell_v2 discover_hosts.
	DiscoverHosts(ctx context.Context) error
}

// KeystoneURLRepairer is a Repairer that can also point Horizon at the lab's
// keystone. It stands apart from Repairer so that Repairers written before it
// (the CLI's test fakes) still compile; Plan offers the repair only when
// the Repairer has it.
type KeystoneURLRepairer interface {
	// SetHorizonKeystoneURL rewrites OPENSTACK_KEYSTONE_URL in Horizon's
	// local_settings.py to HorizonKeystoneURL, keeping the previous file
	// next to it (HorizonBackupSuffix); it reports whether it changed.
	SetHorizonKeystoneURL(ctx context.Context) (bool, error)
}

// RabbitRepairer is a Repairer that can also set a RabbitMQ user's password.
type RabbitRepairer interface {
	// SetRabbitPassword runs rabbitmqctl change_password with the password
	// on its standard input, never on its command line.
	SetRabbitPassword(ctx context.Context, user string, password cloud.Secret) error
}

// HorizonBackupSuffix names the copy of a Horizon settings file that a
// repair keeps before editing it.
const HorizonBackupSuffix = ".stacklab-bak"

// Repair is one planned fix, shown before it runs.
type Repair struct {
	// For names the check the repair addresses.
	For         string
	Description string
	Run         func(ctx context.Context) error
}

// Plan lists the repairs for a report's failures, in the order they must
// run: units in dependency (start) order first, then what needs them
// running. Nothing destructive is ever planned; a failure without a safe
// repair gets none (its fix text tells the user what to do).
func Plan(rep checks.Report, cfg Config, f Repairer) []Repair {
	failed := func(id string) bool {
		e, ok := rep.Get(id)
		return ok && e.Status == checks.Fail
	}
	var out []Repair
	restarted := map[string]bool{}
	restart := func(unit, forID, why string) {
		if restarted[unit] {
			return
		}
		restarted[unit] = true
		out = append(out, Repair{For: forID, Description: "restart " + unit + " (" + why + ")",
			Run: func(ctx context.Context) error { return f.Restart(ctx, unit) }})
	}
	if bf, ok := f.(BootRepairer); ok {
		// A warning that the lab only just booted needs no repair.
		if e, found := rep.Get(IDBoot); found && (e.Status == checks.Fail || e.Status == checks.Warn && strings.Contains(e.Summary, "not enabled")) {
			units := cfg.Units
			out = append(out, Repair{For: IDBoot,
				Description: "enable the lab's units that do not start at boot, then start every stopped lab unit in tier order",
				Run: func(ctx context.Context) error {
					if _, err := bf.EnableAtBoot(ctx, units); err != nil {
						return err
					}
					_, err := bf.StartStopped(ctx, units)
					return err
				}})
			// It starts every stopped unit: a failed unit check needs no
			// restart of its own.
			for _, u := range units {
				if failed(UnitID(u)) {
					restarted[u] = true
				}
			}
		}
	}
	for _, u := range cfg.Units {
		if failed(UnitID(u)) {
			e, _ := rep.Get(UnitID(u))
			restart(u, UnitID(u), e.Summary)
		}
	}
	// Units whose checks were skipped behind a unit being restarted are
	// likely down with it (systemd stops what a stopped unit's stop
	// propagates to: `systemctl stop ovs-vswitchd` stops ovsdb-server too,
	// through openvswitch-switch), and one restart would leave them down.
	// They are started, not restarted: one that runs is left alone (a
	// restarted ovs-vswitchd on the userspace datapath loses its ports).
	if bf, ok := f.(BootRepairer); ok {
		var behind []string
		for _, u := range cfg.Units {
			e, found := rep.Get(UnitID(u))
			if !found || e.Status != checks.Skip || restarted[u] {
				continue
			}
			if slices.ContainsFunc(e.RootCauses, func(id string) bool {
				unit, isUnit := strings.CutPrefix(id, UnitID(""))
				return isUnit && restarted[unit]
			}) {
				behind = append(behind, u)
			}
		}
		if len(behind) > 0 {
			out = append(out, Repair{For: UnitID(behind[0]),
				Description: "start " + strings.Join(behind, ", ") + " where stopped (not checked behind a unit that was down)",
				Run: func(ctx context.Context) error {
					_, err := bf.StartStopped(ctx, behind)
					return err
				}})
			for _, u := range behind {
				restarted[u] = true
			}
		}
	}
	if failed(IDMemcached) && !failed(UnitID("memcached")) {
		out = append(out, Repair{For: IDMemcached, Description: "restore memcached's listen address 127.0.0.1," + cfg.MgmtIP + " in /etc/memcached.conf and restart memcached",
			Run: func(ctx context.Context) error {
				if _, err := f.RestoreMemcached(ctx); err != nil {
					return err
				}
				return f.Restart(ctx, "memcached")
			}})
	}
	// RabbitMQ's password for the lab user was changed behind the
	// services' back: they all still use the one doctor logged in with, so
	// setting it back is the repair that touches no service.
	if rf, ok := f.(RabbitRepairer); ok && failed(IDRabbitMQ) && cfg.RabbitUser != "" && cfg.RabbitPassword != "" {
		if e, _ := rep.Get(IDRabbitMQ); strings.HasPrefix(e.Summary, rabbitUserRefused) {
			user, pw := cfg.RabbitUser, cfg.RabbitPassword
			out = append(out, Repair{For: IDRabbitMQ,
				Description: "set RabbitMQ's password for " + user + " back to the one in the services' transport_url (rabbitmqctl change_password, the password on its standard input)",
				Run:         func(ctx context.Context) error { return rf.SetRabbitPassword(ctx, user, pw) }})
		}
	}
	if failed(IDKeystone) && !failed(UnitID("keystone")) {
		restart("keystone", IDKeystone, "running but not answering")
	}
	if failed(IDCatalog) {
		if e, _ := rep.Get(IDCatalog); slices.ContainsFunc(e.Evidence, func(s string) bool { return strings.HasPrefix(s, "wrong address:") }) {
			out = append(out, Repair{For: IDCatalog, Description: "re-point the catalog's endpoints to " + cfg.MgmtIP + " (identity converge)",
				Run: func(ctx context.Context) error {
					_, err := f.ConvergeCatalog(ctx)
					return err
				}})
		}
	}
	if dashboardHung(rep) {
		restart(DashboardUnit, IDDashboardPage, "Horizon accepts connections but never answers")
	}
	if failed(IDDashboardPage) {
		if e, _ := rep.Get(IDDashboardPage); strings.Contains(e.Summary, "ALLOWED_HOSTS") {
			out = append(out, Repair{For: IDDashboardPage, Description: "add " + cfg.MgmtIP + " to Horizon's ALLOWED_HOSTS and restart apache2",
				Run: func(ctx context.Context) error {
					if _, err := f.AllowMgmtHost(ctx); err != nil {
						return err
					}
					return f.Restart(ctx, "apache2")
				}})
		}
	}
	if kf, ok := f.(KeystoneURLRepairer); ok && failed(IDDashboardKeystone) {
		e, _ := rep.Get(IDDashboardKeystone)
		if strings.HasPrefix(e.Summary, keystoneURLDead) || strings.HasPrefix(e.Summary, keystoneURLUnset) {
			file := HorizonSettingsFiles[0]
			out = append(out, Repair{For: IDDashboardKeystone,
				Description: fmt.Sprintf("set OPENSTACK_KEYSTONE_URL = %q in %s (the old file kept as %s) and restart apache2",
					HorizonKeystoneURL(cfg.MgmtIP), file, file+HorizonBackupSuffix),
				Run: func(ctx context.Context) error {
					changed, err := kf.SetHorizonKeystoneURL(ctx)
					if err != nil || !changed {
						return err
					}
					return f.Restart(ctx, "apache2")
				}})
		}
	}
	// A service whose unit runs but that stopped reporting in: restart it.
	if failed(IDComputeServices) && !failed(UnitID("nova-compute")) && slices.Contains(cfg.Units, "nova-compute") {
		if e, _ := rep.Get(IDComputeServices); strings.Contains(e.Summary, "down") {
			restart("nova-compute", IDComputeServices, "running but reported down")
		}
	}
	if failed(IDNetworkAgents) {
		e, _ := rep.Get(IDNetworkAgents)
		types := openstack.AgentTypeByUnit()
		for _, unit := range cfg.Units { // in dependency order
			if typ, ok := types[unit]; ok && strings.Contains(e.Summary, typ+" on ") && !failed(UnitID(unit)) {
				restart(unit, IDNetworkAgents, "running but not alive in neutron")
			}
		}
	}
	if failed(IDCellMapping) {
		out = append(out, Repair{For: IDCellMapping, Description: "map the compute host to its cell (nova-manage cell_v2 discover_hosts)",
			Run: f.DiscoverHosts})
	}
	return append(out, planCauses(rep, cfg, f)...)
}

// dashboardHung: the login page hung while apache2 runs, Horizon's WSGI
// daemon wedged; a restart of apache2 starts a fresh one.
func dashboardHung(rep checks.Report) bool {
	e, ok := rep.Get(IDDashboardPage)
	u, _ := rep.Get(UnitID(DashboardUnit))
	return ok && e.Status == checks.Fail && strings.HasSuffix(e.Summary, hungSummary) && u.Status != checks.Fail
}

// Change is one check whose status a repair changed.
type Change struct {
	ID            string
	Before, After checks.Status
	AfterSummary  string
	BeforeSummary string
	StillFailing  bool
}

// Compare lists the checks whose status differs between two reports.
func Compare(before, after checks.Report) []Change {
	var out []Change
	for _, b := range before.Entries {
		a, ok := after.Get(b.ID)
		if !ok || a.Status == b.Status {
			continue
		}
		out = append(out, Change{ID: b.ID, Before: b.Status, After: a.Status, BeforeSummary: b.Summary, AfterSummary: a.Summary,
			StillFailing: a.Status == checks.Fail})
	}
	return out
}

// String renders a change as "id: fail → ok (summary)".
func (c Change) String() string {
	return fmt.Sprintf("%s: %s → %s (%s)", c.ID, c.Before, c.After, c.AfterSummary)
}
