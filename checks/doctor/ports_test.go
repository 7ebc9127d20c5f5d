package doctor

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stacklab/stacklab/checks"
	"github.com/stacklab/stacklab/checks/host"
)

const ssApacheKeystone = `LISTEN 0      511          0.0.0.0:80        0.0.0.0:*    users:(("apache2",pid=1236,fd=4),("apache2",pid=1235,fd=4))
LISTEN 0      100          10.0.0.2:5000      0.0.0.0:*    users:(("uwsgi",pid=2001,fd=3),("uwsgi",pid=2001,fd=7))
LISTEN 0      80         127.0.0.1:3306      0.0.0.0:*    users:(("mariadbd",pid=900,fd=20))
`

func TestListenersAndCgroups(t *testing.T) {
	ls := Listeners(ssApacheKeystone + "LISTEN 0 4096 [::]:80 [::]:*\n")
	if len(ls) != 5 || ls[0].Port != 80 || ls[0].PID != 1236 || ls[2].Process != "uwsgi" || ls[2].Port != 5000 || ls[3].Port != 3306 || !ls[4].Unknown {
		t.Errorf("listeners %+v", ls)
	}
	for in, want := range map[string]string{
		"0::/system.slice/apache2.service\n":                                                    "apache2",
		"12:pids:/system.slice/keystone.service\n1:name=systemd:/system.slice/keystone.service": "keystone",
		"0::/machine.slice/lab.scope/payload/system.slice/keystone.service/uwsgi\n":             "keystone",
		"0::/user.slice/user-0.slice/session-3.scope\n":                                         "",
	} {
		if got := ServiceOfCgroup(in); got != want {
			t.Errorf("ServiceOfCgroup(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestPortsVerdict(t *testing.T) {
	owners := map[int]string{80: "apache2", 5000: "keystone"}
	apache := Listener{Addr: "0.0.0.0:80", Port: 80, Process: "apache2", PID: 10, Unit: "apache2"}
	keystone := Listener{Addr: "10.0.0.2:5000", Port: 5000, Process: "uwsgi", PID: 20, Unit: "keystone"}
	squatter := Listener{Addr: "0.0.0.0:80", Port: 80, Process: "python3", PID: 4242}
	nginx := Listener{Addr: "0.0.0.0:5000", Port: 5000, Process: "nginx", PID: 77, Unit: "nginx"}
	for _, tt := range []struct {
		name    string
		ls      []Listener
		status  checks.Status
		summary string
		fix     string
	}{
		{"theirs", []Listener{apache, keystone}, checks.OK, "held by apache2, keystone", ""},
		{"nothing listens", nil, checks.OK, "nothing listens", ""},
		{"a shell's server on 80", []Listener{squatter, keystone}, checks.Fail,
			"port 80 is held by python3 (pid 4242), not apache2: its service cannot listen there", "kill 4242   (python3, started outside systemd); then systemctl restart apache2"},
		{"another service on 5000", []Listener{apache, nginx}, checks.Fail, "port 5000 is held by nginx (pid 77), not keystone", "systemctl stop nginx; systemctl disable nginx; then systemctl restart keystone"},
		{"both listen", []Listener{apache, squatter}, checks.Warn, "both listen", "kill 4242"},
		{"owner unknown is not blamed", []Listener{{Addr: "0.0.0.0:80", Port: 80, Process: "apache2", PID: 11, Unknown: true}}, checks.OK, "", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := PortsVerdict(owners, tt.ls)
			if r.Status != tt.status || !strings.Contains(r.Summary, tt.summary) || !strings.Contains(r.Fix, tt.fix) {
				t.Errorf("%s %q\nfix %q\nevidence %q", r.Status, r.Summary, r.Fix, r.Evidence)
			}
		})
	}
}

// A foreign server on port 80 is the root cause when apache2 cannot start.
func TestServicePortsRootCause(t *testing.T) {
	w := newWorld(t)
	w.deps.Units.(fakeUnits).states["apache2"] = "failed"
	h := w.deps.Host.(fakeHost)
	h.files["/proc/4242/cgroup"] = "0::/user.slice/user-0.slice/session-3.scope\n"
	h.files["/proc/2001/cgroup"] = "0::/system.slice/keystone.service\n"
	var ssRuns atomic.Int32
	h.run = portCommands(`LISTEN 0 5 0.0.0.0:80 0.0.0.0:* users:(("python3",pid=4242,fd=3))
LISTEN 0 100 127.0.0.1:5000 0.0.0.0:* users:(("uwsgi",pid=2001,fd=3))
`, &ssRuns, "AH00072: make_sock: could not bind to address 0.0.0.0:80\n", errors.New("exit status 1"))
	w.deps.Host = h
	rep := w.run(t)
	if roots := rep.RootCauses(); len(roots) != 1 || roots[0] != PortOwnerID(80) {
		var b strings.Builder
		_ = rep.WriteText(&b, checks.TextOptions{})
		t.Fatalf("roots %v\n%s", roots, b.String())
	}
	for _, id := range []string{UnitID("apache2"), IDApache, IDDashboardPage} {
		if s, rc := status(rep, id); s != checks.Skip || len(rc) != 1 || rc[0] != PortOwnerID(80) {
			t.Errorf("%s: %s %v, want skipped naming %s", id, s, rc, PortOwnerID(80))
		}
	}
	for _, id := range []string{UnitID("keystone"), PortOwnerID(5000)} {
		if s, _ := status(rep, id); s != checks.OK {
			t.Errorf("%s is %s: keystone holds its port", id, s)
		}
	}
	// Both ports graded from one reading.
	if n := ssRuns.Load(); n != 1 {
		t.Errorf("ss ran %d times, want once", n)
	}
}

// portCommands answers the commands a port owner test's doctor runs: ss
// (counted in ssRuns), mysql healthy, apache2ctl as given.
func portCommands(ss string, ssRuns *atomic.Int32, apache string, apacheErr error) func(string, ...string) ([]byte, error) {
	return func(name string, _ ...string) ([]byte, error) {
		switch name {
		case "ss":
			ssRuns.Add(1)
			return []byte(ss), nil
		case "mysql":
			return []byte(healthyMySQL), nil
		case "apache2ctl":
			return []byte(apache), apacheErr
		}
		return nil, errors.New("unexpected command " + name)
	}
}

// procLine is one /proc/net/tcp{,6} line as the kernel prints it: each
// 32-bit word of the address printed as a number (little-endian machines).
func procLine(sl int, addr string, port uint16, st string, inode uint64) string {
	a := netip.MustParseAddr(addr).AsSlice()
	var hexAddr string
	for i := 0; i < len(a); i += 4 {
		hexAddr += fmt.Sprintf("%08X", binary.LittleEndian.Uint32(a[i:i+4]))
	}
	zero := strings.Repeat("0", len(hexAddr))
	return fmt.Sprintf("%4d: %s:%04X %s:0000 %s 00000000:00000000 00:00000000 00000000   106        0 %d 1 0000000000000000 100 0 0 10 0\n",
		sl, hexAddr, port, zero, st, inode)
}

const procHeader = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"

// The kernel's own table and a process's own descriptors: a socket this
// test listens on is found, on its port, and held by this process.
func TestSocketHeldByThisProcess(t *testing.T) {
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	port := l.Addr().(*net.TCPAddr).Port
	sys := System{Root: "/"}
	b, err := sys.ReadFile("/proc/net/tcp")
	if err != nil {
		t.Fatal(err)
	}
	table, err := host.ParseProcNetTCP(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	var mine []host.TCPSocket
	for _, s := range table {
		if s.State == host.TCPListen && int(s.Port) == port {
			mine = append(mine, s)
		}
	}
	if len(mine) != 1 || mine[0].Addr != netip.MustParseAddr("127.0.0.1") {
		t.Fatalf("listening on %d: %v", port, mine)
	}
	dr := &doctor{d: Deps{Host: sys}}
	if held := dr.socketInodes(os.Getpid()); !held[mine[0].Inode] {
		t.Errorf("socket inode %d not among this process's descriptors (%d sockets)", mine[0].Inode, len(held))
	}
}

// The healthy case is settled from the kernel's table and the units' main
// processes: ss, which reads every process's descriptors, does not run.
// A second listener on the port sends the check to ss, which names it.
func TestPortOwnersWithoutSS(t *testing.T) {
	for _, tt := range []struct {
		name    string
		extra   string // more /proc/net/tcp lines
		ss      string
		status  checks.Status
		ssRuns  int32
		summary string
	}{
		{name: "held by their units", status: checks.OK, summary: "held by apache2"},
		{
			name:   "a second server on 80",
			extra:  procLine(5, "10.0.0.2", 80, "0A", 777),
			ss:     `LISTEN 0 5 10.0.0.2:80 0.0.0.0:* users:(("python3",pid=4242,fd=3))` + "\n" + `LISTEN 0 511 0.0.0.0:80 0.0.0.0:* users:(("apache2",pid=1235,fd=4))` + "\n",
			status: checks.Warn, ssRuns: 1, summary: "held by python3 (pid 4242), not apache2 alone",
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			w.deps.Units = fakeUnits{states: map[string]string{}, pids: map[string]uint32{"apache2": 1235, "keystone": 2001}}
			h := w.deps.Host.(fakeHost)
			h.files["/proc/net/tcp"] = procHeader + procLine(0, "0.0.0.0", 80, "0A", 555) + procLine(1, "127.0.0.1", 5000, "0A", 556) + tt.extra
			h.files["/proc/net/tcp6"] = procHeader
			h.files["/proc/1235/fd/0"] = "/dev/null"
			h.files["/proc/1235/fd/4"] = "socket:[555]"
			h.files["/proc/1235/comm"] = "apache2\n"
			h.files["/proc/2001/fd/3"] = "socket:[556]"
			h.files["/proc/2001/comm"] = "uwsgi\n"
			h.files["/proc/1235/cgroup"] = "0::/system.slice/apache2.service\n"
			h.files["/proc/4242/cgroup"] = "0::/user.slice/user-0.slice/session-3.scope\n"
			var ssRuns atomic.Int32
			h.run = portCommands(tt.ss, &ssRuns, "Syntax OK\n", nil)
			w.deps.Host = h
			rep := w.run(t)
			e, _ := rep.Get(PortOwnerID(80))
			if e.Status != tt.status || !strings.Contains(e.Summary, tt.summary) {
				t.Errorf("%s: %s %q %q", PortOwnerID(80), e.Status, e.Summary, e.Evidence)
			}
			if s, _ := status(rep, PortOwnerID(5000)); s != checks.OK {
				t.Errorf("%s is %s: keystone's main process holds its socket", PortOwnerID(5000), s)
			}
			if n := ssRuns.Load(); n != tt.ssRuns {
				t.Errorf("ss ran %d times, want %d", n, tt.ssRuns)
			}
		})
	}
}
