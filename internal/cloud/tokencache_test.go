package cloud_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/projects"

	"github.com/stacklab/stacklab/internal/cloud"
	"github.com/stacklab/stacklab/internal/cloud/cloudtest"
)

// cachedOpts is opts with a token cache in a fresh directory.
func cachedOpts(t *testing.T, file string) (cloud.Options, string) {
	dir := filepath.Join(t.TempDir(), "tokens")
	o := opts(file)
	o.Tokens = cloud.TokenDir(dir)
	return o, dir
}

func openCloud(t *testing.T, o cloud.Options) *cloud.Cloud {
	t.Helper()
	c, err := cloud.Open(context.Background(), o)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return c
}

// tokenFiles lists the cache's files.
func tokenFiles(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// A second Open reuses the first one's token: no request at all to
// keystone, and its catalog still gives the service clients.
func TestTokenCacheReusedAcrossOpens(t *testing.T) {
	cleanEnv(t)
	k := labKeystone(t)
	file := writeClouds(t, adminEntry(k))
	o, dir := cachedOpts(t, file)

	openCloud(t, o)
	if n := k.Logins(); n != 1 {
		t.Fatalf("first Open logged in %d times, want 1", n)
	}
	k.ResetRequests()
	c := openCloud(t, o)
	if reqs := k.Requests(); len(reqs) != 0 {
		t.Errorf("second Open sent %v, want nothing (cached token)", reqs)
	}
	if sc, err := c.Network(); err != nil || !strings.HasSuffix(sc.ResourceBaseURL(), "/network/v2.0/") {
		t.Errorf("network client from the cached catalog: %v", err)
	}
	// The token works: keystone accepts it.
	if _, err := projects.List(c.IdentityAtAuthURL(), nil).AllPages(context.Background()); err != nil {
		t.Errorf("list projects with the cached token: %v", err)
	}
	if n := k.Logins(); n != 0 {
		t.Errorf("using the cached token logged in %d times", n)
	}

	files := tokenFiles(t, dir)
	if len(files) != 1 {
		t.Fatalf("cache holds %v, want one file", files)
	}
	fi, err := os.Stat(files[0])
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("token file mode %v, want 0600", fi.Mode().Perm())
	}
	if di, err := os.Stat(dir); err != nil || di.Mode().Perm() != 0o700 {
		t.Errorf("token dir: %v mode %v, want 0700", err, di.Mode().Perm())
	}
	b, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), cloudtest.AdminPassword) {
		t.Error("the token file holds the password")
	}
	if !strings.Contains(string(b), `"catalog"`) {
		t.Error("the token file lacks the catalog the next run needs")
	}
}

// Any change to clouds.yaml (the password, the project, or only a rewrite
// that may go with a new catalog) drops the cached token.
func TestTokenCacheDroppedWhenCloudsYAMLChanges(t *testing.T) {
	cleanEnv(t)
	k := labKeystone(t)
	file := writeClouds(t, adminEntry(k))
	o, _ := cachedOpts(t, file)
	openCloud(t, o)

	// Same bytes, rewritten later.
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, b, 0o600); err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(time.Minute)
	if err := os.Chtimes(file, later, later); err != nil {
		t.Fatal(err)
	}
	k.ResetRequests()
	openCloud(t, o)
	if n := k.Logins(); n != 1 {
		t.Errorf("after clouds.yaml was rewritten: %d logins, want 1", n)
	}

	// Another password: the cache must not stand in for a login that
	// would now fail.
	e := adminEntry(k)
	e.Password = "changed-Pa55"
	if _, err := cloud.WriteCloudsYAML("", file, e); err != nil {
		t.Fatal(err)
	}
	if _, err := cloud.Open(context.Background(), o); err == nil {
		t.Error("Open with a wrong password in the changed clouds.yaml succeeded from the cache")
	}
}

// A token keystone no longer accepts (revoked, keys rotated) costs one 401,
// one login and the retried request; the new token is cached.
func TestRevokedTokenLogsInOnceAndRetries(t *testing.T) {
	cleanEnv(t)
	k := labKeystone(t)
	file := writeClouds(t, adminEntry(k))
	o, _ := cachedOpts(t, file)
	openCloud(t, o)
	c := openCloud(t, o) // from the cache

	k.RevokeTokens()
	k.ResetRequests()
	if _, err := projects.List(c.IdentityAtAuthURL(), nil).AllPages(context.Background()); err != nil {
		t.Fatalf("list projects after the revocation: %v", err)
	}
	var got []string
	for _, r := range k.Requests() {
		got = append(got, r.String())
	}
	want := "GET /v3/projects, POST /v3/auth/tokens, GET /v3/projects"
	if strings.Join(got, ", ") != want {
		t.Errorf("requests = %v, want %s", got, want)
	}

	k.ResetRequests()
	openCloud(t, o)
	if n := k.Logins(); n != 0 {
		t.Errorf("the next Open logged in %d times, want 0: the new token should be cached", n)
	}
}

// A token file others can read is not trusted: Open logs in and writes a
// fresh 0600 one.
func TestTokenCacheRefusesLooseMode(t *testing.T) {
	cleanEnv(t)
	k := labKeystone(t)
	file := writeClouds(t, adminEntry(k))
	o, dir := cachedOpts(t, file)
	openCloud(t, o)
	f := tokenFiles(t, dir)[0]
	if err := os.Chmod(f, 0o644); err != nil {
		t.Fatal(err)
	}
	k.ResetRequests()
	openCloud(t, o)
	if n := k.Logins(); n != 1 {
		t.Errorf("with a 0644 token file: %d logins, want 1", n)
	}
	if fi, err := os.Stat(f); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("token file after the login: %v %v, want mode 0600", err, fi.Mode().Perm())
	}
}

// Without a cache every Open logs in, as before.
func TestNoTokenCacheLogsInEveryTime(t *testing.T) {
	cleanEnv(t)
	k := labKeystone(t)
	file := writeClouds(t, adminEntry(k))
	openCloud(t, opts(file))
	openCloud(t, opts(file))
	if n := k.Logins(); n != 2 {
		t.Errorf("%d logins, want 2", n)
	}
}

// Clear makes the next Open log in (and so read the catalog anew).
func TestTokenDirClear(t *testing.T) {
	cleanEnv(t)
	k := labKeystone(t)
	file := writeClouds(t, adminEntry(k))
	o, dir := cachedOpts(t, file)
	openCloud(t, o)
	if err := cloud.TokenDir(dir).Clear(); err != nil {
		t.Fatal(err)
	}
	if files := tokenFiles(t, dir); len(files) != 0 {
		t.Errorf("after Clear: %v", files)
	}
	k.ResetRequests()
	openCloud(t, o)
	if n := k.Logins(); n != 1 {
		t.Errorf("after Clear: %d logins, want 1", n)
	}
}

// Catalog proves the token: a revoked cached token costs one login, and
// refused credentials are an AuthError. It reads the live catalog.
func TestCatalog(t *testing.T) {
	cleanEnv(t)
	k := labKeystone(t)
	file := writeClouds(t, adminEntry(k))
	o, _ := cachedOpts(t, file)
	fresh := openCloud(t, o)
	k.ResetRequests()
	cat, err := fresh.Catalog(context.Background())
	if err != nil || len(k.Requests()) != 1 || k.Logins() != 0 {
		t.Errorf("Catalog with a fresh token: %v, requests %v; want nil and one read", err, k.Requests())
	}
	if len(cat) == 0 || len(cat[0].Endpoints) == 0 {
		t.Errorf("Catalog = %+v, want the lab's services and their endpoints", cat)
	}

	cached := openCloud(t, o)
	if _, err := cached.Catalog(context.Background()); err != nil {
		t.Errorf("Catalog with a good cached token: %v", err)
	}
	k.RevokeTokens()
	k.ResetRequests()
	if _, err := cached.Catalog(context.Background()); err != nil || k.Logins() != 1 {
		t.Errorf("Catalog with a revoked token: %v after %d logins, want nil after 1", err, k.Logins())
	}

	cached = openCloud(t, o)
	admin, _ := k.UserByName(cloudtest.AdminUser)
	k.SetPassword(admin.ID, "changed-in-keystone")
	k.RevokeTokens()
	_, err = cached.Catalog(context.Background())
	var ae *cloud.AuthError
	if !errors.As(err, &ae) {
		t.Errorf("Catalog after the password changed = %v, want an AuthError", err)
	}
}
