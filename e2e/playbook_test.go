//go:build e2e

package e2e

import (
	"context"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/hypervisors"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"
	"github.com/gophercloud/gophercloud/v2/openstack/image/v2/images"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/layer3/floatingips"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/networks"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/ports"

	"github.com/stacklab/stacklab/internal/novnc"
	"github.com/stacklab/stacklab/playbooks"
	"github.com/stacklab/stacklab/playbooks/image/tiny"
)

// The default playbook's names (playbooks/lab.yaml).
const (
	labServer  = "lab-vm"
	labNetwork = "selfservice"
	extNetwork = "ext_net"
)

// TestLabServerIsARealGuest asserts what the default playbook promises:
// lab-vm ACTIVE on libvirt (QEMU), a port on selfservice, a floating IP
// from ext_net on that port, and the guest's own console line naming the
// fixed IP neutron gave it and the instance id it read from metadata. It
// writes "FLOATING_IP SERVER_ID" to $STACKLAB_E2E_SERVER_OUT for the
// script to ping and fetch from the upstream namespace.
func TestLabServerIsARealGuest(t *testing.T) {
	cl := openClients(t)
	compute, network := cl.compute, cl.network
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	srv := findServer(ctx, t, compute, labServer)
	if srv.Status != "ACTIVE" {
		t.Fatalf("%s is %s, want ACTIVE (fault: %v)", labServer, srv.Status, srv.Fault)
	}
	hp, err := hypervisors.List(compute, nil).AllPages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	hs, err := hypervisors.ExtractHypervisors(hp)
	if err != nil || len(hs) != 1 || hs[0].HypervisorType != "QEMU" {
		t.Fatalf("hypervisors %+v (%v), want one of type QEMU (nova on libvirt)", hs, err)
	}

	np, err := networks.List(network, networks.ListOpts{Name: labNetwork}).AllPages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	nets, _ := networks.ExtractNetworks(np)
	if len(nets) != 1 {
		t.Fatalf("%d networks named %s", len(nets), labNetwork)
	}
	pp, err := ports.List(network, ports.ListOpts{DeviceID: srv.ID}).AllPages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ps, _ := ports.ExtractPorts(pp)
	if len(ps) != 1 || ps[0].NetworkID != nets[0].ID || len(ps[0].FixedIPs) == 0 || ps[0].Status != "ACTIVE" {
		t.Fatalf("ports of %s: %+v; want one ACTIVE port on %s", labServer, ps, labNetwork)
	}
	// The port stacklab made before the server and gave to nova.
	if ps[0].Name != labServer || playbooks.OwnerOf(ps[0].Description) == "" {
		t.Errorf("port %s of %s is named %q, described %q: not the one stacklab makes", ps[0].ID, labServer, ps[0].Name, ps[0].Description)
	}
	fixed := ps[0].FixedIPs[0].IPAddress

	fp, err := floatingips.List(network, floatingips.ListOpts{PortID: ps[0].ID}).AllPages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	fips, _ := floatingips.ExtractFloatingIPs(fp)
	if len(fips) != 1 || fips[0].FixedIP != fixed {
		t.Fatalf("floating IPs on the port: %+v; want one for %s", fips, fixed)
	}
	ext, err := networks.List(network, networks.ListOpts{Name: extNetwork}).AllPages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	exts, _ := networks.ExtractNetworks(ext)
	if len(exts) != 1 || fips[0].FloatingNetworkID != exts[0].ID {
		t.Fatalf("floating IP %s is not from %s", fips[0].FloatingIP, extNetwork)
	}

	up := upLine(ctx, t, compute, srv)
	if up.IP != fixed || up.Instance != srv.ID {
		t.Fatalf("console says ip=%s instance=%s; neutron gave %s and nova's id is %s", up.IP, up.Instance, fixed, srv.ID)
	}
	t.Logf("%s %s: fixed %s, floating %s, guest up after %.2f s", labServer, srv.ID, fixed, fips[0].FloatingIP, up.Uptime)
	if f := os.Getenv("STACKLAB_E2E_SERVER_OUT"); f != "" {
		if err := os.WriteFile(f, []byte(fips[0].FloatingIP+" "+srv.ID+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestDestroyLeftNoPort: after run --destroy, no server of the playbook's
// and no compute port is left in the cloud.
func TestDestroyLeftNoPort(t *testing.T) {
	cl := openClients(t)
	compute, network := cl.compute, cl.network
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	sp, err := servers.List(compute, servers.ListOpts{Name: "^" + labServer + "$"}).AllPages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if ss, _ := servers.ExtractServers(sp); len(ss) != 0 {
		t.Errorf("servers left: %d named %s", len(ss), labServer)
	}
	pp, err := ports.List(network, nil).AllPages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ps, _ := ports.ExtractPorts(pp)
	for _, p := range ps {
		// A server's port is stacklab's own (made before the server, given
		// to nova, which keeps it): marked, and gone with the server.
		if strings.HasPrefix(p.DeviceOwner, "compute:") || p.DeviceOwner == "network:floatingip" || playbooks.OwnerOf(p.Description) != "" {
			t.Errorf("port left: %s owner %s device %s", p.ID, p.DeviceOwner, p.DeviceID)
		}
	}
	for _, name := range []string{labNetwork, extNetwork} {
		np, err := networks.List(network, networks.ListOpts{Name: name}).AllPages(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if ns, _ := networks.ExtractNetworks(np); len(ns) != 0 {
			t.Errorf("network %s left", name)
		}
	}
}

// upLine is the last "stacklab-guest up" line on the server's console.
func upLine(ctx context.Context, t *testing.T, compute *gophercloud.ServiceClient, srv servers.Server) tiny.UpLine {
	t.Helper()
	out, err := servers.ShowConsoleOutput(ctx, compute, srv.ID, servers.ShowConsoleOutputOpts{}).Extract()
	if err != nil {
		t.Fatalf("console log of %s: %v", srv.Name, err)
	}
	var up *tiny.UpLine
	for _, line := range strings.Split(out, "\n") {
		if u, ok := tiny.ParseUpLine(strings.TrimRight(line, "\r")); ok {
			up = &u
		}
	}
	if up == nil {
		t.Fatalf("the console of %s has no up line; its tail:\n%s", srv.Name, tail(out, 15))
	}
	return *up
}

func findServer(ctx context.Context, t *testing.T, compute *gophercloud.ServiceClient, name string) servers.Server {
	t.Helper()
	sp, err := servers.List(compute, servers.ListOpts{Name: "^" + name + "$"}).AllPages(ctx)
	if err != nil {
		t.Fatalf("list servers: %v", err)
	}
	ss, err := servers.ExtractServers(sp)
	if err != nil || len(ss) != 1 {
		t.Fatalf("servers named %s: %d (%v), want 1", name, len(ss), err)
	}
	return ss[0]
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// TestLabConsoleFromTheLaptop opens the console URL `stacklab console`
// printed ($STACKLAB_E2E_CONSOLE_URL) from the host's namespace, which is on
// the lab's management network as a laptop on a host-only network is: the
// noVNC page must answer and its websocket, through nova's proxy, must
// bring the guest's own VNC server's greeting.
func TestLabConsoleFromTheLaptop(t *testing.T) {
	u := os.Getenv("STACKLAB_E2E_CONSOLE_URL")
	if u == "" {
		t.Fatal("STACKLAB_E2E_CONSOLE_URL is set by e2e/playbook.sh from stacklab console's output")
	}
	l := labFromEnv(t)
	if !strings.Contains(u, "//"+l.mgmt+":6080/") {
		t.Errorf("console URL %s is not on the management address %s, port 6080", novnc.Redact(u, u), l.mgmt)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r, err := novnc.Probe(ctx, u, &http.Client{})
	if err != nil {
		t.Fatalf("console from the laptop: %v (page %q, websocket %s)", err, r.Page, r.Websocket)
	}
	if !strings.HasPrefix(r.Greeting, "RFB 003.") {
		t.Fatalf("greeting %q, want the RFB protocol version", r.Greeting)
	}
	t.Logf("console of %s from the laptop: page %s, websocket %s, %s in %s", labServer, r.Page, r.Websocket, r.Greeting, r.Elapsed.Round(time.Millisecond))
}

// TestSnapshotCarriesTheGuestsChange checks the snapshot playbook of
// e2e/playbook.sh: a VirtualBox disk uploaded as qcow2 (convert: qcow2),
// booted as e2e-first, whose first boot writes its own id to its disk;
// e2e-student-snap, nova's snapshot of e2e-first; e2e-second booted from
// it, whose console names e2e-first as the instance that wrote its disk.
// It writes "FLOATING_IP SECOND_ID FIRST_ID" to $STACKLAB_E2E_SERVER_OUT.
func TestSnapshotCarriesTheGuestsChange(t *testing.T) {
	cl := openClients(t)
	compute, glance, network := cl.compute, cl.image, cl.network
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	first, second := findServer(ctx, t, compute, "e2e-first"), findServer(ctx, t, compute, "e2e-second")
	image := func(name string) images.Image {
		t.Helper()
		p, err := images.List(glance, images.ListOpts{Name: name}).AllPages(ctx)
		if err != nil {
			t.Fatalf("list images: %v", err)
		}
		is, err := images.ExtractImages(p)
		if err != nil || len(is) != 1 {
			t.Fatalf("images named %s: %d (%v), want 1", name, len(is), err)
		}
		return is[0]
	}
	student, snap := image("e2e-student"), image("e2e-student-snap")
	if student.DiskFormat != "qcow2" || student.Status != images.ImageStatusActive {
		t.Errorf("e2e-student (a .vdi declared convert: qcow2) is %s %s, want an active qcow2", student.Status, student.DiskFormat)
	}
	if snap.Status != images.ImageStatusActive || snap.Properties["image_type"] != "snapshot" || snap.Properties["instance_uuid"] != first.ID {
		t.Errorf("e2e-student-snap: status %s, image_type %v, instance_uuid %v; want an active snapshot of e2e-first %s",
			snap.Status, snap.Properties["image_type"], snap.Properties["instance_uuid"], first.ID)
	}
	if id, _ := second.Image["id"].(string); id != snap.ID {
		t.Errorf("e2e-second boots image %v, want the snapshot %s", second.Image["id"], snap.ID)
	}
	u1, u2 := upLine(ctx, t, compute, first), upLine(ctx, t, compute, second)
	if u1.Instance != first.ID || u1.Born != first.ID {
		t.Errorf("e2e-first says instance=%s born=%s; want both %s (it wrote its own id at first boot)", u1.Instance, u1.Born, first.ID)
	}
	if u2.Instance != second.ID || u2.Born != first.ID {
		t.Fatalf("e2e-second says instance=%s born=%s; want instance %s, born %s (the disk the snapshot carried)", u2.Instance, u2.Born, second.ID, first.ID)
	}
	t.Logf("snapshot %s of e2e-first: %d bytes; e2e-second %s shows born=%s", snap.ID, snap.SizeBytes, second.ID, u2.Born)
	fp, err := floatingips.List(network, floatingips.ListOpts{FixedIP: u2.IP}).AllPages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	fips, _ := floatingips.ExtractFloatingIPs(fp)
	if len(fips) != 1 {
		t.Fatalf("e2e-second's %s has %d floating IPs, want 1", u2.IP, len(fips))
	}
	if f := os.Getenv("STACKLAB_E2E_SERVER_OUT"); f != "" {
		if err := os.WriteFile(f, []byte(fips[0].FloatingIP+" "+second.ID+" "+first.ID+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
