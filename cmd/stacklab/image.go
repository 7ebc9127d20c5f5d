package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/urfave/cli/v3"

	"github.com/stacklab/stacklab/playbooks/image"
	"github.com/stacklab/stacklab/playbooks/image/tiny"
)

func (e *env) imageCommand() *cli.Command {
	return &cli.Command{
		Name:  "image",
		Usage: "work with disk images for Glance",
		Commands: []*cli.Command{e.imageTinyCommand(), e.imageConvertCommand(), e.imageInstallCommand(), {
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

// DefaultTinyImage is where the built-in playbook expects its guest image.
const DefaultTinyImage = StateDir + "/images/lab-image.img"

func (e *env) imageTinyCommand() *cli.Command {
	return &cli.Command{
		Name:      "tiny",
		Usage:     "build the lab's small guest image offline, from this distribution's packages",
		ArgsUsage: "[PATH]",
		Description: "Builds a qcow2 of about 13 MiB from the distribution's cloud kernel and\n" +
			"busybox (fetched with apt-get download, cached in " + tiny.DefaultCacheDir + ")\n" +
			"with syslinux as boot loader. The guest configures its NIC by DHCP, reads\n" +
			"its instance id from the metadata service, answers ping, serves a page on\n" +
			"port 80 and prints one line on its serial console when up:\n" +
			"  stacklab-guest up ip=… instance=… hostname=… born=… uptime=…\n" +
			"(born: the instance that first booted the disk, which a snapshot keeps).\n" +
			"PATH defaults to " + DefaultTinyImage + ", the built-in playbook's image;\n" +
			"it is written atomically: on failure nothing is left there.\n" +
			"With --installer-iso PATH is a bootable CD instead, to rehearse the ISO route\n" +
			"offline: its installer writes the guest onto the first virtio disk and powers\n" +
			"off (stacklab image install --iso PATH --size 64M OUT.qcow2).",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "installer-iso", Usage: "write an installer ISO of the guest (needs xorriso and isolinux)"},
		},
		Action: func(ctx context.Context, c *cli.Command) error {
			if c.NArg() > 1 {
				return usagef("image tiny takes at most one PATH, got %d arguments", c.NArg())
			}
			path := c.Args().First()
			iso := c.Bool("installer-iso")
			if path == "" && iso {
				return usagef("image tiny --installer-iso needs the ISO's PATH")
			}
			if path == "" {
				path = DefaultTinyImage
			}
			jsonOut := c.String("output") == "json"
			res, err := buildTiny(ctx, tiny.Options{Output: path, InstallerISO: iso}, func(s string) {
				if !jsonOut {
					fmt.Fprintln(e.stderr, "  "+s)
				}
			})
			if err != nil {
				return &failure{code: exitFailed, err: err}
			}
			return e.render(c, res, func(w io.Writer) error {
				if iso {
					_, err := fmt.Fprintf(w, "%s: installer ISO, %.1f MiB (installs a %d MiB disk), kernel %s\n",
						res.Path, float64(res.FileSize)/(1<<20), res.VirtualSize>>20, res.KernelVersion)
					return err
				}
				_, err := fmt.Fprintf(w, "%s: qcow2, %.1f MiB (virtual %d MiB), kernel %s\n",
					res.Path, float64(res.FileSize)/(1<<20), res.VirtualSize>>20, res.KernelVersion)
				return err
			})
		},
	}
}

// buildTiny builds the tiny image (or its installer ISO) at o.Output,
// creating its directory.
func buildTiny(ctx context.Context, o tiny.Options, log func(string)) (*tiny.Result, error) {
	if err := os.MkdirAll(filepath.Dir(o.Output), 0o755); err != nil {
		return nil, fmt.Errorf("image tiny: %w", err)
	}
	o.Log = func(f string, a ...any) { log(fmt.Sprintf(f, a...)) }
	res, err := tiny.Build(ctx, o)
	if err != nil {
		return nil, fmt.Errorf("image tiny: %w", err)
	}
	return res, nil
}
