package safefile

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// refusedPromptly runs read and fails the test if it has not returned
// within a generous deadline: the bug this guards against is open(2) on a
// FIFO blocking forever, which would otherwise hang the whole test binary.
func refusedPromptly(t *testing.T, path string, read func(string) error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- read(path) }()
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: still blocked after 10s", path)
		return nil
	}
}

func TestRefusesNonRegular(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link-to-fifo")
	if err := os.Symlink(fifo, link); err != nil {
		t.Fatal(err)
	}
	paths := map[string]string{fifo: "FIFO", link: "FIFO", dir: "directory"}
	if _, err := os.Stat("/dev/zero"); err == nil {
		paths["/dev/zero"] = "character device"
	}
	readers := map[string]func(string) error{
		"ReadRegular": func(p string) error { _, err := ReadRegular(p, 1<<20); return err },
		"OpenRegular": func(p string) error {
			f, err := OpenRegular(p)
			if err == nil {
				_ = f.Close()
			}
			return err
		},
		"OpenRegularOrBlock": func(p string) error {
			f, err := OpenRegularOrBlock(p)
			if err == nil {
				_ = f.Close()
			}
			return err
		},
	}
	for name, read := range readers {
		for path, what := range paths {
			err := refusedPromptly(t, path, read)
			if !errors.Is(err, ErrNotRegular) {
				t.Errorf("%s(%s) = %v, want ErrNotRegular", name, path, err)
				continue
			}
			if msg := err.Error(); !strings.Contains(msg, path) || !strings.Contains(msg, what) {
				t.Errorf("%s(%s): message %q should name the path and %q", name, path, msg, what)
			}
		}
	}
}

func TestReadRegularLimit(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "big.yaml")
	if err := os.WriteFile(p, bytes.Repeat([]byte("x"), 2048), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := ReadRegular(p, 1024)
	var tl *TooLargeError
	if !errors.As(err, &tl) || !errors.Is(err, ErrTooLarge) || tl.Limit != 1024 || tl.Path != p {
		t.Fatalf("ReadRegular over the limit = %v, want a *TooLargeError for %s, limit 1024", err, p)
	}
	if !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "1 KiB") {
		t.Errorf("message %q should name the path and the limit", err)
	}
	got, err := ReadRegular(p, 2048)
	if err != nil || len(got) != 2048 {
		t.Fatalf("ReadRegular at the limit = %d bytes, %v; want all 2048", len(got), err)
	}
}

func TestReadRegularMissing(t *testing.T) {
	_, err := ReadRegular(filepath.Join(t.TempDir(), "nope"), 10)
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: %v, want ErrNotExist (callers treat a missing default file as empty)", err)
	}
}

func TestCreateNew(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "target")
	if err := os.WriteFile(target, []byte("someone else's"), 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	dangling := filepath.Join(dir, "dangling")
	if err := os.Symlink(filepath.Join(dir, "would-be-created"), dangling); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{target, link, dangling} {
		if f, err := CreateNew(p, 0o600); !errors.Is(err, os.ErrExist) {
			if f != nil {
				_ = f.Close()
			}
			t.Errorf("CreateNew(%s) = %v, want ErrExist", p, err)
		}
	}
	if b, _ := os.ReadFile(target); string(b) != "someone else's" {
		t.Errorf("the existing file was changed: %q", b)
	}
	if _, err := os.Lstat(filepath.Join(dir, "would-be-created")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a dangling link was followed: %v", err)
	}
	fresh := filepath.Join(dir, "fresh")
	f, err := CreateNew(fresh, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	_ = f.Close()
	if st, err := os.Stat(fresh); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("new file: %v %v, want mode 0600", st.Mode(), err)
	}
}

func TestMissingFileSaysOpen(t *testing.T) {
	p := filepath.Join(t.TempDir(), "nope")
	_, err := OpenRegular(p)
	if !errors.Is(err, os.ErrNotExist) || err.Error() != "open "+p+": no such file or directory" {
		t.Fatalf("OpenRegular(missing) = %v, want os.Open's message", err)
	}
}
