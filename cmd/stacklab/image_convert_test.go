package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestImageConvertCommand(t *testing.T) {
	if _, err := exec.LookPath("qemu-img"); err != nil {
		t.Skip("qemu-img not found: install qemu-utils (CI does)")
	}
	dir := t.TempDir()
	raw := filepath.Join(dir, "disk.raw")
	b := make([]byte, 4<<20)
	b[510], b[511] = 0x55, 0xaa
	if err := os.WriteFile(raw, b, 0o644); err != nil {
		t.Fatal(err)
	}
	vdi := filepath.Join(dir, "student.vdi")
	if out, err := exec.Command("qemu-img", "convert", "-f", "raw", "-O", "vdi", raw, vdi).CombinedOutput(); err != nil {
		t.Fatalf("make the VDI: %v\n%s", err, out)
	}
	out := filepath.Join(dir, "student.qcow2")
	r := runWith(t, testEnv(t), "--output", "json", "image", "convert", vdi, out)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	var res struct {
		SourceFormat string `json:"source_format"`
		Info         struct {
			Format string `json:"format"`
		} `json:"info"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil || res.SourceFormat != "vdi" || res.Info.Format != "qcow2" {
		t.Fatalf("json %q (%v); want vdi → qcow2", r.stdout, err)
	}
	// Off a terminal, no progress lines.
	if strings.Contains(r.stderr, "%") {
		t.Fatalf("progress on a non-terminal: %q", r.stderr)
	}
	if r := runWith(t, testEnv(t), "image", "convert", vdi, out); r.code != exitFailed || !strings.Contains(r.stderr, "exists") {
		t.Fatalf("an existing OUT: exit %d %q; want 1 naming it", r.code, r.stderr)
	}
	if r := runWith(t, testEnv(t), "image", "convert", vdi); r.code != exitUsage {
		t.Fatalf("one argument: exit %d, want %d", r.code, exitUsage)
	}
}
