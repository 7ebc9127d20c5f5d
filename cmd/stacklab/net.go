package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/urfave/cli/v3"

	"github.com/stacklab/stacklab/netcfg"
)

// hostNetwork opens the machine's own network namespace at the real root.
func hostNetwork() (netcfg.Host, error) {
	h, _, err := netcfg.Open("/")
	if err != nil {
		return netcfg.Host{}, fmt.Errorf("open netlink: %w", err)
	}
	// The handle lives as long as the process: a CLI run is short.
	return h, nil
}

func (e *env) netCommand() *cli.Command {
	flush := &cli.BoolFlag{Name: "flush-external", Usage: "remove the external NIC's IPv4 and global IPv6 addresses"}
	return &cli.Command{
		Name:  "net",
		Usage: "make the external NIC fit for Neutron: up, no address, persisted for the next boot",
		Description: "Never touches the interface carrying the default route or the address of\n" +
			"your SSH session, and never deletes a route: it refuses instead.",
		Commands: []*cli.Command{
			{
				Name:  "plan",
				Usage: "show what `net apply` would change",
				Flags: append(nicFlags(), flush, configFlag()),
				Action: func(ctx context.Context, c *cli.Command) error {
					_, p, err := e.netPlan(ctx, c)
					if err != nil {
						return err
					}
					if err := e.render(c, p, p.Render); err != nil {
						return err
					}
					if p.Refused() {
						return &failure{code: exitFailed, err: errors.New("net apply would refuse this plan")}
					}
					return nil
				},
			},
			{
				Name:  "apply",
				Usage: "apply the plan through netlink and persist it",
				Flags: append(nicFlags(), flush, configFlag(),
					&cli.BoolFlag{Name: "dry-run", Usage: "only print the plan"}),
				Action: func(ctx context.Context, c *cli.Command) error {
					if !c.Bool("dry-run") {
						// Before planning: the plan must be made from
						// the state no other run is changing.
						release, err := e.lockLab("stacklab net apply")
						if err != nil {
							return err
						}
						defer release()
					}
					h, p, err := e.netPlan(ctx, c)
					if err != nil {
						return err
					}
					if c.Bool("dry-run") {
						return e.render(c, p, p.Render)
					}
					res, err := h.Apply(ctx, p)
					var refused *netcfg.RefusedError
					if errors.As(err, &refused) {
						return &failure{code: exitFailed, err: err}
					}
					if err != nil && !errors.Is(err, netcfg.ErrNotConverged) {
						return fmt.Errorf("net apply: %w", err)
					}
					if rerr := e.render(c, res, res.Render); rerr != nil {
						return rerr
					}
					if err != nil {
						return &failure{code: exitFailed, err: err}
					}
					return nil
				},
			},
		},
	}
}

func (e *env) netPlan(ctx context.Context, c *cli.Command) (netcfg.Host, netcfg.Plan, error) {
	mgmt, ext, err := nicChoice(c)
	if err != nil {
		return netcfg.Host{}, netcfg.Plan{}, err
	}
	h, err := e.network()
	if err != nil {
		return h, netcfg.Plan{}, err
	}
	hc, err := h.ReadConfig()
	if err != nil {
		return h, netcfg.Plan{}, fmt.Errorf("read network configuration: %w", err)
	}
	name, err := os.Hostname()
	if err != nil {
		return h, netcfg.Plan{}, fmt.Errorf("read the hostname: %w", err)
	}
	p, err := h.Prepare(ctx, mgmt, ext, netcfg.Options{
		FlushExternal: c.Bool("flush-external"),
		SSHConnection: os.Getenv("SSH_CONNECTION"),
		Config:        hc,
		Hostname:      name,
	})
	var de *netcfg.DetectError
	if errors.As(err, &de) {
		// A layout we cannot work with is the user's to fix, not a crash.
		return h, p, &failure{code: exitFailed, err: err}
	}
	return h, p, err
}

// render writes v as JSON or through its human renderer.
func (e *env) render(c *cli.Command, v any, text func(io.Writer) error) error {
	if c.String("output") == "json" {
		return writeJSONTo(e.stdout, v)
	}
	return text(e.stdout)
}
