package atomicfile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

func leftovers(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		out = append(out, e.Name())
	}
	return out
}

func TestWriteReplacesWithModeAndNoTempLeft(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "nova.conf")
	if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Write(path, []byte("new"), Options{Mode: 0o640}); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	info, _ := os.Stat(path)
	if string(b) != "new" || info.Mode().Perm() != 0o640 {
		t.Errorf("content %q mode %v", b, info.Mode().Perm())
	}
	if got := leftovers(t, dir); len(got) != 1 {
		t.Errorf("directory holds %v, want only nova.conf", got)
	}
}

func TestWriteOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("chown to another owner needs root (CI runs as root)")
	}
	path := filepath.Join(t.TempDir(), "secrets.yaml")
	if err := Write(path, []byte("x"), Options{Mode: 0o640, SetOwner: true, UID: 4242, GID: 4343}); err != nil {
		t.Fatal(err)
	}
	info, _ := os.Stat(path)
	st := info.Sys().(*syscall.Stat_t)
	if st.Uid != 4242 || st.Gid != 4343 || info.Mode().Perm() != 0o640 {
		t.Errorf("owner %d:%d mode %v", st.Uid, st.Gid, info.Mode().Perm())
	}
}

func TestWriteNoReplace(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "policy-rc.d")
	if err := Write(path, []byte("ours"), Options{Mode: 0o755, NoReplace: true}); err != nil {
		t.Fatal(err)
	}
	err := Write(path, []byte("again"), Options{Mode: 0o755, NoReplace: true})
	if !errors.Is(err, fs.ErrExist) {
		t.Fatalf("second write: %v, want fs.ErrExist", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "ours" {
		t.Errorf("existing file replaced: %q", b)
	}
	if got := leftovers(t, dir); len(got) != 1 {
		t.Errorf("temporary file left: %v", got)
	}
}

func TestWriteFailureLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	err := Write(filepath.Join(dir, "missing", "f"), []byte("x"), Options{Mode: 0o644})
	if err == nil {
		t.Fatal("write into a missing directory succeeded")
	}
	if got := leftovers(t, dir); len(got) != 0 {
		t.Errorf("left %v", got)
	}
}
