package apt

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeRunner records commands and plays back a script per program.
type fakeRunner struct {
	mu    sync.Mutex
	calls []Command
	stdin []string
	play  func(c Command) error
}

func (f *fakeRunner) Run(_ context.Context, c Command) error {
	f.mu.Lock()
	f.calls = append(f.calls, c)
	if c.Stdin != nil {
		b, _ := io.ReadAll(c.Stdin)
		f.stdin = append(f.stdin, string(b))
	}
	f.mu.Unlock()
	if f.play == nil {
		return nil
	}
	return f.play(c)
}

type exitErr int

func (e exitErr) Error() string { return fmt.Sprintf("exit status %d", int(e)) }
func (e exitErr) ExitCode() int { return int(e) }

type freeLocks struct{}

func (freeLocks) Holder(string) (int, bool, error) { return 0, false, nil }

func readLines(t *testing.T, name string) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimRight(string(data), "\n"), "\n")
}

func TestParseStatusLine(t *testing.T) {
	tests := []struct {
		in   string
		want statusLine
		ok   bool
	}{
		{"dlstatus:2:19.9270:Retrieving file 2 of 3", statusLine{"dlstatus", "2", 19.927, "Retrieving file 2 of 3"}, true},
		{"pmstatus:hostname:60.0000:Configuring hostname (amd64)", statusLine{"pmstatus", "hostname", 60, "Configuring hostname (amd64)"}, true},
		// The message may itself contain colons.
		{"pmerror:nova-common:40.0000:error: x: y\n", statusLine{"pmerror", "nova-common", 40, "error: x: y"}, true},
		{"pmconffile:/etc/x:40.0000:'/etc/x' '/etc/x.dpkg-new' 1 1", statusLine{"pmconffile", "/etc/x", 40, "'/etc/x' '/etc/x.dpkg-new' 1 1"}, true},
		{"garbage", statusLine{}, false},
		{"pmstatus:x:notanumber:y", statusLine{}, false},
	}
	for _, tt := range tests {
		got, ok := parseStatusLine(tt.in)
		if ok != tt.ok || got != tt.want {
			t.Errorf("parseStatusLine(%q) = %+v, %v; want %+v, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

// The lines in testdata were captured on Debian 12 with apt 2.6.1:
// "apt-get install --download-only --reinstall jq libjq1 libonig5" and
// "apt-get install --reinstall hostname", each with APT::Status-Fd=3.
func TestTrackerOnCapturedDownload(t *testing.T) {
	var got []Progress
	tr := newTracker(func(p Progress) { got = append(got, p) })
	for _, l := range readLines(t, "output-download.txt") {
		tr.outputLine(l)
	}
	for _, l := range readLines(t, "status-download.txt") {
		tr.statusLine(l)
	}
	tr.finish(true)
	if len(got) != 12 {
		t.Fatalf("got %d progress reports, want 11 + final: %+v", len(got), got)
	}
	if p := got[6]; p.Phase != PhaseDownload || p.Done != 1 || p.Total != 3 || p.Percent != 19.927 {
		t.Errorf("report 7 = %+v", p)
	}
	if p := got[10]; p.Done != 3 || p.Total != 3 || p.Percent != 100 {
		t.Errorf("last download report = %+v", p)
	}
	pkgs := map[string]bool{}
	for _, p := range got {
		pkgs[p.Package] = true
	}
	for _, want := range []string{"jq", "libjq1", "libonig5"} {
		if !pkgs[want] {
			t.Errorf("no report names %s (from the Get: lines): %v", want, pkgs)
		}
	}
	for i := 1; i < len(got); i++ {
		if got[i].Percent < got[i-1].Percent {
			t.Errorf("percent went back: %v then %v", got[i-1].Percent, got[i].Percent)
		}
	}
}

func TestTrackerOnCapturedInstall(t *testing.T) {
	var got []Progress
	tr := newTracker(func(p Progress) { got = append(got, p) })
	for _, l := range readLines(t, "output-install.txt") {
		tr.outputLine(l)
	}
	for _, l := range readLines(t, "status-install.txt") {
		tr.statusLine(l)
	}
	tr.finish(false)
	var install []Progress
	for _, p := range got {
		if p.Phase == PhaseInstall {
			install = append(install, p)
		}
	}
	if len(install) != 10 {
		t.Fatalf("install reports = %d, want 9 + final: %+v", len(install), install)
	}
	if p := install[1]; p.Package != "hostname" || p.Done != 0 || p.Total != 1 || p.Message != "Preparing hostname (amd64)" {
		t.Errorf("first package report = %+v", p)
	}
	if p := install[0]; p.Package != "" {
		t.Errorf("dpkg-exec reported as a package: %+v", p)
	}
	if p := install[7]; p.Done != 1 || p.Total != 1 || p.Percent != 80 {
		t.Errorf("Installed report = %+v", p)
	}
	if p := install[9]; p.Percent != 100 || p.Done != 1 {
		t.Errorf("final report = %+v", p)
	}
	if f := tr.failed(); len(f) != 0 {
		t.Errorf("failures %v", f)
	}
}

func TestLineWriterSplitsOnCRAndLF(t *testing.T) {
	var lines []string
	w := &lineWriter{fn: func(s string) { lines = append(lines, s) }}
	for _, chunk := range []string{"Read", "ing 5%\rReading 10%\r\nDone\n", "partial"} {
		if _, err := w.Write([]byte(chunk)); err != nil {
			t.Fatal(err)
		}
	}
	w.flush()
	if want := []string{"Reading 5%", "Reading 10%", "Done", "partial"}; !reflect.DeepEqual(lines, want) {
		t.Errorf("lines = %q, want %q", lines, want)
	}
}

func TestInstallCommandLine(t *testing.T) {
	root := t.TempDir()
	f := &fakeRunner{}
	m := &Manager{Root: root, Runner: f, Locks: freeLocks{}, LockWait: time.Minute}
	err := m.Install(context.Background(), []string{"keystone", "nova-api"}, InstallOptions{
		Exclude: []string{"openvswitch-switch"},
		LogPath: "/var/log/stacklab/apt.log",
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(f.calls) != 1 {
		t.Fatalf("calls = %d", len(f.calls))
	}
	c := f.calls[0]
	want := []string{"-y", "-q", "-o", "APT::Status-Fd=3",
		"-o", "Dpkg::Options::=--force-confdef", "-o", "Dpkg::Options::=--force-confold",
		"-o", "DPkg::Lock::Timeout=59", "install", "keystone", "nova-api", "openvswitch-switch-"}
	// The lock timeout is what is left of LockWait: 59 or 60 seconds.
	if c.Name != "apt-get" || len(c.Args) != len(want) {
		t.Fatalf("command = %s %q", c.Name, c.Args)
	}
	for i := range want {
		if c.Args[i] != want[i] && !(strings.HasPrefix(want[i], "DPkg::Lock::Timeout=") && (c.Args[i] == "DPkg::Lock::Timeout=60")) {
			t.Errorf("arg %d = %q, want %q", i, c.Args[i], want[i])
		}
	}
	for _, e := range []string{"DEBIAN_FRONTEND=noninteractive", "LC_ALL=C.UTF-8"} {
		if !slices.Contains(c.Env, e) {
			t.Errorf("env lacks %s: %q", e, c.Env)
		}
	}
	if c.Status == nil {
		t.Error("no status channel")
	}
	if _, err := os.Stat(filepath.Join(root, "/var/log/stacklab/apt.log")); err != nil {
		t.Errorf("log not created under root: %v", err)
	}

	f.calls = nil
	if err := m.Install(context.Background(), []string{"hostname"}, InstallOptions{DownloadOnly: true, ArchivesDir: "/tmp/a", Reinstall: true, NoRecommends: true}); err != nil {
		t.Fatal(err)
	}
	args := strings.Join(f.calls[0].Args, " ")
	for _, w := range []string{"-o Dir::Cache::archives=/tmp/a", "--download-only", "--reinstall", "--no-install-recommends", "install hostname"} {
		if !strings.Contains(args, w) {
			t.Errorf("args %q lack %q", args, w)
		}
	}
}

// An unsafe-io install tells dpkg so and syncs once after apt, failed or
// not; a download-only run unpacks nothing and neither asks nor syncs.
func TestUnsafeIOInstallSyncsAfter(t *testing.T) {
	for _, tc := range []struct {
		name       string
		opts       InstallOptions
		fail       bool
		wantUnsafe bool
	}{
		{"install", InstallOptions{UnsafeIO: true}, false, true},
		{"failed install", InstallOptions{UnsafeIO: true}, true, true},
		{"download only", InstallOptions{UnsafeIO: true, DownloadOnly: true}, false, false},
		{"default", InstallOptions{}, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeRunner{}
			if tc.fail {
				f.play = func(Command) error { return errors.New("exit status 100") }
			}
			var synced []string
			m := &Manager{Root: t.TempDir(), Runner: f, Locks: freeLocks{}, LockWait: time.Minute,
				Sync: func() { synced = append(synced, fmt.Sprintf("after %d apt run(s)", len(f.calls))) }}
			err := m.Install(context.Background(), []string{"hostname"}, tc.opts)
			if (err != nil) != tc.fail {
				t.Fatalf("err = %v", err)
			}
			args := strings.Join(f.calls[0].Args, " ")
			if got := strings.Contains(args, "-o Dpkg::Options::=--force-unsafe-io install hostname"); got != tc.wantUnsafe {
				t.Errorf("args %q: unsafe-io %v, want %v", args, got, tc.wantUnsafe)
			}
			want := []string(nil)
			if tc.wantUnsafe {
				want = []string{"after 1 apt run(s)"}
			}
			if !slices.Equal(synced, want) {
				t.Errorf("syncs %q, want %q", synced, want)
			}
		})
	}
}

func TestPurgeCommandLine(t *testing.T) {
	f := &fakeRunner{}
	m := &Manager{Root: t.TempDir(), Runner: f, Locks: freeLocks{}, LockWait: time.Minute}
	if err := m.Purge(context.Background(), []string{"keystone", "mariadb-server"}, InstallOptions{}); err != nil {
		t.Fatal(err)
	}
	args := strings.Join(f.calls[0].Args, " ")
	if !strings.HasSuffix(args, "purge --autoremove keystone mariadb-server") || !strings.Contains(args, "APT::Status-Fd=3") {
		t.Errorf("purge args %q", args)
	}
	f.calls = nil
	if err := m.Purge(context.Background(), nil, InstallOptions{}); err != nil || len(f.calls) != 0 {
		t.Errorf("purging nothing ran apt-get: %v %v", f.calls, err)
	}
	if err := m.Purge(context.Background(), []string{"--force-all"}, InstallOptions{}); err == nil {
		t.Error("option-like package name accepted")
	}
}

func TestInstallRejectsOptionLikeNames(t *testing.T) {
	f := &fakeRunner{}
	m := &Manager{Runner: f, Locks: freeLocks{}}
	for _, bad := range [][]string{{"-o"}, {"--purge"}, {"Foo"}, {"a b"}, {""}} {
		if err := m.Install(context.Background(), bad, InstallOptions{}); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if err := m.Install(context.Background(), []string{"ok"}, InstallOptions{Exclude: []string{"--x"}}); err == nil {
		t.Error("option-like exclusion accepted")
	}
	if len(f.calls) != 0 {
		t.Errorf("apt-get ran: %v", f.calls)
	}
}

func TestInstallFailureCarriesTailAndPackage(t *testing.T) {
	root := t.TempDir()
	f := &fakeRunner{play: func(c Command) error {
		for i := 1; i <= 30; i++ {
			fmt.Fprintf(c.Output, "output line %d\n", i)
		}
		fmt.Fprintln(c.Output, "dpkg: error processing package nova-common (--configure):")
		fmt.Fprint(c.Status, "pmstatus:nova-common:40.0000:Configuring nova-common (all)\n")
		fmt.Fprint(c.Status, "pmerror:nova-common:40.0000:installed nova-common package post-installation script subprocess returned error exit status 1\n")
		return exitErr(100)
	}}
	m := &Manager{Root: root, Runner: f, Locks: freeLocks{}}
	var reports []Progress
	err := m.Install(context.Background(), []string{"nova-common"}, InstallOptions{
		LogPath:  "/var/log/stacklab/apt.log",
		Progress: func(p Progress) { reports = append(reports, p) },
	})
	var ce *CommandError
	if !errors.As(err, &ce) {
		t.Fatalf("err = %v, want *CommandError", err)
	}
	if ce.FailedPackage() != "nova-common" || ce.ExitCode != 100 {
		t.Errorf("failed package %q, exit %d", ce.FailedPackage(), ce.ExitCode)
	}
	if len(ce.Tail) != tailLines || ce.Tail[tailLines-1] != "dpkg: error processing package nova-common (--configure):" || ce.Tail[0] != "output line 12" {
		t.Errorf("tail = %q", ce.Tail)
	}
	msg := err.Error()
	for _, w := range []string{"package nova-common: installed nova-common package post-installation script", "/var/log/stacklab/apt.log", "output line 30"} {
		if !strings.Contains(msg, w) {
			t.Errorf("error lacks %q:\n%s", w, msg)
		}
	}
	var ec exitErr
	if !errors.As(err, &ec) {
		t.Error("exit error not reachable with errors.As")
	}
	logData, _ := os.ReadFile(filepath.Join(root, "/var/log/stacklab/apt.log"))
	if !strings.Contains(string(logData), "output line 1\n") || !strings.Contains(string(logData), "apt-get -y") {
		t.Errorf("log lacks the output or the command:\n%s", logData)
	}
	if len(reports) != 1 || reports[0].Package != "nova-common" {
		t.Errorf("progress = %+v", reports)
	}

	// A second run appends.
	_ = m.Install(context.Background(), []string{"nova-common"}, InstallOptions{LogPath: "/var/log/stacklab/apt.log"})
	logData2, _ := os.ReadFile(filepath.Join(root, "/var/log/stacklab/apt.log"))
	if !strings.HasPrefix(string(logData2), string(logData)) || len(logData2) <= len(logData) {
		t.Error("log not appended")
	}
}

func TestMissing(t *testing.T) {
	f := &fakeRunner{play: func(c Command) error {
		io.WriteString(c.Output, "hostname\thostname\tinstall ok installed\n"+
			"libc6:amd64\tlibc6\tinstall ok installed\n"+
			"held\theld\thold ok installed\n"+
			"broken\tbroken\tinstall reinstreq half-installed\n"+
			"removed\tremoved\tdeinstall ok config-files\n"+
			"dpkg-query: no packages found matching keystone\n")
		return exitErr(1)
	}}
	m := &Manager{Runner: f}
	got, err := m.Missing(context.Background(), []string{"hostname", "libc6", "libc6:amd64", "held", "broken", "removed", "keystone", "hostname=3.23+nmu1"})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"broken", "removed", "keystone"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Missing = %q, want %q", got, want)
	}
	c := f.calls[0]
	if c.Name != "dpkg-query" || c.Args[0] != "--show" || !strings.Contains(c.Args[1], "${Status}") {
		t.Errorf("command %s %q", c.Name, c.Args)
	}

	f.play = func(c Command) error {
		io.WriteString(c.Output, "dpkg-query: error: database is locked\n")
		return exitErr(2)
	}
	if _, err := m.Missing(context.Background(), []string{"x1"}); err == nil || !strings.Contains(err.Error(), "database is locked") {
		t.Errorf("exit 2: err = %v, want the failure with dpkg-query's message", err)
	}
}

func TestPreseed(t *testing.T) {
	root := t.TempDir()
	db := filepath.Join(root, DebconfDB)
	if err := os.MkdirAll(filepath.Dir(db), 0o755); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile("testdata/config.dat")
	if err != nil {
		t.Fatal(err)
	}
	// A keystone answer given by a previous run.
	data = append(data, "Name: keystone/configure_db\nTemplate: keystone/configure_db\nValue: false\nOwners: keystone\nFlags: seen\n\n"...)
	if err := os.WriteFile(db, data, 0o644); err != nil {
		t.Fatal(err)
	}
	f := &fakeRunner{}
	m := &Manager{Root: root, Runner: f}
	sels := []Selection{
		{"keystone", "keystone/configure_db", "boolean", "false"},
		{"tzdata", "tzdata/Areas", "select", "Etc"},
		{"keystone", "keystone/register-endpoint", "boolean", "false"},
		{"nova-common", "nova/my-ip", "string", "192.0.2.10"},
		{"debconf", "debconf/priority", "select", "critical"},
		{"keystone", "keystone/admin-password", "password", "x"},
	}
	changed, err := m.Preseed(context.Background(), sels)
	if err != nil || !changed {
		t.Fatalf("Preseed = %v, %v", changed, err)
	}
	want := "keystone keystone/register-endpoint boolean false\n" +
		"nova-common nova/my-ip string 192.0.2.10\n" +
		"debconf debconf/priority select critical\n" +
		"keystone keystone/admin-password password x\n"
	if len(f.stdin) != 1 || f.stdin[0] != want {
		t.Errorf("stdin = %q, want %q", f.stdin, want)
	}
	if f.calls[0].Name != "debconf-set-selections" {
		t.Errorf("ran %s", f.calls[0].Name)
	}

	f.calls, f.stdin = nil, nil
	changed, err = m.Preseed(context.Background(), sels[:2])
	if err != nil || changed || len(f.calls) != 0 {
		t.Errorf("already-held answers: changed=%v err=%v calls=%d", changed, err, len(f.calls))
	}

	for _, bad := range []Selection{
		{"", "a/b", "boolean", "true"},
		{"a", "noslash", "boolean", "true"},
		{"a", "a/b", "bool", "true"},
		{"a", "a/b", "boolean", "yes"},
		{"a", "a/b", "string", "two\nlines"},
	} {
		if _, err := m.Preseed(context.Background(), []Selection{bad}); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

func TestParseDebconfDB(t *testing.T) {
	data, err := os.ReadFile("testdata/config.dat")
	if err != nil {
		t.Fatal(err)
	}
	db := parseDebconfDB(data)
	if e := db["tzdata/Areas"]; e.value != "Etc" || !reflect.DeepEqual(e.owners, []string{"tzdata"}) {
		t.Errorf("tzdata/Areas = %+v", e)
	}
	if e := db["ca-certificates/enable_crts"]; !strings.HasPrefix(e.value, "mozilla/ACCVRAIZ1.crt") || len(e.value) < 4000 {
		t.Errorf("long value not read whole: %d bytes", len(e.value))
	}
	if e, ok := db["base-passwd/user-add"]; !ok || e.value != "" {
		t.Errorf("question without value = %+v, %v", e, ok)
	}
	if len(db) != 6 {
		t.Errorf("entries = %d, want 6", len(db))
	}
}

func TestNeedsUpdate(t *testing.T) {
	root := t.TempDir()
	now := time.Date(2025, 1, 2, 12, 0, 0, 0, time.UTC)
	need, err := NeedsUpdate(root, now, time.Hour)
	if err != nil || !need {
		t.Errorf("no lists: %v, %v", need, err)
	}
	dir := filepath.Join(root, "/var/lib/apt/lists")
	_ = os.MkdirAll(dir, 0o755)
	p := filepath.Join(dir, "deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages.lz4")
	if err := os.WriteFile(p, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		age  time.Duration
		want bool
	}{{30 * time.Minute, false}, {2 * time.Hour, true}} {
		if err := os.Chtimes(p, now.Add(-tt.age), now.Add(-tt.age)); err != nil {
			t.Fatal(err)
		}
		if need, err := NeedsUpdate(root, now, time.Hour); err != nil || need != tt.want {
			t.Errorf("age %v: %v, %v; want %v", tt.age, need, err, tt.want)
		}
	}
}

func TestUpdateCommandLine(t *testing.T) {
	f := &fakeRunner{}
	locks := &scriptedLocks{}
	m := &Manager{Root: "/r", Runner: f, Locks: locks}
	if err := m.Update(context.Background(), UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	args := f.calls[0].Args
	if args[len(args)-1] != "update" || !slices.Contains(args, "APT::Status-Fd=3") {
		t.Errorf("args %q", args)
	}
	if !reflect.DeepEqual(locks.paths, []string{"/r/var/lib/apt/lists/lock"}) {
		t.Errorf("locks probed %q", locks.paths)
	}
}

func TestExecRunnerStatusFD(t *testing.T) {
	var out, status strings.Builder
	err := ExecRunner{}.Run(context.Background(), Command{
		Name:   "/bin/sh",
		Args:   []string{"-c", `echo "$GREETING"; echo err >&2; echo "dlstatus:1:50.0:x" >&3; cat`},
		Env:    []string{"GREETING=hello"},
		Stdin:  strings.NewReader("from stdin\n"),
		Output: &syncBuilder{b: &out},
		Status: &syncBuilder{b: &status},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := out.String(); !strings.Contains(got, "hello\n") || !strings.Contains(got, "err\n") || !strings.Contains(got, "from stdin\n") {
		t.Errorf("output %q", got)
	}
	if status.String() != "dlstatus:1:50.0:x\n" {
		t.Errorf("status %q", status.String())
	}
	err = ExecRunner{}.Run(context.Background(), Command{Name: "/bin/sh", Args: []string{"-c", "exit 3"}, Output: io.Discard})
	if code, ok := exitCode(err); !ok || code != 3 {
		t.Errorf("exit code = %d, %v (err %v)", code, ok, err)
	}
}

type syncBuilder struct {
	mu sync.Mutex
	b  *strings.Builder
}

func (s *syncBuilder) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
