package netcfg

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Process is a running program as /proc shows it.
type Process struct {
	PID  int      `json:"pid"`
	Argv []string `json:"argv"`
}

func (p Process) String() string { return fmt.Sprintf("PID %d (%s)", p.PID, strings.Join(p.Argv, " ")) }

// Processes is what netcfg needs of the host's processes: which ones run
// in the network namespace it changes, and running a command. A DHCP client
// keeps re-adding the address we remove, so it must be found and stopped.
type Processes interface {
	List() ([]Process, error)
	Run(ctx context.Context, argv []string) error
}

// ProcFS reads /proc, keeping only the processes in the network namespace
// NetNS names (/proc/self/ns/net for our own): a container's DHCP client
// for its own "eth1" is not ours to stop.
type ProcFS struct {
	Dir   string // "/proc"
	NetNS string
}

// List returns the processes of ProcFS's network namespace. A process
// that exits while being read is skipped.
func (p ProcFS) List() ([]Process, error) {
	want, err := os.Stat(p.NetNS)
	if err != nil {
		return nil, fmt.Errorf("netcfg: network namespace %s: %w", p.NetNS, err)
	}
	ents, err := os.ReadDir(p.Dir)
	if err != nil {
		return nil, fmt.Errorf("netcfg: list processes: %w", err)
	}
	var out []Process
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		dir := filepath.Join(p.Dir, e.Name())
		st, err := os.Stat(filepath.Join(dir, "ns", "net"))
		if err != nil || !os.SameFile(st, want) {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, "cmdline"))
		if err != nil || len(b) == 0 {
			continue
		}
		argv := strings.Split(string(bytes.TrimRight(b, "\x00")), "\x00")
		out = append(out, Process{PID: pid, Argv: argv})
	}
	return out, nil
}

// Run runs argv; its output is carried in the error when it fails.
func (ProcFS) Run(ctx context.Context, argv []string) error {
	out, err := exec.CommandContext(ctx, argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("netcfg: %s: %w: %s", strings.Join(argv, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

// ErrDHCPClientRunning means a DHCP client for the external NIC is still
// running after it was asked to stop: it would add the address back.
var ErrDHCPClientRunning = errors.New("DHCP client still running")

// names reports whether argv runs a program for interface name: the name
// is one of its arguments.
func names(argv []string, name string) bool {
	return len(argv) > 1 && slices.Contains(argv[1:], name)
}

// dhclientPidfile is the -pf argument of a dhclient command line, or
// ifupdown's default for the interface.
func dhclientPidfile(argv []string, ext string) string {
	for i, a := range argv {
		if a == "-pf" && i+1 < len(argv) {
			return argv[i+1]
		}
	}
	return "/run/dhclient." + ext + ".pid"
}

// stopDHCP decides how to stop what keeps giving ext an address: the DHCP
// client running for it, else ifupdown's own `ifdown` when ifupdown
// brought it up. refusal is set when something runs for ext that we do
// not know how to stop safely.
func stopDHCP(procs []Process, ifupdownUp bool, ext string) (changes []Change, refusal string) {
	var unknown []string
	for _, p := range procs {
		if !names(p.Argv, ext) {
			continue
		}
		switch path.Base(p.Argv[0]) {
		case "dhcpcd":
			changes = append(changes, Change{Action: ActionStopDHCP, Link: ext, PIDs: []int{p.PID},
				Argv: []string{"dhcpcd", "-k", ext}})
		case "dhclient":
			changes = append(changes, Change{Action: ActionStopDHCP, Link: ext, PIDs: []int{p.PID},
				Argv: []string{"dhclient", "-r", "-pf", dhclientPidfile(p.Argv, ext), ext}})
		case "udhcpc", "pump", "dhcp6c":
			unknown = append(unknown, p.String())
		}
	}
	if len(unknown) > 0 {
		return nil, fmt.Sprintf("a DHCP client we cannot stop safely runs for %s (%s); it would add the address back. "+
			"Stop it and keep it from starting again, then run stacklab again", ext, strings.Join(unknown, ", "))
	}
	if len(changes) == 0 && ifupdownUp {
		changes = append(changes, Change{Action: ActionStopDHCP, Link: ext, Argv: []string{"ifdown", "--force", ext}})
	}
	return changes, ""
}

// ifupdownUp reports whether ifupdown's state says it brought ext up:
// /run/network/ifstate.EXT (ifupdown ≥ 0.8) or an EXT= line in the older
// single /run/network/ifstate.
func (h Host) ifupdownUp(ext string) (bool, error) {
	b, err := os.ReadFile(h.path("/run/network/ifstate." + ext))
	if err == nil {
		return len(bytes.TrimSpace(b)) > 0, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return false, fmt.Errorf("netcfg: read ifupdown state: %w", err)
	}
	b, err = os.ReadFile(h.path("/run/network/ifstate"))
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("netcfg: read ifupdown state: %w", err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, ext+"=") {
			return true, nil
		}
	}
	return false, nil
}

// stopDHCPNow runs the planned stop when the client still runs (or, for
// ifdown, when ifupdown still has ext up), then waits until it is gone.
func (h Host) stopDHCPNow(ctx context.Context, c Change) (bool, error) {
	if h.Procs == nil {
		return false, fmt.Errorf("netcfg: %s: no process access configured", c)
	}
	if c.Argv[0] == "ifdown" {
		up, err := h.ifupdownUp(c.Link)
		if err != nil || !up {
			return false, err
		}
		return true, h.Procs.Run(ctx, c.Argv)
	}
	running := func() ([]Process, error) {
		ps, err := h.Procs.List()
		if err != nil {
			return nil, err
		}
		var out []Process
		for _, p := range ps {
			if slices.Contains(c.PIDs, p.PID) && names(p.Argv, c.Link) {
				out = append(out, p)
			}
		}
		return out, nil
	}
	left, err := running()
	if err != nil || len(left) == 0 {
		return false, err
	}
	if err := h.Procs.Run(ctx, c.Argv); err != nil {
		return false, err
	}
	// The client releases its lease and exits on its own time; a bounded
	// wait, polled, not slept.
	wait := h.StopWait
	if wait == 0 {
		wait = 15 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		if left, err = running(); err != nil || len(left) == 0 {
			return true, err
		}
		select {
		case <-ctx.Done():
			return true, fmt.Errorf("netcfg: %s: %w: %s; stop it by hand (kill %d), then run stacklab again",
				strings.Join(c.Argv, " "), ErrDHCPClientRunning, left[0], left[0].PID)
		case <-tick.C:
		}
	}
}
