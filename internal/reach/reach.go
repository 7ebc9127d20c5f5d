// Package reach proves an address answers: ICMP echo from this host, or
// from inside a network namespace (the router namespace neutron makes on a
// network node, where a lab VM's floating IPs are reachable while the VM's
// own external NIC has no address).
package reach

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"time"

	"github.com/vishvananda/netns"
	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
)

// Interval is the time between two echo requests.
const Interval = 500 * time.Millisecond

// NoAnswerError says addr never answered before the context ended.
type NoAnswerError struct {
	Addr   netip.Addr
	From   string // "this host" or the namespace
	Sent   int
	Waited time.Duration
}

func (e *NoAnswerError) Error() string {
	return fmt.Sprintf("ping %s from %s: no answer to %d echo requests in %s", e.Addr, e.From, e.Sent, e.Waited.Round(100*time.Millisecond))
}

// Ping sends echo requests to addr every Interval until one is answered
// (nil) or ctx ends (*NoAnswerError). nsPath, when set, is a network
// namespace file (/run/netns/NAME) to send from. It needs root (a raw ICMP
// socket), as neutron's namespaces do anyway.
func Ping(ctx context.Context, addr netip.Addr, nsPath string) error {
	if !addr.Is4() {
		return fmt.Errorf("ping %s: only IPv4 is supported", addr)
	}
	from := "this host"
	if nsPath != "" {
		from = "network namespace " + nsPath
	}
	conn, err := listen(nsPath)
	if err != nil {
		return fmt.Errorf("ping %s from %s: %w", addr, from, err)
	}
	defer func() { _ = conn.Close() }()

	start := time.Now()
	// The ID tells our replies from other pingers' on a raw socket that
	// sees every ICMP packet of the namespace.
	id := os.Getpid()&0xffff ^ int(start.UnixNano()&0xffff)
	dst := &net.IPAddr{IP: addr.AsSlice()}
	buf := make([]byte, 1500)
	for seq := 1; ; seq++ {
		msg := icmp.Message{Type: ipv4.ICMPTypeEcho, Body: &icmp.Echo{ID: id, Seq: seq, Data: []byte("stacklab")}}
		b, err := msg.Marshal(nil)
		if err != nil {
			return fmt.Errorf("ping %s: %w", addr, err)
		}
		if _, err := conn.WriteTo(b, dst); err != nil {
			// No route yet (the router's gateway is still being set up)
			// is worth retrying like a lost packet.
			if ctx.Err() != nil {
				return &NoAnswerError{Addr: addr, From: from, Sent: seq - 1, Waited: time.Since(start)}
			}
		}
		deadline := time.Now().Add(Interval)
		if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
			deadline = d
		}
		if answered(conn, buf, addr, id, deadline) {
			return nil
		}
		if ctx.Err() != nil {
			return &NoAnswerError{Addr: addr, From: from, Sent: seq, Waited: time.Since(start)}
		}
	}
}

// answered reads until deadline for an echo reply from addr with our id.
func answered(conn *icmp.PacketConn, buf []byte, addr netip.Addr, id int, deadline time.Time) bool {
	if err := conn.SetReadDeadline(deadline); err != nil {
		return false
	}
	for {
		n, peer, err := conn.ReadFrom(buf)
		if err != nil {
			return false // the deadline passed
		}
		ip, ok := peer.(*net.IPAddr)
		if !ok {
			continue
		}
		if from, ok := netip.AddrFromSlice(ip.IP); !ok || from.Unmap() != addr {
			continue
		}
		m, err := icmp.ParseMessage(ipv4.ICMPTypeEcho.Protocol(), buf[:n])
		if err != nil || m.Type != ipv4.ICMPTypeEchoReply {
			continue
		}
		if e, ok := m.Body.(*icmp.Echo); ok && e.ID == id {
			return true
		}
	}
}

// listen opens a raw ICMP socket, inside nsPath when set. A socket keeps
// the namespace it was made in, so only its creation needs the thread
// switched.
func listen(nsPath string) (*icmp.PacketConn, error) {
	if nsPath == "" {
		c, err := icmp.ListenPacket("ip4:icmp", "0.0.0.0")
		if err != nil {
			return nil, fmt.Errorf("open a raw ICMP socket (run as root): %w", err)
		}
		return c, nil
	}
	type result struct {
		c   *icmp.PacketConn
		err error
	}
	ch := make(chan result, 1)
	go func() {
		// Left locked when the thread cannot be put back: the runtime then
		// discards it with the goroutine instead of reusing a thread in
		// the wrong namespace.
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			ch <- result{err: err}
			return
		}
		defer orig.Close()
		target, err := netns.GetFromPath(nsPath)
		if err != nil {
			ch <- result{err: err}
			return
		}
		defer target.Close()
		if err := netns.Set(target); err != nil {
			ch <- result{err: err}
			return
		}
		c, err := icmp.ListenPacket("ip4:icmp", "0.0.0.0")
		if serr := netns.Set(orig); serr != nil {
			if c != nil {
				_ = c.Close()
			}
			ch <- result{err: errors.Join(err, fmt.Errorf("return to the original namespace: %w", serr))}
			return
		}
		runtime.UnlockOSThread()
		ch <- result{c: c, err: err}
	}()
	r := <-ch
	return r.c, r.err
}

// NetnsDir is where iproute2 (and neutron, through it) keeps named
// network namespaces.
const NetnsDir = "/run/netns"

// NamespacePath is the file of the named network namespace, or "" when
// this host has none by that name (stacklab runs away from the network
// node, or the router is not set up yet).
func NamespacePath(name string) string {
	if name == "" {
		return ""
	}
	p := NetnsDir + "/" + name
	if _, err := os.Stat(p); err != nil {
		return ""
	}
	return p
}
