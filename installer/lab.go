package installer

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/stacklab/stacklab/installer/apt"
	"github.com/stacklab/stacklab/installer/labstate"
	"github.com/stacklab/stacklab/installer/openstack"
	"github.com/stacklab/stacklab/internal/cloud"
	"github.com/stacklab/stacklab/internal/fix"
	model "github.com/stacklab/stacklab/lab"
)

// Phase names of the lab install, in order. They are accepted by --only and
// --from.
const (
	PhasePreflight = "preflight"
	PhaseNet       = "net"
	PhasePackages  = "packages"
	PhaseInfra     = "infra"
	PhaseKeystone  = "keystone"
	PhaseGlance    = "glance"
	PhasePlacement = "placement"
	PhaseNova      = "nova"
	PhaseNeutron   = "neutron"
	PhaseHorizon   = "horizon"
	PhaseVerify    = "verify"
)

// servicePhases maps each configuring phase to its title and the tiers it
// brings up, in order.
var servicePhases = []struct {
	name, title string
	tiers       []string
}{
	{PhaseInfra, "MariaDB, RabbitMQ, memcached and the databases", []string{openstack.TierInfra}},
	{PhaseKeystone, "identity, credentials and service catalog", []string{openstack.TierKeystone}},
	{PhaseGlance, "image service", []string{openstack.TierGlance}},
	{PhasePlacement, "placement", []string{openstack.TierPlacement}},
	{PhaseNova, "compute control services and nova-compute", []string{openstack.TierNova, openstack.TierCompute}},
	{PhaseNeutron, "networking server and agents", []string{openstack.TierSwitch, openstack.TierNeutron, openstack.TierAgents}},
	{PhaseHorizon, "dashboard", []string{openstack.TierDashboard}},
}

// syncPackage names the package whose installed version a sync command's
// marker records, per tier: a new version of it may bring a migration.
var syncPackage = map[string]string{
	openstack.TierInfra:     "rabbitmq-server",
	openstack.TierKeystone:  "keystone",
	openstack.TierGlance:    "glance-common",
	openstack.TierPlacement: "placement-common",
	openstack.TierNova:      "nova-common",
	openstack.TierCompute:   "nova-common",
	openstack.TierNeutron:   "neutron-common",
	openstack.TierDashboard: "openstack-dashboard",
}

// HookFunc is a phase implemented elsewhere (preflight, net).
type HookFunc func(ctx context.Context, dryRun bool) (Outcome, error)

// LabOption tunes LabPhases.
type LabOption func(*labConfig)

type labConfig struct {
	stateDir     string
	logDir       string
	preflight    HookFunc
	net          HookFunc
	notify       func(phase, msg string)
	probeTimeout time.Duration
	verifyTime   time.Duration
	pollEvery    time.Duration
	hangRestart  time.Duration
	journalLines int
}

// WithStateDir sets where markers and pending restarts are kept (a path on
// the target; default /var/lib/stacklab).
func WithStateDir(dir string) LabOption { return func(c *labConfig) { c.stateDir = dir } }

// WithLogDir sets where apt's log goes (default /var/log/stacklab).
func WithLogDir(dir string) LabOption { return func(c *labConfig) { c.logDir = dir } }

// WithPreflight sets the preflight phase; without it the phase passes.
func WithPreflight(f HookFunc) LabOption { return func(c *labConfig) { c.preflight = f } }

// WithNet sets the net phase; without it the phase passes.
func WithNet(f HookFunc) LabOption { return func(c *labConfig) { c.net = f } }

// WithNotify receives progress notes within a phase ("312/970 packages",
// "waiting for keystone").
func WithNotify(f func(phase, msg string)) LabOption { return func(c *labConfig) { c.notify = f } }

// WithProbeTimeouts sets how long a tier may take to answer after its
// units started (default 5 min: Type=notify units have 90 s each and
// nova-compute must then report in), how long verify waits, and the
// polling interval.
func WithProbeTimeouts(tier, verify, poll time.Duration) LabOption {
	return func(c *labConfig) { c.probeTimeout, c.verifyTime, c.pollEvery = tier, verify, poll }
}

// WithHangRestart sets how long a tier's HTTP probe may connect and get no
// answer, its units running, before they are restarted once (default 60 s).
func WithHangRestart(d time.Duration) LabOption { return func(c *labConfig) { c.hangRestart = d } }

// lab is the state shared by the phases of one install.
type lab struct {
	h     Host
	p     openstack.Params
	cfg   labConfig
	files []openstack.File
	tiers map[string]openstack.Tier
	order []string // tier names in start order
	cmds  []openstack.Command
	// filePhase is the phase that applies each file (by index in files).
	filePhase []string
	// versions are the sync packages' installed versions, read in one
	// query when a sync first needs them (a re-run asked dpkg-query once
	// per sync command, about half of its time) and dropped when the
	// packages phase installs.
	versionsMu sync.Mutex
	versions   map[string]string
}

// LabPhases returns the ordered phases that build the lab described by p
// on h. p must be valid (Params.Validate).
func LabPhases(h Host, p openstack.Params, opts ...LabOption) []Phase {
	cfg := labConfig{
		stateDir:     "/var/lib/stacklab",
		logDir:       "/var/log/stacklab",
		notify:       func(string, string) {},
		probeTimeout: 5 * time.Minute,
		verifyTime:   time.Minute,
		pollEvery:    2 * time.Second,
		hangRestart:  time.Minute,
		journalLines: 20,
	}
	for _, o := range opts {
		o(&cfg)
	}
	l := &lab{h: h, p: p, cfg: cfg, files: openstack.Files(p), tiers: map[string]openstack.Tier{}, cmds: openstack.SyncCommands(p)}
	for _, t := range openstack.Tiers(p) {
		l.tiers[t.Name] = t
		l.order = append(l.order, t.Name)
	}
	l.filePhase = make([]string, len(l.files))
	for i, f := range l.files {
		l.filePhase[i] = l.phaseOfUnits(f.Units)
	}

	hook := func(f HookFunc) func(context.Context, bool) (Outcome, error) {
		if f == nil {
			return func(context.Context, bool) (Outcome, error) { return Outcome{}, nil }
		}
		return f
	}
	phases := []Phase{
		{Name: PhasePreflight, Title: "host checks", Converge: hook(cfg.preflight)},
		{Name: PhaseNet, Title: "external NIC", Converge: hook(cfg.net)},
		{Name: PhasePackages, Title: "Debian packages", Converge: l.packages},
	}
	for _, sp := range servicePhases {
		phases = append(phases, Phase{Name: sp.name, Title: sp.title, Converge: func(ctx context.Context, dryRun bool) (Outcome, error) {
			return l.service(ctx, sp.name, sp.tiers, dryRun)
		}})
	}
	phases = append(phases, Phase{Name: PhaseVerify, Title: "every service answers", Converge: l.verify})
	return phases
}

// PhaseNames lists the lab's phases in order, for usage messages.
func PhaseNames() []string {
	names := []string{PhasePreflight, PhaseNet, PhasePackages}
	for _, sp := range servicePhases {
		names = append(names, sp.name)
	}
	return append(names, PhaseVerify)
}

// phaseOfUnits is the phase whose tiers hold the first of units; a file
// restarting no known unit belongs to infra.
func (l *lab) phaseOfUnits(units []string) string {
	for _, u := range units {
		for _, sp := range servicePhases {
			for _, t := range sp.tiers {
				if slices.Contains(l.tiers[t].Units, u) {
					return sp.name
				}
			}
		}
	}
	return PhaseInfra
}

type outcome struct{ changes []string }

func (o *outcome) add(format string, a ...any) {
	o.changes = append(o.changes, fmt.Sprintf(format, a...))
}

func (o *outcome) result() Outcome { return Outcome{Changes: o.changes} }

// packages: PreInstall files, debconf answers, then the missing packages
// with the services held back.
func (l *lab) packages(ctx context.Context, dryRun bool) (Outcome, error) {
	var o outcome
	var pre []int
	for i, f := range l.files {
		if f.PreInstall {
			pre = append(pre, i)
		}
	}
	if err := l.applyFiles(ctx, pre, dryRun, &o, nil); err != nil {
		return o.result(), err
	}
	pkgs := openstack.Packages(l.p)
	missing, err := missingPackages(ctx, l.h.Packages, pkgs, openstack.StandIns(l.p))
	if err != nil {
		return o.result(), fix.Wrapf(err, "check that dpkg works: dpkg --audit")
	}
	if len(missing) == 0 {
		return o.result(), nil
	}
	var sels []apt.Selection
	for _, s := range openstack.Preseeds(l.p) {
		sels = append(sels, apt.Selection{Owner: s.Owner, Question: s.Question, Type: s.Type, Value: s.Value})
	}
	if dryRun {
		o.add("preseed up to %d debconf answers", len(sels))
		o.add("install %d packages: %s", len(missing), strings.Join(missing, " "))
		return o.result(), nil
	}
	changed, err := l.h.Packages.Preseed(ctx, sels)
	if err != nil {
		return o.result(), fix.Wrapf(err, "check debconf: debconf-show keystone")
	}
	if changed {
		o.add("preseed debconf answers")
	}
	release, err := l.h.Packages.HoldServices()
	if err != nil {
		return o.result(), err
	}
	opts := apt.InstallOptions{
		Exclude: openstack.ExcludedPackages(l.p),
		LogPath: l.cfg.logDir + "/apt.log",
		// One sync after apt instead of an fsync per file: Debian 13's
		// cold apt run took 609 s instead of 674 s in CI (unpack 241 s
		// instead of 267 s), the Debian 12 host installing beside it.
		UnsafeIO: true,
		// What the lab's packages only recommend is not what the lab
		// runs (compilers, GTK, GStreamer, matplotlib, GDAL, every
		// libvirt storage driver): 1128 packages become 718 on Debian 12
		// and 1157 become 713 on Debian 13. What a service does use
		// from its Recommends is named in its package list instead.
		NoRecommends: true,
		// The packages' test suites, a third of the lab's Python modules,
		// are left out of the postinsts' byte-compiling: nothing of the
		// lab imports them.
		SkipTestsBytecode: true,
		Progress: func(pr apt.Progress) {
			if pr.Total > 0 {
				l.cfg.notify(PhasePackages, fmt.Sprintf("%s %d/%d", pr.Phase, pr.Done, pr.Total))
			} else {
				l.cfg.notify(PhasePackages, fmt.Sprintf("%s %.0f%%", pr.Phase, pr.Percent))
			}
		},
	}
	l.forgetVersions()
	err = l.h.Packages.Install(ctx, missing, opts)
	// openstack-dashboard's postinst compresses Horizon's assets with
	// pyScss, which now and then fails with a syntax error on the very
	// files it compiles on the next try (seen on a fresh Debian 12 lab
	// host; the same packages passed before and after). The packages are
	// unpacked: configure them once more before giving up. The failed
	// packages are asked about too: when the failure is in a trigger run
	// after everything named was configured (CI58: openstack-dashboard, a
	// dependency, left half-configured with half an offline manifest,
	// and Horizon answered 500 to every page), only they are left to do.
	// apt is given the same names as the first time, never a failed
	// dependency's: it configures whatever dpkg left pending anyway, and
	// naming an installed dependency marks it manually installed, which
	// kept openstack-dashboard through uninstall's autoremove (CI65).
	var ce *apt.CommandError
	if errors.As(err, &ce) && ce.ConfigureFailed() && ctx.Err() == nil {
		l.cfg.notify(PhasePackages, fmt.Sprintf("%s failed to configure; configuring again", ce.FailedPackage()))
		asked := slices.Clone(pkgs)
		for _, f := range ce.FailedPackages() {
			if !slices.Contains(asked, f) {
				asked = append(asked, f)
			}
		}
		var left []string
		if left, err = l.h.Packages.Missing(ctx, asked); err == nil {
			if len(left) == 0 {
				// dpkg said it failed: nothing left to configure
				// would be a state this retry does not understand.
				err = ce
			} else {
				err = l.h.Packages.Install(ctx, missing, opts)
			}
		}
		if err == nil {
			o.add("configure again after %s's maintainer script failed once", ce.FailedPackage())
		}
	}
	if rerr := release(); rerr != nil && err == nil {
		err = rerr
	}
	if err != nil {
		return o.result(), fix.Wrapf(err, "read %s/apt.log, fix the package problem (often: another apt run, or the mirror), then run: stacklab install --from packages", l.cfg.logDir)
	}
	o.add("install %d packages", len(missing))
	return o.result(), nil
}

// missingPackages are those of pkgs that are not installed, leaving out
// any whose stand-in is: one dpkg query for both.
func missingPackages(ctx context.Context, pm Packages, pkgs []string, standIns map[string][]string) ([]string, error) {
	absent, err := pm.Missing(ctx, withStandIns(pkgs, standIns))
	if err != nil {
		return nil, err
	}
	standsIn := func(a string) bool { return !slices.Contains(absent, a) }
	var missing []string
	for _, p := range pkgs {
		if slices.Contains(absent, p) && !slices.ContainsFunc(standIns[p], standsIn) {
			missing = append(missing, p)
		}
	}
	return missing, nil
}

// withStandIns is pkgs followed by their stand-ins, in a stable order.
func withStandIns(pkgs []string, standIns map[string][]string) []string {
	out := slices.Clone(pkgs)
	for _, pkg := range slices.Sorted(maps.Keys(standIns)) {
		out = append(out, standIns[pkg]...)
	}
	return out
}

// service converges one configuring phase: files, then each tier in order
// (sync commands, start/restart, wait for its probes, after-ready work).
func (l *lab) service(ctx context.Context, phase string, tiers []string, dryRun bool) (Outcome, error) {
	var o outcome
	var idx []int
	for i := range l.files {
		if l.filePhase[i] == phase {
			idx = append(idx, i)
		}
	}
	restart := map[string]bool{}
	if err := l.applyFiles(ctx, idx, dryRun, &o, restart); err != nil {
		return o.result(), err
	}
	pending, err := l.readPending()
	if err != nil {
		return o.result(), err
	}
	for _, u := range pending {
		restart[u] = true
	}
	for _, tn := range tiers {
		t, ok := l.tiers[tn]
		if !ok {
			continue
		}
		if err := l.runCommands(ctx, t.Name, openstack.BeforeStart, dryRun, &o); err != nil {
			return o.result(), err
		}
		if err := l.startTier(ctx, phase, t, restart, dryRun, &o); err != nil {
			return o.result(), err
		}
		if !dryRun {
			l.cfg.notify(phase, "waiting for "+t.Name)
			if err := l.waitTier(ctx, phase, t, l.cfg.probeTimeout); err != nil {
				return o.result(), err
			}
			if err := l.clearPending(t.Units); err != nil {
				return o.result(), err
			}
		}
		switch t.Name {
		case openstack.TierInfra:
			if err := l.databases(ctx, dryRun, &o); err != nil {
				return o.result(), err
			}
		case openstack.TierKeystone:
			if err := l.identity(ctx, dryRun, &o); err != nil {
				return o.result(), err
			}
		case openstack.TierSwitch:
			if err := l.bridges(ctx, dryRun, &o); err != nil {
				return o.result(), err
			}
		}
		if err := l.runCommands(ctx, t.Name, openstack.AfterReady, dryRun, &o); err != nil {
			return o.result(), err
		}
	}
	return o.result(), nil
}

// identity writes the admin credentials and converges keystone's service
// users and catalog.
// bridges makes br-int and br-ex (with the external NIC) once the switch
// answers and before the agents start: the agent would make them only
// with its own datapath and never add the NIC.
func (l *lab) bridges(ctx context.Context, dryRun bool, o *outcome) error {
	want := openstack.OVSBridges(l.p)
	if len(want) == 0 {
		return nil
	}
	if l.h.Switch == nil {
		return fmt.Errorf("the lab runs on Open vSwitch but this host has no switch to converge its bridges with")
	}
	ch, err := l.h.Switch.ConvergeBridges(ctx, want, dryRun)
	o.changes = append(o.changes, ch...)
	if err != nil {
		return fix.Wrapf(err, "systemctl status ovsdb-server ovs-vswitchd; journalctl -u ovs-vswitchd -n 50")
	}
	return nil
}

func (l *lab) identity(ctx context.Context, dryRun bool, o *outcome) error {
	m := model.Of(l.p)
	entry := m.Admin()
	ch, err := l.h.Cloud.WriteCredentials(entry, dryRun)
	if err != nil {
		return fix.Wrapf(err, "check that %s and %s are writable", cloud.DefaultCloudsFile, cloud.DefaultOpenRC)
	}
	o.changes = append(o.changes, ch...)
	spec, err := m.Catalog()
	if err != nil {
		return err
	}
	ch, err = l.h.Cloud.ConvergeIdentity(ctx, entry, spec, dryRun)
	if err != nil {
		if dryRun {
			o.add("converge keystone's service users and catalog (keystone not readable yet: %v)", err)
			return nil
		}
		return fix.Wrapf(err, "check keystone: journalctl -u keystone; then run: stacklab install --from keystone")
	}
	o.changes = append(o.changes, ch...)
	return l.recordState(dryRun, o)
}

// recordState keeps the management address the catalog now points at in
// the state dir. It is written here, once the catalog converged, because
// the catalog is what ties the whole lab to one address; doctor compares
// the host's current address with this record.
func (l *lab) recordState(dryRun bool, o *outcome) error {
	file := path.Join(l.cfg.stateDir, labstate.File)
	want := labstate.State{MgmtIP: l.p.MgmtIP}
	b, err := l.h.Files.ReadFile(file)
	switch {
	case err == nil:
		if cur, derr := labstate.Decode(b); derr == nil && cur == want {
			return nil
		}
	case !errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("read %s: %w", file, err)
	}
	o.add("record management address %s in %s", want.MgmtIP, file)
	if dryRun {
		return nil
	}
	if err := l.h.Files.WriteFile(file, want.Encode(), Perm{Mode: 0o644, Owner: "root", Group: "root"}); err != nil {
		return fix.Wrapf(err, "check that %s is writable and the disk is not full", file)
	}
	return nil
}

// verify waits for every tier's probes once more: the whole lab answers,
// and it will again after a reboot.
func (l *lab) verify(ctx context.Context, dryRun bool) (Outcome, error) {
	if dryRun {
		return Outcome{}, nil
	}
	for _, tn := range l.order {
		l.cfg.notify(PhaseVerify, tn)
		if err := l.waitTier(ctx, PhaseVerify, l.tiers[tn], l.cfg.verifyTime); err != nil {
			return Outcome{}, err
		}
	}
	return Outcome{}, l.verifyBoot(ctx)
}

// verifyBoot fails when a lab unit would not start at boot: the lab
// answers now and is dead after the next reboot.
func (l *lab) verifyBoot(ctx context.Context) error {
	units := openstack.Units(l.p)
	states, err := l.h.Units.States(ctx, units...)
	if err != nil {
		return fix.Wrapf(err, "check systemd: systemctl is-system-running")
	}
	var off []string
	for i, st := range states {
		if !st.StartsAtBoot() {
			off = append(off, fmt.Sprintf("%s (%s)", units[i], cmp.Or(st.UnitFileState, st.LoadState)))
		}
	}
	if len(off) == 0 {
		return nil
	}
	return fix.Errorf("run: stacklab install --yes   (it enables them)", "%d lab units would not start at boot: %s", len(off), strings.Join(off, ", "))
}

// phaseOfTier names the phase that brings tier up.
func phaseOfTier(tier string) string {
	for _, sp := range servicePhases {
		if slices.Contains(sp.tiers, tier) {
			return sp.name
		}
	}
	return PhaseVerify
}
