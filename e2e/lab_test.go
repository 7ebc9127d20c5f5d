//go:build e2e

// Package e2e asserts, through the real APIs, that `stacklab install` built a
// working cloud in the end-to-end lab host. e2e/install.sh runs it on the
// machine, against the lab's management address on the veth it made.
package e2e

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/services"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/endpoints"
	idservices "github.com/gophercloud/gophercloud/v2/openstack/identity/v3/services"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/agents"
	"go.yaml.in/yaml/v3"

	"github.com/stacklab/stacklab/internal/cloud"
)

type lab struct {
	clouds   string // clouds.yaml copied out of the lab host
	mgmt     string // the lab's management address
	webRoot  string
	user     string
	password string
}

func labFromEnv(t *testing.T) lab {
	t.Helper()
	l := lab{
		clouds:  os.Getenv("STACKLAB_E2E_CLOUDS"),
		mgmt:    os.Getenv("STACKLAB_E2E_MGMT"),
		webRoot: "/horizon",
	}
	if l.clouds == "" || l.mgmt == "" {
		t.Skip("STACKLAB_E2E_CLOUDS and STACKLAB_E2E_MGMT are set by e2e/install.sh; run make e2e")
	}
	b, err := os.ReadFile(l.clouds)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Clouds map[string]struct {
			Auth struct {
				Username string `yaml:"username"`
				Password string `yaml:"password"`
			} `yaml:"auth"`
		} `yaml:"clouds"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("parse %s: %v", l.clouds, err)
	}
	c, ok := doc.Clouds["stacklab"]
	if !ok {
		t.Fatalf("%s has no stacklab cloud", l.clouds)
	}
	l.user, l.password = c.Auth.Username, c.Auth.Password
	return l
}

func open(t *testing.T, l lab) *cloud.Cloud {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := cloud.Open(ctx, cloud.Options{Cloud: "stacklab", CloudsFile: l.clouds})
	if err != nil {
		t.Fatalf("token: %v", err)
	}
	return c
}

// clients are the service clients the e2e tests read, from one login to
// the lab's cloud.
type clients struct{ compute, network, image *gophercloud.ServiceClient }

func openClients(t *testing.T) clients {
	t.Helper()
	c := open(t, labFromEnv(t))
	var cl clients
	var err error
	for _, s := range []struct {
		name string
		to   **gophercloud.ServiceClient
		get  func() (*gophercloud.ServiceClient, error)
	}{{"compute", &cl.compute, c.Compute}, {"network", &cl.network, c.Network}, {"image", &cl.image, c.Image}} {
		if *s.to, err = s.get(); err != nil {
			t.Fatalf("%s client: %v", s.name, err)
		}
	}
	return cl
}

func TestTokenAndCatalog(t *testing.T) {
	l := labFromEnv(t)
	c := open(t, l)
	ctx := context.Background()
	id, err := c.Identity()
	if err != nil {
		t.Fatal(err)
	}
	pages, err := idservices.List(id, idservices.ListOpts{}).AllPages(ctx)
	if err != nil {
		t.Fatalf("list services: %v", err)
	}
	svcs, err := idservices.ExtractServices(pages)
	if err != nil {
		t.Fatal(err)
	}
	typeOf := map[string]string{}
	for _, s := range svcs {
		typeOf[s.ID] = s.Type
	}
	pages, err = endpoints.List(id, endpoints.ListOpts{}).AllPages(ctx)
	if err != nil {
		t.Fatalf("list endpoints: %v", err)
	}
	eps, err := endpoints.ExtractEndpoints(pages)
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]int{}
	for _, e := range eps {
		u, err := url.Parse(e.URL)
		if err != nil {
			t.Errorf("endpoint %s: bad URL %q", e.ID, e.URL)
			continue
		}
		if u.Hostname() != l.mgmt {
			t.Errorf("%s %s endpoint %s is not on the management address %s", typeOf[e.ServiceID], e.Availability, e.URL, l.mgmt)
		}
		found[typeOf[e.ServiceID]]++
	}
	for _, typ := range []string{"identity", "image", "placement", "compute", "network"} {
		if found[typ] < 3 {
			t.Errorf("catalog has %d endpoints of type %s, want public, internal and admin", found[typ], typ)
		}
	}
	t.Logf("catalog: %v", found)
}

func TestComputeServicesUp(t *testing.T) {
	pages, err := services.List(openClients(t).compute, nil).AllPages(context.Background())
	if err != nil {
		t.Fatalf("list compute services: %v", err)
	}
	list, err := services.ExtractServices(pages)
	if err != nil {
		t.Fatal(err)
	}
	binaries := map[string]bool{}
	for _, s := range list {
		binaries[s.Binary] = true
		if s.State != "up" || s.Status != "enabled" {
			t.Errorf("%s on %s is %s/%s", s.Binary, s.Host, s.State, s.Status)
		}
	}
	for _, b := range []string{"nova-conductor", "nova-scheduler", "nova-compute"} {
		if !binaries[b] {
			t.Errorf("no %s service registered (have %v)", b, binaries)
		}
	}
}

func TestNetworkAgentsAlive(t *testing.T) {
	pages, err := agents.List(openClients(t).network, agents.ListOpts{}).AllPages(context.Background())
	if err != nil {
		t.Fatalf("list agents: %v", err)
	}
	list, err := agents.ExtractAgents(pages)
	if err != nil {
		t.Fatal(err)
	}
	types := map[string]bool{}
	for _, a := range list {
		types[a.AgentType] = true
		if !a.Alive || !a.AdminStateUp {
			t.Errorf("%s on %s: alive=%v admin_state_up=%v", a.AgentType, a.Host, a.Alive, a.AdminStateUp)
		}
	}
	// The layer-2 agent is the backend's: Linux bridge on Debian 12 by
	// default, Open vSwitch on Debian 13 (STACKLAB_E2E_L2_AGENT).
	l2 := os.Getenv("STACKLAB_E2E_L2_AGENT")
	if l2 == "" {
		l2 = "Linux bridge agent"
	}
	for _, typ := range []string{l2, "DHCP agent", "L3 agent", "Metadata agent"} {
		if !types[typ] {
			t.Errorf("no %s (have %v)", typ, types)
		}
	}
}

var csrfField = regexp.MustCompile(`name=["']csrfmiddlewaretoken["'] value=["']([^"']+)["']`)

// TestDashboardLogin logs in as a person would, many times: Horizon running
// outside its WSGI daemon process lost about one session in six, which a
// single login does not catch.
func TestDashboardLogin(t *testing.T) {
	l := labFromEnv(t)
	base := "http://" + l.mgmt + l.webRoot
	const logins = 12
	for i := range logins {
		jar, _ := cookiejar.New(nil)
		client := &http.Client{Jar: jar, Timeout: 30 * time.Second}
		resp, err := client.Get(base + "/auth/login/")
		if err != nil {
			t.Fatalf("login page: %v", err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("login page: HTTP %d", resp.StatusCode)
		}
		m := csrfField.FindSubmatch(body)
		if m == nil {
			t.Fatal("login page has no CSRF token")
		}
		form := url.Values{
			"csrfmiddlewaretoken": {string(m[1])},
			"region":              {"default"},
			"domain":              {"Default"},
			"username":            {l.user},
			"password":            {l.password},
		}
		req, _ := http.NewRequest(http.MethodPost, base+"/auth/login/", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Referer", base+"/auth/login/")
		resp, err = client.Do(req)
		if err != nil {
			t.Fatalf("login %d: %v", i, err)
		}
		resp.Body.Close()
		// Logged in, the next page must not bounce back to the login form.
		resp, err = client.Get(base + "/project/")
		if err != nil {
			t.Fatalf("login %d: project page: %v", i, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || strings.Contains(resp.Request.URL.Path, "/auth/login") {
			t.Fatalf("login %d of %d: ended at %s (HTTP %d): the session was not kept",
				i+1, logins, resp.Request.URL, resp.StatusCode)
		}
	}
	t.Logf("%d of %d logins kept their session", logins, logins)
}
