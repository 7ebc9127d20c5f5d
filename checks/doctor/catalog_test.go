package doctor

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stacklab/stacklab/checks"
	"github.com/stacklab/stacklab/internal/cloud"
	"github.com/stacklab/stacklab/internal/cloud/cloudtest"
)

// TestCatalogAgainstFakeKeystone: a token from clouds.yaml, then every
// endpoint on the management address and answering; an endpoint moved to a
// dead address is the root cause and --fix plans the re-point.
func TestCatalogAgainstFakeKeystone(t *testing.T) {
	k := cloudtest.NewKeystone(t)
	glance := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusMultipleChoices)
	}))
	defer glance.Close()
	svc := k.AddService("glance", "image", "")
	ep := k.AddEndpoint(svc, "public", cloudtest.Region, glance.URL)

	file := filepath.Join(t.TempDir(), "clouds.yaml")
	yaml := "clouds:\n  lab:\n    auth:\n      auth_url: " + k.AuthURL() + "\n      username: " + cloudtest.AdminUser +
		"\n      password: " + cloudtest.AdminPassword + "\n      project_name: " + cloudtest.AdminProject +
		"\n      user_domain_id: default\n      project_domain_id: default\n    region_name: " + cloudtest.Region + "\n"
	if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	hc := cloudtest.LoopbackClient()
	deps := Deps{HTTP: &hc, Cloud: func(ctx context.Context) (*cloud.Cloud, error) {
		return cloud.Open(ctx, cloud.Options{Cloud: "lab", CloudsFile: file, HTTPClient: &hc})
	}}
	cfg := Config{Lab: true, MgmtIP: "127.0.0.1"}
	run := func() checks.Report {
		var list []checks.Check
		for _, c := range Checks(cfg, deps) {
			if c.ID == IDKeystoneAuth || c.ID == IDCatalog {
				c.DependsOn = nil
				list = append(list, c)
			}
		}
		rep, err := checks.Run(context.Background(), list, checks.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return rep
	}
	rep := run()
	if rep.Failed() {
		var b strings.Builder
		_ = rep.WriteText(&b, checks.TextOptions{Verbose: true})
		t.Fatalf("healthy catalog failed:\n%s", b.String())
	}

	k.SetEndpointURL(ep, "http://10.0.0.99:9292")
	rep = run()
	e, _ := rep.Get(IDCatalog)
	if e.Status != checks.Fail || !strings.Contains(strings.Join(e.Evidence, "\n"), "wrong address: glance (image) public endpoint in RegionOne points at 10.0.0.99") {
		t.Fatalf("moved endpoint: %+v", e)
	}
	f := &recordingRepairer{}
	plan := Plan(rep, Config{MgmtIP: "127.0.0.1"}, f)
	if len(plan) != 1 || plan[0].For != IDCatalog {
		t.Fatalf("plan: %+v", plan)
	}
}
