package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"

	"github.com/urfave/cli/v3"

	"github.com/stacklab/stacklab/checks/host"
	"github.com/stacklab/stacklab/playbooks/image"
)

func (e *env) imageInstallCommand() *cli.Command {
	return &cli.Command{
		Name:      "install",
		Usage:     "install an OS from its ISO onto a new qcow2 disk, watching its screen over VNC",
		ArgsUsage: "--iso FILE --size SIZE OUT.qcow2",
		Description: "Boots the ISO's installer with qemu (KVM where it really works, else TCG, as\n" +
			"the lab chooses for nova) on a new qcow2 disk of SIZE with virtio devices and\n" +
			"no network, serves its screen over VNC on the management address (--vnc), and\n" +
			"waits for the installer to power the machine off. The disk is then checked\n" +
			"(a sound qcow2 with a boot sector) and put in place at OUT, ready for a\n" +
			"playbook's images. Refused before anything is made: a FILE that is not an ISO,\n" +
			"an OUT that exists, a SIZE below the ISO's, too little free space. Ctrl-C stops\n" +
			"qemu and leaves no file behind. Windows needs its virtio drivers on a second\n" +
			"CD: see the README.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "iso", Usage: "the installer's ISO", Required: true},
			&cli.StringFlag{Name: "size", Usage: "the new disk's size, e.g. 10G", Required: true},
			&cli.StringSliceFlag{Name: "driver-cd", Usage: "another CD in the machine, e.g. Windows' virtio-win.iso (repeatable)"},
			&cli.StringFlag{Name: "vnc", Usage: "where the screen is served, HOST:DISPLAY (default: the management address, the first free display from 10 = port 5910)"},
			&cli.IntFlag{Name: "memory", Value: 1024, Usage: "the installing machine's memory, MiB"},
			&cli.DurationFlag{Name: "timeout", Value: 2 * time.Hour, Usage: "how long the installer may run before it is stopped"},
		},
		Action: func(ctx context.Context, c *cli.Command) error {
			if c.NArg() != 1 {
				return usagef("image install takes one OUT.qcow2 after its flags, got %d arguments", c.NArg())
			}
			size, err := image.ParseSize(c.String("size"))
			if err != nil {
				return usagef("--%v", err)
			}
			accel, vnc, err := e.installMachine(ctx, c)
			if err != nil {
				return err
			}
			o := image.InstallOptions{ISO: c.String("iso"), DriverCDs: c.StringSlice("driver-cd"), Output: c.Args().First(), Size: size, MemoryMiB: c.Int("memory"),
				Accel: accel, VNC: vnc, Timeout: c.Duration("timeout")}
			if c.String("output") != "json" {
				o.Progress = func(s string) { fmt.Fprintln(e.stderr, s) }
			}
			res, err := image.Install(ctx, o)
			if err != nil {
				return &failure{code: exitFailed, err: err}
			}
			return e.render(c, res, func(w io.Writer) error {
				_, err := fmt.Fprintf(w, "%s: installed from %s in %s (%s): qcow2, %s on disk, virtual %d MiB, boot %s; use it as a playbook image's file\n",
					res.Output, res.ISO, time.Duration(res.Seconds*float64(time.Second)).Round(time.Second), res.Accel,
					mib(res.Info.FileSize), res.Info.VirtualSize>>20, res.Info.BootableVerdict)
				return err
			})
		},
	}
}

// installMachine is the lab's own choice of accelerator (the one nova
// gets) and the VNC address: the flag, else the management address the
// laptop reaches the lab on, display 1 (loopback when the host's NICs do
// not say which that is).
func (e *env) installMachine(ctx context.Context, c *cli.Command) (accel, vnc string, err error) {
	accel = "tcg"
	if v, _ := host.VirtType(e.readings()); v == "kvm" {
		accel = "kvm"
	}
	vnc = c.String("vnc")
	if vnc == "" {
		addr := "127.0.0.1"
		if cfg, err := loadConfig(c); err == nil {
			if facts, err := e.hostFacts(ctx, cfg); err == nil && facts.MgmtIP != "" {
				addr = facts.MgmtIP
			}
		}
		vnc = net.JoinHostPort(addr, strconv.Itoa(freeDisplay(addr)))
	}
	if _, _, err := image.VNCPort(vnc); err != nil {
		return "", "", usagef("--vnc: %v", err)
	}
	return accel, vnc, nil
}

// freeDisplay is the first VNC display from 10 whose port is free on
// addr: libvirt gives the lab's instances 5900, 5901, … in turn.
func freeDisplay(addr string) int {
	for d := 10; d < 100; d++ {
		l, err := net.Listen("tcp", net.JoinHostPort(addr, strconv.Itoa(5900+d)))
		if err == nil {
			_ = l.Close()
			return d
		}
	}
	return 10
}
