package main

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

type fakeStore struct {
	avail int64
	err   error
	dirs  []string
}

func (f *fakeStore) Available(dir string) (int64, error) {
	f.dirs = append(f.dirs, dir)
	return f.avail, f.err
}

// TestRunGlanceStoreSpace: an image larger than the free space of
// glance's store is refused before anything changes, in --plan and in
// apply; elsewhere than on the lab host the check is skipped with a note.
func TestRunGlanceStoreSpace(t *testing.T) {
	for _, tc := range []struct {
		name       string
		store      *fakeStore
		args       []string
		env        string
		wantCode   int
		wantStderr string
		wantWrites bool
	}{
		{"plan refused", &fakeStore{avail: 1 << 19}, []string{"--plan"}, "", exitFailed, "lab.yaml:", false},
		{"apply refused", &fakeStore{avail: 1 << 19}, nil, "", exitFailed, "glance's store /var/lib/glance/images has 0.50 MiB free", false},
		{"apply fits", &fakeStore{avail: 1 << 30}, nil, "", exitOK, "", true},
		{"another cloud", &fakeStore{avail: 1}, []string{"--cloud", "campus"}, "", exitOK, "not checked before uploads: cloud campus is not this host's lab", true},
		{"OS_CLOUD elsewhere", &fakeStore{avail: 1}, nil, "campus", exitOK, "cloud campus is not this host's lab", true},
		{"no glance here", &fakeStore{err: &fs.PathError{Op: "statfs", Path: "/var/lib/glance/images", Err: fs.ErrNotExist}}, nil, "", exitOK, "/var/lib/glance/images is not on this host", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("OS_CLOUD", tc.env)
			l := newRunLab(t)
			// The image exists, so --plan gets as far as the store.
			if err := os.MkdirAll(filepath.Dir(l.image), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(l.image, make([]byte, 1<<20), 0o644); err != nil {
				t.Fatal(err)
			}
			l.store = tc.store
			args := append(append([]string{"run"}, tc.args...), l.playbook)
			r := l.run(t, args...)
			if r.code != tc.wantCode || !strings.Contains(r.stderr, tc.wantStderr) {
				t.Fatalf("exit %d, want %d; stderr %s", r.code, tc.wantCode, r.stderr)
			}
			if got := len(l.cloud.Writes()) > 0; got != tc.wantWrites {
				t.Fatalf("writes %v, want writes: %v", l.cloud.Writes(), tc.wantWrites)
			}
		})
	}
}
