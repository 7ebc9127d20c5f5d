package openstack

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stacklab/stacklab/playbooks"
	"github.com/stacklab/stacklab/playbooks/image"
)

// TestImageConvertBeforeUpload: an image declared convert: qcow2 reaches
// glance as the cached qcow2, and a second upload reuses the conversion.
func TestImageConvertBeforeUpload(t *testing.T) {
	if _, err := exec.LookPath("qemu-img"); err != nil {
		t.Skip("qemu-img not found: install qemu-utils (CI does)")
	}
	cache := image.Cache{Dir: filepath.Join(t.TempDir(), "converted")}
	conversions := 0
	convert := func(ctx context.Context, src string) (string, error) {
		p, converted, err := cache.QCOW2(ctx, src)
		if converted {
			conversions++
		}
		return p, err
	}
	f := newFake(t)
	c := f.open(t, Options{Convert: convert})
	drv, _ := c.Driver(playbooks.KindImage)
	spec := playbooks.Image{Name: "img", File: "disk.img", Path: rawImage(t, 1<<20), Convert: "qcow2", DetectedFormat: "qcow2"}
	r := playbooks.Resource{Kind: playbooks.KindImage, Name: "img", Spec: spec}
	for range 2 {
		for _, img := range f.all("images") {
			if err := drv.Delete(context.Background(), playbooks.Current{ID: img["id"].(string)}); err != nil {
				t.Fatal(err)
			}
		}
		if err := drv.Create(context.Background(), r, "lab"); err != nil {
			t.Fatal(err)
		}
	}
	imgs := f.all("images")
	if len(imgs) != 1 || imgs[0]["disk_format"] != "qcow2" {
		t.Fatalf("images = %v; want one qcow2", imgs)
	}
	entries, err := os.ReadDir(cache.Dir)
	if err != nil || len(entries) != 1 {
		t.Fatalf("cache holds %v (%v); want one entry", entries, err)
	}
	st, err := os.Stat(filepath.Join(cache.Dir, entries[0].Name()))
	if err != nil || imgs[0]["size"].(int64) != st.Size() {
		t.Fatalf("glance got %v bytes, the qcow2 has %v (%v)", imgs[0]["size"], st, err)
	}
	if conversions != 1 {
		t.Fatalf("%d conversions for an unchanged disk; want 1", conversions)
	}
}

func TestImageConvertWithoutConverterRefused(t *testing.T) {
	f := newFake(t)
	c := f.open(t, Options{})
	drv, _ := c.Driver(playbooks.KindImage)
	spec := playbooks.Image{Name: "img", Path: rawImage(t, 1<<20), Convert: "qcow2"}
	if err := drv.Create(context.Background(), playbooks.Resource{Kind: playbooks.KindImage, Name: "img", Spec: spec}, "lab"); err == nil {
		t.Fatal("uploaded the unconverted disk")
	}
	if n := len(f.all("images")); n != 0 {
		t.Fatalf("%d images made before the refusal", n)
	}
}
