package main

import (
	"context"
	"fmt"
	"io"

	"github.com/urfave/cli/v3"

	"github.com/stacklab/stacklab/internal/term"
	"github.com/stacklab/stacklab/playbooks/image"
)

func (e *env) imageConvertCommand() *cli.Command {
	return &cli.Command{
		Name:      "convert",
		Usage:     "turn a VirtualBox, VMware, Hyper-V or raw disk into a qcow2 for glance",
		ArgsUsage: "SRC OUT.qcow2",
		Description: "Detects SRC's real format from its headers (VDI, VMDK, VHD, VHDX, raw or\n" +
			"qcow2; never from the file name) and runs qemu-img convert -f FMT -O qcow2.\n" +
			"OUT must not exist; free space for the disk's virtual size is checked first.\n" +
			"The result is written next to OUT and put in place only once it is a valid\n" +
			"qcow2 that qemu-img compare finds identical to SRC: an interrupted or failed\n" +
			"conversion leaves no OUT.",
		Action: func(ctx context.Context, c *cli.Command) error {
			if c.NArg() != 2 {
				return usagef("image convert takes SRC and OUT.qcow2, got %d arguments", c.NArg())
			}
			o := image.ConvertOptions{}
			// qemu-img -p redraws one line on a terminal; elsewhere (a
			// log, CI) it would be a hundred lines of percentages.
			if c.String("output") != "json" && term.IsTerminal(e.stderr) {
				o.Progress = e.stderr
			}
			res, err := image.Convert(ctx, c.Args().Get(0), c.Args().Get(1), o)
			if err != nil {
				return &failure{code: exitFailed, err: err}
			}
			return e.render(c, res, func(w io.Writer) error {
				_, err := fmt.Fprintf(w, "%s (%s) → %s: qcow2, %s on disk, virtual %d MiB, boot %s; qemu-img compare: identical\n",
					res.Source, res.SourceFormat, res.Output, mib(res.Info.FileSize), res.Info.VirtualSize>>20, res.Info.BootableVerdict)
				return err
			})
		},
	}
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
