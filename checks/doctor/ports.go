package doctor

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/stacklab/stacklab/checks"
	"github.com/stacklab/stacklab/checks/host"
)

// PortOwnerID is the check that a port the browser path needs belongs
// to its unit (port-80-owner, port-5000-owner): one check per port, so a
// server squatting on 80 skips only apache2's checks behind it.
func PortOwnerID(port int) string { return fmt.Sprintf("port-%d-owner", port) }

// servicePorts maps the ports a browser needs to the unit that must hold
// each: the dashboard on 80, keystone (Horizon's login) on 5000.
func servicePorts() map[int]string {
	return map[int]string{80: "apache2", 5000: "keystone"}
}

// Listener is one process listening on a TCP port.
type Listener struct {
	Addr    string // local address:port as ss prints it
	Port    int
	Process string
	PID     int
	// Unit is the systemd service whose cgroup holds the process; empty
	// for a process started outside systemd (a shell, cron, a container).
	Unit string
	// Unknown: the process's cgroup could not be read (it exited, or
	// /proc is not ours); it is neither blamed nor counted as the owner.
	Unknown bool
}

func (l Listener) String() string {
	s := fmt.Sprintf("%s: %s (pid %d", l.Addr, l.Process, l.PID)
	switch {
	case l.Unknown:
		s += ", owner unknown"
	case l.Unit != "":
		s += ", " + l.Unit + ".service"
	default:
		s += ", not a systemd service"
	}
	return s + ")"
}

var ssUserRE = regexp.MustCompile(`\("([^"]+)",pid=(\d+)`)

// Listeners reads `ss -Hltnp`: one Listener per process of each listening
// socket. A socket without a users:(…) part (ss run without privilege)
// is one Listener whose owner is Unknown.
func Listeners(ss string) []Listener {
	var out []Listener
	for _, l := range strings.Split(ss, "\n") {
		f := strings.Fields(l)
		if len(f) < 5 || f[0] != "LISTEN" {
			continue
		}
		i := strings.LastIndexByte(f[3], ':')
		port, err := strconv.Atoi(f[3][i+1:])
		if i < 0 || err != nil {
			continue
		}
		users := ssUserRE.FindAllStringSubmatch(strings.Join(f[5:], " "), -1)
		if len(users) == 0 {
			out = append(out, Listener{Addr: f[3], Port: port, Process: "?", Unknown: true})
		}
		seen := map[int]bool{}
		for _, m := range users {
			pid, _ := strconv.Atoi(m[2])
			if !seen[pid] {
				seen[pid] = true
				out = append(out, Listener{Addr: f[3], Port: port, Process: m[1], PID: pid})
			}
		}
	}
	return out
}

var serviceCgroupRE = regexp.MustCompile(`/([^/\s]+)\.service(?:/|$)`)

// ServiceOfCgroup is the service a /proc/PID/cgroup file places the
// process in (cgroup v1 or v2, also under a container's prefix).
func ServiceOfCgroup(cgroup string) string {
	unit := ""
	for _, l := range strings.Split(cgroup, "\n") {
		if m := serviceCgroupRE.FindAllStringSubmatch(l, -1); m != nil {
			unit = m[len(m)-1][1]
		}
	}
	return unit
}

// PortsVerdict grades who listens on the ports the lab's browser path
// needs (owners: port → unit). A port held only by another process is the
// reason its service cannot start (Address already in use) or answers
// with someone else's page; held by both (on different addresses), a
// warning.
func PortsVerdict(owners map[int]string, ls []Listener) checks.Result {
	var ev, fail, warn, fixes []string
	ports := slices.Sorted(maps.Keys(owners))
	for _, port := range ports {
		unit := owners[port]
		var mine, others []Listener
		for _, l := range ls {
			if l.Port != port {
				continue
			}
			ev = append(ev, l.String())
			switch {
			case l.Unknown:
			case l.Unit == unit:
				mine = append(mine, l)
			default:
				others = append(others, l)
			}
		}
		if len(others) == 0 {
			continue
		}
		o := others[0]
		what := fmt.Sprintf("port %d is held by %s (pid %d), not %s", port, o.Process, o.PID, unit)
		stop := fmt.Sprintf("kill %d   (%s, started outside systemd)", o.PID, o.Process)
		if o.Unit != "" {
			// stop, then disable: a transient unit (systemd-run) has no
			// unit file to disable, and must still be stopped.
			stop = fmt.Sprintf("systemctl stop %s; systemctl disable %s", o.Unit, o.Unit)
		}
		fixes = append(fixes, stop+"; then systemctl restart "+unit)
		if len(mine) == 0 {
			fail = append(fail, what)
		} else {
			warn = append(warn, what+" alone: both listen")
		}
	}
	fix := "free the port: " + strings.Join(fixes, "\n")
	switch {
	case len(fail) > 0:
		return checks.Failf(strings.Join(fail, "; ")+": "+portConsequence(fail), fix, ev...)
	case len(warn) > 0:
		return checks.Warnf(strings.Join(warn, "; ")+" (on different addresses: which one a browser reaches depends on the address)", fix, ev...)
	}
	if len(ev) == 0 {
		return checks.Pass("nothing listens on port " + portList(ports))
	}
	return checks.Pass("port "+portList(ports)+" held by "+ownerList(owners, ports), ev...)
}

func portList(ports []int) string {
	var s []string
	for _, p := range ports {
		s = append(s, strconv.Itoa(p))
	}
	return strings.Join(s, ", ")
}

func ownerList(owners map[int]string, ports []int) string {
	var s []string
	for _, p := range ports {
		s = append(s, owners[p])
	}
	return strings.Join(s, ", ")
}

func portConsequence(fail []string) string {
	if len(fail) == 1 {
		return "its service cannot listen there (Address already in use) and browsers reach the other server"
	}
	return "their services cannot listen there (Address already in use)"
}

// portChecks are the port owner checks for the lab's units.
func (dr *doctor) portChecks() []checks.Check {
	var out []checks.Check
	for _, port := range slices.Sorted(maps.Keys(servicePorts())) {
		unit := servicePorts()[port]
		if !slices.Contains(dr.cfg.Units, unit) {
			continue
		}
		out = append(out, checks.Check{
			ID: PortOwnerID(port), Title: fmt.Sprintf("port %d is held by %s, not another server", port, unit),
			DependsOn: []string{IDLabHost},
			Run: func(ctx context.Context) checks.Result {
				return dr.checkPortOwner(ctx, map[int]string{port: unit})
			},
		})
	}
	return out
}

func (dr *doctor) checkPortOwner(ctx context.Context, owners map[int]string) checks.Result {
	if r, ok := dr.notLab(); ok {
		return r
	}
	if ls, ok := dr.heldByTheirUnits(ctx, owners); ok {
		return PortsVerdict(owners, ls)
	}
	out, err := dr.listeners(ctx)
	if err != nil {
		return checks.Skipped("cannot list listening sockets: "+err.Error(), firstLines(string(out), 2))
	}
	ls := Listeners(string(out))
	for i, l := range ls {
		b, err := dr.d.Host.ReadFile(fmt.Sprintf("/proc/%d/cgroup", l.PID))
		ls[i].Unit, ls[i].Unknown = ServiceOfCgroup(string(b)), err != nil
	}
	return PortsVerdict(owners, ls)
}

// listeners is ss's list of listening sockets, read once per run for
// every port owner check that heldByTheirUnits could not settle: ss -p
// reads every process's file descriptors, about 27 ms of CPU each time.
func (dr *doctor) listeners(ctx context.Context) ([]byte, error) {
	return dr.ss.get(ctx, func(ctx context.Context) ([]byte, error) {
		ctx, cancel := context.WithTimeout(ctx, dr.cfg.probe())
		defer cancel()
		return dr.d.Host.Run(ctx, "ss", "-Hltnp")
	})
}

// heldByTheirUnits settles the healthy case without ss's scan of every
// process: each socket listening on each port is one its unit's main
// process holds (Apache's parent and uwsgi's master keep the listening
// sockets their workers inherit). Anything else, a second listener, a
// unit without a main process, a descriptor gone between two reads, is
// not settled here: ss names every owner.
func (dr *doctor) heldByTheirUnits(ctx context.Context, owners map[int]string) ([]Listener, bool) {
	states, err := dr.unitStates(ctx)
	if err != nil {
		return nil, false
	}
	var socks []host.TCPSocket
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, err := dr.d.Host.ReadFile(f)
		if err != nil {
			return nil, false
		}
		table, err := host.ParseProcNetTCP(bytes.NewReader(b))
		if err != nil {
			return nil, false
		}
		socks = append(socks, table...)
	}
	var out []Listener
	for port, unit := range owners {
		pid := int(states[unit].MainPID)
		if pid == 0 {
			return nil, false
		}
		held := dr.socketInodes(pid)
		comm, err := dr.d.Host.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
		if err != nil {
			return nil, false
		}
		n := 0
		for _, s := range socks {
			if s.State != host.TCPListen || int(s.Port) != port {
				continue
			}
			if !held[s.Inode] {
				return nil, false
			}
			n++
			addr := netip.AddrPortFrom(s.Addr, s.Port).String()
			out = append(out, Listener{Addr: addr, Port: port, Process: strings.TrimSpace(string(comm)), PID: pid, Unit: unit})
		}
		if n == 0 {
			return nil, false
		}
	}
	return out, true
}

// socketInodes are the inodes of the sockets process pid holds open.
func (dr *doctor) socketInodes(pid int) map[uint64]bool {
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	fds, err := dr.d.Host.ReadDir(dir)
	if err != nil {
		return nil
	}
	held := map[uint64]bool{}
	for _, fd := range fds {
		t, err := dr.d.Host.Readlink(dir + "/" + fd)
		if ino, ok := host.SocketInode(t); err == nil && ok {
			held[ino] = true
		}
	}
	return held
}
