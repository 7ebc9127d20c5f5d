package cloud

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/catalog"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/tokens"

	"github.com/stacklab/stacklab/internal/safefile"
)

// TokenStore keeps keystone tokens between runs, by key. A password login
// costs keystone a bcrypt hash (most of a no-op run's time on the lab), so
// Open reuses a token that is still valid instead.
type TokenStore interface {
	// Load returns what Save stored under key; fs.ErrNotExist when none.
	Load(key string) ([]byte, error)
	Save(key string, data []byte) error
	// Drop forgets key; forgetting nothing is success.
	Drop(key string) error
}

// SystemTokenDir holds root's cached tokens, beside the rest of stacklab's
// state.
const SystemTokenDir = "/var/lib/stacklab/tokens"

// DefaultTokenDir is where tokens are cached for this user: SystemTokenDir
// for root, else the user's cache directory (~/.cache/stacklab/tokens).
func DefaultTokenDir() (string, error) {
	if os.Geteuid() == 0 {
		return SystemTokenDir, nil
	}
	dir, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("token cache: %w", err)
	}
	return filepath.Join(dir, "stacklab", "tokens"), nil
}

// TokenDir is a TokenStore of one file per key (mode 0600, in a 0700
// directory): the token is a bearer credential for its lifetime.
type TokenDir string

// maxTokenFile bounds a cached token: keystone's answer with a lab's
// catalog is a few KiB.
const maxTokenFile = 1 << 20

func (d TokenDir) path(key string) string {
	sum := sha256.Sum256([]byte(key))
	return filepath.Join(string(d), hex.EncodeToString(sum[:12])+".json")
}

// Load reads key's file, refusing one others could read: a token file that
// lost its mode is not trusted to be ours.
func (d TokenDir) Load(key string) ([]byte, error) {
	p := d.path(key)
	fi, err := os.Lstat(p)
	if err != nil {
		return nil, err
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("token cache %s: mode %v, want 0600: %w", p, fi.Mode().Perm(), fs.ErrPermission)
	}
	b, err := safefile.ReadRegular(p, maxTokenFile)
	if err != nil {
		return nil, fmt.Errorf("token cache: %w", err)
	}
	return b, nil
}

// Save writes key's file whole (a temporary file renamed over it), so a
// concurrent reader sees the old token or the new one, never half.
func (d TokenDir) Save(key string, data []byte) error {
	// Only the last directory is private: a parent made here (a doctor run
	// before any install made /var/lib/stacklab) keeps the usual mode.
	if err := os.MkdirAll(filepath.Dir(string(d)), 0o755); err != nil {
		return fmt.Errorf("token cache: %w", err)
	}
	if err := os.Mkdir(string(d), 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("token cache: %w", err)
	}
	f, err := os.CreateTemp(string(d), ".token-*")
	if err != nil {
		return fmt.Errorf("token cache: %w", err)
	}
	defer os.Remove(f.Name())
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return fmt.Errorf("token cache: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("token cache: write %s: %w", f.Name(), err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("token cache: write %s: %w", f.Name(), err)
	}
	if err := os.Rename(f.Name(), d.path(key)); err != nil {
		return fmt.Errorf("token cache: %w", err)
	}
	return nil
}

// Drop removes key's file.
func (d TokenDir) Drop(key string) error {
	if err := os.Remove(d.path(key)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("token cache: %w", err)
	}
	return nil
}

// Clear forgets every cached token: after something that may have changed
// a catalog (install, doctor --fix re-pointing endpoints), which a cached
// token would otherwise keep serving until it expires.
func (d TokenDir) Clear() error {
	files, err := filepath.Glob(filepath.Join(string(d), "*.json"))
	if err != nil {
		return fmt.Errorf("token cache: %w", err)
	}
	var errs []error
	for _, f := range files {
		if err := os.Remove(f); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("token cache: %w", err)
	}
	return nil
}

// cachedToken is one file of the cache: keystone's answer (user, project,
// roles, catalog: no password, which is never sent back) and the token
// from its X-Subject-Token header.
type cachedToken struct {
	// Config fingerprints the clouds.yaml the token was issued for; a
	// token is used only while the file is unchanged, so an edited
	// password, project or auth_url is never answered from the cache.
	Config    string          `json:"config"`
	ExpiresAt time.Time       `json:"expires_at"`
	Token     string          `json:"token"`
	Body      json.RawMessage `json:"body"`
}

// tokenMargin is how long a cached token must still be valid to be used:
// a run should not start on a token about to expire mid-request.
const tokenMargin = 5 * time.Minute

// tokenKey names a cached token by everything that decides what keystone
// would issue.
func tokenKey(cloudName string, ao gophercloud.AuthOptions) string {
	parts := []string{cloudName, ao.IdentityEndpoint, ao.UserID, ao.Username, ao.DomainID, ao.DomainName}
	if s := ao.Scope; s != nil {
		parts = append(parts, s.ProjectID, s.ProjectName, s.DomainID, s.DomainName, fmt.Sprint(s.System))
	}
	return strings.Join(parts, "\x00")
}

// configFingerprint changes whenever clouds.yaml is written, even with the
// same bytes: a rewrite (install, by hand) may go with a catalog change.
func configFingerprint(file string) (string, error) {
	fi, err := os.Stat(file)
	if err != nil {
		return "", err
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return fmt.Sprintf("%s/%d/%d", hex.EncodeToString(sum[:]), fi.Size(), fi.ModTime().UnixNano()), nil
}

// tokenSession logs a provider in, through the cache when it has one.
type tokenSession struct {
	store  TokenStore // nil: no cache
	key    string
	config string
	ao     gophercloud.AuthOptions
	pc     *gophercloud.ProviderClient
	now    func() time.Time
}

// fromCache puts a cached token on the provider; false when there is none
// usable (missing, expired, for another clouds.yaml, unreadable), which
// is dropped.
func (s *tokenSession) fromCache() bool {
	if s.store == nil || s.config == "" {
		return false
	}
	b, err := s.store.Load(s.key)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			_ = s.store.Drop(s.key)
		}
		return false
	}
	var ct cachedToken
	if json.Unmarshal(b, &ct) != nil || ct.Config != s.config || ct.Token == "" || !s.now().Add(tokenMargin).Before(ct.ExpiresAt) {
		_ = s.store.Drop(s.key)
		return false
	}
	var res tokens.CreateResult
	if json.Unmarshal(ct.Body, &res.Body) != nil {
		_ = s.store.Drop(s.key)
		return false
	}
	res.Header = http.Header{"X-Subject-Token": []string{ct.Token}}
	return s.pc.SetTokenAndAuthResult(res) == nil
}

// login authenticates with the password on a separate client and moves
// its token onto the provider, then caches it. Saving is best effort: a
// read-only cache directory costs the next run a login, nothing more.
func (s *tokenSession) login(ctx context.Context) error {
	fresh, err := openstack.NewClient(s.ao.IdentityEndpoint)
	if err != nil {
		return err
	}
	fresh.HTTPClient = s.pc.HTTPClient
	ao := s.ao
	ao.AllowReauth = false
	if err := openstack.Authenticate(ctx, fresh, ao); err != nil {
		return err
	}
	s.pc.CopyTokenFrom(fresh)
	s.save(fresh.GetAuthResult())
	return nil
}

func (s *tokenSession) save(r gophercloud.AuthResult) {
	res, ok := r.(tokens.CreateResult)
	if s.store == nil || s.config == "" || !ok {
		return
	}
	tok, err := res.ExtractToken()
	if err != nil {
		return
	}
	body, err := json.Marshal(res.Body)
	if err != nil {
		return
	}
	b, err := json.Marshal(cachedToken{Config: s.config, ExpiresAt: tok.ExpiresAt, Token: tok.ID, Body: body})
	if err != nil {
		return
	}
	_ = s.store.Save(s.key, b)
}

// relogin is the provider's ReauthFunc: keystone answered 401 (the token
// was revoked, or expired early), so the cached one is dropped before one
// password login; gophercloud retries the request once after it.
func (s *tokenSession) relogin(ctx context.Context) error {
	if s.store != nil {
		_ = s.store.Drop(s.key)
	}
	return s.login(ctx)
}

// authenticate gives pc a token, from the cache or by logging in, and
// makes it log in again on a 401.
func (s *tokenSession) authenticate(ctx context.Context) error {
	if s.now == nil {
		s.now = time.Now
	}
	if !s.fromCache() {
		if err := s.login(ctx); err != nil {
			return err
		}
	}
	s.pc.ReauthFunc = s.relogin
	return nil
}

// Catalog reads the live catalog of this connection's token (GET
// /v3/auth/catalog, which any user may ask) and so proves that keystone
// takes the connection's credentials now: a token from the cache was
// issued in an earlier run, and doctor's question is whether keystone
// logs the admin in today. A refused token is replaced by one password
// login, whose refusal is an *AuthError. One request answers both the
// proof and the catalog doctor grades (the admin listings of services
// and endpoints took two).
func (c *Cloud) Catalog(ctx context.Context) ([]tokens.CatalogEntry, error) {
	page, err := catalog.List(c.IdentityAtAuthURL()).AllPages(ctx)
	if err == nil {
		var entries []tokens.CatalogEntry
		if entries, err = catalog.ExtractServiceCatalog(page); err == nil {
			return entries, nil
		}
		return nil, fmt.Errorf("keystone: read the catalog: %w", err)
	}
	var ue *gophercloud.ErrUnableToReauthenticate
	if errors.As(err, &ue) {
		err = ue.ErrReauth
	}
	return nil, classifyAuthError(c.Name, c.File, c.AuthURL, err)
}
