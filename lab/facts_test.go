package lab

import (
	"os"
	"path/filepath"
	"testing"
)

func TestCgroupV1ReadOnly(t *testing.T) {
	dir := t.TempDir()
	write := func(s string) string {
		p := filepath.Join(dir, "mountinfo")
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	v2 := "30 24 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw\n"
	ro := v2 + "40 30 0:35 / /sys/fs/cgroup/cpu,cpuacct ro,nosuid,nodev,noexec,relatime - cgroup cgroup rw,cpu,cpuacct\n"
	if cgroupV1ReadOnly(write(v2)) {
		t.Error("cgroup v2 reported as read-only v1")
	}
	if !cgroupV1ReadOnly(write(ro)) {
		t.Error("read-only v1 controller not found")
	}
}
