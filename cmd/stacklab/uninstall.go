package main

import (
	"context"
	"fmt"
	"io"

	"github.com/urfave/cli/v3"

	"github.com/stacklab/stacklab/installer"
	"github.com/stacklab/stacklab/installer/config"
	"github.com/stacklab/stacklab/lab"
)

func (e *env) uninstallCommand() *cli.Command { return e.uninstallCommandWith(e.realInstallDeps()) }

func (e *env) uninstallCommandWith(d installDeps) *cli.Command {
	return &cli.Command{
		Name:  "uninstall",
		Usage: "return this machine to its state before install",
		Description: "Stops the lab's services, removes stacklab's own files (configuration,\n" +
			"secrets, state, credentials) and purges the lab's packages with their\n" +
			"configuration and data, MariaDB's databases included. The NIC configuration\n" +
			"is left as `stacklab net` made it. Asks first unless --yes.",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "dry-run", Usage: "list what would be removed, remove nothing"},
			&cli.BoolFlag{Name: "yes", Aliases: []string{"y"}, Usage: "do not ask for confirmation"},
			configFlag(),
		},
		Action: func(ctx context.Context, c *cli.Command) error {
			cfg, err := loadConfig(c)
			if err != nil {
				return err
			}
			dryRun := c.Bool("dry-run")
			if !dryRun && !c.Bool("yes") {
				if err := e.confirm(ctx, "uninstall", "This removes the OpenStack lab, its packages and its databases."); err != nil {
					return err
				}
			}
			if !dryRun {
				release, err := e.lockLab("stacklab uninstall")
				if err != nil {
					return err
				}
				defer release()
			}
			facts, err := d.facts(ctx, cfg)
			if err != nil {
				return &failure{code: exitFailed, err: err}
			}
			// Passwords play no part in what is removed.
			p := lab.Resolve(cfg, config.Secrets{}, facts).Params
			h, closeHost, err := d.host(ctx, p, func(string) {})
			if err != nil {
				return err
			}
			defer closeHost()
			o, err := installer.Uninstall(ctx, h, p, cfg.Paths.LogDir, dryRun)
			if rerr := e.render(c, o, func(w io.Writer) error {
				verb := "removed"
				if dryRun {
					verb = "would remove"
				}
				for _, ch := range o.Changes {
					fmt.Fprintln(w, "  "+ch)
				}
				if len(o.Changes) == 0 {
					fmt.Fprintln(w, "nothing of the lab is left on this machine")
				} else {
					fmt.Fprintf(w, "%s the lab (%d steps)\n", verb, len(o.Changes))
				}
				return nil
			}); rerr != nil {
				return rerr
			}
			if err != nil {
				return &failure{code: exitFailed, err: err}
			}
			return nil
		},
	}
}
