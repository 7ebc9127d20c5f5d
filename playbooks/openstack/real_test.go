//go:build e2e

package openstack

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stacklab/stacklab/internal/cloud"
	"github.com/stacklab/stacklab/playbooks"
)

// TestRealLab applies a small playbook to the cloud in $STACKLAB_CLOUDS,
// applies it again expecting no change, destroys it and checks every
// resource is gone. Build with -tags e2e; the e2e lab host runs it.
func TestRealLab(t *testing.T) {
	clouds := os.Getenv("STACKLAB_CLOUDS")
	if clouds == "" {
		t.Fatal("STACKLAB_CLOUDS is unset: point it at the lab's clouds.yaml (this test only runs with -tags e2e, where a cloud is expected)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	c, err := cloud.Open(ctx, cloud.Options{CloudsFile: clouds})
	if err != nil {
		t.Fatalf("open %s: %v", clouds, err)
	}
	dir := t.TempDir()
	img := filepath.Join(dir, "tiny.img")
	f, err := os.Create(img)
	if err != nil {
		t.Fatal(err)
	}
	// A 1 MiB raw disk with only a boot signature: enough for glance.
	if err := f.Truncate(1 << 20); err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte{0x55, 0xaa}, 510); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	p := fmt.Sprintf("stacklab-e2e-%d", os.Getpid())
	src := fmt.Sprintf(`name: %[1]s
flavors:
  - {name: %[1]s-flavor, vcpus: 1, ram: 128, disk: 1}
networks:
  - {name: %[1]s-net}
subnets:
  - {name: %[1]s-subnet, network: %[1]s-net, cidr: 172.31.250.0/24}
security_groups:
  - name: %[1]s-sg
    rules: [{protocol: icmp}, {protocol: tcp, port: 22}]
keypairs:
  - {name: %[1]s-key, generate: true, private_key_file: %[2]s}
images:
  - {name: %[1]s-image, file: %[3]s, min_disk: 1}
`, p, filepath.Join(dir, "key.pem"), img)
	pb, err := playbooks.LoadBytes("e2e.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	oc := New(c, Options{Log: t.Logf})
	t.Cleanup(func() {
		// Leave the lab clean even when an assertion failed midway.
		if _, err := playbooks.Destroy(context.WithoutCancel(ctx), pb, oc, playbooks.Options{}); err != nil {
			t.Logf("cleanup destroy: %v", err)
		}
	})

	if _, err := playbooks.Apply(ctx, pb, oc, playbooks.Options{}); err != nil {
		t.Fatalf("apply: %v", err)
	}
	rep, err := playbooks.Apply(ctx, pb, oc, playbooks.Options{})
	if err != nil {
		t.Fatalf("second apply: %v", err)
	}
	for _, r := range rep.Results {
		if r.Action != playbooks.Unchanged {
			t.Errorf("second apply: %s %s is %s %v, want unchanged", r.Kind, r.Name, r.Action, r.Changes)
		}
	}
	if _, err := playbooks.Destroy(ctx, pb, oc, playbooks.Options{}); err != nil {
		t.Fatalf("destroy: %v", err)
	}
	for _, r := range pb.Resources() {
		drv, err := oc.Driver(r.Kind)
		if err != nil {
			t.Fatal(err)
		}
		if _, found, err := drv.Get(ctx, r.Name); err != nil || found {
			t.Errorf("%s %s after destroy: found=%v err=%v", r.Kind, r.Name, found, err)
		}
	}
}
