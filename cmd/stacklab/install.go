package main

import (
	"bufio"
	"context"
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
	"github.com/stacklab/stacklab/checks/nics"
	"github.com/stacklab/stacklab/installer"
	"github.com/stacklab/stacklab/installer/config"
	"github.com/stacklab/stacklab/installer/openstack"
	"github.com/stacklab/stacklab/internal/fix"
	"github.com/stacklab/stacklab/internal/term"
	"github.com/stacklab/stacklab/lab"
	"github.com/stacklab/stacklab/netcfg"
)

// installDeps are install's side effects; tests replace them.
type installDeps struct {
	root  string
	facts func(ctx context.Context, cfg config.Config) (lab.Facts, error)
	host  func(ctx context.Context, p openstack.Params, notify func(string)) (installer.Host, func(), error)
	// hooks return the preflight and net phases.
	hooks func(cfg config.Config, o installOptions) (preflight, net installer.HookFunc)
	// labOpts are appended to LabPhases' options (tests shorten timeouts).
	labOpts []installer.LabOption
	// forgetTokens drops cached keystone tokens once an install changed
	// something: their catalogs may name endpoints it moved. Nil: none.
	forgetTokens func()
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
		hooks:        e.installHooks,
		forgetTokens: forgetTokens,
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
	o := installOptions{dryRun: c.Bool("dry-run"), json: c.String("output") == "json",
		noColor: c.Bool("no-color"), verbose: c.Bool("verbose"), holder: "stacklab install"}
	cfg, err := loadInstallConfig(c, d.root)
	if err != nil {
		return err
	}
	if !o.dryRun && !c.Bool("yes") {
		if err := e.confirm(ctx, "install", "This installs OpenStack and reconfigures this machine's services."); err != nil {
			return err
		}
	}
	in, err := e.prepareInstall(ctx, cfg, o, d)
	if err != nil {
		return err
	}
	defer in.close()
	phases, err := installer.Select(in.phases, sel)
	if err != nil {
		return &usageError{err: err}
	}
	dryRun, jsonOut := o.dryRun, o.json
	if !jsonOut {
		in.header(e.stdout)
	}
	res, runErr := installer.Run(ctx, phases, dryRun, in.rep)
	if !dryRun && res.Changed() && d.forgetTokens != nil {
		d.forgetTokens()
	}
	if !dryRun {
		if err := installer.SaveResult(filepath.Join(d.root, cfg.Paths.StateDir), res); err != nil && runErr == nil {
			runErr = err
		}
	}
	if jsonOut {
		if err := writeJSONTo(e.stdout, res); err != nil {
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
			fmt.Fprintf(e.stdout, "the lab is ready: Horizon at %s/, credentials in /root/admin-openrc\n", in.model.DashboardURL())
		default:
			fmt.Fprintln(e.stdout, "the lab is ready; nothing needed changing")
		}
	}

	return nil
}

// loadInstallConfig reads --config under root (a test's temporary root)
// with --mgmt-if/--ext-if over it.
func loadInstallConfig(c *cli.Command, root string) (config.Config, error) {
	cfgPath := ""
	if c.IsSet("config") {
		cfgPath = c.String("config")
	}
	cfg, err := config.Load(root, cfgPath)
	if err != nil {
		return cfg, &failure{code: exitFailed, err: err}
	}
	if err := applyNICFlags(c, &cfg); err != nil {
		return cfg, err
	}
	return cfg, nil
}

// installOptions are what install and up share of install's flags.
type installOptions struct {
	dryRun, json, noColor, verbose bool
	// holder names the lock's holder ("stacklab install", "stacklab up").
	holder string
	// skip names preflight checks to skip: up skips those its net phase
	// repairs (the hostname, the external NIC down or addressed).
	skip []string
	// flushExternal lets the net phase remove the external NIC's
	// addresses for good, as net apply --flush-external does: up asks
	// for it (the user agreed to configuring the NICs); install alone
	// does not.
	flushExternal bool
}

// installRun is install prepared: the lab model, its phases (preflight
// and net first) and the reporter that renders them. close releases the
// lock, the log and the host's connections.
type installRun struct {
	model  lab.Model
	phases []installer.Phase
	rep    *installReporter
	closes []func()
}

func (in *installRun) close() {
	for i := len(in.closes) - 1; i >= 0; i-- {
		in.closes[i]()
	}
}

func (in *installRun) header(w io.Writer) {
	what := "installing"
	if in.rep.dryRun {
		what = "planning (dry run)"
	}
	p := in.model.Params
	workers := "workers"
	if p.Workers == 1 {
		workers = "worker"
	}
	fmt.Fprintf(w, "stacklab: %s the lab on %s (%s, external NIC %s, virt %s, %d %s per service)\n",
		what, p.Hostname, p.MgmtIP, p.ExtIf, p.VirtType, p.Workers, workers)
}

// prepareInstall takes the lab's lock (unless a dry run), reads the
// secrets and the host, resolves the model and builds the phases.
func (e *env) prepareInstall(ctx context.Context, cfg config.Config, o installOptions, d installDeps) (in *installRun, err error) {
	in = &installRun{}
	defer func() {
		if err != nil {
			in.close()
		}
	}()
	if !o.dryRun {
		release, err := e.lockLab(o.holder)
		if err != nil {
			return in, err
		}
		in.closes = append(in.closes, release)
	}
	facts, err := d.facts(ctx, cfg)
	if err != nil {
		return in, &failure{code: exitFailed, err: fmt.Errorf("read this host: %w", err)}
	}
	// A choice this release cannot build (linuxbridge on Debian 13) is
	// refused before anything is written, the secrets file included.
	if err := lab.CheckChoices(cfg, facts); err != nil {
		return in, &failure{code: exitFailed, err: err}
	}
	secrets, err := e.installSecrets(d.root, o.dryRun)
	if err != nil {
		return in, &failure{code: exitFailed, err: err}
	}
	in.model = lab.Resolve(cfg, secrets, facts)
	if err := in.model.Validate(); err != nil {
		return in, &failure{code: exitFailed, err: err}
	}
	in.rep = newInstallReporter(e.stdout, o.json, o.dryRun, o.noColor, o.verbose)
	if !o.dryRun {
		// The full story, for after the fact: the terminal shows notes
		// only beside a spinner, and CI has no terminal.
		logPath := filepath.Join(d.root, cfg.Paths.LogDir, "install.log")
		if err := os.MkdirAll(filepath.Dir(logPath), 0o755); err != nil {
			return in, fmt.Errorf("install log: %w", err)
		}
		lf, err := os.OpenFile(logPath, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
		if err != nil {
			return in, fmt.Errorf("install log: %w", err)
		}
		in.closes = append(in.closes, func() { _ = lf.Close() })
		in.rep.log, in.rep.redact = lf, secrets.Redactor().Redact
	}
	h, closeHost, err := d.host(ctx, in.model.Params, func(msg string) { in.rep.note("", msg) })
	if err != nil {
		return in, &failure{code: exitFailed, err: fmt.Errorf("connect to this host's services: %w", err)}
	}
	in.closes = append(in.closes, closeHost)
	pre, netHook := d.hooks(cfg, o)
	opts := append([]installer.LabOption{
		installer.WithStateDir(cfg.Paths.StateDir),
		installer.WithLogDir(cfg.Paths.LogDir),
		installer.WithPreflight(pre),
		installer.WithNet(netHook),
		installer.WithNotify(in.rep.note),
	}, d.labOpts...)
	in.phases = installer.LabPhases(h, in.model.Params, opts...)
	return in, nil
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

// hostFacts reads this machine for the lab model.
func (e *env) hostFacts(ctx context.Context, cfg config.Config) (lab.Facts, error) {
	nh, err := e.network()
	if err != nil {
		return lab.Facts{}, err
	}
	return e.factsFrom(ctx, cfg, nh)
}

// factsFrom is hostFacts with the NICs read from net.
func (e *env) factsFrom(ctx context.Context, cfg config.Config, net lab.Network) (lab.Facts, error) {
	return lab.Host{Network: net, Readings: e.readings()}.Facts(ctx, cfg)
}

// installHooks runs preflight's checks and net's apply as the first two
// phases.
func (e *env) installHooks(cfg config.Config, opts installOptions) (installer.HookFunc, installer.HookFunc) {
	o := nics.Options{MgmtIf: cfg.Network.ManagementInterface, ExtIf: cfg.Network.ExternalInterface}
	pre := func(ctx context.Context, _ bool) (installer.Outcome, error) {
		nh, err := e.network()
		if err != nil {
			return installer.Outcome{}, err
		}
		rep, err := checks.Run(ctx, preflightChecks(ctx, nh, e.readings(), o, lab.OfConfig(cfg, lab.Release(e.readings()))), checks.Options{Skip: opts.skip})
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
			return installer.Outcome{}, fix.Wrap(fmt.Errorf("preflight failed:\n  %s", strings.Join(lines, "\n  ")), "run `stacklab preflight` for the evidence and the fix of each check")
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
		name, err := os.Hostname()
		if err != nil {
			return installer.Outcome{}, fmt.Errorf("read the hostname: %w", err)
		}
		// Hostname lets the phase map it to the management address in
		// /etc/hosts, as net apply does: up skips preflight's hostname
		// check because this phase repairs it.
		plan, err := nh.Prepare(ctx, o.MgmtIf, o.ExtIf, netcfg.Options{FlushExternal: opts.flushExternal, SSHConnection: os.Getenv("SSH_CONNECTION"), Config: hc, Hostname: name})
		if err != nil {
			return installer.Outcome{}, err
		}
		if plan.Refused() {
			return installer.Outcome{}, fix.Wrap(fmt.Errorf("the external NIC cannot be prepared: %s", strings.Join(plan.Refusals, "; ")), "run `stacklab net plan` for details")
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
	// lastNote is the last note logged: apt reports its progress many
	// times a second, mostly unchanged, and the log took each (424 KB of
	// repeated "install N/M" lines for one install).
	lastNote string
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
	line := phase + ": " + msg
	if line == r.lastNote {
		return
	}
	r.lastNote = line
	r.logf("%s", line)
	if r.cur != nil {
		r.cur.Note("%s", msg)
	}
}

func (r *installReporter) PhaseDone(name string, o installer.Outcome, el time.Duration, err error) {
	r.mu.Lock()
	if err != nil {
		r.logf("%s: failed after %s: %s", name, el.Round(100*time.Millisecond), fix.Message(err))
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
