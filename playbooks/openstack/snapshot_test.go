package openstack

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stacklab/stacklab/playbooks"
)

// TestSnapshotApplyRerunDestroy: an image from_server is nova's snapshot
// of that server, made after it and before the server that boots from
// it, reported with its size and status, left alone by a re-run and
// removed by destroy like everything the playbook made.
func TestSnapshotApplyRerunDestroy(t *testing.T) {
	f := newFake(t)
	f.Console = func(string, int) string { return "stacklab-guest up 172.16.1.10\n" }
	c := f.open(t, Options{})
	src := labPlaybookSource(rawImage(t, 1<<20), filepath.Join(t.TempDir(), "key.pem"))
	src = strings.Replace(src, "servers:\n", "  - {name: lab-snap, from_server: lab-vm, min_ram: 64}\nservers:\n", 1)
	src = strings.Replace(src, "floating_ips:\n", "  - {name: lab-vm2, flavor: m1.lab, image: lab-snap, networks: [selfservice], timeout: 5}\nfloating_ips:\n", 1)
	pb, err := playbooks.LoadBytes("lab.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := playbooks.Apply(ctx, pb, c, playbooks.Options{}); err != nil {
		t.Fatalf("apply: %v", err)
	}
	vm, _ := f.find("servers", "name", "lab-vm")
	snap, _ := f.find("images", "name", "lab-snap")
	vm2, _ := f.find("servers", "name", "lab-vm2")
	if vm == nil || snap == nil || vm2 == nil {
		t.Fatalf("made vm %v, snapshot %v, vm2 %v", vm, snap, vm2)
	}
	if snap["snapshot_of"] != vm["id"] || snap["status"] != "active" || !strings.HasSuffix(snap[ownerProperty].(string), "playbook lab") {
		t.Fatalf("snapshot %v: want an active snapshot of %v marked as the playbook's", snap, vm["id"])
	}
	if vm2["image"].(obj)["id"] != snap["id"] {
		t.Fatalf("lab-vm2 boots from %v, want the snapshot %v", vm2["image"], snap["id"])
	}

	rep, err := playbooks.Apply(ctx, pb, c, playbooks.Options{})
	if err != nil {
		t.Fatalf("second apply: %v", err)
	}
	for _, r := range rep.Results {
		if r.Action != playbooks.Unchanged {
			t.Errorf("second apply: %s %s %s %v; want unchanged (no new snapshot)", r.Kind, r.Name, r.Action, r.Changes)
		}
		if r.Kind == playbooks.KindImage && r.Name == "lab-snap" && (r.Info["size"] != "16777216" || r.Info["status"] != "active") {
			t.Errorf("snapshot reported as %v; want its size and status", r.Info)
		}
	}
	if n := len(f.all("images")); n != 2 {
		t.Fatalf("%d images after the re-run, want 2", n)
	}

	if _, err := playbooks.Destroy(ctx, pb, c, playbooks.Options{}); err != nil {
		t.Fatalf("destroy: %v", err)
	}
	if imgs, srvs := f.all("images"), f.all("servers"); len(imgs) != 0 || len(srvs) != 0 {
		t.Fatalf("left after destroy: images %v, servers %v", imgs, srvs)
	}
}

// TestSnapshotOfInactiveServerRefused: a server that is not ACTIVE is
// refused by the plan, before any change, and by the driver itself.
func TestSnapshotOfInactiveServerRefused(t *testing.T) {
	f := newFake(t)
	f.ServerStatus = func(string, int) (string, string) { return "SHUTOFF", "" }
	c := f.open(t, Options{})
	f.put("servers", obj{"name": "hand", "status": "SHUTOFF", "flavor": obj{"original_name": "m1"}, "image": obj{"id": ""}})
	pb, err := playbooks.LoadBytes("p.yaml", []byte("name: t\nflavors:\n  - {name: f, vcpus: 1, ram: 64}\nimages:\n  - {name: snap, from_server: hand}\n"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = playbooks.Apply(context.Background(), pb, c, playbooks.Options{})
	want := "p.yaml:5:31: image snap: server hand is SHUTOFF; nova snapshots only an ACTIVE server here; start it first: openstack server start hand"
	if errs := playbooks.Errors(err); len(errs) != 1 || errs[0].Error() != want {
		t.Fatalf("apply: %v\nwant: %s", err, want)
	}
	if imgs, flavors := f.all("images"), f.all("flavors"); len(imgs) != 0 || len(flavors) != 0 {
		t.Fatalf("changed before the refusal: images %v, flavors %v", imgs, flavors)
	}
	drv, _ := c.Driver(playbooks.KindImage)
	err = drv.Create(context.Background(), playbooks.Resource{Kind: playbooks.KindImage, Name: "snap", Spec: pb.Images[0]}, "t")
	if !errors.Is(err, ErrServerNotActive) {
		t.Fatalf("driver: %v, want ErrServerNotActive", err)
	}
}
