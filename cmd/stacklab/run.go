package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"sync"
	"time"

	"github.com/jedib0t/go-pretty/v6/progress"
	"github.com/urfave/cli/v3"

	"github.com/stacklab/stacklab/internal/term"
	"github.com/stacklab/stacklab/netcfg"
	"github.com/stacklab/stacklab/playbooks"
)

// StateDir holds what stacklab makes for the built-in playbook (its
// generated private key, the built image), which has no directory of its
// own.
const StateDir = "/var/lib/stacklab"

// runDeps are run's side effects; tests replace them with the in-memory
// cloud.
type runDeps struct {
	// stateDir resolves the built-in playbook's relative paths.
	stateDir string
	// open connects to the cloud named by --cloud ("" = the lab's).
	// progress receives image upload progress.
	open func(ctx context.Context, cloudName string, progress uploadProgress) (playbooks.Cloud, error)
	// build makes an image file from a recipe ("tiny") when it is absent.
	build func(ctx context.Context, recipe, path string, log func(string)) error
	// glanceStore reads the free space of glance's file store when it is
	// on this host; nil skips that check.
	glanceStore spaceReader
}

// uploadProgress is told how far an image upload is.
type uploadProgress func(image string, done, total int64)

func (e *env) runCommand() *cli.Command { return e.runCommandWith(e.realRunDeps()) }

func (e *env) runCommandWith(d runDeps) *cli.Command {
	return &cli.Command{
		Name:      "run",
		Usage:     "apply a playbook of lab resources (networks, router, image, server, ...) to a cloud",
		ArgsUsage: "[PLAYBOOK]",
		Description: "Without PLAYBOOK, runs the built-in lab playbook (print it with\n" +
			"--show-default, copy and edit it to change the lab). Resources are\n" +
			"matched by name: a second run changes nothing, and --destroy removes\n" +
			"only what this playbook made. The whole playbook is checked against\n" +
			"the cloud before anything changes. Exit code 1 when a resource failed.",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "plan", Aliases: []string{"dry-run"}, Usage: "show what would change, change nothing"},
			&cli.BoolFlag{Name: "destroy", Usage: "delete what the playbook made, dependents first"},
			&cli.StringFlag{Name: "cloud", Usage: "the clouds.yaml entry to use (default $OS_CLOUD, else the lab)"},
			&cli.IntFlag{Name: "concurrency", Value: 4, Usage: "resources changed at once"},
			&cli.BoolFlag{Name: "yes", Aliases: []string{"y"}, Usage: "do not ask before --destroy"},
			&cli.BoolFlag{Name: "show-default", Usage: "print the built-in playbook and exit"},
		},
		Action: func(ctx context.Context, c *cli.Command) error {
			if c.Bool("show-default") {
				_, err := e.stdout.Write(playbooks.Default())
				return err
			}
			if c.NArg() > 1 {
				return usagef("run takes at most one PLAYBOOK, got %d arguments", c.NArg())
			}
			_, err := e.runPlaybook(ctx, runOptions{
				path: c.Args().First(), cloud: c.String("cloud"),
				json: c.String("output") == "json", noColor: c.Bool("no-color"),
				plan: c.Bool("plan"), destroy: c.Bool("destroy"), yes: c.Bool("yes"),
				concurrency: c.Int("concurrency"),
			}, d)
			return err
		},
	}
}

// loadPlaybook reads the named playbook, or the built-in one. A playbook
// error (with file:line) is the user's to fix: exit 1, never a crash.
func loadPlaybook(path, stateDir string) (*playbooks.Playbook, error) {
	var pb *playbooks.Playbook
	var err error
	if path == "" {
		if pb, err = playbooks.LoadDefault(stateDir); err == nil {
			err = placeExternal(pb, filepath.Join(stateDir, filepath.Base(netcfg.ExternalNetworkPath)))
		}
	} else {
		pb, err = playbooks.Load(path)
	}
	if err != nil {
		return nil, &failure{code: exitFailed, err: playbookErr(err)}
	}
	return pb, nil
}

// placeExternal puts the built-in lab's ext_net on the network the
// external NIC was on before net apply --flush-external took its address
// (recorded then): floating IPs the laptop on that network reaches
// directly. A playbook of the user's own is never changed: it always wins.
func placeExternal(pb *playbooks.Playbook, record string) error {
	rec, ok, err := netcfg.ReadExternalNetwork(record)
	if err != nil || !ok {
		return err
	}
	_, err = pb.PlaceExternal(func(name, network string) (playbooks.Subnet, error) {
		return playbooks.ExternalSubnet(name, network, rec.Address, rec.Gateway, rec.Neighbours)
	})
	if err != nil {
		return fmt.Errorf("ext_net on %s's network %s (recorded in %s): %w", rec.Interface, rec.Address.Masked(), record, err)
	}
	return nil
}

// playbookErr puts each problem of a playbook on its own line.
func playbookErr(err error) error {
	list := playbooks.Errors(err)
	if len(list) == 0 {
		return err
	}
	msg := fmt.Sprintf("the playbook has %d problem(s); nothing was changed:", len(list))
	for _, e := range list {
		msg += "\n  " + e.Error()
	}
	return errors.New(msg)
}

// buildMissingImages makes the image files a playbook builds from a
// recipe, then reloads it so their formats are detected from the bytes.
func (e *env) buildMissingImages(ctx context.Context, pb *playbooks.Playbook, path string, d runDeps, quiet bool) (*playbooks.Playbook, error) {
	built := false
	for _, img := range pb.Images {
		if img.DetectedFormat != "" || img.Build == "" {
			continue
		}
		if d.build == nil {
			return nil, &failure{code: exitFailed, err: fmt.Errorf("image %s: %s does not exist and this stacklab cannot build %q images", img.Name, img.Path, img.Build)}
		}
		start := time.Now()
		log := func(s string) {
			if !quiet {
				fmt.Fprintf(e.stderr, "  image %s: %s\n", img.Name, s)
			}
		}
		log(fmt.Sprintf("building %s (stacklab image %s)", img.Path, img.Build))
		if err := d.build(ctx, img.Build, img.Path, log); err != nil {
			return nil, &failure{code: exitFailed, err: fmt.Errorf("image %s: build %s: %w", img.Name, img.Path, err)}
		}
		log(fmt.Sprintf("built in %s", time.Since(start).Round(100*time.Millisecond)))
		built = true
	}
	if !built {
		return pb, nil
	}
	return loadPlaybook(path, d.stateDir)
}

// runOptions are run's flags; up fills them from its own.
type runOptions struct {
	path, cloud        string // "" = the built-in playbook / $OS_CLOUD, else the lab
	json, noColor      bool
	plan, destroy, yes bool
	concurrency        int
	// locked: the caller (up) already holds the lab's lock.
	locked bool
}

// runPlaybook plans, applies or destroys; it returns the apply report for
// up to show how to reach the server.
func (e *env) runPlaybook(ctx context.Context, o runOptions, d runDeps) (*playbooks.Report, error) {
	path, jsonOut := o.path, o.json
	pb, err := loadPlaybook(path, d.stateDir)
	if err != nil {
		return nil, err
	}
	destroy, planOnly := o.destroy, o.plan
	if !planOnly && !o.locked {
		release, err := e.lockLab("stacklab run")
		if err != nil {
			return nil, err
		}
		defer release()
	}
	if !destroy && !planOnly {
		if pb, err = e.buildMissingImages(ctx, pb, path, d, jsonOut); err != nil {
			return nil, err
		}
	}
	prog := e.newRunProgress(jsonOut, o.noColor)
	defer prog.finish()
	cl, err := d.open(ctx, o.cloud, prog.upload)
	if err != nil {
		return nil, &failure{code: exitFailed, err: err}
	}

	if planOnly || destroy {
		var plan *playbooks.Plan
		if destroy {
			plan, err = playbooks.PlanDestroy(ctx, pb, cl)
		} else {
			plan, err = playbooks.PlanApply(ctx, pb, cl)
		}
		if err == nil && !destroy {
			err = e.checkGlanceStore(o.cloud, pb, plan, d.glanceStore, jsonOut)
		}
		if err != nil {
			return nil, &failure{code: exitFailed, err: playbookErr(err)}
		}
		if planOnly {
			if jsonOut {
				return nil, plan.WriteJSON(e.stdout)
			}
			plan.WriteText(e.stdout)
			return nil, nil
		}
		if !o.yes {
			if !jsonOut {
				plan.WriteText(e.stderr)
			}
			if err := e.confirm(ctx, "run --destroy", "This deletes the resources above."); err != nil {
				return nil, err
			}
		}
	}

	po := playbooks.Options{Concurrency: o.concurrency, OnStart: prog.start, OnDone: prog.done}
	if !planOnly && !destroy {
		po.CheckPlan = e.glanceStoreCheck(o.cloud, pb, d.glanceStore, jsonOut)
	}
	start := time.Now()
	var rep *playbooks.Report
	if destroy {
		rep, err = playbooks.Destroy(ctx, pb, cl, po)
	} else {
		rep, err = playbooks.Apply(ctx, pb, cl, po)
	}
	prog.finish()
	if rep == nil {
		// The plan refused the playbook: nothing was changed.
		return nil, &failure{code: exitFailed, err: playbookErr(err)}
	}
	if jsonOut {
		if werr := rep.WriteJSON(e.stdout); werr != nil {
			return rep, werr
		}
	} else {
		if prog.pw != nil {
			// The bars are gone; the report stays.
			for _, r := range rep.Results {
				fmt.Fprintln(e.stdout, r.String())
			}
		}
		fmt.Fprintf(e.stdout, "%s in %s\n", rep.Summary(), time.Since(start).Round(100*time.Millisecond))
	}
	if err != nil {
		return rep, &failure{code: exitFailed, err: fmt.Errorf("playbook %s: %w", pb.Name, err)}
	}
	return rep, nil
}

// runProgress shows a run as it happens. On a terminal, go-pretty draws a
// tracker per resource and a byte tracker per image upload; elsewhere (CI
// logs, pipes) one line is printed as each resource ends and an upload
// reports every quarter, so logs stay readable.
type runProgress struct {
	mu       sync.Mutex
	w        io.Writer
	quiet    bool
	pw       progress.Writer
	trackers map[string]*progress.Tracker
	quarter  map[string]int64
	stopped  bool
}

func (e *env) newRunProgress(quiet, noColor bool) *runProgress {
	p := &runProgress{w: e.stdout, quiet: quiet, trackers: map[string]*progress.Tracker{}, quarter: map[string]int64{}}
	if quiet || !term.IsTerminal(e.stdout) {
		return p
	}
	pw := progress.NewWriter()
	pw.SetOutputWriter(e.stdout)
	pw.SetAutoStop(false)
	pw.SetTrackerLength(25)
	pw.SetMessageLength(36)
	pw.SetUpdateFrequency(100 * time.Millisecond)
	pw.Style().Visibility.ETA = true
	if !term.UseColor(e.stdout, noColor) {
		pw.Style().Colors = progress.StyleColorsDefault
		pw.Style().Options.DoneString = "done"
	}
	go pw.Render()
	p.pw = pw
	return p
}

func (p *runProgress) start(s playbooks.Step) {
	if p.pw == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	t := &progress.Tracker{Message: string(s.Kind) + " " + s.Name}
	p.trackers[t.Message] = t
	p.pw.AppendTracker(t)
}

func (p *runProgress) done(r playbooks.Result) {
	if p.quiet {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pw == nil {
		fmt.Fprintln(p.w, r.String())
		return
	}
	if t := p.trackers[string(r.Kind)+" "+r.Name]; t != nil {
		t.UpdateMessage(string(r.Kind) + " " + r.Name + " (" + string(r.Action) + ")")
		if r.Err != nil {
			t.MarkAsErrored()
		} else {
			t.MarkAsDone()
		}
	}
}

// upload is given to the cloud drivers as their progress callback.
func (p *runProgress) upload(name string, done, total int64) {
	if p.quiet || total <= 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pw == nil {
		if q := done * 4 / total; q > p.quarter[name] {
			p.quarter[name] = q
			fmt.Fprintf(p.w, "  upload image %s: %d%% of %.1f MiB\n", name, done*100/total, float64(total)/(1<<20))
		}
		return
	}
	key := "upload " + name
	t := p.trackers[key]
	if t == nil {
		t = &progress.Tracker{Message: "image " + name + " upload", Total: total, Units: progress.UnitsBytes}
		p.trackers[key] = t
		p.pw.AppendTracker(t)
	}
	t.SetValue(done)
	if done >= total {
		t.MarkAsDone()
	}
}

// finish stops drawing; the final report is printed after it.
func (p *runProgress) finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pw == nil || p.stopped {
		return
	}
	p.stopped = true
	p.pw.Stop()
	for p.pw.IsRenderInProgress() {
		time.Sleep(10 * time.Millisecond)
	}
}
