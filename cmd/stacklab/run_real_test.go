package main

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	pbos "github.com/stacklab/stacklab/playbooks/openstack"
)

// TestPingFromHere: with no router namespace on this host the ping leaves
// from here (loopback answers); an address that is not one fails before
// anything is sent, and so does one the prober cannot send to.
func TestPingFromHere(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for a raw ICMP socket (CI runs as root)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := pingFromHere(ctx, "127.0.0.1", pbos.RouterNamespace("no-such-router")); err != nil {
		t.Fatalf("ping loopback: %v", err)
	}
	err := pingFromHere(ctx, "not-an-address", "")
	var pe *pbos.ProbeError
	if err == nil || errors.As(err, &pe) {
		t.Fatalf("bad address: %v, want a plain parse error", err)
	}
	// A prober that cannot send (here: IPv6, not supported) blames no hop.
	if err := pingFromHere(ctx, "::1", ""); !errors.As(err, &pe) {
		t.Fatalf("IPv6: %v, want a ProbeError", err)
	}
}
