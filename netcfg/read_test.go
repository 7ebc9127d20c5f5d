package netcfg

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// fakeNL serves netlink-level data, for the conversion and retry logic; the
// real kernel is exercised in netns_test.go.
type fakeNL struct {
	links      []netlink.Link
	addrs      []netlink.Addr
	routes     []netlink.Route
	sockets    []*netlink.Socket
	interrupts int // dumps to answer with ErrDumpInterrupted first
	calls      int
	delErr     error
	// sessionDumps counts SocketDiagTCP calls (one per address family).
	sessionDumps int
}

func (f *fakeNL) interrupted() bool {
	f.calls++
	if f.interrupts > 0 {
		f.interrupts--
		return true
	}
	return false
}

func (f *fakeNL) LinkList() ([]netlink.Link, error) {
	if f.interrupted() {
		return f.links[:1], netlink.ErrDumpInterrupted
	}
	return f.links, nil
}

func (f *fakeNL) LinkByName(name string) (netlink.Link, error) {
	for _, l := range f.links {
		if l.Attrs().Name == name {
			return l, nil
		}
	}
	return nil, netlink.LinkNotFoundError{}
}

func (f *fakeNL) AddrList(_ netlink.Link, _ int) ([]netlink.Addr, error) { return f.addrs, nil }

func (f *fakeNL) RouteListFiltered(family int, _ *netlink.Route, _ uint64) ([]netlink.Route, error) {
	var out []netlink.Route
	for _, r := range f.routes {
		if r.Family == family {
			out = append(out, r)
		}
	}
	return out, nil
}

func (f *fakeNL) RouteDel(r *netlink.Route) error {
	for i, x := range f.routes {
		if x.LinkIndex == r.LinkIndex && x.Dst != nil && r.Dst != nil && x.Dst.String() == r.Dst.String() {
			f.routes = append(f.routes[:i], f.routes[i+1:]...)
			return nil
		}
	}
	return unix.ESRCH
}

func (f *fakeNL) SocketDiagTCP(family uint8) ([]*netlink.Socket, error) {
	f.sessionDumps++
	var out []*netlink.Socket
	for _, so := range f.sockets {
		if so.Family == family {
			out = append(out, so)
		}
	}
	return out, nil
}

func (f *fakeNL) LinkSetUp(l netlink.Link) error {
	l.Attrs().Flags |= net.FlagUp
	return nil
}

func (f *fakeNL) AddrDel(l netlink.Link, a *netlink.Addr) error {
	if f.delErr != nil {
		return f.delErr
	}
	for i, x := range f.addrs {
		if x.LinkIndex == l.Attrs().Index && x.IPNet.String() == a.IPNet.String() {
			f.addrs = append(f.addrs[:i], f.addrs[i+1:]...)
			return nil
		}
	}
	return unix.EADDRNOTAVAIL
}

func mustCIDR(s string) *net.IPNet {
	ip, n, err := net.ParseCIDR(s)
	if err != nil {
		panic(err)
	}
	n.IP = ip
	return n
}

// labNL is a lab VM: eth0 with address and default route, eth1 up and bare.
func labNL() *fakeNL {
	return &fakeNL{
		links: []netlink.Link{
			&netlink.Device{LinkAttrs: netlink.LinkAttrs{Name: "lo", Index: 1, Flags: net.FlagUp | net.FlagLoopback, MTU: 65536}},
			&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "eth0", Index: 2, Flags: net.FlagUp, MTU: 1500, OperState: netlink.OperUp}},
			&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "eth1", Index: 3, Flags: net.FlagUp, MTU: 1500, OperState: netlink.OperUp}},
		},
		addrs: []netlink.Addr{
			{IPNet: mustCIDR("127.0.0.1/8"), LinkIndex: 1, Scope: unix.RT_SCOPE_HOST},
			{IPNet: mustCIDR("10.0.2.15/24"), LinkIndex: 2, Scope: unix.RT_SCOPE_UNIVERSE},
		},
		routes: []netlink.Route{
			{Family: netlink.FAMILY_V4, LinkIndex: 2, Gw: net.ParseIP("10.0.2.2"), Dst: mustCIDR("0.0.0.0/0")},
			{Family: netlink.FAMILY_V4, LinkIndex: 2, Dst: mustCIDR("10.0.2.0/24")},
		},
	}
}

func TestSnapshotConversion(t *testing.T) {
	f := labNL()
	f.links = append(f.links,
		&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "brq1", Index: 4}},
		&netlink.Device{LinkAttrs: netlink.LinkAttrs{Name: "eth2", Index: 5, MasterIndex: 4, HardwareAddr: net.HardwareAddr{2, 0, 0, 0, 0, 1}}},
	)
	f.addrs = append(f.addrs,
		netlink.Addr{IPNet: mustCIDR("fe80::1/64"), LinkIndex: 3, Scope: unix.RT_SCOPE_LINK},
		netlink.Addr{IPNet: mustCIDR("2001:db8::1/64"), LinkIndex: 3, Scope: unix.RT_SCOPE_UNIVERSE},
	)
	f.routes = append(f.routes,
		// ECMP IPv6 default, Dst nil as older kernels/netlink report it.
		netlink.Route{Family: netlink.FAMILY_V6, Priority: 1024, MultiPath: []*netlink.NexthopInfo{{LinkIndex: 3, Gw: net.ParseIP("fe80::9")}, {LinkIndex: 5}}},
		netlink.Route{Family: netlink.FAMILY_V4, LinkIndex: 5, Dst: mustCIDR("0.0.0.0/0"), Type: unix.RTN_BLACKHOLE},
	)
	f.interrupts = 2
	s, err := Host{NL: f}.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Links) != 5 {
		t.Fatalf("links = %v; the interrupted partial dumps must be discarded", s.Names())
	}
	eth1, _ := s.Link("eth1")
	if eth1.Kind != "veth" || !eth1.Up || len(eth1.Addrs) != 2 || eth1.Addrs[0].Scope != ScopeLink || eth1.Addrs[1].Scope != ScopeGlobal || eth1.Addrs[1].Family != IPv6 {
		t.Errorf("eth1 = %+v", eth1)
	}
	if got := eth1.BlockingAddrs(); len(got) != 1 || got[0].Prefix != netip.MustParsePrefix("2001:db8::1/64") {
		t.Errorf("blocking = %v", got)
	}
	eth2, _ := s.Link("eth2")
	if eth2.Master != "brq1" || eth2.MasterKind != "bridge" || eth2.MAC != "02:00:00:00:00:01" || eth2.Up {
		t.Errorf("eth2 = %+v", eth2)
	}
	want := []Route{
		{Family: IPv4, Link: "eth0", Index: 2, Gateway: netip.MustParseAddr("10.0.2.2")},
		{Family: IPv6, Link: "eth1", Index: 3, Gateway: netip.MustParseAddr("fe80::9"), Priority: 1024},
		{Family: IPv6, Link: "eth2", Index: 5, Priority: 1024},
	}
	if len(s.DefaultRoutes) != len(want) {
		t.Fatalf("default routes = %+v, want %+v", s.DefaultRoutes, want)
	}
	for i := range want {
		if s.DefaultRoutes[i] != want[i] {
			t.Errorf("route %d = %+v, want %+v", i, s.DefaultRoutes[i], want[i])
		}
	}
}

func TestSnapshotGivesUpOnEndlessInterrupts(t *testing.T) {
	f := labNL()
	f.interrupts = 100
	_, err := Host{NL: f}.Snapshot(context.Background())
	if !errors.Is(err, netlink.ErrDumpInterrupted) {
		t.Fatalf("err = %v, want ErrDumpInterrupted", err)
	}
	if f.calls != dumpAttempts {
		t.Errorf("calls = %d, want %d", f.calls, dumpAttempts)
	}
}

func TestApplyAddressAlreadyGoneIsSuccess(t *testing.T) {
	f := labNL()
	f.addrs = append(f.addrs, netlink.Addr{IPNet: mustCIDR("192.0.2.5/24"), LinkIndex: 3})
	h := Host{NL: f, Root: t.TempDir()}
	p, err := h.Prepare(context.Background(), "", "", Options{FlushExternal: true, Config: HostConfig{System: SystemNone}})
	if err != nil {
		t.Fatal(err)
	}
	// Someone else removes it between our read and our delete.
	f.delErr = unix.EADDRNOTAVAIL
	f.addrs = f.addrs[:2]
	res, err := h.Apply(context.Background(), p)
	if err != nil || res.Changed {
		t.Fatalf("Apply = %+v, %v; want success without change", res, err)
	}
}

func TestApplyRefusedPlanTouchesNothing(t *testing.T) {
	f := labNL()
	f.links[2].Attrs().Flags = 0
	h := Host{NL: f}
	p, err := h.Prepare(context.Background(), "", "", Options{Config: HostConfig{System: SystemNone}})
	if err != nil {
		t.Fatal(err)
	}
	p.Refusals = []string{"test"}
	_, err = h.Apply(context.Background(), p)
	var re *RefusedError
	if !errors.As(err, &re) {
		t.Fatalf("err = %v, want *RefusedError", err)
	}
	if f.links[2].Attrs().Flags&net.FlagUp != 0 {
		t.Error("a refused plan set the link up")
	}
}

// Apply reads the TCP sessions only to guard a plan that changes
// something: a re-run's empty plan skips the dump, a plan with changes is
// still refused when a session reached the external NIC since planning.
func TestApplyReadsSessionsOnlyForChanges(t *testing.T) {
	f := labNL()
	h := Host{NL: f, Root: t.TempDir()}
	opts := Options{FlushExternal: true, Config: HostConfig{System: SystemNone}}
	p, err := h.Prepare(context.Background(), "", "", opts)
	if err != nil || len(p.Changes) != 0 {
		t.Fatalf("plan %+v, %v; want nothing to change", p.Changes, err)
	}
	f.sessionDumps = 0
	if _, err := h.Apply(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	if f.sessionDumps != 0 {
		t.Errorf("applying an empty plan dumped the sessions %d times", f.sessionDumps)
	}

	f.addrs = append(f.addrs, netlink.Addr{IPNet: mustCIDR("192.168.56.10/24"), LinkIndex: 3, Scope: unix.RT_SCOPE_UNIVERSE})
	if p, err = h.Prepare(context.Background(), "", "", opts); err != nil || len(p.Changes) == 0 || p.Refused() {
		t.Fatalf("plan %+v, %v; want the address removed", p, err)
	}
	f.sockets = []*netlink.Socket{{Family: unix.AF_INET, State: tcpEstablished, ID: netlink.SocketID{
		Source: net.ParseIP("192.168.56.10").To4(), SourcePort: 22, Destination: net.ParseIP("192.168.56.1").To4(), DestinationPort: 50022,
	}}}
	_, err = h.Apply(context.Background(), p)
	var re *RefusedError
	if !errors.As(err, &re) {
		t.Fatalf("Apply = %v, want refused: an SSH session now runs over eth1", err)
	}
	if len(f.addrs) != 3 {
		t.Error("a refused apply removed the address")
	}
}
