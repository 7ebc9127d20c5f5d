package main

import (
	"github.com/urfave/cli/v3"

	"github.com/stacklab/stacklab/installer/config"
)

// applyNICFlags puts --mgmt-if/--ext-if, where given, over the
// configuration's network.management_interface/external_interface. They are
// one choice made two ways, and preflight, net, install and doctor must all
// make it alike: up passes the flags to each, and a NIC named in the
// configuration file is the one every command works on.
func applyNICFlags(c *cli.Command, cfg *config.Config) error {
	return applyNICs(cfg, c.String("mgmt-if"), c.String("ext-if"))
}

// applyNICs is applyNICFlags on values: "" leaves the configuration's.
func applyNICs(cfg *config.Config, mgmtIf, extIf string) error {
	changed := false
	if mgmtIf != "" {
		cfg.Network.ManagementInterface, changed = mgmtIf, true
	}
	if extIf != "" {
		cfg.Network.ExternalInterface, changed = extIf, true
	}
	if !changed {
		return nil
	}
	if err := cfg.Validate(); err != nil {
		return usagef("--mgmt-if/--ext-if: %w", err)
	}
	return nil
}

// nicChoice is the NICs preflight and net work on: the flags, else the
// configuration's (from --config or the default file), else "" to detect.
func nicChoice(c *cli.Command) (mgmt, ext string, err error) {
	cfg, err := loadConfig(c)
	if err != nil {
		return "", "", err
	}
	return cfg.Network.ManagementInterface, cfg.Network.ExternalInterface, nil
}
