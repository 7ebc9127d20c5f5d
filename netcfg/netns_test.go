package netcfg

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stacklab/stacklab/netcfg/netcfgtest"
)

// labVM builds a namespace shaped like the lab VM: eth0 up with an address
// and the default route, eth1 present and down.
func labVM(t *testing.T) *netcfgtest.Lab {
	lab := netcfgtest.New(t)
	lab.NIC("eth0")
	lab.NIC("eth1")
	lab.Up("eth0")
	lab.Addr("eth0", "10.0.2.15/24")
	lab.DefaultRoute("eth0", "10.0.2.2")
	return lab
}

func hostOf(t *testing.T, lab *netcfgtest.Lab) Host {
	root := writeTree(t, map[string]string{"etc/systemd/network/20-eth0.network": "[Match]\nName=eth0\n[Network]\nDHCP=yes\n"})
	return Host{NL: lab.NL, Root: root}
}

func mustSnap(t *testing.T, h Host) Snapshot {
	t.Helper()
	s, err := h.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func prefixes(l Link) []string {
	var out []string
	for _, a := range l.Addrs {
		out = append(out, a.Prefix.String())
	}
	return out
}

func TestKernelSnapshotAndDetect(t *testing.T) {
	lab := labVM(t)
	h := hostOf(t, lab)
	s := mustSnap(t, h)
	lay, err := Detect(s, "", "")
	if err != nil {
		t.Fatal(err)
	}
	if lay.Mgmt != "eth0" || lay.Ext != "eth1" {
		t.Errorf("layout = %+v", lay)
	}
	eth0, _ := s.Link("eth0")
	if eth0.Kind != "veth" || !eth0.Up || !slices.Contains(prefixes(eth0), "10.0.2.15/24") {
		t.Errorf("eth0 = %+v", eth0)
	}
	if p, ok := eth0.PrimaryIPv4(); !ok || p.String() != "10.0.2.15/24" {
		t.Errorf("primary IPv4 = %v %v", p, ok)
	}
	eth1, _ := s.Link("eth1")
	if eth1.Up || len(eth1.Addrs) != 0 {
		t.Errorf("eth1 = %+v", eth1)
	}
	r, ok := s.DefaultIPv4()
	if !ok || r.Link != "eth0" || r.Gateway.String() != "10.0.2.2" {
		t.Errorf("default route = %+v %v", r, ok)
	}
}

func TestKernelApplyConverges(t *testing.T) {
	ctx := context.Background()
	lab := labVM(t)
	lab.Up("eth1")
	lab.Addr("eth1", "192.168.56.10/24")
	lab.Addr("eth1", "2001:db8:56::10/64")
	lab.Addr("eth1", "fe80::56:1/64")
	// A route someone added through the external NIC's network: it goes
	// with the address, so the plan must name it first.
	lab.Route("10.99.0.0/16", "eth1", "192.168.56.1")
	h := hostOf(t, lab)
	before := mustSnap(t, h)

	// Without --flush-external the addresses stay and are reported.
	p, err := h.Prepare(ctx, "", "", Options{})
	if err != nil {
		t.Fatal(err)
	}
	res, err := h.Apply(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Changed || len(res.Done) != 1 || res.Done[0].Action != ActionWriteFile {
		t.Errorf("first apply did %v", res.Done)
	}
	for _, want := range []string{"192.168.56.10/24", "2001:db8:56::10/64"} {
		if !slices.Contains(prefixes(res.Ext), want) {
			t.Errorf("%s removed without --flush-external: %v", want, prefixes(res.Ext))
		}
	}
	if _, err := os.Stat(filepath.Join(h.Root, NetworkdPath)); err != nil {
		t.Errorf("persistence file: %v", err)
	}

	// With it they go, link-local stays, the default route is untouched,
	// and every route through eth1 is listed before it goes.
	p, err = h.Prepare(ctx, "", "", Options{FlushExternal: true})
	if err != nil {
		t.Fatal(err)
	}
	var planned []string
	for _, c := range p.Changes {
		if c.Action == ActionRouteDel {
			planned = append(planned, c.Route.Dst.String())
		}
	}
	slices.Sort(planned)
	if want := []string{"10.99.0.0/16", "192.168.56.0/24", "2001:db8:56::/64"}; !slices.Equal(planned, want) {
		t.Errorf("planned route removals %v, want %v", planned, want)
	}
	res, err = h.Apply(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Changed || len(res.Done) != 5 {
		t.Errorf("flush apply did %v", res.Done)
	}
	if left := mustSnap(t, h).RoutesVia("eth1"); len(left) != 0 {
		t.Errorf("routes through eth1 left: %v", left)
	}
	if got := res.Ext.BlockingAddrs(); len(got) != 0 {
		t.Errorf("addresses left after flush: %v", got)
	}
	if !slices.Contains(prefixes(res.Ext), "fe80::56:1/64") {
		t.Errorf("link-local address removed: %v", prefixes(res.Ext))
	}
	after := mustSnap(t, h)
	if !slices.Equal(before.DefaultRoutes, after.DefaultRoutes) {
		t.Errorf("default routes changed: %v -> %v", before.DefaultRoutes, after.DefaultRoutes)
	}
	eth0, _ := after.Link("eth0")
	if !slices.Contains(prefixes(eth0), "10.0.2.15/24") {
		t.Errorf("management address touched: %v", prefixes(eth0))
	}

	// Converged: nothing to plan, and the stale plan changes nothing.
	again, err := h.Prepare(ctx, "", "", Options{FlushExternal: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(again.Changes) != 0 {
		t.Errorf("second plan: %v", again.Changes)
	}
	res, err = h.Apply(ctx, p)
	if err != nil || res.Changed {
		t.Errorf("second apply = %+v, %v; want Changed=false", res, err)
	}
}

func TestKernelApplySetsLinkUp(t *testing.T) {
	ctx := context.Background()
	lab := labVM(t)
	h := hostOf(t, lab)
	p, err := h.Prepare(ctx, "", "", Options{FlushExternal: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Changes) != 2 || p.Changes[0].Action != ActionLinkUp {
		t.Fatalf("plan = %v", p.Changes)
	}
	res, err := h.Apply(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Ext.Up {
		t.Errorf("eth1 not up after apply: %+v", res.Ext)
	}
	eth1, _ := mustSnap(t, h).Link("eth1")
	if !eth1.Up {
		t.Error("kernel says eth1 is down")
	}
	res, err = h.Apply(ctx, p)
	if err != nil || res.Changed {
		t.Errorf("second apply = %+v, %v", res, err)
	}
}

func TestKernelRefusals(t *testing.T) {
	ctx := context.Background()
	t.Run("ext carries the default route", func(t *testing.T) {
		lab := netcfgtest.New(t)
		lab.NIC("eth0")
		lab.NIC("eth1")
		lab.Up("eth0")
		lab.Addr("eth0", "10.0.2.15/24")
		lab.Up("eth1")
		lab.Addr("eth1", "192.168.56.10/24")
		lab.DefaultRoute("eth1", "192.168.56.1")
		h := hostOf(t, lab)
		before := mustSnap(t, h)
		p, err := h.Prepare(ctx, "eth0", "eth1", Options{FlushExternal: true})
		if err != nil {
			t.Fatal(err)
		}
		if !p.Refused() {
			t.Fatalf("plan not refused: %v", p)
		}
		_, err = h.Apply(ctx, p)
		var re *RefusedError
		if !errors.As(err, &re) {
			t.Fatalf("err = %v, want *RefusedError", err)
		}
		// A plan built before the route appeared is caught on fresh state.
		stale := p
		stale.Refusals = nil
		if _, err := h.Apply(ctx, stale); !errors.As(err, &re) {
			t.Fatalf("stale plan: err = %v, want *RefusedError", err)
		}
		after := mustSnap(t, h)
		a, _ := before.Link("eth1")
		b, _ := after.Link("eth1")
		if !slices.Equal(prefixes(a), prefixes(b)) || !slices.Equal(before.DefaultRoutes, after.DefaultRoutes) {
			t.Errorf("refused apply changed the kernel: %v -> %v", b, a)
		}
		if _, err := os.Stat(filepath.Join(h.Root, NetworkdPath)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("refused apply wrote the persistence file: %v", err)
		}
	})
	t.Run("the SSH session uses ext", func(t *testing.T) {
		lab := labVM(t)
		lab.Up("eth1")
		lab.Addr("eth1", "192.168.56.10/24")
		h := hostOf(t, lab)
		p, err := h.Prepare(ctx, "", "", Options{FlushExternal: true, SSHConnection: "192.168.56.1 50022 192.168.56.10 22"})
		if err != nil {
			t.Fatal(err)
		}
		_, err = h.Apply(ctx, p)
		var re *RefusedError
		if !errors.As(err, &re) {
			t.Fatalf("err = %v, want *RefusedError", err)
		}
		eth1, _ := mustSnap(t, h).Link("eth1")
		if !slices.Contains(prefixes(eth1), "192.168.56.10/24") {
			t.Errorf("refused apply removed the SSH address: %v", prefixes(eth1))
		}
	})
	t.Run("ext is the default-route NIC", func(t *testing.T) {
		lab := labVM(t)
		h := hostOf(t, lab)
		_, err := h.Prepare(ctx, "", "eth0", Options{FlushExternal: true})
		if !errors.Is(err, ErrExternalIsMgmt) {
			t.Fatalf("err = %v, want ErrExternalIsMgmt", err)
		}
		p, err := BuildPlan(mustSnap(t, h), Layout{Mgmt: "eth1", Ext: "eth0"}, Options{FlushExternal: true})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := h.Apply(ctx, p); !errors.As(err, new(*RefusedError)) {
			t.Fatalf("err = %v, want *RefusedError", err)
		}
		eth0, _ := mustSnap(t, h).Link("eth0")
		if !slices.Contains(prefixes(eth0), "10.0.2.15/24") {
			t.Error("management address removed")
		}
	})
}

// TestOpenReadsOwnNamespace reads (never changes) the namespace the test
// runs in: the host's snapshot must at least contain lo.
func TestOpenReadsOwnNamespace(t *testing.T) {
	h, closeFn, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer closeFn()
	s := mustSnap(t, h)
	l, ok := s.Link("lo")
	if !ok || !l.Loopback {
		t.Errorf("no loopback in %v", s.Names())
	}
}

// Never cut the user's path (issue 14): each case on a real kernel.
func TestKernelNeverCutsTheUsersPath(t *testing.T) {
	ctx := context.Background()
	t.Run("an SSH session on ext under sudo (no SSH_CONNECTION)", func(t *testing.T) {
		lab := labVM(t)
		lab.Up("eth1")
		lab.Addr("eth1", "192.168.56.101/24")
		lab.PeerAddr("eth1", "192.168.56.1/24")
		lab.WaitOperUp("eth1")
		ln := lab.Listen("192.168.56.101:2222")
		lab.DialFromPeer("192.168.56.101:2222")
		// The handshake is done: the connection waits in the queue.
		c, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		h := hostOf(t, lab)
		// Links skips the socket dump (doctor and the lab's facts read
		// no session); Snapshot, which the plan reads, has it.
		ls, err := h.Links(ctx)
		if err != nil || len(ls.Sessions) != 0 {
			t.Errorf("Links: sessions %v, err %v; want none", ls.Sessions, err)
		}
		if eth1, _ := ls.Link("eth1"); !slices.Contains(prefixes(eth1), "192.168.56.101/24") {
			t.Errorf("Links: eth1 has %v", prefixes(eth1))
		}
		snap := mustSnap(t, h)
		if eth1, _ := snap.Link("eth1"); len(snap.SessionsTo(eth1)) == 0 {
			t.Errorf("Snapshot: no session to eth1 in %v", snap.Sessions)
		}
		// The session is seen from the kernel's sockets, as under sudo.
		p, err := h.Prepare(ctx, "", "", Options{FlushExternal: true})
		if err != nil {
			t.Fatal(err)
		}
		if !p.Refused() || !strings.Contains(strings.Join(p.Refusals, "\n"), "192.168.56.101:2222 ← 192.168.56.1:") {
			t.Fatalf("plan not refused for the session: %v", p.Refusals)
		}
		stale := p
		stale.Refusals = nil
		var re *RefusedError
		if _, err := h.Apply(ctx, stale); !errors.As(err, &re) {
			t.Fatalf("stale plan: err = %v, want *RefusedError", err)
		}
		eth1, _ := mustSnap(t, h).Link("eth1")
		if !slices.Contains(prefixes(eth1), "192.168.56.101/24") {
			t.Errorf("the session's address was removed: %v", prefixes(eth1))
		}
	})
	t.Run("lo is never external", func(t *testing.T) {
		lab := labVM(t)
		lab.Up("lo")
		h := hostOf(t, lab)
		if _, err := h.Prepare(ctx, "", "lo", Options{FlushExternal: true}); !errors.Is(err, ErrNotANIC) {
			t.Fatalf("--ext-if lo: err = %v, want ErrNotANIC", err)
		}
		p, err := BuildPlan(mustSnap(t, h), Layout{Mgmt: "eth0", Ext: "lo"}, Options{FlushExternal: true})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := h.Apply(ctx, p); err == nil {
			t.Fatal("a plan for lo was applied")
		}
		lo, _ := mustSnap(t, h).Link("lo")
		if !slices.Contains(prefixes(lo), "127.0.0.1/8") {
			t.Errorf("127.0.0.1 was removed: %v", prefixes(lo))
		}
	})
	t.Run("the management bridge's port is never chosen or changed", func(t *testing.T) {
		lab := netcfgtest.New(t)
		lab.NIC("eth0")
		lab.NIC("eth1")
		lab.Bridge("br0")
		lab.Enslave("eth0", "br0")
		lab.Up("eth0")
		lab.Addr("br0", "10.0.2.15/24")
		lab.DefaultRoute("br0", "10.0.2.2")
		h := hostOf(t, lab)
		s := mustSnap(t, h)
		lay, err := Detect(s, "", "")
		if err != nil || lay.Mgmt != "br0" || lay.Ext != "eth1" {
			t.Fatalf("Detect = %+v, %v; want br0 and eth1", lay, err)
		}
		if _, err := Detect(s, "", "eth0"); !errors.Is(err, ErrExternalIsMgmt) {
			t.Errorf("--ext-if eth0 (br0's port): err = %v, want ErrExternalIsMgmt", err)
		}
		p, err := BuildPlan(s, Layout{Mgmt: "br0", Ext: "eth0"}, Options{FlushExternal: true})
		if err != nil || !p.Refused() || !strings.Contains(strings.Join(p.Refusals, " "), "port of the management bridge br0") {
			t.Errorf("plan for br0's port: %v, %v", p.Refusals, err)
		}
	})
	t.Run("the management macvlan's parent is never chosen", func(t *testing.T) {
		lab := netcfgtest.New(t)
		lab.NIC("eth0")
		lab.NIC("eth1")
		lab.Up("eth0")
		lab.Macvlan("mgmt0", "eth0")
		lab.Addr("mgmt0", "10.0.2.15/24")
		lab.DefaultRoute("mgmt0", "10.0.2.2")
		s := mustSnap(t, hostOf(t, lab))
		lay, err := Detect(s, "", "")
		if err != nil || lay.Mgmt != "mgmt0" || lay.Ext != "eth1" {
			t.Fatalf("Detect = %+v, %v; want mgmt0 and eth1", lay, err)
		}
		if _, err := Detect(s, "", "eth0"); !errors.Is(err, ErrExternalIsMgmt) {
			t.Errorf("--ext-if eth0 (mgmt0's parent): err = %v, want ErrExternalIsMgmt", err)
		}
	})
}
