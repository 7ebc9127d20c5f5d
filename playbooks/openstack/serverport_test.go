package openstack

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/stacklab/stacklab/playbooks"
)

// serverPorts are the fake's ports bound to a server or named like one.
func serverPorts(f *fakeOpenStack, name string) []obj {
	var out []obj
	for _, p := range f.all("ports") {
		if p["name"] == name || p["device_owner"] == "compute:nova" {
			out = append(out, p)
		}
	}
	return out
}

// TestServerCreatedOnItsOwnPort: the port is made before nova is asked,
// with the server's groups and the playbook's marker; nova binds it, and
// makes none of its own; a delete removes it after the server.
func TestServerCreatedOnItsOwnPort(t *testing.T) {
	f := newFake(t)
	c := f.open(t, Options{})
	ctx := context.Background()
	sgID := f.put("security-groups", obj{"name": "x", "description": ""})
	sd, res := createServerIn(t, f, c, "x")
	ps := serverPorts(f, "vm")
	if len(ps) != 1 {
		t.Fatalf("ports = %v, want one", ps)
	}
	p := ps[0]
	if !f.given[fmt.Sprint(p["id"])] || p["description"] != playbooks.Marker("lab") || fmt.Sprint(p["security_groups"]) != fmt.Sprint([]any{sgID}) {
		t.Errorf("port %v: want one given to nova, marked, in group %s", p, sgID)
	}
	cur, found, err := sd.Get(ctx, "vm")
	if err != nil || !found || len(sd.Diff(res, cur)) != 0 {
		t.Fatalf("get: %v %v, diff %v", found, err, sd.Diff(res, cur))
	}
	if err := sd.Delete(ctx, cur); err != nil {
		t.Fatal(err)
	}
	if left := serverPorts(f, "vm"); len(left) != 0 {
		t.Errorf("after delete, ports left: %v", left)
	}
}

// TestServerTakesItsPortLeftByAStoppedRun: a run stopped between the
// port and the server left the port unbound; the next takes it rather
// than leave it behind (it would block the network's delete). A port of
// the same name made by hand, or bound elsewhere, is not taken.
func TestServerTakesItsPortLeftByAStoppedRun(t *testing.T) {
	f := newFake(t)
	c := f.open(t, Options{})
	ctx := context.Background()
	sd, _ := c.Driver(playbooks.KindServer)
	res := serverResource(f, "")
	net, _ := f.find("networks", "name", "net")
	left := f.put("ports", obj{"name": "vm", "description": playbooks.Marker("lab"), "network_id": net["id"],
		"device_id": "", "device_owner": "", "security_groups": []string{}, "fixed_ips": []obj{{"subnet_id": "", "ip_address": "10.0.0.5"}}})
	hand := f.put("ports", obj{"name": "vm", "description": "mine", "network_id": net["id"],
		"device_id": "", "device_owner": "", "security_groups": []string{}, "fixed_ips": []obj{{"subnet_id": "", "ip_address": "10.0.0.6"}}})
	if err := sd.Create(ctx, res, "lab"); err != nil {
		t.Fatal(err)
	}
	var bound []string
	for _, p := range f.all("ports") {
		if p["device_owner"] == "compute:nova" {
			bound = append(bound, fmt.Sprint(p["id"]))
		}
	}
	if strings.Join(bound, ",") != left {
		t.Errorf("bound ports %v, want the left one %s", bound, left)
	}
	cur, _, _ := sd.Get(ctx, "vm")
	if err := sd.Delete(ctx, cur); err != nil {
		t.Fatal(err)
	}
	if ps := f.all("ports"); len(ps) != 1 || ps[0]["id"] != hand {
		t.Errorf("after delete: %v, want only the hand-made port", ps)
	}
}

// TestServerRefusedLeavesNoPort: nova refusing the server deletes the port
// made for it.
func TestServerRefusedLeavesNoPort(t *testing.T) {
	f := newFake(t)
	f.RefuseServers = true
	c := f.open(t, Options{})
	sd, _ := c.Driver(playbooks.KindServer)
	if err := sd.Create(context.Background(), serverResource(f, ""), "lab"); err == nil || !strings.Contains(err.Error(), "Unexpected API Error") {
		t.Fatalf("err = %v, want nova's", err)
	}
	if ps := f.all("ports"); len(ps) != 0 {
		t.Errorf("ports left: %v", ps)
	}
}
