package apt

import (
	"os"
	"path/filepath"
	"testing"
)

func TestHoldServicesFreshHost(t *testing.T) {
	root := t.TempDir()
	path := filepath.Join(root, PolicyRCPath)
	release, err := HoldServices(root)
	if err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatalf("no policy-rc.d written: %v", err)
	}
	if info.Mode().Perm() != 0o755 {
		t.Errorf("mode %04o, want 0755 (invoke-rc.d executes it)", info.Mode().Perm())
	}
	data, _ := os.ReadFile(path)
	if string(data) != holdScript {
		t.Errorf("content %q", data)
	}
	if err := release(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("release left it: %v", err)
	}
	if err := release(); err != nil {
		t.Errorf("second release: %v", err)
	}
	if left, _ := filepath.Glob(filepath.Join(root, "/usr/sbin/.*")); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

func TestHoldServicesLeavesForeignFileAlone(t *testing.T) {
	root := t.TempDir()
	path := filepath.Join(root, PolicyRCPath)
	_ = os.MkdirAll(filepath.Dir(path), 0o755)
	// This machine image's own file.
	foreign := "#!/bin/sh\n\n# For most Docker users, ...\n\nexit 101"
	if err := os.WriteFile(path, []byte(foreign), 0o755); err != nil {
		t.Fatal(err)
	}
	release, err := HoldServices(root)
	if err != nil {
		t.Fatal(err)
	}
	if err := release(); err != nil {
		t.Fatal(err)
	}
	if data, err := os.ReadFile(path); err != nil || string(data) != foreign {
		t.Errorf("foreign policy-rc.d changed: %q, %v", data, err)
	}
}

func TestHoldServicesAdoptsLeftoverFromInterruptedRun(t *testing.T) {
	root := t.TempDir()
	if _, err := HoldServices(root); err != nil { // "crashes": never released
		t.Fatal(err)
	}
	release, err := HoldServices(root)
	if err != nil {
		t.Fatal(err)
	}
	if err := release(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, PolicyRCPath)); !os.IsNotExist(err) {
		t.Errorf("leftover not removed: %v", err)
	}
}

func TestHoldServicesReleaseSparesAReplacement(t *testing.T) {
	root := t.TempDir()
	release, err := HoldServices(root)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(root, PolicyRCPath)
	if err := os.WriteFile(path, []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := release(); err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(path); string(data) != "#!/bin/sh\nexit 0\n" {
		t.Errorf("someone else's policy-rc.d removed or changed: %q", data)
	}
}
