package apt

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// These run against this machine's dpkg and apt (Debian). The download
// test fetches one small package from the configured mirror into a
// temporary directory; nothing is installed.

func requireTool(t *testing.T, name string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		t.Skipf("%s not available: not a Debian system", name)
	}
}

func TestRealMissing(t *testing.T) {
	requireTool(t, "dpkg-query")
	m := New("/")
	got, err := m.Missing(context.Background(), []string{"dpkg", "libc6", "libc6:amd64", "stacklab-no-such-package", "keystone"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"stacklab-no-such-package", "keystone"}
	if _, err := os.Stat("/usr/bin/keystone-manage"); err == nil {
		want = want[:1]
	}
	if !slices.Equal(got, want) {
		t.Errorf("Missing = %q, want %q", got, want)
	}
}

func TestRealDownloadReportsProgress(t *testing.T) {
	if testing.Short() {
		t.Skip("fetches a package from the mirror")
	}
	requireTool(t, "apt-get")
	if os.Geteuid() != 0 {
		t.Skip("apt-get --download-only needs root for its lock files")
	}
	archives := t.TempDir()
	if err := os.MkdirAll(filepath.Join(archives, "partial"), 0o755); err != nil {
		t.Fatal(err)
	}
	logRoot := t.TempDir()
	m := New(logRoot)
	m.LockWait = 2 * time.Minute
	var reports []Progress
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	err := m.Install(ctx, []string{"hostname"}, InstallOptions{
		DownloadOnly: true,
		Reinstall:    true,
		ArchivesDir:  archives,
		LogPath:      "/apt.log",
		Progress:     func(p Progress) { reports = append(reports, p) },
	})
	if err != nil {
		t.Fatal(err)
	}
	debs, _ := filepath.Glob(filepath.Join(archives, "hostname_*.deb"))
	if len(debs) != 1 {
		t.Errorf("archives: %v", debs)
	}
	if len(reports) < 2 {
		t.Fatalf("progress reports: %+v", reports)
	}
	// The package's name during a download comes from apt's "Get:" text
	// line, which travels on another pipe than the status lines: whether
	// it arrives first is a race (seen both ways), so the name is best
	// effort and only the count is asserted.
	var sawDone bool
	for _, p := range reports {
		if p.Phase != PhaseDownload {
			t.Errorf("install phase during a download: %+v", p)
		}
		if p.Package != "" && p.Package != "hostname" {
			t.Errorf("report names the wrong package: %+v", p)
		}
		sawDone = sawDone || (p.Total == 1 && p.Done == 1)
	}
	if !sawDone {
		t.Errorf("no report of 1 of 1 downloaded: %+v", reports)
	}
	if last := reports[len(reports)-1]; last.Percent != 100 {
		t.Errorf("last report %+v", last)
	}
	logData, err := os.ReadFile(filepath.Join(logRoot, "apt.log"))
	if err != nil || !strings.Contains(string(logData), "Get:1 ") || !strings.Contains(string(logData), "--download-only") {
		t.Errorf("log lacks the command or apt's output: %v\n%s", err, logData)
	}
}
