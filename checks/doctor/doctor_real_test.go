//go:build cloud

package doctor

import (
	"context"
	"strings"
	"testing"

	"github.com/stacklab/stacklab/checks"
	"github.com/stacklab/stacklab/internal/cloud"
	"github.com/stacklab/stacklab/internal/cloud/cloudtest"
)

// Against the configured cloud (go test -tags cloud): every API check of
// doctor's remote mode passes on a healthy lab.
func TestRealCloudAPIChecks(t *testing.T) {
	c := cloudtest.RequireCloud(t)
	cfg := Config{KeystoneURL: c.AuthURL}
	deps := Deps{Cloud: func(context.Context) (*cloud.Cloud, error) { return c, nil }}
	rep, err := checks.Run(context.Background(), Checks(cfg, deps), checks.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	_ = rep.WriteText(&b, checks.TextOptions{Verbose: true})
	t.Log("\n" + b.String())
	if rep.Failed() {
		t.Errorf("doctor on a healthy cloud: root causes %v", rep.RootCauses())
	}
	for _, id := range []string{IDKeystone, IDKeystoneAuth, IDCatalog, IDNova, IDNetworkAgents} {
		if e, _ := rep.Get(id); e.Status != checks.OK {
			t.Errorf("%s: %s %s", id, e.Status, e.Summary)
		}
	}
}
