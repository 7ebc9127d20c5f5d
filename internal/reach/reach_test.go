package reach_test

import (
	"context"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/stacklab/stacklab/internal/reach"
	"github.com/stacklab/stacklab/netcfg/netcfgtest"
)

// TestPingInNamespace pings across a veth between two namespaces the test
// made: the far end answers, an address nobody holds does not, and the
// error says how long and how often it tried.
func TestPingInNamespace(t *testing.T) {
	l := netcfgtest.New(t)
	l.NIC("eth1")
	l.Addr("eth1", "192.0.2.1/24")
	l.PeerAddr("eth1", "192.0.2.2/24")
	l.Up("eth1")
	l.WaitOperUp("eth1")

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := reach.Ping(ctx, netip.MustParseAddr("192.0.2.2"), l.NSPath()); err != nil {
		t.Fatalf("ping the veth's far end: %v", err)
	}

	ctx, cancel = context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	err := reach.Ping(ctx, netip.MustParseAddr("192.0.2.3"), l.NSPath())
	var na *reach.NoAnswerError
	if !errors.As(err, &na) {
		t.Fatalf("ping an address nobody holds: got %v, want a NoAnswerError", err)
	}
	if na.Sent < 2 || na.Waited < time.Second {
		t.Errorf("gave up after %d requests in %s, want ≥ 2 over the whole 1.5 s", na.Sent, na.Waited)
	}
	// Loopback tells the namespaces apart without a packet leaving them:
	// it answers in the host's, and is down in the fresh one.
	ctx, cancel = context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := reach.Ping(ctx, netip.MustParseAddr("127.0.0.1"), ""); err != nil {
		t.Fatalf("ping loopback from this host: %v", err)
	}
	ctx, cancel = context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := reach.Ping(ctx, netip.MustParseAddr("127.0.0.1"), l.NSPath()); err == nil {
		t.Fatal("loopback answered inside the namespace, where it is down: the namespace was not used")
	}
}

func TestPingRefusesIPv6(t *testing.T) {
	if err := reach.Ping(context.Background(), netip.MustParseAddr("::1"), ""); err == nil {
		t.Fatal("want an error for IPv6")
	}
}

func TestPingBadNamespace(t *testing.T) {
	netcfgtest.New(t) // skips without root
	err := reach.Ping(context.Background(), netip.MustParseAddr("192.0.2.2"), "/nonexistent/netns")
	if err == nil {
		t.Fatal("want an error for a namespace that does not exist")
	}
}
