package openstack

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stacklab/stacklab/internal/cloud"
	"github.com/stacklab/stacklab/internal/cloud/cloudtest"
)

// open returns the drivers over a cloud opened as the CLI opens one: the
// first call starts the fake keystone with this fake in its catalog and
// writes its clouds.yaml; every call shares them and one token cache, so a
// second open logs in no more than `stacklab run` run twice does.
func (f *fakeOpenStack) open(t *testing.T, o Options) *Cloud {
	t.Helper()
	for _, k := range []string{"OS_CLOUD", "OS_REGION_NAME", "OS_INTERFACE", "OS_CLIENT_CONFIG_FILE"} {
		t.Setenv(k, "")
	}
	f.mu.Lock()
	ks := f.ks
	f.mu.Unlock()
	if ks == nil {
		ks = cloudtest.NewKeystone(t)
		for _, s := range []struct{ name, typ, path string }{
			{"nova", "compute", "/compute/v2.1"}, {"neutron", "network", "/network"}, {"glance", "image", "/image"},
		} {
			id := ks.AddService(s.name, s.typ, "")
			ks.AddEndpoint(id, "public", cloudtest.Region, f.srv.URL+s.path)
		}
		dir := t.TempDir()
		f.cloudsFile, f.tokens = filepath.Join(dir, "clouds.yaml"), cloud.TokenDir(filepath.Join(dir, "tokens"))
		if _, err := cloud.WriteCloudsYAML("", f.cloudsFile, cloud.CloudEntry{
			AuthURL: ks.AuthURL(), Username: cloudtest.AdminUser, Password: cloudtest.AdminPassword,
			ProjectName: cloudtest.AdminProject, UserDomainName: "Default", ProjectDomainName: "Default", RegionName: cloudtest.Region,
		}); err != nil {
			t.Fatal(err)
		}
		f.mu.Lock()
		f.ks = ks
		f.mu.Unlock()
	}
	hc := cloudtest.LoopbackClient()
	c, err := cloud.Open(context.Background(), cloud.Options{CloudsFile: f.cloudsFile, HTTPClient: &hc, Tokens: f.tokens})
	if err != nil {
		t.Fatalf("open fake cloud: %v", err)
	}
	if o.PollInterval == 0 {
		o.PollInterval = time.Millisecond
	}
	return New(c, o)
}
