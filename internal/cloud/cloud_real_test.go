//go:build cloud

package cloud_test

import (
	"testing"

	"github.com/gophercloud/gophercloud/v2"

	"github.com/stacklab/stacklab/internal/cloud/cloudtest"
)

// Against the configured cloud (go test -tags cloud): authentication works
// and every service the lab runs is in the catalog for clouds.yaml's region
// (service clients come from the catalog alone, see catalogLocator).
func TestRealCloudServiceClients(t *testing.T) {
	c := cloudtest.RequireCloud(t)
	t.Logf("cloud %s from %s, auth %s, region %q", c.Name, c.File, c.AuthURL, c.Region())
	for name, get := range map[string]func() (*gophercloud.ServiceClient, error){
		"identity": c.Identity, "image": c.Image, "compute": c.Compute,
		"network": c.Network, "placement": c.Placement,
	} {
		sc, err := get()
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		t.Logf("%s: %s", name, sc.ResourceBaseURL())
	}
	if got := c.IdentityAtAuthURL().Endpoint; got == "" {
		t.Error("no identity client at the auth URL")
	}
}
