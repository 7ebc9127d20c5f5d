package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gophercloud/gophercloud/v2/openstack/config/clouds"
	"github.com/urfave/cli/v3"

	"github.com/stacklab/stacklab/checks"
	"github.com/stacklab/stacklab/checks/doctor"
	"github.com/stacklab/stacklab/checks/doctor/labfind"
	"github.com/stacklab/stacklab/checks/host"
	"github.com/stacklab/stacklab/checks/nics"
	"github.com/stacklab/stacklab/installer/config"
	"github.com/stacklab/stacklab/installer/labstate"
	"github.com/stacklab/stacklab/installer/openstack"
	"github.com/stacklab/stacklab/installer/ovs"
	"github.com/stacklab/stacklab/internal/cloud"
	"github.com/stacklab/stacklab/internal/safefile"
	"github.com/stacklab/stacklab/internal/systemd"
	"github.com/stacklab/stacklab/lab"
	"github.com/stacklab/stacklab/netcfg"
)

// ovsSwitch is doctor's view of the lab's OVS database.
type ovsSwitch struct{ db ovs.DB }

func (o ovsSwitch) BridgePorts(ctx context.Context) (map[string][]string, error) {
	return ovs.BridgePorts(ctx, o.db)
}

// doctorSetup is what one doctor run checks and repairs with.
type doctorSetup struct {
	cfg      doctor.Config
	deps     doctor.Deps
	repairer doctor.Repairer // nil when repairs are impossible (remote cloud, not the lab host)
	// noFixWhy replaces the default "no repairs here" line when repairer is nil.
	noFixWhy string
	// plan, when repairer is nil, lists the repairs offered (a hand-made lab:
	// unit restarts only); askEach asks before each one unless --yes.
	plan    func(checks.Report) []doctor.Repair
	askEach bool
	// extra returns more checks for each run (the NIC layout on the lab
	// host); nil for none.
	extra func() []checks.Check
	// redact and files feed --bundle (lab host only).
	redact func(string) string
	files  []string
	close  func()
}

func (s doctorSetup) checks() []checks.Check {
	list := doctor.Checks(s.cfg, s.deps)
	if s.extra != nil {
		list = append(list, s.extra()...)
	}
	if s.redact != nil {
		list = labfind.RedactChecks(list, s.redact)
	}
	return redactURLPasswords(list)
}

// redactURLPasswords hides URL passwords (http://user:pw@host) in every
// result: a --cloud auth_url may carry one, and it reaches evidence through
// gophercloud's errors, which quote request URLs, in checks of every kind.
func redactURLPasswords(list []checks.Check) []checks.Check {
	out := make([]checks.Check, len(list))
	for i, c := range list {
		run := c.Run
		c.Run = func(ctx context.Context) checks.Result {
			r := run(ctx)
			r.Summary, r.Fix = cloud.RedactURLs(r.Summary), cloud.RedactURLs(r.Fix)
			ev := make([]string, len(r.Evidence))
			for j, e := range r.Evidence {
				ev[j] = cloud.RedactURLs(e)
			}
			r.Evidence = ev
			return r
		}
		out[i] = c
	}
	return out
}

// doctorOptions are what doctor's setup reads from the command line; up
// fills them from its own flags.
type doctorOptions struct {
	cloud, openrc, osCloud string
	// config, mgmtIf and extIf are --config, --mgmt-if and --ext-if ("" =
	// the default file, the configuration's NICs).
	config, mgmtIf, extIf string
}

func doctorOptionsFrom(c *cli.Command) doctorOptions {
	return doctorOptions{
		cloud: c.String("cloud"), openrc: c.String("openrc"), osCloud: c.String("os-cloud"),
		config: c.String("config"), mgmtIf: c.String("mgmt-if"), extIf: c.String("ext-if"),
	}
}

// doctorDeps builds the setup; tests replace it.
type doctorDeps struct {
	setup func(ctx context.Context, o doctorOptions) (doctorSetup, error)
	// settle bounds the wait for repaired services to answer; poll is the
	// interval between re-runs; stuck is how long failures with a repair
	// not yet run must hold before the next round runs it (services coming
	// back report in sooner: nova-compute every 10 s).
	settle, poll, stuck time.Duration
	// forgetTokens drops cached keystone tokens after repairs, which may
	// have re-pointed the catalog a cached token carries. Nil: none.
	forgetTokens func()
}

func (e *env) doctorCommand() *cli.Command {
	return e.doctorCommandWith(doctorDeps{setup: e.doctorSetup, settle: 90 * time.Second, poll: 3 * time.Second, stuck: 30 * time.Second, forgetTokens: forgetTokens})
}

func (e *env) doctorCommandWith(d doctorDeps) *cli.Command {
	return &cli.Command{
		Name:  "doctor",
		Usage: "find why the lab stopped working: root cause, evidence and fix (--fix repairs what is safe)",
		Description: "Checks the lab's units, MariaDB, RabbitMQ, memcached, keystone and the catalog,\n" +
			"the glance/placement/nova/neutron APIs, compute services, cells, placement\n" +
			"inventory, neutron agents and the dashboard (a real login), in dependency\n" +
			"order: a check whose dependency failed is skipped and names that root\n" +
			"cause. With --cloud NAME only the API checks run, against that cloud.\n" +
			"--fix applies only safe, reversible repairs (start/restart units in\n" +
			"dependency order, re-point catalog endpoints, ALLOWED_HOSTS, memcached's\n" +
			"listen address, cell host discovery, apache2 when Horizon hangs; a\n" +
			"restarted apache2 must answer or is restarted once more), shows each\n" +
			"first, then re-runs the checks (a second round repairs what the first\n" +
			"uncovered) and shows before → after. Exit code 1\n" +
			"when a check failed.",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "cloud", Usage: "check this clouds.yaml cloud's APIs (host checks are skipped)"},
			&cli.StringSliceFlag{Name: "skip", Usage: "skip a check by its ID (repeatable)"},
			&cli.BoolFlag{Name: "fix", Usage: "apply the safe repairs for what failed, then check again"},
			&cli.BoolFlag{Name: "dry-run", Usage: "with --fix: only show the repairs"},
			&cli.BoolFlag{Name: "yes", Aliases: []string{"y"}, Usage: "with --fix: do not ask for confirmation"},
			&cli.StringFlag{Name: "openrc", Usage: "on a lab installed by hand: read the admin's OS_* credentials from this file (never run)"},
			&cli.StringFlag{Name: "os-cloud", Usage: "on a lab installed by hand: log in as this clouds.yaml cloud"},
			&cli.StringFlag{Name: "bundle", Usage: "also write a support bundle (report, unit journals, configuration; secrets redacted) to this .tar.gz"},
			configFlag(),
		}, nicFlags()...),
		Action: func(ctx context.Context, c *cli.Command) error { return e.doctor(ctx, c, d) },
	}
}

func (e *env) doctor(ctx context.Context, c *cli.Command, d doctorDeps) error {
	s, err := d.setup(ctx, doctorOptionsFrom(c))
	if err != nil {
		return err
	}
	if s.close != nil {
		defer s.close()
	}
	opts := checks.Options{Skip: c.StringSlice("skip")}
	if err := checks.Validate(s.checks(), opts.Skip); err != nil {
		return &usageError{err: err}
	}
	runOnce := func(ctx context.Context) (checks.Report, time.Duration, error) {
		start := time.Now()
		rep, err := checks.Run(ctx, s.checks(), opts)
		return rep, time.Since(start), err
	}
	before, took, err := runOnce(ctx)
	if err != nil {
		return err
	}
	jsonOut := c.String("output") == "json"
	if f := c.String("bundle"); f != "" {
		if err := e.writeBundle(ctx, f, s, before); err != nil {
			return &failure{code: exitFailed, err: fmt.Errorf("bundle: %w", err)}
		}
		fmt.Fprintln(e.stderr, "stacklab: support bundle written to", f)
	}
	if !c.Bool("fix") {
		if err := e.writeReport(c, before); err != nil {
			return err
		}
		if !jsonOut {
			fmt.Fprintf(e.stdout, "checked in %.2f s\n", took.Seconds())
		}
		return verdict(before)
	}
	return e.doctorFix(ctx, c, d, s, before, runOnce)
}

func verdict(rep checks.Report) error {
	if rep.Failed() {
		return &failure{code: exitFailed, err: errors.New("")}
	}
	return nil
}

type repairOutcome struct {
	For         string `json:"for"`
	Description string `json:"description"`
	Status      string `json:"status"` // planned, done, failed, declined
	Error       string `json:"error,omitempty"`
}

type changeJSON struct {
	ID     string        `json:"id"`
	Before checks.Status `json:"before"`
	After  checks.Status `json:"after"`
}

// fixRounds bounds doctor --fix's rounds: a repair can uncover a failure
// its root hid (a check skipped behind the root fails once the root is
// back), and the second round repairs that. Each repair runs once.
const fixRounds = 2

func (e *env) doctorFix(ctx context.Context, c *cli.Command, d doctorDeps, s doctorSetup,
	before checks.Report, runOnce func(context.Context) (checks.Report, time.Duration, error)) error {
	jsonOut := c.String("output") == "json"
	dryRun := c.Bool("dry-run")
	planFor := func(rep checks.Report) []doctor.Repair {
		if s.repairer != nil {
			return doctor.Plan(rep, s.cfg, s.repairer)
		}
		if s.plan != nil {
			return s.plan(rep)
		}
		return nil
	}
	plan := planFor(before)
	if !jsonOut {
		if err := e.writeReport(c, before); err != nil {
			return err
		}
		switch {
		case s.repairer == nil && len(plan) == 0 && before.Failed() && s.noFixWhy != "":
			fmt.Fprintln(e.stdout, "\n"+s.noFixWhy)
		case s.repairer == nil && s.plan == nil && before.Failed():
			fmt.Fprintln(e.stdout, "\nno repairs here: --fix works on the lab host only (as root)")
		case len(plan) == 0 && before.Failed():
			fmt.Fprintln(e.stdout, "\nno safe repair for these failures: follow each fix above")
		case len(plan) == 0:
			fmt.Fprintln(e.stdout, "\nnothing to repair")
		default:
			e.listRepairs("repairs:", plan)
		}
	}
	if len(plan) == 0 || dryRun {
		if jsonOut {
			return e.writeFixJSON(before, outcomesOf(plan, "planned"), nil, verdict(before))
		}
		if dryRun && len(plan) > 0 {
			fmt.Fprintln(e.stdout, "dry run: nothing was changed")
		}
		return verdict(before)
	}
	if !c.Bool("yes") && !s.askEach {
		if err := e.confirm(ctx, "doctor --fix", "Apply these repairs?"); err != nil {
			return err
		}
	}
	release, err := e.lockLab("stacklab doctor --fix")
	if err != nil {
		return err
	}
	defer release()
	ran := map[string]bool{}
	outcomes, err := e.runRepairs(ctx, c, s, plan, ran, jsonOut)
	if err != nil {
		return err
	}
	if !slices.ContainsFunc(outcomes, func(o repairOutcome) bool { return o.Status != "declined" }) {
		if jsonOut {
			return e.writeFixJSON(before, outcomes, nil, verdict(before))
		}
		fmt.Fprintln(e.stdout, "nothing was changed")
		return verdict(before)
	}
	unrun := func(rep checks.Report) []doctor.Repair {
		var out []doctor.Repair
		for _, r := range planFor(rep) {
			if !ran[repairKey(r)] {
				out = append(out, r)
			}
		}
		return out
	}
	var after checks.Report
	for round := 1; ; round++ {
		if d.forgetTokens != nil {
			d.forgetTokens()
		}
		// Repaired services take a moment to answer (and neutron agents to
		// report in): re-check until green or the settle time is up.
		if after, err = e.settle(ctx, d, runOnce, func(rep checks.Report) bool {
			return round < fixRounds && len(unrun(rep)) > 0
		}, jsonOut); err != nil {
			return err
		}
		if !after.Failed() || round == fixRounds {
			break
		}
		// CI saw it: MariaDB restarted, nova-compute's check (skipped
		// behind it before) found it running but reported down for good.
		next := unrun(after)
		if len(next) == 0 {
			break
		}
		if !jsonOut {
			e.listRepairs("\nrepairs for what the first ones uncovered:", next)
		}
		more, err := e.runRepairs(ctx, c, s, next, ran, jsonOut)
		if err != nil {
			return err
		}
		outcomes = append(outcomes, more...)
	}
	changes := doctor.Compare(before, after)
	if jsonOut {
		return e.writeFixJSON(before, outcomes, &after, verdict(after))
	}
	fmt.Fprintln(e.stdout, "\nafter the repairs:")
	if err := e.writeReport(c, after); err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, "\nbefore → after:")
	if len(changes) == 0 {
		fmt.Fprintln(e.stdout, "  no check changed")
	}
	for _, ch := range changes {
		fmt.Fprintf(e.stdout, "  %s\n", ch)
	}
	return verdict(after)
}

// repairKey names a repair for "run once": the same description for
// another check is another repair.
func repairKey(r doctor.Repair) string { return r.For + "\x00" + r.Description }

func (e *env) listRepairs(title string, plan []doctor.Repair) {
	fmt.Fprintln(e.stdout, title)
	for _, r := range plan {
		fmt.Fprintf(e.stdout, "  - %s   [for %s]\n", r.Description, r.For)
	}
}

func outcomesOf(plan []doctor.Repair, status string) []repairOutcome {
	out := make([]repairOutcome, len(plan))
	for i, r := range plan {
		out[i] = repairOutcome{For: r.For, Description: r.Description, Status: status}
	}
	return out
}

// runRepairs runs plan in order, asking before each when s.askEach (unless
// --yes), and marks each in ran. A failed repair does not stop the others:
// the re-check says what is still broken.
func (e *env) runRepairs(ctx context.Context, c *cli.Command, s doctorSetup, plan []doctor.Repair, ran map[string]bool, jsonOut bool) ([]repairOutcome, error) {
	outcomes := outcomesOf(plan, "planned")
	for i, r := range plan {
		ran[repairKey(r)] = true
		if s.askEach && !c.Bool("yes") {
			var nc *failure
			err := e.confirm(ctx, "doctor --fix", r.Description+"?")
			if errors.As(err, &nc) {
				outcomes[i].Status = "declined"
				continue
			}
			if err != nil {
				return nil, err
			}
		}
		if !jsonOut {
			fmt.Fprintf(e.stdout, "… %s\n", r.Description)
		}
		if err := r.Run(ctx); err != nil {
			outcomes[i].Status, outcomes[i].Error = "failed", err.Error()
			if !jsonOut {
				fmt.Fprintf(e.stdout, "✗ %s: %v\n", r.Description, err)
			}
			continue
		}
		outcomes[i].Status = "done"
		if !jsonOut {
			fmt.Fprintf(e.stdout, "✓ %s\n", r.Description)
		}
	}
	return outcomes, nil
}

// settle re-checks until the lab is green or d.settle is up. When stuck
// says a report's failures have a repair not yet run and they held for
// d.stuck, it returns early: waiting does not repair them, a next round does.
func (e *env) settle(ctx context.Context, d doctorDeps, runOnce func(context.Context) (checks.Report, time.Duration, error),
	stuck func(checks.Report) bool, quiet bool) (checks.Report, error) {
	deadline := time.Now().Add(d.settle)
	t := time.NewTicker(d.poll)
	defer t.Stop()
	var stuckSince time.Time
	for {
		rep, _, err := runOnce(ctx)
		if err != nil || !rep.Failed() || time.Now().After(deadline) {
			return rep, err
		}
		switch {
		case !stuck(rep):
			stuckSince = time.Time{}
		case stuckSince.IsZero():
			stuckSince = time.Now()
		case time.Since(stuckSince) >= d.stuck:
			return rep, nil
		}
		if !quiet {
			fmt.Fprintf(e.stdout, "  waiting for %s to recover …\n", strings.Join(rep.RootCauses(), ", "))
		}
		select {
		case <-ctx.Done():
			return rep, ctx.Err()
		case <-t.C:
		}
	}
}

func (e *env) writeFixJSON(before checks.Report, outcomes []repairOutcome, after *checks.Report, v error) error {
	raw := func(r checks.Report) (json.RawMessage, error) {
		var b bytes.Buffer
		err := r.WriteJSON(&b)
		return b.Bytes(), err
	}
	out := struct {
		Before  json.RawMessage `json:"before"`
		Repairs []repairOutcome `json:"repairs"`
		After   json.RawMessage `json:"after,omitempty"`
		Changes []changeJSON    `json:"changes"`
	}{Repairs: outcomes, Changes: []changeJSON{}}
	var err error
	if out.Before, err = raw(before); err != nil {
		return err
	}
	if after != nil {
		if out.After, err = raw(*after); err != nil {
			return err
		}
		for _, ch := range doctor.Compare(before, *after) {
			out.Changes = append(out.Changes, changeJSON{ID: ch.ID, Before: ch.Before, After: ch.After})
		}
	}
	if err := writeJSONTo(e.stdout, out); err != nil {
		return err
	}
	return v
}

// writeBundle writes the support bundle; secrets never leave unredacted.
func (e *env) writeBundle(ctx context.Context, file string, s doctorSetup, rep checks.Report) error {
	var js, txt bytes.Buffer
	if err := rep.WriteJSON(&js); err != nil {
		return err
	}
	if err := rep.WriteText(&txt, checks.TextOptions{Verbose: true}); err != nil {
		return err
	}
	redact := s.redact
	if redact == nil {
		redact = func(v string) string { return v } // a remote cloud: we hold no secrets of it
	}
	src := doctor.BundleSource{
		ReportJSON: js.Bytes(), ReportText: txt.Bytes(), Files: s.files,
		ReadFile: os.ReadFile, Redact: redact, Now: time.Now(),
	}
	if s.deps.Units != nil {
		src.Units, src.Journal = s.cfg.Units, s.deps.Units.JournalTail
	}
	// doctor runs as root and FILE is the user's choice: never follow a
	// link planted there, never truncate what exists.
	f, err := safefile.CreateNew(file, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%s already exists; name a new file (an existing one is never replaced): %w", file, err)
	}
	if err != nil {
		return err
	}
	if err := doctor.WriteBundle(ctx, f, src); err != nil {
		_ = f.Close()
		_ = os.Remove(file) // ours, and incomplete
		return err
	}
	return f.Close()
}

// probeHeaderTimeout bounds the wait for a probe's answer, so a service
// that accepts TCP and never answers fails within the probe's time.
const probeHeaderTimeout = 3 * time.Second

// doctorHTTP bounds every phase of a request; header 0 leaves the wait for
// the answer to the caller's context (the dashboard login's whole budget).
func doctorHTTP(header time.Duration) *http.Client {
	t := &http.Transport{
		Proxy:                 nil,
		DialContext:           (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
		ResponseHeaderTimeout: header,
		MaxIdleConnsPerHost:   4,
	}
	return &http.Client{Transport: t}
}

// doctorSetup reads the lab (or the cloud named by --cloud) and connects
// the side effects.
func (e *env) doctorSetup(ctx context.Context, o doctorOptions) (doctorSetup, error) {
	hc := doctorHTTP(probeHeaderTimeout)
	hc.Transport = cloud.TraceRequests(hc.Transport)
	flow := doctorHTTP(0)
	flow.Transport = cloud.TraceRequests(flow.Transport)
	openCloud := func(name string) func(ctx context.Context) (*cloud.Cloud, error) {
		return func(ctx context.Context) (*cloud.Cloud, error) {
			return cloud.Open(ctx, cloud.Options{Cloud: name, HTTPClient: doctorHTTP(probeHeaderTimeout), Tokens: tokenCache()})
		}
	}
	if name := o.cloud; name != "" {
		cfg := doctor.Config{Units: nil}
		opts := []clouds.ParseOption{clouds.WithCloudName(name)}
		if f := os.Getenv("OS_CLIENT_CONFIG_FILE"); f != "" {
			opts = append(opts, clouds.WithLocations(f))
		}
		if ao, _, _, err := clouds.Parse(opts...); err == nil {
			cfg.KeystoneURL = ao.IdentityEndpoint
		}
		return doctorSetup{cfg: cfg, deps: doctor.Deps{HTTP: hc, Flow: flow, Cloud: openCloud(name)}}, nil
	}

	labCfg, err := loadConfigFrom(o.config, o.mgmtIf, o.extIf)
	if err != nil {
		return doctorSetup{}, err
	}
	var reasons []string
	var secrets config.Secrets
	handMade := false
	if _, err := os.Stat(config.SecretsPath); errors.Is(err, fs.ErrNotExist) {
		handMade = true
		reasons = append(reasons, "no "+config.SecretsPath+" (stacklab install has not run here) and no OpenStack configuration found")
	} else if secrets, err = config.ReadSecrets("/"); err != nil {
		reasons = append(reasons, err.Error())
	}
	var nicsRead *sharedLinks
	var facts lab.Facts
	if nh, err := e.network(); err != nil {
		reasons = append(reasons, "read the NICs: "+err.Error())
	} else {
		nicsRead = &sharedLinks{src: nh}
		if facts, err = e.factsFrom(ctx, labCfg, nicsRead); err != nil {
			reasons = append(reasons, "read the NICs: "+err.Error())
		}
	}
	// A backend install refuses on this release is described as the
	// release's default would build it.
	m := lab.Resolve(labCfg, secrets, facts).Describable()
	p := m.Params
	db := &doctor.MariaDB{}
	s := doctorSetup{deps: doctor.Deps{HTTP: hc, Flow: flow, Host: doctor.System{Root: "/"}, Cloud: openCloud(""), SQL: db.Query}}
	var sd *systemd.Client
	if len(reasons) == 0 {
		if sd, err = systemd.Connect(ctx); err != nil {
			reasons = append(reasons, "connect to systemd: "+err.Error()+" (run as root on the lab host)")
		} else {
			s.deps.Units = sd
			s.close = sd.Close
		}
	}
	virt, why := host.VirtType(e.readings())
	if handMade {
		// A lab installed by hand: read it from its own files.
		base := doctorSetup{cfg: doctor.Config{HostVirt: virt, HostReason: why}, deps: doctor.Deps{HTTP: hc, Flow: flow, Host: doctor.System{Root: "/"}, SQL: db.Query}}
		if hs, ok, err := e.handMadeSetup(ctx, o, base, facts.Hostname, facts.MgmtIP); err != nil || ok {
			return hs, err
		}
	}
	s.cfg = doctor.Config{
		Lab:            len(reasons) == 0,
		NotLabReason:   strings.Join(reasons, "; "),
		MgmtIP:         p.MgmtIP,
		Hostname:       p.Hostname,
		Units:          m.Units(),
		KeystoneURL:    m.KeystoneURL(),
		HorizonURL:     m.DashboardURL(),
		ConsoleURL:     m.ConsoleURL(),
		AdminUser:      p.AdminUser,
		AdminPassword:  cloud.Secret(p.AdminPassword),
		RabbitUser:     openstack.RabbitUser,
		RabbitPassword: cloud.Secret(p.Rabbit),
		RabbitAddr:     "127.0.0.1:5672",
		HostVirt:       virt,
		HostReason:     why,
		DiskPaths:      doctor.DefaultDiskPaths,
		StateFile:      filepath.Join(labCfg.Paths.StateDir, labstate.File),
		Region:         p.Region,
		OVSBridges:     openstack.OVSBridges(p),
	}
	if len(s.cfg.OVSBridges) > 0 {
		s.deps.Switch = ovsSwitch{ovs.NewVsctl(openstack.OVSDBSock, 5)}
	}
	s.redact = secrets.Redactor().Redact
	s.files = m.Files()
	if s.cfg.Lab {
		if nicsRead != nil {
			o := nics.Options{MgmtIf: labCfg.Network.ManagementInterface, ExtIf: p.ExtIf}
			s.extra = func() []checks.Check {
				// The external NIC must still be up and unaddressed for
				// neutron's bridge; only on the lab host.
				list := nics.Checks(nicsRead, o)
				for i := range list {
					list[i].DependsOn = append(list[i].DependsOn, doctor.IDLabHost)
				}
				return list
			}
		}
		s.repairer = doctor.HostRepairer{Units: sd, Host: doctor.System{Root: "/"}, Lab: m, Cloud: openCloud(""), Note: e.note}
	}
	return s, nil
}

// sharedLinks hands the NICs read for the lab's facts to the first run's
// NIC checks, so one doctor run reads the kernel once and judges one
// moment; every later read (the run after --fix's repairs) is afresh.
type sharedLinks struct {
	src  lab.Network
	mu   sync.Mutex
	used bool             // the facts' read happened
	kept *netcfg.Snapshot // that read, until the first run takes it
}

func (l *sharedLinks) Links(ctx context.Context) (netcfg.Snapshot, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.kept != nil {
		s := *l.kept
		l.kept = nil
		return s, nil
	}
	s, err := l.src.Links(ctx)
	if err == nil && !l.used {
		l.kept = &s
	}
	l.used = true
	return s, err
}

// note tells what a repair did beyond its description, on stderr: stdout
// may be doctor's JSON.
func (e *env) note(msg string) { fmt.Fprintln(e.stderr, "stacklab: "+msg) }
