package doctor

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/stacklab/stacklab/checks"
	"github.com/stacklab/stacklab/internal/cloud"
	"github.com/stacklab/stacklab/internal/cloud/cloudtest"
)

// countingTransport records every request doctor sends, "METHOD /path".
type countingTransport struct {
	next http.RoundTripper
	mu   sync.Mutex
	reqs []string
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.mu.Lock()
	c.reqs = append(c.reqs, r.Method+" "+r.URL.Path)
	c.mu.Unlock()
	return c.next.RoundTrip(r)
}

// take returns the requests recorded since the last call.
func (c *countingTransport) take() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.reqs
	c.reqs = nil
	sort.Strings(out)
	return out
}

// healthyAPIs answers what doctor's API checks read on a healthy lab.
func healthyAPIs(w http.ResponseWriter, r *http.Request) {
	body := map[string]string{
		"/image/v2/images":                              `{"images":[]}`,
		"/placement/resource_providers":                 `{"resource_providers":[{"uuid":"rp1","name":"lab"}]}`,
		"/placement/resource_providers/rp1/inventories": `{"resource_provider_generation":1,"inventories":{"VCPU":{"total":2},"MEMORY_MB":{"total":4096},"DISK_GB":{"total":40}}}`,
		"/compute/v2.1/flavors":                         `{"flavors":[]}`,
		"/compute/v2.1/os-services":                     `{"services":[{"id":1,"binary":"nova-compute","host":"lab","status":"enabled","state":"up"},{"id":2,"binary":"nova-conductor","host":"lab","status":"enabled","state":"up"}]}`,
		"/network/v2.0/extensions":                      `{"extensions":[]}`,
		"/compute/v2.1/servers/detail":                  `{"servers":[]}`,
		"/vnc_auto.html":                                `<html>noVNC</html>`,
		"/network/v2.0/agents":                          `{"agents":[{"id":"a1","agent_type":"Linux bridge agent","binary":"neutron-linuxbridge-agent","host":"lab","alive":true,"admin_state_up":true}]}`,
	}[r.URL.Path]
	if body == "" {
		// An endpoint's root, as the catalog probe reads it: any answer.
		w.WriteHeader(http.StatusMultipleChoices)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, body)
}

// apiWorld is the healthy world with a cloud behind it: a fake keystone
// whose catalog lists glance, placement, nova and neutron with their three
// interfaces each (as the install registers them), all answering.
func apiWorld(t *testing.T) (*world, *cloudtest.Keystone, *countingTransport) {
	t.Helper()
	return apiWorldWith(t, nil)
}

// apiWorldWith is apiWorld whose APIs answer the paths in override their
// own way.
func apiWorldWith(t *testing.T, override map[string]http.HandlerFunc) (*world, *cloudtest.Keystone, *countingTransport) {
	t.Helper()
	w := newWorld(t)
	apis := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if h, ok := override[r.Method+" "+r.URL.Path]; ok {
			h(rw, r)
			return
		}
		healthyAPIs(rw, r)
	}))
	t.Cleanup(apis.Close)
	k := cloudtest.NewKeystone(t)
	for _, s := range []struct{ name, typ, path string }{
		{"glance", "image", "/image"}, {"placement", "placement", "/placement"},
		{"nova", "compute", "/compute/v2.1"}, {"neutron", "network", "/network"},
	} {
		id := k.AddService(s.name, s.typ, "")
		for _, iface := range []string{"public", "internal", "admin"} {
			k.AddEndpoint(id, iface, cloudtest.Region, apis.URL+s.path)
		}
	}
	file := filepath.Join(t.TempDir(), "clouds.yaml")
	if _, err := cloud.WriteCloudsYAML("", file, cloud.CloudEntry{
		AuthURL: k.AuthURL(), Username: cloudtest.AdminUser, Password: cloudtest.AdminPassword,
		ProjectName: cloudtest.AdminProject, UserDomainName: "Default", ProjectDomainName: "Default", RegionName: cloudtest.Region,
	}); err != nil {
		t.Fatal(err)
	}
	ct := &countingTransport{next: w.deps.HTTP.Transport}
	w.deps.HTTP = &http.Client{Transport: ct}
	tokens := cloud.TokenDir(filepath.Join(t.TempDir(), "tokens"))
	w.deps.Cloud = func(ctx context.Context) (*cloud.Cloud, error) {
		return cloud.Open(ctx, cloud.Options{CloudsFile: file, HTTPClient: &http.Client{Transport: ct}, Tokens: tokens})
	}
	files := w.deps.Host.(fakeHost).files
	w.deps.Host = fakeHost{files: files, run: func(name string, args ...string) ([]byte, error) {
		if name == "mysql" && strings.Contains(strings.Join(args, " "), "host_mappings") {
			return []byte("lab\n"), nil
		}
		return fakeHost{files: files}.Run(context.Background(), name, args...)
	}}
	// The management address is the loopback the fakes listen on.
	w.cfg.MgmtIP = "127.0.0.1"
	w.cfg.ConsoleURL = apis.URL + "/vnc_auto.html"
	return w, k, ct
}

func (w *world) runAll(t *testing.T) checks.Report {
	t.Helper()
	rep, err := checks.Run(context.Background(), Checks(w.cfg, w.deps), checks.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Failed() {
		var b strings.Builder
		_ = rep.WriteText(&b, checks.TextOptions{Verbose: true})
		t.Fatalf("healthy world failed:\n%s", b.String())
	}
	return rep
}

// healthyRequests is what doctor may send on a healthy lab once its token
// is cached. Before issue 16 the same run sent 45 and a login (and a
// version-discovery GET per service client made, 9, before that): each of
// the 15 catalog endpoints probed although 5 URLs are distinct, nova's
// service list read by three checks, placement's providers by two, the
// login page and keystone's version document twice. What is left:
// keystone's version, its live catalog (which proves the cached token),
// one probe per distinct endpoint URL, one authenticated read per API
// (placement's is its providers, nova's its services, which
// compute-services grades), the provider's inventory, neutron's agents, the noVNC page (the running guests are
// read from libvirt's status files), the login page and its two assets,
// and the dashboard logins (3 tries of 3 requests: the form, the POST and
// Horizon's REST view of the session, to catch one lost now and then; the
// first starts with the run and reads the form the page check grades, the
// second posts back that form too).
const healthyRequests = 25

// timesSent is how many of reqs are exactly want.
func timesSent(reqs []string, want string) int {
	n := 0
	for _, r := range reqs {
		if r == want {
			n++
		}
	}
	return n
}

// TestHealthyDoctorRequestCount pins the requests of a healthy run: one
// login for the first run, none for the next (the token is cached), and
// each URL probed once however many checks or catalog entries name it.
func TestHealthyDoctorRequestCount(t *testing.T) {
	w, k, ct := apiWorld(t)
	w.runAll(t)
	ct.take()
	if n := k.Logins(); n != 1 {
		t.Errorf("first run: %d logins, want 1 for every API check", n)
	}
	k.ResetRequests()

	w.runAll(t)
	reqs := ct.take()
	if len(reqs) > healthyRequests {
		t.Errorf("a healthy run sent %d requests, want at most %d:\n  %s", len(reqs), healthyRequests, strings.Join(reqs, "\n  "))
	}
	if n := k.Logins(); n != 0 {
		t.Errorf("second run: %d logins, want 0 (the cached token)", n)
	}
	for _, path := range []string{"GET /image", "GET /placement", "GET /network", "GET /compute/v2.1", "GET /v3/", "GET /v3", "GET /v3/auth/catalog",
		"GET /compute/v2.1/os-services", "GET /placement/resource_providers", "GET /horizon/static/a.css"} {
		if n := timesSent(reqs, path); n != 1 {
			t.Errorf("%s: %d times, want once", path, n)
		}
	}
	// One render of the login form for the page check and the first two
	// logins, one for the third.
	if n := timesSent(reqs, "GET /horizon/auth/login/"); n != 2 {
		t.Errorf("GET /horizon/auth/login/: %d times, want 2", n)
	}
	// The admin listings the live catalog replaced, nova's instance
	// list the status files replaced, and the flavor its service list
	// replaced.
	for _, path := range []string{"GET /v3/services", "GET /v3/endpoints", "GET /v3/auth/projects", "GET /compute/v2.1/servers/detail", "GET /compute/v2.1/flavors"} {
		if n := timesSent(reqs, path); n != 0 {
			t.Errorf("%s: %d times, want none", path, n)
		}
	}
}

// A URL shared between checks is still answered to each: a dead endpoint
// fails the catalog check and the keystone check alike.
func TestSharedProbeFailsEveryAsker(t *testing.T) {
	w, _, _ := apiWorld(t)
	dead := httptest.NewServer(http.NotFoundHandler())
	url := dead.URL + "/v3"
	dead.Close()
	w.cfg.KeystoneURL = url
	dr := &doctor{cfg: w.cfg, d: w.deps}
	for range 2 {
		if _, _, err := dr.get(context.Background(), url+"/", nil); err == nil {
			t.Error("GET of a closed port succeeded")
		}
	}
	if r := dr.checkKeystone(context.Background()); r.Status != checks.Fail {
		t.Errorf("keystone check on the shared failed GET: %s %s", r.Status, r.Summary)
	}
}

// A cached token does not hide a password keystone no longer takes:
// keystone revokes the user's tokens when the password changes, and the
// keystone-auth check asks keystone about the cached one.
func TestCachedTokenDoesNotHideChangedPassword(t *testing.T) {
	w, k, _ := apiWorld(t)
	w.runAll(t)
	admin, _ := k.UserByName(cloudtest.AdminUser)
	k.SetPassword(admin.ID, "changed-in-keystone")
	k.RevokeTokens()
	rep, err := checks.Run(context.Background(), Checks(w.cfg, w.deps), checks.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if e, _ := rep.Get(IDKeystoneAuth); e.Status != checks.Fail || !strings.Contains(e.Summary, "refuses the admin credentials") {
		t.Errorf("keystone-auth = %s %q, want it to fail on the credentials", e.Status, e.Summary)
	}
}

// A user nova does not let list its services (not an admin, on --cloud):
// the nova check asks for a flavor instead and passes, and
// compute-services alone says it cannot list them.
func TestNovaCheckAsksAFlavorWhereServicesAreForbidden(t *testing.T) {
	w, _, ct := apiWorldWith(t, map[string]http.HandlerFunc{
		"GET /compute/v2.1/os-services": func(rw http.ResponseWriter, _ *http.Request) {
			rw.WriteHeader(http.StatusForbidden)
		},
	})
	rep, err := checks.Run(context.Background(), Checks(w.cfg, w.deps), checks.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if e, _ := rep.Get(IDNova); e.Status != checks.OK || !strings.Contains(strings.Join(e.Evidence, " "), "/compute/v2.1/flavors") {
		t.Errorf("nova: %s %q %v, want a pass on a flavor", e.Status, e.Summary, e.Evidence)
	}
	if e, _ := rep.Get(IDComputeServices); e.Status != checks.Fail || !strings.Contains(e.Summary, "cannot list compute services") {
		t.Errorf("compute-services: %s %q, want it to say it cannot list them", e.Status, e.Summary)
	}
	reqs := ct.take()
	if n := timesSent(reqs, "GET /compute/v2.1/os-services"); n != 1 {
		t.Errorf("os-services asked %d times, want once", n)
	}
}
