package cloud_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/stacklab/stacklab/internal/cloud"
	"github.com/stacklab/stacklab/internal/cloud/cloudtest"
)

// An admin-openrc's values log in like the clouds.yaml entry stacklab
// writes, and a wrong password is an AuthError that never shows it.
func TestOpenEntry(t *testing.T) {
	cleanEnv(t)
	k := labKeystone(t)
	e := adminEntry(k)
	e.Name = "admin-openrc"
	c, err := cloud.OpenEntry(context.Background(), e, "the OS_* environment", loopback())
	if err != nil {
		t.Fatalf("OpenEntry: %v", err)
	}
	if c.Region() != cloudtest.Region || c.File != "the OS_* environment" {
		t.Errorf("region %q file %q", c.Region(), c.File)
	}
	if _, err := c.Compute(); err != nil {
		t.Errorf("compute client from the catalog: %v", err)
	}

	e.Password = "wrong-Pa55"
	_, err = cloud.OpenEntry(context.Background(), e, "env", loopback())
	var ae *cloud.AuthError
	if !errors.As(err, &ae) {
		t.Fatalf("want AuthError, got %v", err)
	}
	if strings.Contains(err.Error(), "wrong-Pa55") {
		t.Errorf("the password is in the error: %v", err)
	}
}
