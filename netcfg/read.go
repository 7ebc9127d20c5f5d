package netcfg

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sort"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Netlink is the part of *netlink.Handle netcfg uses. A handle made with
// netlink.NewHandleAt reads and changes another network namespace, which is
// how the tests run against a real kernel without touching the host's NICs.
type Netlink interface {
	LinkList() ([]netlink.Link, error)
	LinkByName(name string) (netlink.Link, error)
	AddrList(link netlink.Link, family int) ([]netlink.Addr, error)
	RouteListFiltered(family int, filter *netlink.Route, filterMask uint64) ([]netlink.Route, error)
	LinkSetUp(link netlink.Link) error
	AddrDel(link netlink.Link, addr *netlink.Addr) error
	RouteDel(route *netlink.Route) error
	// SocketDiagTCP lists TCP sockets (NETLINK_INET_DIAG): how the SSH
	// guard sees a session even when sudo dropped $SSH_CONNECTION.
	SocketDiagTCP(family uint8) ([]*netlink.Socket, error)
}

// Host is the machine netcfg reads and changes: its kernel through NL and
// its configuration files under Root ("/" in production, t.TempDir() in
// tests).
type Host struct {
	NL   Netlink
	Root string
	// Procs finds and stops the external NIC's DHCP client; nil plans
	// no stop (a test host without processes of its own).
	Procs Processes
	// StopWait bounds the wait for a stopped DHCP client to exit; 0 is
	// 15 s (a release round trip to a slow DHCP server).
	StopWait time.Duration
}

// dumpAttempts bounds retries of a dump the kernel interrupted because the
// table changed under it (a DHCP client renewing, a link flapping).
const dumpAttempts = 5

// retryDump runs a netlink dump until it completes uninterrupted.
func retryDump[T any](ctx context.Context, what string, f func() (T, error)) (T, error) {
	var zero T
	var err error
	for range dumpAttempts {
		if cerr := ctx.Err(); cerr != nil {
			return zero, fmt.Errorf("netcfg: %s: %w", what, cerr)
		}
		var v T
		v, err = f()
		if err == nil {
			return v, nil
		}
		if !errors.Is(err, netlink.ErrDumpInterrupted) {
			return zero, fmt.Errorf("netcfg: %s: %w", what, err)
		}
	}
	return zero, fmt.Errorf("netcfg: %s: still interrupted after %d attempts: %w", what, dumpAttempts, err)
}

// Snapshot reads links, addresses and default routes, and the established
// TCP sessions the plan's SSH guard needs.
func (h Host) Snapshot(ctx context.Context) (Snapshot, error) {
	s, err := h.Links(ctx)
	if err != nil {
		return Snapshot{}, err
	}
	var socks []*netlink.Socket
	for _, fam := range []uint8{unix.AF_INET, unix.AF_INET6} {
		ss, err := retryDump(ctx, "list TCP sessions", func() ([]*netlink.Socket, error) { return h.NL.SocketDiagTCP(fam) })
		if err != nil {
			return Snapshot{}, err
		}
		socks = append(socks, ss...)
	}
	s.Sessions = sessions(socks)
	return s, nil
}

// Links reads links, addresses and default routes without the TCP
// sessions: on a lab host, with every service's connections open, the
// socket dump was four fifths of a read's CPU, and only the plan reads it.
func (h Host) Links(ctx context.Context) (Snapshot, error) {
	nlinks, err := retryDump(ctx, "list links", h.NL.LinkList)
	if err != nil {
		return Snapshot{}, err
	}
	naddrs, err := retryDump(ctx, "list addresses", func() ([]netlink.Addr, error) {
		return h.NL.AddrList(nil, netlink.FAMILY_ALL)
	})
	if err != nil {
		return Snapshot{}, err
	}
	var nroutes []netlink.Route
	for _, fam := range []int{netlink.FAMILY_V4, netlink.FAMILY_V6} {
		rs, err := retryDump(ctx, "list routes", func() ([]netlink.Route, error) {
			return h.NL.RouteListFiltered(fam, &netlink.Route{Table: unix.RT_TABLE_MAIN}, netlink.RT_FILTER_TABLE)
		})
		if err != nil {
			return Snapshot{}, err
		}
		nroutes = append(nroutes, rs...)
	}
	return buildSnapshot(nlinks, naddrs, nroutes), nil
}

// tcpEstablished is TCP_ESTABLISHED in the kernel's tcp_states.h.
const tcpEstablished = 1

func sessions(socks []*netlink.Socket) []Session {
	var out []Session
	for _, so := range socks {
		if so.State != tcpEstablished {
			continue
		}
		l, ok1 := netip.AddrFromSlice(so.ID.Source)
		r, ok2 := netip.AddrFromSlice(so.ID.Destination)
		if !ok1 || !ok2 {
			continue
		}
		out = append(out, Session{
			Local:  netip.AddrPortFrom(l.Unmap(), so.ID.SourcePort),
			Remote: netip.AddrPortFrom(r.Unmap(), so.ID.DestinationPort),
		})
	}
	return out
}

// buildSnapshot converts netlink's types into ours; kept apart from the dumps
// so the conversion is tested without a kernel.
func buildSnapshot(nlinks []netlink.Link, naddrs []netlink.Addr, nroutes []netlink.Route) Snapshot {
	var s Snapshot
	byIndex := map[int]int{}
	for _, nl := range nlinks {
		a := nl.Attrs()
		l := Link{
			Name:        a.Name,
			Index:       a.Index,
			Kind:        nl.Type(),
			Up:          a.Flags&net.FlagUp != 0,
			OperState:   a.OperState.String(),
			Loopback:    a.Flags&net.FlagLoopback != 0,
			MTU:         a.MTU,
			MasterIndex: a.MasterIndex,
			ParentIndex: a.ParentIndex,
			Addrs:       []Addr{},
		}
		if len(a.HardwareAddr) > 0 {
			l.MAC = a.HardwareAddr.String()
		}
		byIndex[a.Index] = len(s.Links)
		s.Links = append(s.Links, l)
	}
	sort.SliceStable(s.Links, func(i, j int) bool { return s.Links[i].Index < s.Links[j].Index })
	for i, l := range s.Links {
		byIndex[l.Index] = i
	}
	for i, l := range s.Links {
		if m, ok := byIndex[l.MasterIndex]; ok && l.MasterIndex != 0 {
			s.Links[i].Master = s.Links[m].Name
			s.Links[i].MasterKind = s.Links[m].Kind
		}
		if p, ok := byIndex[l.ParentIndex]; ok && l.ParentIndex != 0 {
			s.Links[i].Parent = s.Links[p].Name
		}
	}
	for _, na := range naddrs {
		i, ok := byIndex[na.LinkIndex]
		if !ok || na.IPNet == nil {
			continue
		}
		a, ok := convertAddr(na)
		if !ok {
			continue
		}
		s.Links[i].Addrs = append(s.Links[i].Addrs, a)
	}
	name := func(idx int) string {
		if i, ok := byIndex[idx]; ok {
			return s.Links[i].Name
		}
		return fmt.Sprintf("if%d", idx)
	}
	for _, nr := range nroutes {
		if nr.Type != 0 && nr.Type != unix.RTN_UNICAST {
			continue // unreachable/blackhole routes do not carry traffic
		}
		fam := IPv4
		if nr.Family == netlink.FAMILY_V6 {
			fam = IPv6
		}
		if nr.Dst != nil {
			if ones, _ := nr.Dst.Mask.Size(); ones != 0 {
				if dst, ok := netip.AddrFromSlice(nr.Dst.IP); ok && nr.LinkIndex != 0 {
					r := Route{Family: fam, Dst: netip.PrefixFrom(dst.Unmap(), ones), Index: nr.LinkIndex, Link: name(nr.LinkIndex), Priority: nr.Priority}
					if gw, ok := netip.AddrFromSlice(nr.Gw); ok {
						r.Gateway = gw.Unmap()
					}
					s.Routes = append(s.Routes, r)
				}
				continue
			}
		}
		hops := []struct {
			idx int
			gw  net.IP
		}{{nr.LinkIndex, nr.Gw}}
		// An ECMP default route has no link of its own: each next hop has.
		if len(nr.MultiPath) > 0 {
			hops = hops[:0]
			for _, nh := range nr.MultiPath {
				hops = append(hops, struct {
					idx int
					gw  net.IP
				}{nh.LinkIndex, nh.Gw})
			}
		}
		for _, h := range hops {
			r := Route{Family: fam, Index: h.idx, Link: name(h.idx), Priority: nr.Priority}
			if gw, ok := netip.AddrFromSlice(h.gw); ok {
				r.Gateway = gw.Unmap()
			}
			s.DefaultRoutes = append(s.DefaultRoutes, r)
		}
	}
	return s
}

func convertAddr(na netlink.Addr) (Addr, bool) {
	ip, ok := netip.AddrFromSlice(na.IP)
	if !ok {
		return Addr{}, false
	}
	ip = ip.Unmap()
	ones, _ := na.Mask.Size()
	a := Addr{Prefix: netip.PrefixFrom(ip, ones), Family: IPv4}
	if ip.Is6() {
		a.Family = IPv6
	}
	switch na.Scope {
	case unix.RT_SCOPE_LINK:
		a.Scope = ScopeLink
	case unix.RT_SCOPE_HOST:
		a.Scope = ScopeHost
	case unix.RT_SCOPE_SITE:
		a.Scope = ScopeSite
	default:
		a.Scope = ScopeGlobal
	}
	return a, true
}

// Open returns the Host for the current network namespace with its files
// under root ("/" on a real machine); call the returned func to release the
// netlink socket.
func Open(root string) (Host, func(), error) {
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE, unix.NETLINK_INET_DIAG)
	if err != nil {
		return Host{}, nil, fmt.Errorf("netcfg: open netlink: %w", err)
	}
	return Host{NL: h, Root: root, Procs: ProcFS{Dir: "/proc", NetNS: "/proc/self/ns/net"}}, h.Close, nil
}
