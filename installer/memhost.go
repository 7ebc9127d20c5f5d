package installer

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/stacklab/stacklab/installer/apt"
	"github.com/stacklab/stacklab/installer/identity"
	"github.com/stacklab/stacklab/installer/openstack"
	"github.com/stacklab/stacklab/internal/cloud"
	"github.com/stacklab/stacklab/internal/systemd"
)

// MemHost is an in-memory Host for tests of the phases and of the CLI. It
// simulates what the real machine does in the ways the phases can observe:
// installing the packages ships their configuration files and units,
// started units are active, the database statements and sync commands take
// effect. Every side effect that changes something is appended to Log, so a
// test asserts "a second run changes nothing" as "Log stays empty".
type MemHost struct {
	mu sync.Mutex
	p  openstack.Params

	Files     map[string][]byte
	Installed map[string]string // package -> version
	// Manual holds the packages apt was asked for by name, which apt
	// marks manually installed (kept by a purge's autoremove).
	Manual map[string]bool
	// InstallOptions are the options of each Install call, in order.
	InstallOptions []apt.InstallOptions
	// VersionQueries counts Versions calls (each a dpkg-query on a host).
	VersionQueries int
	// Units maps a unit to its ActiveState; a unit absent is not found.
	Units map[string]string
	// UnitFiles maps a unit to its UnitFileState (enabled, disabled, ...).
	UnitFiles map[string]string
	// FailProbes makes the probes of these targets fail.
	FailProbes map[string]bool
	// HangProbes makes the probes of these targets time out, as a service
	// that accepts and never answers, until the unit named is restarted.
	HangProbes map[string]string
	// FailStart makes starting these units fail.
	FailStart map[string]bool
	// ExitAfterStart makes these units start and then exit, as
	// nova-compute does when libvirt refuses it.
	ExitAfterStart map[string]bool
	// Leftover answers pgrep -f for a command's pattern with a pid the
	// next N times, as a sync an interrupted install left running.
	Leftover map[string]int
	// FailRuns makes the next N runs of a command (its argv joined by
	// spaces) fail, as a sync does on a half-made schema.
	FailRuns map[string]int
	// InstallErrors are returned, one per call and in order, by the first
	// Install calls, which then install nothing (a failed apt run).
	InstallErrors []error
	// Journal is what JournalTail returns per unit.
	Journal map[string][]string
	// Log lists the changing side effects in order.
	Log []string
	// Commands lists every command run, read-only ones included.
	Commands []Cmd
	// Reloads counts daemon-reloads.
	Reloads int
	// Bridges is the Open vSwitch database: bridge -> ports. It answers
	// only while ovsdb-server is active, as the real one.
	Bridges map[string][]string
	// Guests are libvirt's domains (virsh list --all --name); nil: no
	// libvirt to ask.
	Guests []string
	// Started is when each unit last started; Probed, the start each
	// probe target was given (the probe's Unit's).
	Started, Probed map[string]time.Time

	dbDone, credsDone, identityDone bool
	unlessOK                        map[string]bool
}

// NewMemHost returns a fresh machine: nothing installed, nothing running.
func NewMemHost(p openstack.Params) *MemHost {
	return &MemHost{
		p: p, Files: map[string][]byte{}, Installed: map[string]string{}, Manual: map[string]bool{}, Units: map[string]string{}, UnitFiles: map[string]string{},
		FailProbes: map[string]bool{}, HangProbes: map[string]string{}, FailStart: map[string]bool{}, ExitAfterStart: map[string]bool{}, FailRuns: map[string]int{}, Leftover: map[string]int{},
		Journal: map[string][]string{},
		Started: map[string]time.Time{}, Probed: map[string]time.Time{},
		Bridges:  map[string][]string{},
		unlessOK: map[string]bool{},
	}
}

// Host returns m as a Host.
func (m *MemHost) Host() Host {
	return Host{Files: m, Units: m, Exec: m, Packages: m, Probes: m, Cloud: m, Switch: m}
}

func (m *MemHost) switchAnswers() error {
	if m.Units[openstack.UnitOVSDB] != "active" {
		return fmt.Errorf("ovs-vsctl: unix:%s: database connection failed", openstack.OVSDBSock)
	}
	return nil
}

// ConvergeBridges makes the wanted bridges with their ports.
func (m *MemHost) ConvergeBridges(_ context.Context, want []openstack.Bridge, dryRun bool) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.switchAnswers(); err != nil {
		return nil, err
	}
	var changes []string
	for _, b := range want {
		ports, ok := m.Bridges[b.Name]
		if !ok {
			changes = append(changes, "add bridge "+b.Name)
		}
		for _, p := range b.Ports {
			if !slices.Contains(ports, p) {
				changes = append(changes, "add port "+p+" to bridge "+b.Name)
				ports = append(ports, p)
			}
		}
		if !dryRun && (!ok || len(ports) != len(m.Bridges[b.Name])) {
			m.Bridges[b.Name] = ports
		}
	}
	if !dryRun {
		m.Log = append(m.Log, changes...)
	}
	return changes, nil
}

// RemoveBridges deletes the named bridges.
func (m *MemHost) RemoveBridges(_ context.Context, names []string, dryRun bool) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.switchAnswers(); err != nil {
		return nil, err
	}
	var changes []string
	for _, n := range names {
		if _, ok := m.Bridges[n]; !ok {
			continue
		}
		changes = append(changes, "delete bridge "+n)
		if !dryRun {
			delete(m.Bridges, n)
			m.Log = append(m.Log, "delete bridge "+n)
		}
	}
	return changes, nil
}

// ResetLog clears Log and Commands.
func (m *MemHost) ResetLog() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.Log, m.Commands = nil, nil
}

// TakeLog returns Log and clears it.
func (m *MemHost) TakeLog() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	l := m.Log
	m.Log, m.Commands = nil, nil
	return l
}

func (m *MemHost) logf(format string, a ...any) { m.Log = append(m.Log, fmt.Sprintf(format, a...)) }

func (m *MemHost) ReadFile(p string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.Files[p]
	if !ok {
		return nil, &fs.PathError{Op: "open", Path: p, Err: fs.ErrNotExist}
	}
	return slices.Clone(b), nil
}

func (m *MemHost) WriteFile(p string, data []byte, _ Perm) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.Files[p] = slices.Clone(data)
	m.logf("write %s", p)
	return nil
}

func (m *MemHost) Exists(p string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.Files[p]
	if !ok {
		// A directory exists while it holds a file.
		for f := range m.Files {
			if strings.HasPrefix(f, strings.TrimSuffix(p, "/")+"/") {
				return true, nil
			}
		}
	}
	return ok, nil
}

func (m *MemHost) RemoveAll(p string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for f := range m.Files {
		if f == p || strings.HasPrefix(f, strings.TrimSuffix(p, "/")+"/") {
			delete(m.Files, f)
			m.logf("remove %s", f)
		}
	}
	return nil
}

func (m *MemHost) Remove(p string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.Files[p]; ok {
		delete(m.Files, p)
		m.logf("remove %s", p)
	}
	return nil
}

func (m *MemHost) States(_ context.Context, units ...string) ([]systemd.UnitState, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]systemd.UnitState, len(units))
	for i, u := range units {
		s := systemd.UnitState{Name: u + ".service", LoadState: "not-found", ActiveState: "inactive", SubState: "dead"}
		if a, ok := m.Units[u]; ok {
			s.LoadState, s.ActiveState, s.UnitFileState = "loaded", a, m.UnitFiles[u]
			if a == "active" {
				s.SubState, s.Since = "running", m.Started[u]
			}
		}
		out[i] = s
	}
	return out, nil
}

func (m *MemHost) start(u, op string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.Units[u]; !ok {
		return fmt.Errorf("unit %s.service not found", u)
	}
	m.logf("%s %s", op, u)
	if m.FailStart[u] {
		m.Units[u] = "failed"
		return fmt.Errorf("%s %s.service: job failed (result: failed)", op, u)
	}
	m.Units[u] = "active"
	m.Started[u] = time.Now()
	for target, unit := range m.HangProbes {
		if unit == u && op == "restart" {
			delete(m.HangProbes, target)
		}
	}
	if m.ExitAfterStart[u] {
		m.Units[u] = "inactive"
	}
	return nil
}

func (m *MemHost) Start(_ context.Context, u string) error   { return m.start(u, "start") }
func (m *MemHost) Restart(_ context.Context, u string) error { return m.start(u, "restart") }

func (m *MemHost) Stop(_ context.Context, u string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.Units[u] != "" && m.Units[u] != "inactive" {
		m.Units[u] = "inactive"
		m.logf("stop %s", u)
	}
	return nil
}

func (m *MemHost) setUnitFiles(op, state string, units []string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, u := range units {
		if _, ok := m.Units[u]; !ok {
			return fmt.Errorf("%s %s.service: unit file does not exist", op, u)
		}
	}
	for _, u := range units {
		if m.UnitFiles[u] != state {
			m.UnitFiles[u] = state
			m.logf("%s %s", op, u)
		}
	}
	return nil
}

func (m *MemHost) Enable(_ context.Context, units ...string) error {
	return m.setUnitFiles("enable", "enabled", units)
}

func (m *MemHost) Disable(_ context.Context, units ...string) error {
	return m.setUnitFiles("disable", "disabled", units)
}

// DaemonReload is counted, not logged: it changes nothing a test could
// see again.
func (m *MemHost) DaemonReload(context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.Reloads++
	return nil
}

func (m *MemHost) JournalTail(_ context.Context, u string, n int) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	l := m.Journal[u]
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return slices.Clone(l), nil
}

func (m *MemHost) Run(_ context.Context, c Cmd) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.Commands = append(m.Commands, c)
	fail := func(out string) ([]byte, error) {
		return []byte(out), &ExecError{User: c.User, Argv: redactAll(c.Argv, c.Redact), ExitCode: 1, Output: out}
	}
	if len(c.Argv) > 0 && c.Argv[0] == "mysql" {
		if m.Units["mariadb"] != "active" {
			return fail("ERROR 2002 (HY000): Can't connect to local server through socket")
		}
		if c.ReadOnly {
			return []byte(m.dbRows()), nil
		}
		m.dbDone = true
		if strings.HasPrefix(c.Stdin, "DROP DATABASE") {
			m.logf("exec mysql: %s", strings.ReplaceAll(strings.TrimSpace(c.Stdin), "\n", " "))
			return nil, nil
		}
		m.logf("exec mysql")
		return nil, nil
	}
	if len(c.Argv) > 2 && c.Argv[0] == "virsh" {
		return m.virsh(c.Argv[3:])
	}
	key := strings.Join(c.Argv, " ")
	if len(c.Argv) == 4 && c.Argv[0] == "pgrep" {
		if m.Leftover[c.Argv[3]] > 0 {
			m.Leftover[c.Argv[3]]--
			return []byte("4242\n"), nil
		}
		return fail("")
	}
	if m.FailRuns[key] > 0 {
		m.FailRuns[key]--
		m.logf("exec %s (fails)", strings.Join(redactAll(c.Argv, c.Redact), " "))
		return fail("sqlalchemy.exc.OperationalError: (1050, \"Table 'project' already exists\")")
	}
	if c.ReadOnly {
		if m.unlessOK[key] {
			return nil, nil
		}
		return fail("")
	}
	m.logf("exec %s", strings.Join(redactAll(c.Argv, c.Redact), " "))
	for _, sc := range openstack.SyncCommands(m.p) {
		if len(sc.Unless) > 0 && slices.Equal(sc.Argv, c.Argv) {
			m.unlessOK[strings.Join(sc.Unless, " ")] = true
		}
	}
	return nil, nil
}

// dbRows is what readSQL returns once the databases were created.
func (m *MemHost) dbRows() string {
	var b strings.Builder
	b.WriteString("db\tmysql\t\t\n")
	if !m.dbDone {
		return b.String()
	}
	users := map[string]bool{}
	for _, d := range openstack.Databases(m.p) {
		fmt.Fprintf(&b, "db\t%s\t\t\n", d.Name)
		for _, h := range d.Hosts {
			if !users[d.User+"@"+h] {
				users[d.User+"@"+h] = true
				fmt.Fprintf(&b, "user\t%s\t%s\t%s\n", d.User, h, nativePasswordHash(d.Password))
			}
			fmt.Fprintf(&b, "grant\t%s\t%s\t%s\n", d.Name, d.User, h)
		}
	}
	return b.String()
}

func (m *MemHost) Missing(_ context.Context, pkgs []string) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for _, p := range pkgs {
		if _, ok := m.Installed[p]; !ok {
			out = append(out, p)
		}
	}
	return out, nil
}

func (m *MemHost) Preseed(_ context.Context, sels []apt.Selection) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.logf("preseed %d", len(sels))
	return true, nil
}

func (m *MemHost) Purge(_ context.Context, pkgs []string, _ apt.InstallOptions) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.logf("purge %s", strings.Join(pkgs, " "))
	for _, p := range pkgs {
		delete(m.Installed, p)
	}
	return nil
}

// Install installs pkgs and, as the real packages do, ships the
// configuration files the lab edits and the units it starts; the
// postinst enables Apache's default-ssl site.
func (m *MemHost) Install(_ context.Context, pkgs []string, opts apt.InstallOptions) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.InstallOptions = append(m.InstallOptions, opts)
	m.logf("install %s", strings.Join(pkgs, " "))
	var err error
	var unconfigured []string
	if len(m.InstallErrors) > 0 {
		err = m.InstallErrors[0]
		m.InstallErrors = m.InstallErrors[1:]
		// As dpkg does, a failure while configuring leaves everything
		// else installed and the failed packages unconfigured; any other
		// failure installs nothing.
		var ce *apt.CommandError
		if !errors.As(err, &ce) || !ce.ConfigureFailed() {
			return err
		}
		unconfigured = ce.FailedPackages()
	}
	for _, p := range pkgs {
		m.Installed[p] = "1.0-1"
		m.Manual[p] = true
	}
	for _, c := range []string{"keystone", "glance-common", "placement-common", "nova-common", "neutron-common", "openstack-dashboard", "rabbitmq-server"} {
		m.Installed[c] = "1.0-1"
	}
	for _, p := range unconfigured {
		delete(m.Installed, p)
	}
	if err != nil {
		return err
	}
	for _, f := range openstack.Files(m.p) {
		if _, ok := m.Files[f.Path]; ok {
			continue
		}
		switch f.Kind {
		case openstack.INI:
			m.Files[f.Path] = []byte("[DEFAULT]\n# shipped by the package\n")
		case openstack.Flat:
			m.Files[f.Path] = []byte("#cgroup_controllers = [ \"cpu\" ]\n")
		case openstack.PythonSettings:
			m.Files[f.Path] = []byte("# shipped by the package\nDEBUG = False\n")
		case openstack.Absent:
			m.Files[f.Path] = []byte("<VirtualHost _default_:443>\n")
		}
	}
	// Debian leaves some units disabled when debconf is told not to
	// configure their service (placement-api, neutron's), and enables
	// units of packages the lab does not use.
	for _, u := range openstack.Units(m.p) {
		if _, ok := m.Units[u]; !ok {
			m.Units[u] = "inactive"
			m.UnitFiles[u] = "enabled"
			if u == "placement-api" || strings.HasPrefix(u, "neutron-") {
				m.UnitFiles[u] = "disabled"
			}
		}
	}
	for _, u := range openstack.UnwantedUnits(m.p) {
		if _, ok := m.Units[u]; !ok {
			m.Units[u], m.UnitFiles[u] = "inactive", "enabled"
		}
	}
	return nil
}

func (m *MemHost) HoldServices() (func() error, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.logf("hold services")
	return func() error {
		m.mu.Lock()
		defer m.mu.Unlock()
		m.logf("release services")
		return nil
	}, nil
}

func (m *MemHost) Versions(_ context.Context, pkgs []string) (map[string]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.VersionQueries++
	v := map[string]string{}
	for _, p := range pkgs {
		if ver, ok := m.Installed[p]; ok {
			v[p] = ver
		}
	}
	return v, nil
}

func (m *MemHost) Probe(ctx context.Context, p openstack.Probe, since time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.Probed[p.Target] = since
	if m.FailProbes[p.Target] {
		return fmt.Errorf("dial %s: connection refused", p.Target)
	}
	if _, ok := m.HangProbes[p.Target]; ok {
		return fmt.Errorf("GET %s: %w", p.Target, os.ErrDeadlineExceeded)
	}
	return ctx.Err()
}

func (m *MemHost) WriteCredentials(_ cloud.CloudEntry, dryRun bool) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.credsDone {
		return nil, nil
	}
	if !dryRun {
		m.credsDone = true
		m.logf("write credentials")
	}
	return []string{"write " + cloud.DefaultCloudsFile, "write " + cloud.DefaultOpenRC}, nil
}

func (m *MemHost) ConvergeIdentity(_ context.Context, _ cloud.CloudEntry, spec identity.Spec, dryRun bool) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.Units["keystone"] != "active" {
		return nil, errors.New("keystone unreachable")
	}
	if m.identityDone {
		return nil, nil
	}
	if !dryRun {
		m.identityDone = true
		m.logf("converge identity")
	}
	return []string{fmt.Sprintf("create %d services", len(spec.Services))}, nil
}

// virsh answers `virsh --connect URI ARGS...` from Guests (locked by Run).
func (m *MemHost) virsh(args []string) ([]byte, error) {
	if m.Guests == nil {
		return nil, &ExecError{Argv: args, ExitCode: 1, Output: "virsh: not found"}
	}
	switch {
	case len(args) > 0 && args[0] == "list":
		return []byte(strings.Join(m.Guests, "\n") + "\n"), nil
	case len(args) == 2 && args[0] == "undefine":
		m.Guests = slices.DeleteFunc(m.Guests, func(g string) bool { return g == args[1] })
	}
	m.logf("exec virsh %s", strings.Join(args, " "))
	return nil, nil
}
