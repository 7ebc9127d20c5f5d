package apt

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/stacklab/stacklab/internal/atomicfile"
)

// testsBytecodePath is one of py3compile's byte-compilation exclude
// pattern files (dh-python's "bcep" directory). Every Python package's
// postinst runs py3compile on its files; it skips those matching a
// pattern there.
const testsBytecodePath = "/usr/share/python3/bcep/stacklab-skip-tests"

// testsBytecodeMarker identifies our file, so that one left by an
// interrupted run is removed by the next and a foreign one never is.
const testsBytecodeMarker = "# stacklab-skip-tests: written by stacklab during package installation"

// testsBytecode leaves every tests directory of the public modules out.
// Format: type|versions|directory|pattern ("-" is every Python 3).
const testsBytecode = testsBytecodeMarker + "\n" +
	"# Test suites are never imported by the services: stacklab does not\n" +
	"# byte-compile them while it installs. If stacklab is not running, this\n" +
	"# file is left from an interrupted run: delete it.\n" +
	"re|-|/usr/lib/python3/dist-packages/|.*/tests/.*\n"

// skipTestsBytecode keeps py3compile from compiling the packages' test
// suites until release is called. The OpenStack packages ship theirs
// (neutron's, nova's, every client's): on Debian 13 5,683 of the lab's
// 18,316 modules, whose compiling cost 13 s of the install's configure
// step on 2 cores, for files nothing loads. Python still compiles one if
// something ever imports it. release is safe to call more than once.
func skipTestsBytecode(root string) (release func() error, err error) {
	path := filepath.Join(root, testsBytecodePath)
	data, err := os.ReadFile(path)
	switch {
	case err == nil && !isOurTestsBytecode(data):
		return func() error { return nil }, nil
	case err == nil:
		// Ours, left by an interrupted run: adopt it.
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return nil, fmt.Errorf("skip test suites' bytecode: %w", err)
		}
		if err := atomicfile.Write(path, []byte(testsBytecode), atomicfile.Options{Mode: 0o644, NoReplace: true}); err != nil {
			return nil, fmt.Errorf("skip test suites' bytecode: %w", err)
		}
	default:
		return nil, fmt.Errorf("skip test suites' bytecode: %w", err)
	}
	return func() error { return releaseTestsBytecode(path) }, nil
}

func isOurTestsBytecode(data []byte) bool {
	return bytes.HasPrefix(data, []byte(testsBytecodeMarker))
}

func releaseTestsBytecode(path string) error {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("restore test suites' bytecode: %w", err)
	}
	if !isOurTestsBytecode(data) {
		return nil
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("restore test suites' bytecode: %w", err)
	}
	// The directory is dh-python's, but Debian ships none: leave none.
	_ = os.Remove(filepath.Dir(path))
	return nil
}
