package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jedib0t/go-pretty/v6/table"
	"github.com/urfave/cli/v3"

	"github.com/stacklab/stacklab/checks/host"
	"github.com/stacklab/stacklab/installer/config"
	"github.com/stacklab/stacklab/installer/openstack"
	"github.com/stacklab/stacklab/internal/systemd"
)

// unitController is the slice of systemd the services command needs.
type unitController interface {
	States(ctx context.Context, units ...string) ([]systemd.UnitState, error)
	Start(ctx context.Context, unit string) error
	Stop(ctx context.Context, unit string) error
	Restart(ctx context.Context, unit string) error
}

// labUnits lists the lab's units in start order (the tiers' order), which
// is also the dependency order for starting and restarting.
func labUnits(cfg config.Config) []string {
	p := openstack.Params{
		ComputeDriver:  string(cfg.Compute.Driver),
		Release:        osVersionID(),
		NeutronBackend: neutronBackend(cfg),
		HorizonWebRoot: cfg.Horizon.WebRoot,
	}
	if _, err := openstack.ResolveBackend(p.Release, p.NeutronBackend); err != nil {
		// A release or backend install would refuse: list the lab as
		// the default release builds it rather than nothing.
		p.Release, p.NeutronBackend = "", ""
	}
	return openstack.Units(p)
}

// neutronBackend is the configured backend as Params wants it ("" for
// auto: the release decides).
func neutronBackend(cfg config.Config) string {
	if cfg.OpenStack.NeutronBackend == config.BackendAuto {
		return ""
	}
	return string(cfg.OpenStack.NeutronBackend)
}

// osVersionID is this host's os-release VERSION_ID ("" when unreadable).
func osVersionID() string {
	o, err := host.NewSystem().OS()
	if err != nil || o.ID != "debian" {
		return ""
	}
	return o.VersionID
}

// pickUnits resolves the user's unit names against the lab's, keeping the
// lab's order; none given means all.
func pickUnits(all, asked []string) ([]string, error) {
	if len(asked) == 0 {
		return all, nil
	}
	want := map[string]bool{}
	for _, a := range asked {
		a = strings.TrimSuffix(a, ".service")
		if !slices.Contains(all, a) {
			return nil, usagef("%s is not a lab service (lab services: %s)", a, strings.Join(all, ", "))
		}
		want[a] = true
	}
	var out []string
	for _, u := range all {
		if want[u] {
			out = append(out, u)
		}
	}
	return out, nil
}

func (e *env) servicesCommand() *cli.Command {
	action := func(verb string) *cli.Command {
		return &cli.Command{
			Name:      verb,
			Usage:     verb + " lab services (all when none is named), in dependency order",
			ArgsUsage: "[UNIT...]",
			Flags:     []cli.Flag{configFlag()},
			Action: func(ctx context.Context, c *cli.Command) error {
				return e.servicesAct(ctx, c, verb)
			},
		}
	}
	return &cli.Command{
		Name:  "services",
		Usage: "list the lab's services with their state, or start/stop/restart them",
		Flags: []cli.Flag{configFlag()},
		Action: func(ctx context.Context, c *cli.Command) error {
			return e.servicesList(ctx, c)
		},
		Commands: []*cli.Command{action("start"), action("stop"), action("restart")},
	}
}

func (e *env) servicesList(ctx context.Context, c *cli.Command) error {
	cfg, err := loadConfig(c)
	if err != nil {
		return err
	}
	sd, err := e.units(ctx)
	if err != nil {
		return err
	}
	states, err := sd.States(ctx, labUnits(cfg)...)
	if err != nil {
		return fmt.Errorf("services: %w", err)
	}
	bad := 0
	for _, s := range states {
		if !s.Active() {
			bad++
		}
	}
	var notActive error
	if bad > 0 {
		notActive = &failure{code: exitFailed, err: fmt.Errorf("%d of %d lab services are not active: stacklab doctor names the cause", bad, len(states))}
	}
	if c.String("output") == "json" {
		if err := e.render(c, states, nil); err != nil {
			return err
		}
		return notActive
	}
	t := table.NewWriter()
	t.SetStyle(table.StyleLight)
	t.Style().Options = table.OptionsNoBordersAndSeparators
	t.AppendHeader(table.Row{"UNIT", "STATE", "AT BOOT", "SINCE"})
	for _, s := range states {
		since := ""
		if !s.Since.IsZero() {
			since = s.Since.Local().Format(time.DateTime) + " (" + time.Since(s.Since).Round(time.Second).String() + " ago)"
		}
		state := s.ActiveState + "/" + s.SubState
		if !s.Found() {
			state = "not installed"
		}
		t.AppendRow(table.Row{strings.TrimSuffix(s.Name, ".service"), state, s.UnitFileState, since})
	}
	fmt.Fprintln(e.stdout, t.Render())
	return notActive
}

func (e *env) servicesAct(ctx context.Context, c *cli.Command, verb string) error {
	cfg, err := loadConfig(c)
	if err != nil {
		return err
	}
	units, err := pickUnits(labUnits(cfg), c.Args().Slice())
	if err != nil {
		return err
	}
	release, err := e.lockLab("stacklab services " + verb)
	if err != nil {
		return err
	}
	defer release()
	sd, err := e.units(ctx)
	if err != nil {
		return err
	}
	op := map[string]func(context.Context, string) error{"start": sd.Start, "stop": sd.Stop, "restart": sd.Restart}[verb]
	if verb == "stop" {
		// Dependents first, so nothing is left talking to a stopped tier.
		slices.Reverse(units)
	}
	var errs []error
	for _, u := range units {
		if err := op(ctx, u); err != nil {
			fmt.Fprintf(e.stdout, "✗ %s %s\n", verb, u)
			errs = append(errs, err)
			continue
		}
		fmt.Fprintf(e.stdout, "✓ %s %s\n", verb, u)
	}
	if len(errs) > 0 {
		return &failure{code: exitFailed, err: errors.Join(errs...)}
	}
	return nil
}
