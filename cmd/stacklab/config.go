package main

import (
	"context"
	"errors"

	"github.com/urfave/cli/v3"

	"github.com/stacklab/stacklab/installer/config"
)

func configFlag() cli.Flag {
	// Empty means config.DefaultPath, which may be absent; a path the user
	// names must exist.
	return &cli.StringFlag{Name: "config", Usage: "configuration file (default " + config.DefaultPath + " if present, else built-in defaults)"}
}

func (e *env) configCommand() *cli.Command {
	return &cli.Command{
		Name:  "config",
		Usage: "show the effective configuration or the documented defaults",
		Commands: []*cli.Command{
			{
				Name:  "show",
				Usage: "the effective configuration, each value annotated with where it came from",
				Flags: []cli.Flag{configFlag()},
				Action: func(_ context.Context, c *cli.Command) error {
					cfg, err := loadConfig(c)
					if err != nil {
						return err
					}
					return cfg.Show(e.stdout)
				},
			},
			{
				Name:  "defaults",
				Usage: "the built-in defaults, commented: a starting point for " + config.DefaultPath,
				Action: func(context.Context, *cli.Command) error {
					_, err := e.stdout.Write(config.DefaultsYAML())
					return err
				},
			},
		},
	}
}

// loadConfig reads --config; a malformed file is the user's to fix (exit 1
// with file:line), not an internal error.
// A command with --mgmt-if/--ext-if gets them applied over the file's.
func loadConfig(c *cli.Command) (config.Config, error) {
	return loadConfigFrom(c.String("config"), c.String("mgmt-if"), c.String("ext-if"))
}

// loadConfigFrom is loadConfig for callers holding the values, not the
// command line: up hands its own to every step.
func loadConfigFrom(path, mgmtIf, extIf string) (config.Config, error) {
	cfg, err := config.Load("/", path)
	var ce *config.Error
	if errors.As(err, &ce) {
		return cfg, &failure{code: exitFailed, err: err}
	}
	if err != nil {
		return cfg, err
	}
	return cfg, applyNICs(&cfg, mgmtIf, extIf)
}
