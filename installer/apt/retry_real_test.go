package apt

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// localRepo runs apt-get with a flat repository of this test's packages as
// its only source, its lists and caches in a temporary directory: the
// host's sources, lists and caches stay as they were. dpkg's database and
// apt's auto marks are the host's, as the lab's retry needs them to be.
type localRepo struct {
	opts []string
}

func (r localRepo) Run(ctx context.Context, c Command) error {
	if c.Name == "apt-get" || c.Name == "apt-mark" {
		c.Args = append(slices.Clone(r.opts), c.Args...)
	}
	return ExecRunner{}.Run(ctx, c)
}

// newLocalRepo serves the packages of index (buildDeb's stanzas, their
// files in dir) and reads its lists.
func newLocalRepo(t *testing.T, dir, index string) localRepo {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, "Packages"), []byte(index), 0o644); err != nil {
		t.Fatal(err)
	}
	lists := filepath.Join(dir, "lists")
	if err := os.MkdirAll(filepath.Join(lists, "partial"), 0o755); err != nil {
		t.Fatal(err)
	}
	sources := filepath.Join(dir, "sources.list")
	if err := os.WriteFile(sources, []byte("deb [trusted=yes] file:"+dir+" ./\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	repo := localRepo{opts: []string{
		"-o", "Dir::Etc::sourcelist=" + sources, "-o", "Dir::Etc::sourceparts=-",
		"-o", "Dir::State::Lists=" + lists,
		"-o", "Dir::Cache::pkgcache=", "-o", "Dir::Cache::srcpkgcache=",
	}}
	repo.output(t, "apt-get", "-q", "update")
	return repo
}

func (r localRepo) output(t *testing.T, name string, args ...string) string {
	t.Helper()
	var out bytes.Buffer
	if err := r.Run(context.Background(), Command{Name: name, Args: args, Output: &out}); err != nil {
		t.Fatalf("%s %q: %v\n%s", name, args, err, out.String())
	}
	return out.String()
}

// buildDeb writes a package of files (path → content), its control file
// and maintainer scripts, and returns its Packages stanza.
func buildDeb(t *testing.T, dir, name, depends string, scripts, files map[string]string) string {
	t.Helper()
	root := filepath.Join(dir, "src", name)
	if err := os.MkdirAll(filepath.Join(root, "DEBIAN"), 0o755); err != nil {
		t.Fatal(err)
	}
	for f, body := range files {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(root, f)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, f), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	control := fmt.Sprintf("Package: %s\nVersion: 1.0\nArchitecture: all\nMaintainer: stacklab tests <root@localhost>\nDescription: stacklab test package\n", name)
	if depends != "" {
		control += "Depends: " + depends + "\n"
	}
	if err := os.WriteFile(filepath.Join(root, "DEBIAN", "control"), []byte(control), 0o644); err != nil {
		t.Fatal(err)
	}
	for f, body := range scripts {
		if err := os.WriteFile(filepath.Join(root, "DEBIAN", f), []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	deb := filepath.Join(dir, name+".deb")
	if out, err := exec.Command("dpkg-deb", "--root-owner-group", "-b", root, deb).CombinedOutput(); err != nil {
		t.Fatalf("dpkg-deb: %v\n%s", err, out)
	}
	data, err := os.ReadFile(deb)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%sFilename: ./%s.deb\nSize: %d\nSHA256: %x\n\n", control, name, len(data), sha256.Sum256(data))
}

// TestRealRetryKeepsDependencyAuto is the apt behaviour the packages
// phase's retry stands on (CI58, CI65): when a dependency's trigger fails
// (openstack-dashboard's asset compress), apt-get install given the same
// names as before configures the dependency and keeps it automatically
// installed, so uninstall's autoremove takes it; naming the dependency
// instead marks it manually installed and it stays.
func TestRealRetryKeepsDependencyAuto(t *testing.T) {
	if testing.Short() {
		t.Skip("installs two empty test packages on this machine")
	}
	requireTool(t, "apt-get")
	requireTool(t, "dpkg-deb")
	if os.Geteuid() != 0 {
		t.Skip("installing packages needs root")
	}
	const top, dep = "stacklab-test-top", "stacklab-test-dep"
	if missing, err := New("/").Missing(context.Background(), []string{top, dep}); err != nil || len(missing) != 2 {
		t.Fatalf("the test packages are already here (%q missing, %v): purge them with dpkg --purge %s %s", missing, err, top, dep)
	}
	dir := t.TempDir()
	flag := filepath.Join(dir, "trigger-failed-once")
	index := buildDeb(t, dir, dep, "", map[string]string{
		"postinst": fmt.Sprintf("#!/bin/sh\nif [ \"$1\" = triggered ] && [ ! -e %s ]; then touch %s; exit 1; fi\n", flag, flag),
		"triggers": "interest stacklab-test-trigger\n",
	}, nil) + buildDeb(t, dir, top, dep, map[string]string{
		"postinst": "#!/bin/sh\ndpkg-trigger stacklab-test-trigger\n",
	}, nil)
	repo := newLocalRepo(t, dir, index)
	t.Cleanup(func() {
		if out, err := exec.Command("dpkg", "--purge", top, dep).CombinedOutput(); err != nil {
			t.Errorf("dpkg --purge: %v\n%s", err, out)
		}
	})
	m := &Manager{Root: dir, Runner: repo, Locks: FcntlProber{}, LockWait: 2 * time.Minute, Sync: func() {}}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	opts := InstallOptions{LogPath: "/apt.log", UnsafeIO: true}

	err := m.Install(ctx, []string{top}, opts)
	var ce *CommandError
	if !errors.As(err, &ce) || !ce.ConfigureFailed() || !slices.Equal(ce.FailedPackages(), []string{dep}) {
		t.Fatalf("first install: %v (failed %v), want %s's trigger to fail", err, ce.FailedPackages(), dep)
	}
	if missing, err := m.Missing(ctx, []string{top, dep}); err != nil || !slices.Equal(missing, []string{dep}) {
		t.Fatalf("after the trigger failed: missing %q, %v; want only %s", missing, err, dep)
	}
	if err := m.Install(ctx, []string{top}, opts); err != nil {
		t.Fatalf("install again by the same name: %v", err)
	}
	if missing, err := m.Missing(ctx, []string{top, dep}); err != nil || len(missing) > 0 {
		t.Fatalf("after the retry: missing %q, %v", missing, err)
	}
	if auto := repo.output(t, "apt-mark", "showauto", dep); strings.TrimSpace(auto) != dep {
		t.Errorf("apt-mark showauto %s = %q: the retry marked it manually installed", dep, auto)
	}
	// The contrast: the name of an installed dependency marks it manual.
	if err := m.Install(ctx, []string{dep}, opts); err != nil {
		t.Fatal(err)
	}
	if manual := repo.output(t, "apt-mark", "showmanual", dep); strings.TrimSpace(manual) != dep {
		t.Errorf("apt-mark showmanual %s = %q after naming it: the contrast no longer holds", dep, manual)
	}
}
