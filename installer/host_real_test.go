package installer

import (
	"context"
	"errors"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stacklab/stacklab/installer/identity"
	"github.com/stacklab/stacklab/installer/openstack"
	"github.com/stacklab/stacklab/internal/cloud"
	"github.com/stacklab/stacklab/internal/cloud/cloudtest"
)

func TestRootFiles(t *testing.T) {
	root := t.TempDir()
	f := RootFiles{Root: root}
	if err := f.WriteFile("/etc/x/new.conf", []byte("a\n"), Perm{Mode: 0o640}); err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(filepath.Join(root, "etc/x/new.conf"))
	if err != nil || info.Mode().Perm() != 0o640 {
		t.Fatalf("new file: %v %v", info, err)
	}
	// An existing file keeps its mode whatever perm says.
	if err := os.Chmod(filepath.Join(root, "etc/x/new.conf"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := f.WriteFile("/etc/x/new.conf", []byte("b\n"), Perm{Mode: 0o644}); err != nil {
		t.Fatal(err)
	}
	if info, _ := os.Stat(filepath.Join(root, "etc/x/new.conf")); info.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600 kept", info.Mode().Perm())
	}
	// A symlink is followed: its target changes, the link stays.
	if err := os.Symlink("new.conf", filepath.Join(root, "etc/x/link.ini")); err != nil {
		t.Fatal(err)
	}
	if err := f.WriteFile("/etc/x/link.ini", []byte("c\n"), Perm{}); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Lstat(filepath.Join(root, "etc/x/link.ini")); fi.Mode()&os.ModeSymlink == 0 {
		t.Error("symlink replaced by a file")
	}
	if b, _ := f.ReadFile("/etc/x/new.conf"); string(b) != "c\n" {
		t.Errorf("target holds %q", b)
	}
	// A dangling symlink exists; removing twice is fine.
	if err := os.Symlink("../nowhere", filepath.Join(root, "etc/x/dangling")); err != nil {
		t.Fatal(err)
	}
	if ok, err := f.Exists("/etc/x/dangling"); !ok || err != nil {
		t.Errorf("dangling link: exists=%v err=%v", ok, err)
	}
	for range 2 {
		if err := f.Remove("/etc/x/dangling"); err != nil {
			t.Error(err)
		}
	}
	if ok, _ := f.Exists("/etc/x/dangling"); ok {
		t.Error("still exists after Remove")
	}
}

func TestExecRunnerRedactsAndFeedsStdin(t *testing.T) {
	ctx := context.Background()
	out, err := ExecRunner{}.Run(ctx, Cmd{Argv: []string{"cat"}, Stdin: "SELECT 1;\n"})
	if err != nil || string(out) != "SELECT 1;\n" {
		t.Fatalf("cat: %q %v", out, err)
	}
	_, err = ExecRunner{}.Run(ctx, Cmd{
		Argv:   []string{"sh", "-c", "echo connecting with s3cret-pw >&2; exit 3", "s3cret-pw"},
		Redact: []string{"s3cret-pw"},
	})
	var ee *ExecError
	if !errors.As(err, &ee) || ee.ExitCode != 3 {
		t.Fatalf("err %v, want exit status 3", err)
	}
	if msg := err.Error(); strings.Contains(msg, "s3cret-pw") || !strings.Contains(msg, "connecting with [redacted]") {
		t.Errorf("error not redacted or lacks output:\n%s", msg)
	}
	if _, err := (ExecRunner{}).Run(ctx, Cmd{Argv: []string{"/nonexistent/prog"}}); !errors.As(err, &ee) || ee.ExitCode != -1 {
		t.Errorf("missing program: %v", err)
	}
}

func TestExecRunnerAsUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to switch users")
	}
	if _, err := exec.LookPath("runuser"); err != nil {
		t.Skip("no runuser")
	}
	out, err := ExecRunner{}.Run(context.Background(), Cmd{User: "nobody", Argv: []string{"id", "-un"}})
	if err != nil || strings.TrimSpace(string(out)) != "nobody" {
		t.Errorf("id -un as nobody: %q %v", out, err)
	}
}

func TestRealProberTCPAndHTTP(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/broken" {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	// A listener that accepts and never answers: keystone's deadlock.
	hang, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer hang.Close()

	pr := &realProber{timeout: 200 * time.Millisecond}
	ctx := context.Background()
	tests := []struct {
		p  openstack.Probe
		ok bool
	}{
		{openstack.Probe{Kind: openstack.ProbeTCP, Target: srv.Listener.Addr().String()}, true},
		{openstack.Probe{Kind: openstack.ProbeHTTP, Target: srv.URL + "/v3", Status: 200}, true},
		{openstack.Probe{Kind: openstack.ProbeHTTP, Target: srv.URL + "/broken"}, false},
		{openstack.Probe{Kind: openstack.ProbeHTTP, Target: "http://" + hang.Addr().String() + "/v3", Status: 200}, false},
		{openstack.Probe{Kind: "bogus"}, false},
	}
	for _, tt := range tests {
		start := time.Now()
		err := pr.Probe(ctx, tt.p, time.Time{})
		if (err == nil) != tt.ok {
			t.Errorf("%v: err %v, want ok=%v", tt.p, err, tt.ok)
		}
		if time.Since(start) > 5*time.Second {
			t.Errorf("%v took %s", tt.p, time.Since(start))
		}
	}
}

// TestCloudSeesEndpointsCreatedAfterItOpened: the keystone phase opens the
// cloud before identity.Converge creates the other services' endpoints, and
// gophercloud keeps the first token's catalog. Unless the cached cloud is
// dropped after a converge that changed things, the compute probe never
// finds compute (seen in the e2e lab: nova waited out its deadline).
func TestCloudSeesEndpointsCreatedAfterItOpened(t *testing.T) {
	k := cloudtest.NewKeystone(t)
	root := t.TempDir()
	r := &realCloud{root: root}
	entry := cloud.CloudEntry{
		AuthURL: k.AuthURL(), Username: cloudtest.AdminUser, Password: cloud.Secret(cloudtest.AdminPassword),
		ProjectName: cloudtest.AdminProject, UserDomainName: "Default", ProjectDomainName: "Default",
		RegionName: cloudtest.Region,
	}
	if _, err := r.WriteCredentials(entry, false); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	c, err := r.open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Compute(); err == nil {
		t.Fatal("compute found before it exists: the test proves nothing")
	}
	spec := identity.Spec{
		DomainID: "default", Region: cloudtest.Region,
		Services: []identity.Service{{Name: "nova", Type: "compute", Description: "Compute",
			Endpoints: identity.Endpoints{Public: "http://192.0.2.10:8774/v2.1", Internal: "http://192.0.2.10:8774/v2.1", Admin: "http://192.0.2.10:8774/v2.1"}}},
	}
	changes, err := r.ConvergeIdentity(ctx, entry, spec, false)
	if err != nil || len(changes) == 0 {
		t.Fatalf("converge: %v %v", changes, err)
	}
	c, err = r.open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Compute(); err != nil {
		t.Fatalf("compute endpoint created by converge not seen: %v", err)
	}
}

func TestDpkgVersions(t *testing.T) {
	out := "keystone\tinstalled\t2:27.0.0-3\n" +
		"nova-common\tconfig-files\t2:31.0.0-6\n" + // removed, its configuration kept
		"dpkg-query: no packages found matching glance-common\n" +
		"neutron-common\tinstalled\t2:26.0.0-9+deb13u1\n"
	got := dpkgVersions(out)
	want := map[string]string{"keystone": "2:27.0.0-3", "neutron-common": "2:26.0.0-9+deb13u1"}
	if !maps.Equal(got, want) {
		t.Errorf("dpkgVersions = %v, want %v", got, want)
	}
}

// This machine's dpkg: an installed package has its version, a name dpkg
// does not know is absent (dpkg-query exits 1 for it), in one query.
func TestRealPackagesVersions(t *testing.T) {
	if _, err := exec.LookPath("dpkg-query"); err != nil {
		t.Fatalf("dpkg-query: %v (the tests run on Debian)", err)
	}
	p := &realPackages{exec: ExecRunner{}}
	v, err := p.Versions(context.Background(), []string{"dpkg", "stacklab-no-such-package"})
	if err != nil {
		t.Fatal(err)
	}
	if v["dpkg"] == "" || len(v) != 1 {
		t.Errorf("versions %v, want dpkg's alone", v)
	}
}

// The compute probe after nova-compute (re)started: nova still calls the
// service up on its predecessor's last report for a minute, so only a
// report at or after the start passes. The nova API here is a stand-in:
// a real nova cannot be held between a restart and its first report.
func TestComputeProbeWantsAReportOfTheRunningProcess(t *testing.T) {
	k := cloudtest.NewKeystone(t)
	var updated string
	nova := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasSuffix(r.URL.Path, "/os-services") || r.URL.Query().Get("host") != "lab" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"services": [{"id": 1, "binary": "nova-compute", "host": "lab", "zone": "nova",
			"status": "enabled", "state": "up", "updated_at": `+updated+`}]}`)
	}))
	defer nova.Close()
	s := k.AddService("nova", "compute", "")
	for _, iface := range []string{"public", "internal", "admin"} {
		k.AddEndpoint(s, iface, cloudtest.Region, nova.URL+"/v2.1")
	}
	r := &realCloud{root: t.TempDir()}
	if _, err := r.WriteCredentials(cloud.CloudEntry{
		AuthURL: k.AuthURL(), Username: cloudtest.AdminUser, Password: cloud.Secret(cloudtest.AdminPassword),
		ProjectName: cloudtest.AdminProject, UserDomainName: "Default", ProjectDomainName: "Default", RegionName: cloudtest.Region,
	}, false); err != nil {
		t.Fatal(err)
	}
	pr := &realProber{timeout: 5 * time.Second, cloud: r}
	probe := openstack.Probe{Kind: openstack.ProbeComputeService, Target: "lab", Unit: openstack.ComputeUnit}
	start := time.Date(2026, 12, 7, 10, 0, 30, 500e6, time.UTC) // nova's updated_at has whole seconds
	tests := []struct {
		updated string
		since   time.Time
		wantErr string
	}{
		{`"2026-12-07T10:00:20.000000"`, start, "has not reported since it started at 10:00:30"},
		{`"2026-12-07T10:00:30.000000"`, start, ""}, // the same second: its own
		{`"2026-12-07T10:00:41.000000"`, start, ""},
		{`"2026-12-07T10:00:20.000000"`, time.Time{}, ""}, // start unknown: any report
		{`null`, start, ""}, // a record it created, not yet updated: nova calls it up on created_at
	}
	for _, tt := range tests {
		updated = tt.updated
		err := pr.Probe(context.Background(), probe, tt.since)
		if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("updated_at %s, start %v: %v, want %q", tt.updated, tt.since, err, tt.wantErr)
		}
	}
}
