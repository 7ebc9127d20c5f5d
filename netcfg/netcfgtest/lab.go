// Package netcfgtest builds throwaway network namespaces shaped like a lab
// VM, for tests that must run against the real kernel without touching the
// host's own interfaces.
package netcfgtest

import (
	"fmt"
	"net"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Lab is a network namespace standing for the VM, plus a second namespace
// holding the far ends of its veths (the "hypervisor" side), so nothing is
// ever created in the test host's own namespace. Both vanish when the test
// ends: the kernel destroys a namespace once its last handle is closed.
type Lab struct {
	t testing.TB
	// NL reads and changes the VM namespace; Peer the far side.
	NL   *netlink.Handle
	Peer *netlink.Handle

	vmNS, peerNS netns.NsHandle
}

// New creates the namespaces, skipping the test when not root.
func New(t testing.TB) *Lab {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to create network namespaces (CI runs as root)")
	}
	vmNS, peerNS := newNamespaces(t)
	t.Cleanup(func() { vmNS.Close(); peerNS.Close() })
	// NETLINK_INET_DIAG too: without its own socket in the namespace, a
	// socket dump would read the test host's sessions instead.
	nl, err := netlink.NewHandleAt(vmNS, unix.NETLINK_ROUTE, unix.NETLINK_INET_DIAG)
	if err != nil {
		t.Fatalf("netlink handle in lab namespace: %v", err)
	}
	t.Cleanup(nl.Close)
	peer, err := netlink.NewHandleAt(peerNS)
	if err != nil {
		t.Fatalf("netlink handle in peer namespace: %v", err)
	}
	t.Cleanup(peer.Close)
	return &Lab{t: t, NL: nl, Peer: peer, vmNS: vmNS, peerNS: peerNS}
}

// newNamespaces makes two namespaces on a locked thread and puts the thread
// back where it was; if that fails the thread stays locked, so the runtime
// discards it with the goroutine instead of reusing a thread in the wrong
// namespace.
func newNamespaces(t testing.TB) (netns.NsHandle, netns.NsHandle) {
	t.Helper()
	type result struct {
		vm, peer netns.NsHandle
		err      error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			ch <- result{err: err}
			return
		}
		defer orig.Close()
		vm, err := netns.New()
		if err != nil {
			ch <- result{err: err}
			return
		}
		peer, err := netns.New()
		if err != nil {
			vm.Close()
			ch <- result{err: err}
			return
		}
		if err := netns.Set(orig); err != nil {
			ch <- result{vm: vm, peer: peer, err: err}
			return
		}
		runtime.UnlockOSThread()
		ch <- result{vm: vm, peer: peer}
	}()
	r := <-ch
	if r.err != nil {
		t.Fatalf("create network namespaces: %v", r.err)
	}
	return r.vm, r.peer
}

// NSPath is a path that opens the VM namespace, for code that takes a
// namespace file (/run/netns/NAME) rather than a handle.
func (l *Lab) NSPath() string { return fmt.Sprintf("/proc/self/fd/%d", int(l.vmNS)) }

// PeerAddr adds cidr to the far end of a VM NIC ("p-"+name).
func (l *Lab) PeerAddr(name, cidr string) {
	l.t.Helper()
	a, err := netlink.ParseAddr(cidr)
	if err != nil {
		l.t.Fatalf("parse %s: %v", cidr, err)
	}
	p, err := l.Peer.LinkByName("p-" + name)
	if err != nil {
		l.t.Fatalf("find peer of %s: %v", name, err)
	}
	if err := l.Peer.AddrAdd(p, a); err != nil {
		l.t.Fatalf("add %s to p-%s: %v", cidr, name, err)
	}
}

// NIC adds a veth called name in the VM namespace; its far end, up, sits in
// the peer namespace as "p-"+name so the NIC has a carrier once up.
func (l *Lab) NIC(name string) {
	l.t.Helper()
	v := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: name}, PeerName: "p-" + name, PeerNamespace: netlink.NsFd(int(l.peerNS))}
	if err := l.NL.LinkAdd(v); err != nil {
		l.t.Fatalf("add veth %s: %v", name, err)
	}
	p, err := l.Peer.LinkByName("p-" + name)
	if err != nil {
		l.t.Fatalf("find peer of %s: %v", name, err)
	}
	if err := l.Peer.LinkSetUp(p); err != nil {
		l.t.Fatalf("set peer of %s up: %v", name, err)
	}
}

func (l *Lab) link(name string) netlink.Link {
	l.t.Helper()
	k, err := l.NL.LinkByName(name)
	if err != nil {
		l.t.Fatalf("find %s: %v", name, err)
	}
	return k
}

// Up sets a VM NIC up.
func (l *Lab) Up(name string) {
	l.t.Helper()
	if err := l.NL.LinkSetUp(l.link(name)); err != nil {
		l.t.Fatalf("set %s up: %v", name, err)
	}
}

// Addr adds cidr to a VM NIC; IPv6 skips duplicate address detection so the
// address is usable at once.
func (l *Lab) Addr(name, cidr string) {
	l.t.Helper()
	a, err := netlink.ParseAddr(cidr)
	if err != nil {
		l.t.Fatalf("parse %s: %v", cidr, err)
	}
	if a.IP.To4() == nil {
		a.Flags |= unix.IFA_F_NODAD
	}
	if err := l.NL.AddrAdd(l.link(name), a); err != nil {
		l.t.Fatalf("add %s to %s: %v", cidr, name, err)
	}
}

// DefaultRoute adds a default route via gw on a VM NIC (which must be up
// with an address in gw's subnet).
func (l *Lab) DefaultRoute(name, gw string) {
	l.t.Helper()
	ip := net.ParseIP(gw)
	if err := l.NL.RouteAdd(&netlink.Route{LinkIndex: l.link(name).Attrs().Index, Gw: ip}); err != nil {
		l.t.Fatalf("add default route via %s dev %s: %v", gw, name, err)
	}
}

// Route adds a route to cidr via gw on a VM NIC.
func (l *Lab) Route(cidr, name, gw string) {
	l.t.Helper()
	_, dst, err := net.ParseCIDR(cidr)
	if err != nil {
		l.t.Fatalf("parse %s: %v", cidr, err)
	}
	if err := l.NL.RouteAdd(&netlink.Route{LinkIndex: l.link(name).Attrs().Index, Dst: dst, Gw: net.ParseIP(gw)}); err != nil {
		l.t.Fatalf("add route %s via %s dev %s: %v", cidr, gw, name, err)
	}
}

// Bridge adds a bridge called name in the VM namespace, up.
func (l *Lab) Bridge(name string) {
	l.t.Helper()
	if err := l.NL.LinkAdd(&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: name}}); err != nil {
		l.t.Fatalf("add bridge %s: %v", name, err)
	}
	l.Up(name)
}

// Enslave makes port a port of bridge.
func (l *Lab) Enslave(port, bridge string) {
	l.t.Helper()
	if err := l.NL.LinkSetMaster(l.link(port), l.link(bridge)); err != nil {
		l.t.Fatalf("enslave %s to %s: %v", port, bridge, err)
	}
}

// Macvlan adds a macvlan called name on parent, up.
func (l *Lab) Macvlan(name, parent string) {
	l.t.Helper()
	mv := &netlink.Macvlan{LinkAttrs: netlink.LinkAttrs{Name: name, ParentIndex: l.link(parent).Attrs().Index}, Mode: netlink.MACVLAN_MODE_BRIDGE}
	if err := l.NL.LinkAdd(mv); err != nil {
		l.t.Fatalf("add macvlan %s on %s: %v", name, parent, err)
	}
	l.Up(name)
}

// Listen opens a TCP listener on addr inside the VM namespace.
func (l *Lab) Listen(addr string) net.Listener {
	l.t.Helper()
	var ln net.Listener
	err := l.in(l.vmNS, func() (err error) {
		ln, err = net.Listen("tcp", addr)
		return err
	})
	if err != nil {
		l.t.Fatalf("listen on %s in the lab namespace: %v", addr, err)
	}
	l.t.Cleanup(func() { _ = ln.Close() })
	return ln
}

// DialFromPeer connects to addr from the peer namespace (the laptop or
// hypervisor side), as an SSH client would.
func (l *Lab) DialFromPeer(addr string) net.Conn {
	l.t.Helper()
	var c net.Conn
	err := l.in(l.peerNS, func() (err error) {
		c, err = net.DialTimeout("tcp", addr, 5*time.Second)
		return err
	})
	if err != nil {
		l.t.Fatalf("dial %s from the peer namespace: %v", addr, err)
	}
	l.t.Cleanup(func() { _ = c.Close() })
	return c
}

// in runs f on a locked thread switched into ns: a socket belongs to the
// namespace it was made in, whichever thread later uses it. The thread
// goes back to its namespace, or stays locked and dies with the goroutine.
func (l *Lab) in(ns netns.NsHandle, f func() error) error {
	ch := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			ch <- err
			return
		}
		defer orig.Close()
		if err := netns.Set(ns); err != nil {
			ch <- err
			return
		}
		ferr := f()
		if err := netns.Set(orig); err != nil {
			ch <- err
			return
		}
		runtime.UnlockOSThread()
		ch <- ferr
	}()
	return <-ch
}

// WaitOperUp waits until the kernel reports name operationally up: the
// kernel's linkwatch applies carrier changes asynchronously, so right after
// setting a veth up its operstate may still read "down".
func (l *Lab) WaitOperUp(name string) {
	l.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		k := l.link(name)
		if k.Attrs().OperState == netlink.OperUp {
			return
		}
		if time.Now().After(deadline) {
			l.t.Fatalf("%s not operationally up after 5s: %s", name, k.Attrs().OperState)
		}
		<-tick.C
	}
}
