package apt

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// TestRealSkipTestsBytecode installs, through this machine's apt and dpkg,
// a Python package whose postinst byte-compiles it as every Debian Python
// package's does (dh_python3's py3compile -p): with SkipTestsBytecode its
// module is compiled and its test suite is not, and the exclude file is
// gone after; reinstalled without it, the suite is compiled (the contrast:
// the file, nothing else, made the difference).
func TestRealSkipTestsBytecode(t *testing.T) {
	if testing.Short() {
		t.Skip("installs a test package on this machine")
	}
	requireTool(t, "apt-get")
	requireTool(t, "dpkg-deb")
	requireTool(t, "py3compile")
	if os.Geteuid() != 0 {
		t.Skip("installing packages needs root")
	}
	const name = "stacklab-test-bytecode"
	const lib = "/usr/lib/python3/dist-packages/stacklabtestbytecode"
	if missing, err := New("/").Missing(context.Background(), []string{name}); err != nil || len(missing) != 1 {
		t.Fatalf("the test package is already here (%v): purge it with dpkg --purge %s", err, name)
	}
	if _, err := os.Stat(testsBytecodePath); err == nil {
		t.Fatalf("%s exists before the test: another stacklab install running?", testsBytecodePath)
	}
	dir := t.TempDir()
	repo := newLocalRepo(t, dir, buildDeb(t, dir, name, "", map[string]string{
		"postinst": "#!/bin/sh\nset -e\npy3compile -p " + name + "\n",
		"prerm":    "#!/bin/sh\nset -e\npy3clean -p " + name + "\n",
	}, map[string]string{
		lib + "/__init__.py":            "",
		lib + "/mod.py":                 "VALUE = 1\n",
		lib + "/tests/__init__.py":      "",
		lib + "/tests/test_mod.py":      "def test_value():\n    pass\n",
		lib + "/tests/unit/test_sub.py": "def test_sub():\n    pass\n",
	}))
	t.Cleanup(func() {
		if out, err := exec.Command("dpkg", "--purge", name).CombinedOutput(); err != nil {
			t.Errorf("dpkg --purge: %v\n%s", err, out)
		}
	})
	m := &Manager{Root: "/", Runner: repo, Locks: FcntlProber{}, LockWait: 2 * time.Minute, Sync: func() {}}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	compiled := func(rel string) bool {
		t.Helper()
		base := filepath.Base(rel)
		matches, err := filepath.Glob(filepath.Join(lib, filepath.Dir(rel), "__pycache__", base[:len(base)-len(".py")]+".cpython-*.pyc"))
		if err != nil {
			t.Fatal(err)
		}
		return len(matches) > 0
	}

	if err := m.Install(ctx, []string{name}, InstallOptions{LogPath: filepath.Join(dir, "apt.log"), SkipTestsBytecode: true}); err != nil {
		t.Fatal(err)
	}
	if !compiled("mod.py") || !compiled("__init__.py") {
		t.Errorf("the package's module was not byte-compiled")
	}
	for _, f := range []string{"tests/test_mod.py", "tests/unit/test_sub.py"} {
		if compiled(f) {
			t.Errorf("%s was byte-compiled with SkipTestsBytecode", f)
		}
	}
	if _, err := os.Stat(testsBytecodePath); !os.IsNotExist(err) {
		t.Errorf("%s left after the install: %v", testsBytecodePath, err)
	}

	if err := m.Install(ctx, []string{name}, InstallOptions{LogPath: filepath.Join(dir, "apt.log"), Reinstall: true}); err != nil {
		t.Fatal(err)
	}
	if !compiled("tests/test_mod.py") || !compiled("tests/unit/test_sub.py") {
		t.Errorf("reinstalled without SkipTestsBytecode, the test suite was still not compiled: the contrast does not hold")
	}
}
