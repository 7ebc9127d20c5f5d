package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/urfave/cli/v3"

	"github.com/stacklab/stacklab/checks"
	"github.com/stacklab/stacklab/checks/host"
	"github.com/stacklab/stacklab/checks/nics"
	"github.com/stacklab/stacklab/internal/term"
	"github.com/stacklab/stacklab/lab"
)

// nicFlags are shared by every command that needs the NIC layout.
func nicFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "mgmt-if", Usage: "management NIC (default: the interface carrying the default route)"},
		&cli.StringFlag{Name: "ext-if", Usage: "external/provider NIC (default: the other NIC)"},
	}
}

func (e *env) preflightCommand() *cli.Command {
	return &cli.Command{
		Name:  "preflight",
		Usage: "check that this VM can hold an all-in-one OpenStack lab",
		Description: "Reads the hardware (CPU, virtualization, RAM, disk, swap), the OS, hostname,\n" +
			"time sync, the service ports and the NIC layout. Every finding comes with\n" +
			"evidence and a fix. Exit code 1 when a check failed.",
		Flags: append(nicFlags(),
			&cli.StringSliceFlag{Name: "skip", Usage: "skip a check by its ID (repeatable)"},
			configFlag(),
		),
		Action: func(ctx context.Context, c *cli.Command) error {
			rep, err := e.preflight(ctx, c)
			if err != nil {
				return err
			}
			if err := e.writeReport(c, rep); err != nil {
				return err
			}
			if rep.Failed() {
				return &failure{code: exitFailed, err: errors.New("")}
			}
			return nil
		},
	}
}

// preflightChecks is the full preflight list: NIC layout first, since the
// hostname check needs the management address it finds.
func preflightChecks(ctx context.Context, src nics.Source, r host.Readings, o nics.Options, m lab.Model) []checks.Check {
	list := nics.Checks(src, o)
	hopts := host.Options{Ports: m.Ports()}
	if ip, err := nics.MgmtIPv4(ctx, src, o); err == nil {
		hopts.ManagementIP = ip
	}
	return append(list, host.Checks(r, hopts)...)
}

func (e *env) preflight(ctx context.Context, c *cli.Command) (checks.Report, error) {
	src, err := e.network()
	if err != nil {
		return checks.Report{}, err
	}
	cfg, err := loadConfig(c)
	if err != nil {
		return checks.Report{}, err
	}
	o := nics.Options{MgmtIf: cfg.Network.ManagementInterface, ExtIf: cfg.Network.ExternalInterface}
	list := preflightChecks(ctx, src, e.readings(), o, lab.OfConfig(cfg, lab.Release(e.readings())))
	rep, err := checks.Run(ctx, list, checks.Options{Skip: c.StringSlice("skip")})
	var ve *checks.ValidationError
	if errors.As(err, &ve) {
		return rep, &usageError{err: err}
	}
	return rep, err
}

// writeReport renders a check report in the format the user asked for.
func (e *env) writeReport(c *cli.Command, rep checks.Report) error {
	if c.String("output") == "json" {
		return rep.WriteJSON(e.stdout)
	}
	err := rep.WriteText(e.stdout, checks.TextOptions{
		Color:   term.UseColor(e.stdout, c.Bool("no-color")),
		Verbose: c.Bool("verbose"),
	})
	if err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}
