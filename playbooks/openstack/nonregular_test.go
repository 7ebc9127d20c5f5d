package openstack

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stacklab/stacklab/internal/safefile"
	"github.com/stacklab/stacklab/playbooks"
)

// A private_key_file path that is a FIFO, /dev/zero or a directory is not
// a key to keep: it is refused at once, never read or waited on.
func TestExistingKeyRefusesNonRegular(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "id_lab")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	paths := []string{fifo, dir}
	if _, err := os.Stat("/dev/zero"); err == nil {
		paths = append(paths, "/dev/zero")
	}
	for _, path := range paths {
		done := make(chan error, 1)
		go func() { _, _, err := existingKey(path); done <- err }()
		select {
		case err := <-done:
			if !errors.Is(err, safefile.ErrNotRegular) {
				t.Errorf("existingKey(%s) = %v, want ErrNotRegular", path, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("existingKey(%s) still blocked after 10s", path)
		}
	}
}

// The upload re-checks the file it streams: it may have been replaced
// since the playbook was validated.
func TestUploadRefusesNonRegular(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "disk.img")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	d := &imageDriver{}
	done := make(chan error, 1)
	go func() { done <- d.upload(t.Context(), "id", playbooks.Image{Name: "img", Path: fifo}) }()
	select {
	case err := <-done:
		if !errors.Is(err, safefile.ErrNotRegular) {
			t.Errorf("upload(FIFO) = %v, want ErrNotRegular", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("upload(FIFO) still blocked after 10s")
	}
}
