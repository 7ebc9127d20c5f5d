package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/urfave/cli/v3"
	xterm "golang.org/x/term"

	"github.com/stacklab/stacklab/checks"
	"github.com/stacklab/stacklab/checks/host"
	"github.com/stacklab/stacklab/checks/nics"
	"github.com/stacklab/stacklab/installer"
	"github.com/stacklab/stacklab/installer/config"
	"github.com/stacklab/stacklab/installer/openstack"
	"github.com/stacklab/stacklab/internal/term"
	"github.com/stacklab/stacklab/netcfg"
)

// hostFacts is what install reads from the machine to fill Params.
type hostFacts struct {
	Hostname   string
	MgmtIP     string
	ExtIf      string
	MTU        int
	CPUs       int
	VirtType   string
	VirtReason string
	// CgroupRO: the cgroup v1 controllers are mounted read-only (an
	// nspawn lab host); libvirt must then use none.
	CgroupRO bool
	// Gateway is the IPv4 default route's gateway: 10.0.2.2 says the
	// management address is VirtualBox NAT's, unreachable from the laptop.
	Gateway string
	// Release is the Debian VERSION_ID ("" off Debian: the install's
	// validation or preflight refuses that host).
	Release string
	// OVSDatapath and its reason, when the lab runs on Open vSwitch.
	OVSDatapath, OVSReason string
}

// installDeps are install's side effects; tests replace them.
type installDeps struct {
	root  string
	facts func(ctx context.Context, cfg config.Config) (hostFacts, error)
	host  func(ctx context.Context, p openstack.Params, notify func(string)) (installer.Host, func(), error)
	// hooks return the preflight and net phases.
	hooks func(cfg config.Config) (preflight, net installer.HookFunc)
	// labOpts are appended to LabPhases' options (tests shorten timeouts).
	labOpts []installer.LabOption
}

func (e *env) installCommand() *cli.Command { return e.installCommandWith(e.realInstallDeps()) }

// realInstallDeps wires install and uninstall to this machine.
func (e *env) realInstallDeps() installDeps {
	return installDeps{
		root:  "/",
		facts: e.hostFacts,
		host: func(ctx context.Context, p openstack.Params, notify func(string)) (installer.Host, func(), error) {
			return installer.NewHost(ctx, installer.HostOptions{Root: "/", Hostname: p.Hostname, Notify: notify})
		},
		hooks: e.installHooks,
	}
}

func (e *env) installCommandWith(d installDeps) *cli.Command {
	return &cli.Command{
		Name:  "install",
		Usage: "build the all-in-one OpenStack lab on this machine (safe to run again)",
		Description: "Runs the phases " + strings.Join(installer.PhaseNames(), ", ") + " in order.\n" +
			"Every phase converges: it changes only what differs from the lab's\n" +
			"configuration and restarts a service only when its configuration\n" +
			"changed, so a second run changes nothing and an interrupted run is\n" +
			"resumed by running again. Exit code 1 when a phase failed.",
		Flags: append([]cli.Flag{
			&cli.BoolFlag{Name: "dry-run", Usage: "show what each phase would change, change nothing"},
			&cli.StringSliceFlag{Name: "only", Usage: "run only this phase (repeatable)"},
			&cli.StringFlag{Name: "from", Usage: "run this phase and every later one"},
			configFlag(),
			&cli.BoolFlag{Name: "yes", Aliases: []string{"y"}, Usage: "do not ask for confirmation"},
		}, nicFlags()...),
		Action: func(ctx context.Context, c *cli.Command) error { return e.install(ctx, c, d) },
	}
}

// placeholders are the phase names alone, to check --only/--from before
// anything is read.
func placeholders() []installer.Phase {
	var out []installer.Phase
	for _, n := range installer.PhaseNames() {
		out = append(out, installer.Phase{Name: n})
	}
	return out
}

func (e *env) install(ctx context.Context, c *cli.Command, d installDeps) error {
	sel := installer.Selection{Only: c.StringSlice("only"), From: c.String("from")}
	if _, err := installer.Select(placeholders(), sel); err != nil {
		return &usageError{err: err}
	}
	dryRun := c.Bool("dry-run")
	jsonOut := c.String("output") == "json"

	cfgPath := ""
	if c.IsSet("config") {
		cfgPath = c.String("config")
	}
	cfg, err := config.Load(d.root, cfgPath)
	if err != nil {
		return &failure{code: exitFailed, err: err}
	}
	if err := applyNICFlags(c, &cfg); err != nil {
		return err
	}
	if !dryRun && !c.Bool("yes") {
		if err := e.confirm(ctx, "install", "This installs OpenStack and reconfigures this machine's services."); err != nil {
			return err
		}
	}

	if !dryRun {
		release, err := e.lockLab("stacklab install")
		if err != nil {
			return err
		}
		defer release()
	}

	secrets, err := e.installSecrets(d.root, dryRun)
	if err != nil {
		return &failure{code: exitFailed, err: err}
	}
	facts, err := d.facts(ctx, cfg)
	if err != nil {
		return &failure{code: exitFailed, err: fmt.Errorf("read this host: %w", err)}
	}
	p := labParams(cfg, secrets, facts)
	if err := p.Validate(); err != nil {
		return &failure{code: exitFailed, err: fmt.Errorf("lab parameters:\n%w\n  fix: set the values in %s", err, config.DefaultPath)}
	}

	rep := newInstallReporter(e.stdout, jsonOut, dryRun, c.Bool("no-color"), c.Bool("verbose"))
	if !dryRun {
		// The full story, for after the fact: the terminal shows notes
		// only beside a spinner, and CI has no terminal.
		logPath := filepath.Join(d.root, cfg.Paths.LogDir, "install.log")
		if err := os.MkdirAll(filepath.Dir(logPath), 0o755); err != nil {
			return err
		}
		lf, err := os.OpenFile(logPath, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
		if err != nil {
			return fmt.Errorf("install log: %w", err)
		}
		defer lf.Close()
		rep.log, rep.redact = lf, secrets.Redactor().Redact
	}
	h, closeHost, err := d.host(ctx, p, func(msg string) { rep.note("", msg) })
	if err != nil {
		return &failure{code: exitFailed, err: fmt.Errorf("connect to this host's services: %w", err)}
	}
	defer closeHost()

	pre, netHook := d.hooks(cfg)
	opts := append([]installer.LabOption{
		installer.WithStateDir(cfg.Paths.StateDir),
		installer.WithLogDir(cfg.Paths.LogDir),
		installer.WithPreflight(pre),
		installer.WithNet(netHook),
		installer.WithNotify(rep.note),
	}, d.labOpts...)
	all := installer.LabPhases(h, p, opts...)
	phases, err := installer.Select(all, sel)
	if err != nil {
		return &usageError{err: err}
	}
	if !jsonOut {
		what := "installing"
		if dryRun {
			what = "planning (dry run)"
		}
		fmt.Fprintf(e.stdout, "stacklab: %s the lab on %s (%s, external NIC %s, virt %s, %d workers)\n",
			what, p.Hostname, p.MgmtIP, p.ExtIf, p.VirtType, p.Workers)
	}
	res, runErr := installer.Run(ctx, phases, dryRun, rep)
	if !dryRun {
		if err := installer.SaveResult(filepath.Join(d.root, cfg.Paths.StateDir), res); err != nil && runErr == nil {
			runErr = err
		}
	}
	if jsonOut {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(res); err != nil {
			return err
		}
	}
	if runErr != nil {
		if ctx.Err() != nil {
			return runErr
		}
		return &failure{code: exitFailed, err: runErr}
	}
	if !jsonOut {
		switch {
		case dryRun && res.Changed():
			fmt.Fprintln(e.stdout, "dry run: nothing was changed; run without --dry-run to apply the plan above")
		case dryRun:
			fmt.Fprintln(e.stdout, "dry run: the lab is already as configured")
		case res.Changed():
			fmt.Fprintf(e.stdout, "the lab is ready: Horizon at http://%s%s/, credentials in /root/admin-openrc\n", p.MgmtIP, p.HorizonWebRoot)
		default:
			fmt.Fprintln(e.stdout, "the lab is ready; nothing needed changing")
		}
	}
	return nil
}

// confirm asks on a terminal; elsewhere --yes is required, because the
// command changes the machine.
func (e *env) confirm(ctx context.Context, cmd, what string) error {
	f, ok := e.stdin.(*os.File)
	if !ok || !xterm.IsTerminal(int(f.Fd())) {
		return usagef("%s changes this machine: pass --yes to confirm (or --dry-run to see the plan)", cmd)
	}
	fmt.Fprint(e.stderr, what+" Continue? [y/N] ")
	line, err := readLine(ctx, e.stdin)
	if err != nil {
		fmt.Fprintln(e.stderr)
		return err
	}
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return nil
	}
	return &failure{code: exitFailed, err: errors.New(cmd + ": not confirmed")}
}

// readLine reads one line from r, or returns ctx's error once ctx is done:
// Ctrl-C at a prompt must end the command, not wait for Enter. The read
// itself cannot be interrupted and is left behind; the process is about to
// exit.
func readLine(ctx context.Context, r io.Reader) (string, error) {
	got := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(r).ReadString('\n')
		got <- line
	}()
	select {
	case line := <-got:
		return line, nil
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// installSecrets loads the lab's passwords, generating missing ones. A dry
// run on a machine without a secrets file generates them in a throw-away
// directory, so it writes nothing.
func (e *env) installSecrets(root string, dryRun bool) (config.Secrets, error) {
	warn := func(s string) { fmt.Fprintln(e.stderr, "stacklab: warning:", s) }
	if dryRun {
		if _, err := os.Stat(filepath.Join(root, config.SecretsPath)); errors.Is(err, os.ErrNotExist) {
			tmp, err := os.MkdirTemp("", "stacklab-dry-run-")
			if err != nil {
				return config.Secrets{}, err
			}
			defer func() { _ = os.RemoveAll(tmp) }()
			return config.EnsureSecrets(tmp, nil, warn)
		}
	}
	return config.EnsureSecrets(root, nil, warn)
}

// labParams fills Params from the configuration, the secrets and the host.
func labParams(cfg config.Config, s config.Secrets, f hostFacts) openstack.Params {
	p := openstack.Params{
		Hostname:                  f.Hostname,
		MgmtIP:                    cfg.Network.ManagementAddress,
		ExtIf:                     cfg.Network.ExternalInterface,
		Region:                    cfg.OpenStack.Region,
		ComputeDriver:             string(cfg.Compute.Driver),
		VirtType:                  string(cfg.Compute.VirtType),
		ProviderNet:               cfg.Network.ProviderNetwork,
		Release:                   f.Release,
		NeutronBackend:            neutronBackend(cfg),
		OVSDatapath:               f.OVSDatapath,
		MTU:                       cfg.Network.MTU,
		Workers:                   cfg.Services.Workers,
		HorizonWebRoot:            cfg.Horizon.WebRoot,
		TimeZone:                  cfg.Horizon.TimeZone,
		CgroupControllersReadOnly: f.CgroupRO,
		WithClient:                true,
		AdminUser:                 cfg.Admin.User,
		AdminProject:              cfg.Admin.Project,
	}
	if p.MgmtIP == "" {
		p.MgmtIP = f.MgmtIP
	}
	if p.ExtIf == "" {
		p.ExtIf = f.ExtIf
	}
	if p.VirtType == "" || p.VirtType == string(config.VirtAuto) {
		p.VirtType = f.VirtType
	}
	if p.MTU == 0 {
		p.MTU = f.MTU
	}
	if p.Workers == 0 {
		p.Workers = openstack.WorkersFor(f.CPUs)
	}
	get := func(n config.SecretName) string { return s.Get(n).Reveal() }
	p.Secrets = openstack.Secrets{
		AdminPassword:    get(config.SecretAdmin),
		KeystoneDB:       get(config.SecretKeystoneDB),
		GlanceDB:         get(config.SecretGlanceDB),
		GlanceUser:       get(config.SecretGlanceUser),
		PlacementDB:      get(config.SecretPlacementDB),
		PlacementUser:    get(config.SecretPlacementUser),
		NovaDB:           get(config.SecretNovaDB),
		NovaUser:         get(config.SecretNovaUser),
		NeutronDB:        get(config.SecretNeutronDB),
		NeutronUser:      get(config.SecretNeutronUser),
		Rabbit:           get(config.SecretRabbit),
		MetadataSecret:   get(config.SecretMetadata),
		HorizonSecretKey: get(config.SecretHorizonSecretKey),
	}
	return p
}

// hostFacts reads the NIC layout, CPU and virtualisation of this machine.
func (e *env) hostFacts(ctx context.Context, cfg config.Config) (hostFacts, error) {
	var f hostFacts
	name, err := os.Hostname()
	if err != nil {
		return f, err
	}
	f.Hostname = name
	nh, err := e.network()
	if err != nil {
		return f, err
	}
	snap, err := nh.Snapshot(ctx)
	if err != nil {
		return f, err
	}
	lay, err := netcfg.Detect(snap, cfg.Network.ManagementInterface, cfg.Network.ExternalInterface)
	if err != nil {
		return f, err
	}
	f.ExtIf = lay.Ext
	if r, ok := snap.DefaultIPv4(); ok && r.Gateway.IsValid() {
		f.Gateway = r.Gateway.String()
	}
	if l, ok := snap.Link(lay.Mgmt); ok {
		f.MTU = l.MTU
	}
	if cfg.Network.ManagementAddress == "" {
		ip, err := nics.MgmtIPv4From(snap, nics.Options{MgmtIf: lay.Mgmt})
		if err != nil {
			return f, err
		}
		f.MgmtIP = ip.String()
	}
	r := e.readings()
	if cpu, err := r.CPU(); err == nil {
		f.CPUs = cpu.Count
	}
	if cfg.Compute.VirtType == config.VirtAuto {
		f.VirtType, f.VirtReason = host.VirtType(r)
	}
	f.CgroupRO = cgroupV1ReadOnly("/proc/self/mountinfo")
	if o, err := r.OS(); err == nil && o.ID == "debian" {
		f.Release = o.VersionID
	}
	// Only a lab on Open vSwitch probes (and may load) the module.
	if b, err := openstack.ResolveBackend(f.Release, neutronBackend(cfg)); err == nil && len(b.SwitchUnits()) > 0 {
		f.OVSDatapath, f.OVSReason = host.OVSDatapath(ctx, host.SystemModules{})
	}
	return f, nil
}

// cgroupV1ReadOnly reports whether a cgroup v1 controller hierarchy is
// mounted read-only, as systemd-nspawn does: libvirt then fails with
// "Failed to create v1 controller cpu for group: Read-only file system".
func cgroupV1ReadOnly(mountinfo string) bool {
	data, err := os.ReadFile(mountinfo)
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(data), "\n") {
		// ID parent maj:min root mountpoint options ... - fstype source superoptions
		pre, post, ok := strings.Cut(line, " - ")
		if !ok {
			continue
		}
		fields, pf := strings.Fields(pre), strings.Fields(post)
		if len(fields) < 6 || len(pf) < 1 || pf[0] != "cgroup" {
			continue
		}
		for _, o := range strings.Split(fields[5], ",") {
			if o == "ro" {
				return true
			}
		}
	}
	return false
}

// installHooks runs preflight's checks and net's apply as the first two
// phases.
func (e *env) installHooks(cfg config.Config) (installer.HookFunc, installer.HookFunc) {
	o := nics.Options{MgmtIf: cfg.Network.ManagementInterface, ExtIf: cfg.Network.ExternalInterface}
	pre := func(ctx context.Context, _ bool) (installer.Outcome, error) {
		nh, err := e.network()
		if err != nil {
			return installer.Outcome{}, err
		}
		rep, err := checks.Run(ctx, preflightChecks(ctx, nh, e.readings(), o), checks.Options{})
		if err != nil {
			return installer.Outcome{}, err
		}
		if rep.Failed() {
			var lines []string
			for _, en := range rep.Entries {
				if en.Status == checks.Fail {
					lines = append(lines, fmt.Sprintf("%s: %s", en.ID, en.Summary))
				}
			}
			return installer.Outcome{}, &fixError{
				err: fmt.Errorf("preflight failed:\n  %s", strings.Join(lines, "\n  ")),
				fix: "run `stacklab preflight` for the evidence and the fix of each check",
			}
		}
		return installer.Outcome{}, nil
	}
	net := func(ctx context.Context, dryRun bool) (installer.Outcome, error) {
		nh, err := e.network()
		if err != nil {
			return installer.Outcome{}, err
		}
		hc, err := nh.ReadConfig()
		if err != nil {
			return installer.Outcome{}, fmt.Errorf("read network configuration: %w", err)
		}
		plan, err := nh.Prepare(ctx, o.MgmtIf, o.ExtIf, netcfg.Options{SSHConnection: os.Getenv("SSH_CONNECTION"), Config: hc})
		if err != nil {
			return installer.Outcome{}, err
		}
		if plan.Refused() {
			return installer.Outcome{}, &fixError{
				err: fmt.Errorf("the external NIC cannot be prepared: %s", strings.Join(plan.Refusals, "; ")),
				fix: "run `stacklab net plan` for details",
			}
		}
		var out installer.Outcome
		if dryRun {
			for _, c := range plan.Changes {
				out.Changes = append(out.Changes, c.String())
			}
			return out, nil
		}
		res, err := nh.Apply(ctx, plan)
		for _, c := range res.Done {
			out.Changes = append(out.Changes, c.String())
		}
		return out, err
	}
	return pre, net
}

// fixError carries a remedy to installer.PhaseError.
type fixError struct {
	err error
	fix string
}

func (f *fixError) Error() string { return f.err.Error() }
func (f *fixError) Unwrap() error { return f.err }
func (f *fixError) Fix() string   { return f.fix }

// installReporter renders phase progress as step lines; with JSON output
// it stays silent (the RunResult is printed at the end).
type installReporter struct {
	w       io.Writer
	json    bool
	dryRun  bool
	verbose bool
	steps   *term.Steps
	mu      sync.Mutex
	cur     *term.Step
	// log, when set, receives every event with a timestamp, redacted.
	log    io.Writer
	redact func(string) string
}

func (r *installReporter) logf(format string, a ...any) {
	if r.log == nil {
		return
	}
	line := fmt.Sprintf(format, a...)
	if r.redact != nil {
		line = r.redact(line)
	}
	fmt.Fprintf(r.log, "%s %s\n", time.Now().UTC().Format(time.RFC3339), line)
}

func newInstallReporter(w io.Writer, jsonOut, dryRun, noColor, verbose bool) *installReporter {
	return &installReporter{
		w: w, json: jsonOut, dryRun: dryRun, verbose: verbose,
		steps: term.NewSteps(w, term.IsTerminal(w), term.UseColor(w, noColor)),
	}
}

func (r *installReporter) PhaseStarted(name, _ string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.logf("%s: started", name)
	if r.json {
		return
	}
	r.cur = r.steps.Start(name)
}

func (r *installReporter) note(phase, msg string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.logf("%s: %s", phase, msg)
	if r.cur != nil {
		r.cur.Note("%s", msg)
	}
}

func (r *installReporter) PhaseDone(name string, o installer.Outcome, el time.Duration, err error) {
	r.mu.Lock()
	if err != nil {
		r.logf("%s: failed after %s: %v", name, el.Round(100*time.Millisecond), err)
	} else {
		r.logf("%s: done in %s: %d changes %q", name, el.Round(100*time.Millisecond), len(o.Changes), o.Changes)
	}
	if r.json {
		r.mu.Unlock()
		return
	}
	st := r.cur
	r.cur = nil
	r.mu.Unlock()
	detail := "no changes"
	switch n := len(o.Changes); {
	case err != nil:
		detail = "failed"
	case n == 1 && r.dryRun:
		detail = "1 change planned"
	case n == 1:
		detail = "1 change"
	case n > 1 && r.dryRun:
		detail = fmt.Sprintf("%d changes planned", n)
	case n > 1:
		detail = fmt.Sprintf("%d changes", n)
	}
	st.End(err, detail)
	if r.dryRun || r.verbose {
		for _, c := range o.Changes {
			fmt.Fprintf(r.w, "    %s\n", c)
		}
	}
}
