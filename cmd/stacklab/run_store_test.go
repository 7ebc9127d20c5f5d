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

// TestRunChecksTheStoreOnApplysOwnPlan: on the lab host the store check
// reads the cloud no more than the run itself does: a re-run with nothing
// to do reads each resource once (it used to plan twice).
func TestRunChecksTheStoreOnApplysOwnPlan(t *testing.T) {
	t.Setenv("OS_CLOUD", "")
	l := newRunLab(t)
	l.store = &fakeStore{avail: 1 << 30}
	if r := l.run(t, "run", l.playbook); r.code != exitOK {
		t.Fatalf("apply: exit %d, stderr %s", r.code, r.stderr)
	}
	before := len(l.cloud.Calls())
	if r := l.run(t, "run", l.playbook); r.code != exitOK {
		t.Fatalf("re-run: exit %d, stderr %s", r.code, r.stderr)
	}
	gets := map[string]int{}
	for _, c := range l.cloud.Calls()[before:] {
		if c.Op != "get" {
			t.Errorf("re-run with nothing to do: %s", c)
		}
		gets[string(c.Kind)+" "+c.Name]++
	}
	if len(gets) == 0 {
		t.Fatal("the re-run read nothing")
	}
	for id, n := range gets {
		if n != 1 {
			t.Errorf("%s read %d times, want once", id, n)
		}
	}
	if len(l.store.(*fakeStore).dirs) == 0 {
		t.Error("the store was not checked")
	}
}
