package image

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/stacklab/stacklab/internal/fix"
)

// ErrNotISO is the cause when --iso names something else.
var ErrNotISO = errors.New("not an installer ISO")

// ErrTooSmall is the cause when the disk asked for cannot hold what the
// ISO installs.
var ErrTooSmall = errors.New("disk too small")

// InstallOptions say what Install boots and where the user watches it.
type InstallOptions struct {
	// ISO is the installer's CD image; Output the new qcow2 disk.
	ISO, Output string
	// DriverCDs are more CDs in the machine, such as Windows' virtio
	// drivers (virtio-win.iso), which its installer needs to see the disk.
	DriverCDs []string
	// Size is the disk's virtual size in bytes.
	Size int64
	// MemoryMiB and CPUs size the installing machine (zero: 1024, 1).
	MemoryMiB, CPUs int
	// Accel is qemu's accelerator, "kvm" or "tcg": the lab's own choice
	// for nova (KVM only where it really works).
	Accel string
	// VNC is where the installer's screen is served, HOST:DISPLAY
	// (display 1 is TCP port 5901), on an address the laptop reaches.
	VNC string
	// Timeout bounds the installation (zero: 2 hours).
	Timeout time.Duration
	// Progress receives a line now and then while the installer runs.
	Progress func(string)
	// Tool (qemu-img), Space and Machine are the side effects; zero
	// values are the real ones.
	Tool    Tool
	Space   SpaceReader
	Machine Machine
}

// Machine runs the installing virtual machine until it powers off.
type Machine interface {
	// Run starts qemu with args and returns when it exits; cancelling
	// ctx kills it (and anything it started) before Run returns.
	Run(ctx context.Context, args []string) error
}

// InstallResult is the installed, validated disk.
type InstallResult struct {
	ISO     string  `json:"iso"`
	Output  string  `json:"output"`
	Accel   string  `json:"accel"`
	VNC     string  `json:"vnc"`
	Seconds float64 `json:"seconds"`
	Info    Info    `json:"info"`
}

// VNCPort is the TCP port of a VNC display ("HOST:1" → 5901).
func VNCPort(vnc string) (string, int, error) {
	host, d, err := net.SplitHostPort(vnc)
	if err != nil {
		return "", 0, fmt.Errorf("VNC address %q: want HOST:DISPLAY, e.g. 192.168.56.10:1 (port 5901)", vnc)
	}
	n, err := strconv.Atoi(d)
	if err != nil || n < 0 || n > 99 {
		return "", 0, fmt.Errorf("VNC address %q: the display is a number from 0 to 99 (port 5900 + display)", vnc)
	}
	return host, 5900 + n, nil
}

// CheckInstall refuses, before anything is made, what would fail later:
// an ISO that is not one, an Output that exists, a size below the ISO's,
// a file system without room for the disk to grow to its size.
func CheckInstall(o InstallOptions) (Info, error) {
	if o.Space == nil {
		o.Space = Statfs{}
	}
	if _, _, err := VNCPort(o.VNC); err != nil {
		return Info{}, err
	}
	info, err := InspectRegularFile(o.ISO)
	if err != nil {
		return info, err
	}
	if info.Format != ISO {
		return info, fix.Errorf("give the installer's .iso (stacklab image inspect FILE says what a file is); a disk you already have goes through stacklab image convert", "%s is %s: %w", o.ISO, info.Format, ErrNotISO)
	}
	for _, cd := range o.DriverCDs {
		ci, err := InspectRegularFile(cd)
		if err != nil {
			return info, err
		}
		if ci.Format != ISO {
			return info, fix.Errorf("give the drivers' .iso (Windows: virtio-win.iso)", "driver CD %s is %s: %w", cd, ci.Format, ErrNotISO)
		}
	}
	if err := newOutput(o.Output); err != nil {
		return info, err
	}
	// An installed system holds at least what its installer carries.
	if o.Size < info.FileSize {
		return info, fix.Errorf(fmt.Sprintf("--size %dM or more (Windows wants 40G, a Linux server 10G)", roundUpMiB(info.FileSize*2)>>20),
			"--size %s is below the ISO's own %s: %w for what it installs", humanBytes(o.Size), humanBytes(info.FileSize), ErrTooSmall)
	}
	dir := filepath.Dir(o.Output)
	avail, err := o.Space.Available(dir)
	if err != nil {
		return info, fmt.Errorf("free space for %s: %w", o.Output, err)
	}
	if need := qcow2Room(o.Size); avail < need {
		return info, fix.Errorf("a smaller --size, or write OUT to another file system",
			"%w in %s for the installed disk: it may grow to %s (--size), %s are available", ErrNoSpace, dir, humanBytes(need), humanBytes(avail))
	}
	return info, nil
}

func roundUpMiB(n int64) int64 { return (n + 1<<20 - 1) &^ (1<<20 - 1) }

// Install boots the ISO's installer in qemu onto a new qcow2 disk, serves
// its screen on o.VNC, and waits for the installer to power the machine
// off. The disk is then checked (qcow2 sound, a boot sector on it) and
// linked into place at o.Output. Whatever else happens (a failure, a
// timeout, ctx cancelled by Ctrl-C) qemu is killed and no file is left.
func Install(ctx context.Context, o InstallOptions) (InstallResult, error) {
	if o.Tool == nil {
		o.Tool = QemuImg{}
	}
	if o.Machine == nil {
		o.Machine = QemuSystem{}
	}
	if o.MemoryMiB == 0 {
		o.MemoryMiB = 1024
	}
	if o.CPUs == 0 {
		o.CPUs = 1
	}
	if o.Timeout == 0 {
		o.Timeout = 2 * time.Hour
	}
	if o.Accel != "kvm" {
		o.Accel = "tcg"
	}
	res := InstallResult{ISO: o.ISO, Output: o.Output, Accel: o.Accel, VNC: o.VNC}
	if _, err := CheckInstall(o); err != nil {
		return res, fmt.Errorf("image install: %w", err)
	}
	start := time.Now()
	dir := filepath.Dir(o.Output)
	tmp, err := tempName(dir, filepath.Base(o.Output))
	if err != nil {
		return res, fmt.Errorf("image install: %w", err)
	}
	defer os.Remove(tmp) // a no-op once linked into place and removed
	serial := tmp + ".serial"
	defer os.Remove(serial)
	if err := o.Tool.Run(ctx, io.Discard, "create", "-q", "-f", "qcow2", tmp, strconv.FormatInt(o.Size, 10)); err != nil {
		return res, fmt.Errorf("image install: %w", err)
	}
	if err := runInstaller(ctx, o, tmp, serial); err != nil {
		return res, fmt.Errorf("image install: %w", err)
	}
	info, err := InspectFile(tmp)
	if err != nil {
		return res, fmt.Errorf("image install: the installed disk: %w", err)
	}
	if info.Format != QCOW2 || len(info.Problems) > 0 || info.BootableVerdict == No {
		return res, fmt.Errorf("image install: the installer powered off, but the disk is not one to boot (%s; %s%s): did the installation finish? Its serial console ended with:\n%s",
			info.Format, info.BootableReason, problemText(info), serialTail(serial))
	}
	if err := os.Chmod(tmp, 0o644); err != nil {
		return res, fmt.Errorf("image install: %w", err)
	}
	if err := syncFile(tmp); err != nil {
		return res, fmt.Errorf("image install: %w", err)
	}
	// link(2), unlike rename(2), fails on an existing name.
	if err := os.Link(tmp, o.Output); err != nil {
		return res, fmt.Errorf("image install: put the disk in place: %w", err)
	}
	info.Path = o.Output
	res.Info, res.Seconds = info, time.Since(start).Seconds()
	return res, nil
}

func problemText(info Info) string {
	if len(info.Problems) == 0 {
		return ""
	}
	return "; " + strings.Join(info.Problems, "; ")
}

// runInstaller runs the machine until it powers off, under o.Timeout,
// reporting progress every half minute.
func runInstaller(ctx context.Context, o InstallOptions, disk, serial string) error {
	host, port, _ := VNCPort(o.VNC)
	_, display, _ := net.SplitHostPort(o.VNC)
	args := []string{
		"-accel", o.Accel, "-m", strconv.Itoa(o.MemoryMiB), "-smp", strconv.Itoa(o.CPUs),
		// The installer's power-off ends qemu; a reboot must not boot the
		// CD again.
		"-no-reboot", "-monitor", "none", "-display", "none",
		"-vnc", net.JoinHostPort(host, display),
		"-serial", "file:" + serial,
		"-drive", "file=" + disk + ",format=qcow2,if=virtio",
		"-drive", "file=" + o.ISO + ",format=raw,media=cdrom,readonly=on",
		"-boot", "order=d",
	}
	for _, cd := range o.DriverCDs {
		args = append(args, "-drive", "file="+cd+",format=raw,media=cdrom,readonly=on")
	}
	args = append(args,
		// No network: stacklab's installs are offline, and a user's
		// installer that wants one says so on its screen.
		"-nic", "none",
	)
	rctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- o.Machine.Run(rctx, args) }()
	say := func(s string) {
		if o.Progress != nil {
			o.Progress(s)
		}
	}
	say(fmt.Sprintf("installing from %s (%s): the installer's screen is on VNC %s, port %d; the machine powers off when it is done", o.ISO, o.Accel, host, port))
	start := time.Now()
	tick := time.NewTicker(30 * time.Second)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			switch {
			case ctx.Err() != nil:
				return fmt.Errorf("interrupted after %s; qemu stopped, the partial disk removed: %w", time.Since(start).Round(time.Second), ctx.Err())
			case rctx.Err() != nil:
				return fmt.Errorf("the installer did not power off within %s (its screen: VNC %s, port %d); qemu stopped, the partial disk removed; its serial console ended with:\n%s",
					o.Timeout, host, port, serialTail(serial))
			case err != nil:
				return fmt.Errorf("qemu: %w", err)
			}
			return nil
		case <-tick.C:
			size := int64(0)
			if st, err := os.Stat(disk); err == nil {
				size = st.Size()
			}
			say(fmt.Sprintf("  still installing: %s, %s written to the disk", time.Since(start).Round(time.Second), humanBytes(size)))
		}
	}
}

// serialTail is the last lines the machine wrote to its serial port.
func serialTail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil || len(bytes.TrimSpace(b)) == 0 {
		return "  (nothing)"
	}
	lines := strings.Split(strings.TrimRight(strings.ReplaceAll(string(b), "\r", ""), "\n"), "\n")
	if len(lines) > 8 {
		lines = lines[len(lines)-8:]
	}
	return "  " + strings.Join(lines, "\n  ")
}

// QemuSystem is qemu-system-x86_64 on PATH.
type QemuSystem struct{}

// Run runs qemu in a process group of its own, killed with it when ctx
// ends and when stacklab itself dies (the parent-death signal), so an
// interrupted install leaves no qemu behind.
func (QemuSystem) Run(ctx context.Context, args []string) error {
	cmd := exec.Command("qemu-system-x86_64", args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start qemu-system-x86_64: %w", err)
	}
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	select {
	case err := <-waited:
		if err != nil {
			return fmt.Errorf("%w: %s", err, strings.TrimSpace(out.String()))
		}
		return nil
	case <-ctx.Done():
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-waited //nolint:errcheck // killed on purpose: "signal: killed" says nothing more
		return ctx.Err()
	}
}

// ParseSize reads a disk size as qemu-img takes it: a number of bytes,
// or with a K, M, G or T suffix (powers of 1024; "iB" and "B" allowed).
func ParseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	t = strings.TrimSuffix(strings.TrimSuffix(strings.ToUpper(t), "B"), "I")
	mult := int64(1)
	if t != "" {
		switch t[len(t)-1] {
		case 'K':
			mult = 1 << 10
		case 'M':
			mult = 1 << 20
		case 'G':
			mult = 1 << 30
		case 'T':
			mult = 1 << 40
		}
		if mult > 1 {
			t = t[:len(t)-1]
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n <= 0 || n > (1<<50)/mult {
		return 0, fmt.Errorf("size %q: want a positive number with an optional K, M, G or T suffix, e.g. 10G", s)
	}
	return n * mult, nil
}
