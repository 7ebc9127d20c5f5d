//go:build cloud

package identity_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/endpoints"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/projects"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/services"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/users"

	"github.com/stacklab/stacklab/installer/identity"
	"github.com/stacklab/stacklab/internal/cloud"
	"github.com/stacklab/stacklab/internal/cloud/cloudtest"
)

// Against the configured cloud (go test -tags cloud), with a throwaway
// project, user, service and endpoints of its own, removed afterwards: the
// lab's real entries are never touched.
func TestRealConvergeThrowaway(t *testing.T) {
	c := cloudtest.RequireCloud(t)
	client := c.IdentityAtAuthURL()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	suffix := randomHex(t, 4)
	name := "stacklab-e2e-" + suffix
	u, err := url.Parse(c.AuthURL)
	if err != nil {
		t.Fatal(err)
	}
	at := func(path string) string { return "http://" + net.JoinHostPort(u.Hostname(), "1") + path }
	spec := identity.Spec{
		DomainID:    "default",
		Region:      c.Region(),
		Projects:    []identity.Project{{Name: name, Description: "stacklab e2e test; safe to delete"}},
		Roles:       []string{identity.MemberRole},
		Users:       []identity.User{{Name: name, Password: cloud.Secret(randomHex(t, 16))}},
		Assignments: []identity.Assignment{{User: name, Project: name, Role: identity.MemberRole}},
		Services: []identity.Service{{Name: name, Type: "stacklab-e2e-" + suffix, Description: "stacklab e2e test",
			Endpoints: identity.Endpoints{Public: at("/a"), Internal: at("/a"), Admin: at("/a")}}},
	}
	t.Cleanup(func() { cleanup(t, client, name, spec.Services[0].Type) })

	dry, err := identity.Converge(ctx, client, spec, true)
	if err != nil {
		t.Fatalf("dry run: %v", err)
	}
	first, err := identity.Converge(ctx, client, spec, false)
	if err != nil {
		t.Fatalf("first converge: %v", err)
	}
	if !slices.Equal(dry.Changes, first.Changes) {
		t.Errorf("dry run %q differs from the real run %q", dry.Changes, first.Changes)
	}
	if len(first.Changes) < 6 {
		t.Errorf("first converge changes = %q", first.Changes)
	}
	second, err := identity.Converge(ctx, client, spec, false)
	if err != nil || len(second.Changes) != 0 {
		t.Fatalf("second converge: %q, %v; want no changes", second.Changes, err)
	}

	// Re-point the internal endpoint, as a moved management address would.
	spec.Services[0].Endpoints.Internal = at("/b")
	third, err := identity.Converge(ctx, client, spec, false)
	want := []string{"update endpoint " + name + " internal: " + at("/a") + " -> " + at("/b")}
	if err != nil || !slices.Equal(third.Changes, want) {
		t.Errorf("re-point: %q, %v; want %q", third.Changes, err, want)
	}
}

// With STACKLAB_MGMT_IP set (the e2e lab sets it), the lab's catalog must
// point only at the management address.
func TestRealCatalogOnMgmtAddress(t *testing.T) {
	c := cloudtest.RequireCloud(t)
	ip := os.Getenv("STACKLAB_MGMT_IP")
	if ip == "" {
		t.Skip("STACKLAB_MGMT_IP unset: no management address to check the catalog against")
	}
	eps, err := identity.ListEndpoints(context.Background(), c.IdentityAtAuthURL())
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range identity.Mismatches(eps, ip) {
		if !strings.HasPrefix(m.Service, "stacklab-e2e-") {
			t.Errorf("%s", m)
		}
	}
}

func randomHex(t *testing.T, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// cleanup deletes what TestRealConvergeThrowaway made, by its unique name.
func cleanup(t *testing.T, client *gophercloud.ServiceClient, name, typ string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if page, err := services.List(client, services.ListOpts{ServiceType: typ}).AllPages(ctx); err == nil {
		svcs, _ := services.ExtractServices(page)
		for _, s := range svcs {
			if page, err := endpoints.List(client, endpoints.ListOpts{ServiceID: s.ID}).AllPages(ctx); err == nil {
				eps, _ := endpoints.ExtractEndpoints(page)
				for _, e := range eps {
					if err := endpoints.Delete(ctx, client, e.ID).ExtractErr(); err != nil {
						t.Logf("cleanup: delete endpoint %s: %v", e.ID, err)
					}
				}
			}
			if err := services.Delete(ctx, client, s.ID).ExtractErr(); err != nil {
				t.Logf("cleanup: delete service %s: %v", s.ID, err)
			}
		}
	}
	if page, err := users.List(client, users.ListOpts{Name: name, DomainID: "default"}).AllPages(ctx); err == nil {
		us, _ := users.ExtractUsers(page)
		for _, u := range us {
			if err := users.Delete(ctx, client, u.ID).ExtractErr(); err != nil {
				t.Logf("cleanup: delete user %s: %v", u.ID, err)
			}
		}
	}
	if page, err := projects.List(client, projects.ListOpts{Name: name, DomainID: "default"}).AllPages(ctx); err == nil {
		ps, _ := projects.ExtractProjects(page)
		for _, p := range ps {
			if err := projects.Delete(ctx, client, p.ID).ExtractErr(); err != nil {
				t.Logf("cleanup: delete project %s: %v", p.ID, err)
			}
		}
	}
}
