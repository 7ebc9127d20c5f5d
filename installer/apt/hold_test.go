package apt

import (
	"errors"
	"os"
	"os/exec"
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

// TestHoldScriptDeniesOnlyStarts runs our policy-rc.d with the real shell,
// as invoke-rc.d and deb-systemd-invoke do.
func TestHoldScriptDeniesOnlyStarts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "policy-rc.d")
	if err := os.WriteFile(path, []byte(holdScript), 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args []string
		want int
	}{
		{[]string{"nova-compute", "start"}, 101},
		{[]string{"nova-compute", "restart"}, 101},
		{[]string{"--quiet", "neutron-api", "try-restart"}, 101},
		{[]string{"apache2", "reload restart"}, 101}, // a fallback list that may start
		{[]string{"dbus", "reload"}, 0},
		{[]string{"dbus", "force-reload"}, 0},
		{[]string{"mariadb", "stop"}, 0},
		{[]string{"mariadb", "status", "2"}, 0},
	}
	for _, tt := range tests {
		err := exec.Command("/bin/sh", append([]string{path}, tt.args...)...).Run()
		got := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			got = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if got != tt.want {
			t.Errorf("policy-rc.d %v: exit %d, want %d", tt.args, got, tt.want)
		}
	}
}
