package main

import (
	"context"
	"fmt"

	"github.com/urfave/cli/v3"

	"github.com/stacklab/stacklab/playbooks/image"
)

func (e *env) imageCommand() *cli.Command {
	return &cli.Command{
		Name:  "image",
		Usage: "work with disk images for Glance",
		Commands: []*cli.Command{{
			Name:      "inspect",
			Usage:     "detect an image's real format from its headers and say whether it can boot",
			ArgsUsage: "FILE",
			Description: "Detects qcow2 (v2/v3), raw, ISO 9660, VMDK, VDI, VHD and VHDX by their\n" +
				"headers, never by the file name, decodes and validates qcow2 headers, and\n" +
				"reports what would break a boot. Exit code 1 when the image has problems.",
			Action: func(_ context.Context, c *cli.Command) error {
				if c.NArg() != 1 {
					return usagef("image inspect takes one FILE, got %d arguments", c.NArg())
				}
				info, err := image.InspectFile(c.Args().First())
				if err != nil {
					return &failure{code: exitFailed, err: fmt.Errorf("inspect %s: %w", c.Args().First(), err)}
				}
				if c.String("output") == "json" {
					err = info.WriteJSON(e.stdout)
				} else {
					err = info.WriteText(e.stdout)
				}
				if err != nil {
					return err
				}
				if len(info.Problems) > 0 {
					return &failure{code: exitFailed, err: fmt.Errorf("%s has %d problem(s)", c.Args().First(), len(info.Problems))}
				}
				return nil
			},
		}},
	}
}
