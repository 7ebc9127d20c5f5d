package image

import (
	"bytes"
	"encoding/json"
	"testing"
)

func TestWriteText(t *testing.T) {
	info := Info{
		Path: "disk.qcow2", Format: QCOW2, QemuFormat: "qcow2", VirtualSize: 10 << 30, FileSize: 1536 << 20,
		ClusterSize: 65536, BackingFile: "base.qcow2", BackingFormat: "qcow2", Compression: "zstd",
		QCOW2:    &QCOW2Info{Version: 3, Compat: "1.1", Features: []string{"dirty", "compression_type"}},
		Problems: []string{"marked corrupt"}, Notes: []string{"dirty bit set"},
		BootableVerdict: Unknown, BootableReason: "the guest's first sector comes from the backing file",
	}
	want := `file:          disk.qcow2
format:        qcow2 (version 3, compat 1.1)
virtual size:  10 GiB (10737418240 bytes)
file size:     1.5 GiB (1610612736 bytes)
cluster size:  64 KiB
backing file:  base.qcow2 (format qcow2)
compression:   zstd
features:      dirty, compression_type
bootable:      unknown — the guest's first sector comes from the backing file
glance:        --disk-format qcow2
✗ marked corrupt
- dirty bit set
`
	var b bytes.Buffer
	if err := info.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}

// TestWriteJSON pins the field names the CLI documents and scripts read.
func TestWriteJSON(t *testing.T) {
	info := inspectBytes(t, qcow2Image(qcow2Opts{}))
	var b bytes.Buffer
	if err := info.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"format", "qemu_format", "virtual_size", "file_size", "cluster_size", "qcow2", "problems", "notes", "bootable_verdict", "bootable_reason"} {
		if _, ok := m[k]; !ok {
			t.Errorf("JSON lacks %q: %s", k, b.String())
		}
	}
	if p, ok := m["problems"].([]any); !ok || len(p) != 0 {
		t.Errorf("problems must be an empty list, not %v", m["problems"])
	}
	q := m["qcow2"].(map[string]any)
	if q["version"] != 3.0 || q["cluster_bits"] != 9.0 || q["compression_type"] != "zlib" {
		t.Errorf("qcow2 details %v", q)
	}
}

func TestHumanBytes(t *testing.T) {
	for n, want := range map[int64]string{0: "0 bytes", 1023: "1023 bytes", 1024: "1 KiB", 1536: "1.5 KiB", 10 << 30: "10 GiB", 1<<63 - 1: "8 EiB"} {
		if got := humanBytes(n); got != want {
			t.Errorf("humanBytes(%d) = %q, want %q", n, got, want)
		}
	}
}
