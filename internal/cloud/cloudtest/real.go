package cloudtest

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/stacklab/stacklab/internal/cloud"
)

// RequireCloud opens the cloud that tests built with the "cloud" tag run
// against (the e2e lab host configures one), or skips the test with the
// reason when none is configured: OS_CLOUD unset and no clouds.yaml with a
// "stacklab" entry. A cloud that is configured but fails to open fails the
// test; that is what these tests are for.
func RequireCloud(t testing.TB) *cloud.Cloud {
	t.Helper()
	explicit := os.Getenv("OS_CLOUD") != ""
	if !explicit {
		found := false
		for _, p := range cloud.SearchPaths() {
			if _, err := os.Stat(p); err == nil {
				found = true
				break
			}
		}
		if !found {
			t.Skipf("no cloud configured: OS_CLOUD is unset and there is no clouds.yaml in %v (the e2e lab host provides one)", cloud.SearchPaths())
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := cloud.Open(ctx, cloud.Options{})
	var unknown *cloud.UnknownCloudError
	if !explicit && errors.As(err, &unknown) {
		t.Skipf("no cloud configured: OS_CLOUD is unset and %s has no %q entry", unknown.File, cloud.DefaultCloudName)
	}
	if err != nil {
		t.Fatalf("open the configured cloud: %v", err)
	}
	return c
}
