package apt

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
	// Only python3-jinja2 puts a file in the directory: without it
	// there is none, and none is left.
	return markedFile{
		path: testsBytecodePath, marker: testsBytecodeMarker, data: testsBytecode, mode: 0o644,
		removeEmptyDir: true, what: "skip test suites' bytecode",
	}.hold(root)
}
