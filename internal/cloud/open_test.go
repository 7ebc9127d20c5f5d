package cloud_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"

	"github.com/stacklab/stacklab/internal/cloud"
	"github.com/stacklab/stacklab/internal/cloud/cloudtest"
)

// cleanEnv keeps the developer's own OpenStack environment out of the test.
func cleanEnv(t *testing.T) {
	for _, k := range []string{"OS_CLOUD", "OS_REGION_NAME", "OS_INTERFACE", "OS_CLIENT_CONFIG_FILE"} {
		t.Setenv(k, "")
	}
}

// labKeystone is a fake keystone whose catalog also lists the lab's other
// services, as after a full install. Their endpoints point at a loopback
// server that only answers version discovery, which Open's clients must
// never ask for (see TestServiceClientsMakeNoRequest).
func labKeystone(t *testing.T) *cloudtest.Keystone {
	k, _ := labKeystoneCounting(t)
	return k
}

// labKeystoneCounting is labKeystone and the number of requests the
// services' endpoints received.
func labKeystoneCounting(t *testing.T) (*cloudtest.Keystone, *atomic.Int64) {
	var served atomic.Int64
	versions := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		id := map[string]string{"/image/": "v2.16", "/network/": "v2.0", "/placement/": "v1.0"}[r.URL.Path]
		if id == "" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"versions":[{"id":%q,"status":"CURRENT","links":[]}]}`, id)
	}))
	t.Cleanup(versions.Close)

	k := cloudtest.NewKeystone(t)
	for _, s := range []struct{ name, typ, url string }{
		{"glance", "image", versions.URL + "/image"},
		{"nova", "compute", versions.URL + "/v2.1"},
		{"neutron", "network", versions.URL + "/network"},
		{"placement", "placement", versions.URL + "/placement"},
	} {
		id := k.AddService(s.name, s.typ, "")
		for _, iface := range []string{"public", "internal", "admin"} {
			k.AddEndpoint(id, iface, cloudtest.Region, s.url)
		}
	}
	return k, &served
}

// opts keeps every test's traffic on loopback.
func opts(file string) cloud.Options {
	return cloud.Options{CloudsFile: file, HTTPClient: loopback()}
}

func loopback() *http.Client {
	c := cloudtest.LoopbackClient()
	return &c
}

func adminEntry(k *cloudtest.Keystone) cloud.CloudEntry {
	return cloud.CloudEntry{
		AuthURL:           k.AuthURL(),
		Username:          cloudtest.AdminUser,
		Password:          cloudtest.AdminPassword,
		ProjectName:       cloudtest.AdminProject,
		UserDomainName:    "Default",
		ProjectDomainName: "Default",
		RegionName:        cloudtest.Region,
	}
}

// writeClouds writes a clouds.yaml holding entry (through WriteCloudsYAML,
// so the writer and Open are tested against each other).
func writeClouds(t *testing.T, entry cloud.CloudEntry) string {
	t.Helper()
	file := filepath.Join(t.TempDir(), "clouds.yaml")
	if _, err := cloud.WriteCloudsYAML("", file, entry); err != nil {
		t.Fatal(err)
	}
	return file
}

func TestOpenAndServiceClients(t *testing.T) {
	cleanEnv(t)
	k := labKeystone(t)
	file := writeClouds(t, adminEntry(k))

	c, err := cloud.Open(context.Background(), opts(file))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if c.Name != cloud.DefaultCloudName || c.Region() != cloudtest.Region || c.File != file {
		t.Errorf("cloud = %q region %q file %q", c.Name, c.Region(), c.File)
	}
	for _, tc := range []struct {
		name string
		get  func() (*gophercloud.ServiceClient, error)
		want string
	}{
		{"identity", c.Identity, k.AuthURL()},
		{"image", c.Image, "/image/v2/"},
		{"compute", c.Compute, "/v2.1/"},
		{"network", c.Network, "/network/v2.0/"},
		{"placement", c.Placement, "/placement/"},
	} {
		sc, err := tc.get()
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if got := sc.ResourceBaseURL(); !strings.HasSuffix(got, tc.want) || !strings.HasPrefix(got, "http://127.0.0.1:") {
			t.Errorf("%s endpoint = %q, want loopback …%q", tc.name, got, tc.want)
		}
	}
}

// A service client comes straight from the catalog: no version discovery
// GET (one per service on every run), and keystone is asked once, for the
// token.
func TestServiceClientsMakeNoRequest(t *testing.T) {
	cleanEnv(t)
	k, served := labKeystoneCounting(t)
	file := writeClouds(t, adminEntry(k))
	c, err := cloud.Open(context.Background(), opts(file))
	if err != nil {
		t.Fatal(err)
	}
	k.ResetRequests()
	for _, get := range []func() (*gophercloud.ServiceClient, error){c.Identity, c.Image, c.Compute, c.Network, c.Placement} {
		if _, err := get(); err != nil {
			t.Fatal(err)
		}
	}
	if n := served.Load(); n != 0 {
		t.Errorf("making the service clients sent %d requests to the services, want 0", n)
	}
	if reqs := k.Requests(); len(reqs) != 0 {
		t.Errorf("making the service clients sent %v to keystone, want nothing", reqs)
	}
}

func TestIdentityAtAuthURL(t *testing.T) {
	cleanEnv(t)
	k := labKeystone(t)
	file := writeClouds(t, adminEntry(k))
	c, err := cloud.Open(context.Background(), opts(file))
	if err != nil {
		t.Fatal(err)
	}
	// Even with the catalog's identity endpoints pointing elsewhere.
	for _, e := range k.Snapshot().Endpoints {
		if e.URL == k.AuthURL() {
			k.SetEndpointURL(e.ID, "http://192.0.2.1:5000/v3/")
		}
	}
	if got := c.IdentityAtAuthURL().Endpoint; got != k.AuthURL() {
		t.Errorf("endpoint = %q, want %q", got, k.AuthURL())
	}
}

func TestOpenCloudNameFromEnv(t *testing.T) {
	cleanEnv(t)
	k := labKeystone(t)
	e := adminEntry(k)
	e.Name = "mylab"
	file := writeClouds(t, e)
	t.Setenv("OS_CLOUD", "mylab")

	c, err := cloud.Open(context.Background(), opts(file))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if c.Name != "mylab" {
		t.Errorf("name = %q, want mylab (from OS_CLOUD)", c.Name)
	}
}

func TestOpenNoCloudsFile(t *testing.T) {
	cleanEnv(t)
	missing := filepath.Join(t.TempDir(), "nope", "clouds.yaml")
	t.Setenv("OS_CLIENT_CONFIG_FILE", missing)

	_, err := cloud.Open(context.Background(), cloud.Options{HTTPClient: loopback()})
	var nf *cloud.NoCloudsFileError
	if !errors.As(err, &nf) {
		t.Fatalf("err = %v, want NoCloudsFileError", err)
	}
	if !slices.Equal(nf.Searched, []string{missing}) {
		t.Errorf("searched %v", nf.Searched)
	}
	for _, want := range []string{missing, "stacklab install", "OS_CLIENT_CONFIG_FILE", "OS_CLOUD", "--cloud NAME"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

func TestSearchPaths(t *testing.T) {
	cleanEnv(t)
	dir := t.TempDir()
	t.Chdir(dir)
	t.Setenv("XDG_CONFIG_HOME", "/xdg")
	want := []string{filepath.Join(dir, "clouds.yaml"), "/xdg/openstack/clouds.yaml", "/etc/openstack/clouds.yaml"}
	if got := cloud.SearchPaths(); !slices.Equal(got, want) {
		t.Errorf("SearchPaths() = %v, want %v", got, want)
	}
	t.Setenv("XDG_CONFIG_HOME", "")
	t.Setenv("HOME", "/home/u")
	if got := cloud.SearchPaths()[1]; got != "/home/u/.config/openstack/clouds.yaml" {
		t.Errorf("user path = %q", got)
	}
	t.Setenv("OS_CLIENT_CONFIG_FILE", "/x/c.yaml")
	if got := cloud.SearchPaths(); !slices.Equal(got, []string{"/x/c.yaml"}) {
		t.Errorf("with OS_CLIENT_CONFIG_FILE: %v", got)
	}
}

func TestOpenUnknownCloud(t *testing.T) {
	cleanEnv(t)
	k := labKeystone(t)
	file := writeClouds(t, adminEntry(k))
	e := adminEntry(k)
	e.Name = "other"
	if _, err := cloud.WriteCloudsYAML("", file, e); err != nil {
		t.Fatal(err)
	}

	_, err := cloud.Open(context.Background(), cloud.Options{Cloud: "prod", CloudsFile: file, HTTPClient: loopback()})
	var uc *cloud.UnknownCloudError
	if !errors.As(err, &uc) {
		t.Fatalf("err = %v, want UnknownCloudError", err)
	}
	if !slices.Equal(uc.Known, []string{"other", "stacklab"}) {
		t.Errorf("known = %v", uc.Known)
	}
	if !strings.Contains(err.Error(), "other, stacklab") || !strings.Contains(err.Error(), `"prod"`) {
		t.Errorf("error %q should name the cloud and list the file's clouds", err)
	}
}

func TestOpenWrongPassword(t *testing.T) {
	cleanEnv(t)
	k := labKeystone(t)
	e := adminEntry(k)
	e.Password = "wrong-Pa55word"
	file := writeClouds(t, e)

	_, err := cloud.Open(context.Background(), opts(file))
	var ae *cloud.AuthError
	if !errors.As(err, &ae) {
		t.Fatalf("err = %v, want AuthError", err)
	}
	if !gophercloud.ResponseCodeIs(err, http.StatusUnauthorized) {
		t.Errorf("the 401 should stay reachable through errors.As: %v", err)
	}
	msg := err.Error()
	if strings.Contains(msg, "wrong-Pa55word") {
		t.Errorf("error leaks the password: %s", msg)
	}
	for _, want := range []string{"credentials", k.AuthURL(), file} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q lacks %q", msg, want)
		}
	}
}

func TestOpenConnectionRefused(t *testing.T) {
	cleanEnv(t)
	// A port that was just listening and is now closed: refused, on loopback.
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL + "/v3/"
	srv.Close()
	e := adminEntry(cloudtest.NewKeystone(t))
	e.AuthURL = url
	file := writeClouds(t, e)

	_, err := cloud.Open(context.Background(), opts(file))
	var ue *cloud.UnreachableError
	if !errors.As(err, &ue) {
		t.Fatalf("err = %v, want UnreachableError", err)
	}
	for _, want := range []string{url, "stacklab doctor"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

// A keystone that accepts connections and never answers (the uwsgi worker
// deadlock seen on these hosts) must fail, not hang.
func TestOpenKeystoneNeverAnswers(t *testing.T) {
	cleanEnv(t)
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })
	e := adminEntry(cloudtest.NewKeystone(t))
	e.AuthURL = srv.URL + "/v3/"
	file := writeClouds(t, e)

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err := cloud.Open(ctx, opts(file))
	var ue *cloud.UnreachableError
	if !errors.As(err, &ue) {
		t.Fatalf("err = %v, want UnreachableError", err)
	}
}

func TestServiceClientWrongRegionCase(t *testing.T) {
	cleanEnv(t)
	k := labKeystone(t)
	e := adminEntry(k)
	e.RegionName = "regionOne" // Debian's shipped default, wrong here
	file := writeClouds(t, e)

	c, err := cloud.Open(context.Background(), opts(file))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	_, err = c.Image()
	var nf *gophercloud.ErrEndpointNotFound
	if !errors.As(err, &nf) {
		t.Fatalf("err = %v, want ErrEndpointNotFound", err)
	}
	for _, want := range []string{`"regionOne"`, "RegionOne", "case-sensitive", file} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

func TestOpenRejectsUnreadableYAML(t *testing.T) {
	cleanEnv(t)
	file := filepath.Join(t.TempDir(), "clouds.yaml")
	if err := os.WriteFile(file, []byte("clouds: [\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := cloud.Open(context.Background(), opts(file))
	if err == nil || !strings.Contains(err.Error(), file) {
		t.Fatalf("err = %v, want a parse error naming %s", err, file)
	}
}

func ExampleShellQuote() {
	fmt.Println(cloud.ShellQuote(`it's $HOME`))
	// Output: 'it'\''s $HOME'
}

// Without version discovery a dead service is no longer seen when its
// client is made: it shows on the first request, naming the endpoint.
func TestDeadServiceShowsOnFirstRequest(t *testing.T) {
	cleanEnv(t)
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL + "/network"
	dead.Close()
	k := cloudtest.NewKeystone(t)
	id := k.AddService("neutron", "network", "")
	k.AddEndpoint(id, "public", cloudtest.Region, deadURL)
	c, err := cloud.Open(context.Background(), opts(writeClouds(t, adminEntry(k))))
	if err != nil {
		t.Fatal(err)
	}
	sc, err := c.Network()
	if err != nil {
		t.Fatalf("client for a dead endpoint: %v (made from the catalog, it needs no answer)", err)
	}
	resp, err := sc.Get(context.Background(), sc.ServiceURL("networks"), nil, nil)
	if resp != nil {
		_ = resp.Body.Close()
	}
	if err == nil || !strings.Contains(err.Error(), deadURL) {
		t.Errorf("first request to a dead neutron: %v, want an error naming %s", err, deadURL)
	}
}
