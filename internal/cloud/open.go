// Package cloud authenticates against an OpenStack cloud described in
// clouds.yaml (the lab stacklab built, or any other) and hands out service
// clients for it; it also writes the clouds.yaml and admin-openrc files that
// stacklab install leaves behind.
package cloud

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/config/clouds"
	"go.yaml.in/yaml/v3"
)

// Options selects the cloud to open. The zero value means: the cloud named by
// $OS_CLOUD, else DefaultCloudName, from the first clouds.yaml found in the
// places openstackclient looks.
type Options struct {
	// Cloud is the clouds.yaml entry (--cloud). Empty: $OS_CLOUD, then
	// DefaultCloudName.
	Cloud string
	// CloudsFile is an explicit clouds.yaml; when set, nothing else is
	// searched. Empty: $OS_CLIENT_CONFIG_FILE, then ./clouds.yaml,
	// $XDG_CONFIG_HOME/openstack (or ~/.config/openstack), /etc/openstack.
	CloudsFile string
	// HTTPClient replaces the default client (which bounds connect and
	// response-header time, so a keystone that accepts TCP but never answers
	// fails instead of hanging). Its Transport's TLS settings are replaced
	// when clouds.yaml sets cacert/cert/key/verify.
	HTTPClient *http.Client
	// Tokens, when set, keeps the token between runs (see TokenStore):
	// reused while valid and while clouds.yaml is unchanged, dropped on a
	// 401. Nil logs in with the password every time.
	Tokens TokenStore
}

// Cloud is an authenticated connection to one cloud.
type Cloud struct {
	Name     string // clouds.yaml entry
	File     string // the clouds.yaml it came from
	AuthURL  string
	Provider *gophercloud.ProviderClient
	// Endpoint carries the region and interface every service client uses.
	Endpoint gophercloud.EndpointOpts
}

// Region is the region_name from clouds.yaml (or $OS_REGION_NAME).
func (c *Cloud) Region() string { return c.Endpoint.Region }

// Identity returns a keystone v3 client.
func (c *Cloud) Identity() (*gophercloud.ServiceClient, error) {
	return c.service("identity", openstack.NewIdentityV3)
}

// IdentityAtAuthURL returns a keystone v3 client on clouds.yaml's auth_url
// rather than on the catalog's identity endpoint: the way back in when the
// catalog itself is wrong (the management address moved and every endpoint,
// keystone's included, still names the old one). auth_url must be versioned
// (…/v3), as the one stacklab writes is.
func (c *Cloud) IdentityAtAuthURL() *gophercloud.ServiceClient {
	return &gophercloud.ServiceClient{
		ProviderClient: c.Provider,
		Endpoint:       gophercloud.NormalizeURL(c.AuthURL),
		Type:           "identity",
	}
}

// Image returns a glance v2 client.
func (c *Cloud) Image() (*gophercloud.ServiceClient, error) {
	return c.service("image", openstack.NewImageV2)
}

// Compute returns a nova v2.1 client.
func (c *Cloud) Compute() (*gophercloud.ServiceClient, error) {
	return c.service("compute", openstack.NewComputeV2)
}

// Network returns a neutron v2 client.
func (c *Cloud) Network() (*gophercloud.ServiceClient, error) {
	return c.service("network", openstack.NewNetworkV2)
}

// Placement returns a placement v1 client.
func (c *Cloud) Placement() (*gophercloud.ServiceClient, error) {
	return c.service("placement", openstack.NewPlacementV1)
}

type newServiceFunc func(*gophercloud.ProviderClient, gophercloud.EndpointOpts) (*gophercloud.ServiceClient, error)

func (c *Cloud) service(typ string, newClient newServiceFunc) (*gophercloud.ServiceClient, error) {
	sc, err := newClient(c.Provider, c.Endpoint)
	if err == nil {
		return sc, nil
	}
	var notFound *gophercloud.ErrEndpointNotFound
	if !errors.As(err, &notFound) {
		return nil, fmt.Errorf("cloud %s: %s client: %w", c.Name, typ, err)
	}
	// The usual cause is region_name not matching the catalog, often only in
	// case (RegionOne vs regionOne), so say which regions do offer it.
	regions := c.catalogRegions(typ, string(c.Endpoint.Availability))
	hint := "the catalog has no such endpoint in any region: is the service registered (stacklab doctor)?"
	if len(regions) > 0 {
		hint = fmt.Sprintf("the catalog offers it in region(s) %s: set region_name in %s (region names are case-sensitive)",
			strings.Join(regions, ", "), c.File)
	}
	return nil, fmt.Errorf("cloud %s: no %s endpoint for interface %q in region %q; %s: %w",
		c.Name, typ, c.Endpoint.Availability, c.Endpoint.Region, hint, err)
}

// catalogRegions lists the regions in which the token's catalog has an
// endpoint of service type typ and the given interface.
func (c *Cloud) catalogRegions(typ, iface string) []string {
	cat, ok := catalogOf(c.Provider)
	if !ok {
		return nil
	}
	var regions []string
	for _, e := range cat.Entries {
		if e.Type != typ {
			continue
		}
		for _, ep := range e.Endpoints {
			r := ep.RegionID
			if r == "" {
				r = ep.Region
			}
			if ep.Interface == iface && r != "" && !slices.Contains(regions, r) {
				regions = append(regions, r)
			}
		}
	}
	slices.Sort(regions)
	return regions
}

// NoCloudsFileError: no clouds.yaml in any searched place.
type NoCloudsFileError struct{ Searched []string }

func (e *NoCloudsFileError) Error() string {
	// Name only what exists: every command that opens a cloud has --cloud;
	// the file is chosen by the environment alone.
	return fmt.Sprintf("no clouds.yaml found (searched %s): run stacklab install, or set OS_CLIENT_CONFIG_FILE to your clouds.yaml "+
		"and pick its entry with --cloud NAME or OS_CLOUD",
		strings.Join(e.Searched, ", "))
}

// UnknownCloudError: the file has no entry by that name.
type UnknownCloudError struct {
	Name, File string
	Known      []string
}

func (e *UnknownCloudError) Error() string {
	known := "none"
	if len(e.Known) > 0 {
		known = strings.Join(e.Known, ", ")
	}
	return fmt.Sprintf("cloud %q is not in %s (it has: %s): pick one with --cloud or OS_CLOUD", e.Name, e.File, known)
}

// AuthError: keystone answered and refused the credentials.
type AuthError struct {
	Cloud, File, AuthURL string
	Err                  error
}

func (e *AuthError) Error() string {
	return RedactURLs(fmt.Sprintf("cloud %s: keystone at %s rejected the credentials (401): username, password, project or domain in %s are wrong: %v",
		e.Cloud, e.AuthURL, e.File, e.Err))
}

func (e *AuthError) Unwrap() error { return e.Err }

// UnreachableError: no answer from the auth URL (refused, timed out, no route,
// name not resolved).
type UnreachableError struct {
	Cloud, AuthURL string
	Err            error
}

func (e *UnreachableError) Error() string {
	return RedactURLs(fmt.Sprintf("cloud %s: cannot reach keystone at %s: %v: is keystone running? try stacklab doctor",
		e.Cloud, e.AuthURL, e.Err))
}

func (e *UnreachableError) Unwrap() error { return e.Err }

// Open finds the cloud's clouds.yaml entry, authenticates (or reuses a
// cached token, see Options.Tokens), and returns the connection. The
// returned provider logs in again by itself when keystone answers 401 (the
// token expired or was revoked), so long lab tasks outlive the token
// lifetime.
func Open(ctx context.Context, opts Options) (*Cloud, error) {
	name := opts.Cloud
	if name == "" {
		name = os.Getenv("OS_CLOUD")
	}
	if name == "" {
		name = DefaultCloudName
	}

	file, err := findCloudsFile(opts.CloudsFile)
	if err != nil {
		return nil, err
	}
	known, err := cloudNames(file)
	if err != nil {
		return nil, err
	}
	if !slices.Contains(known, name) {
		return nil, &UnknownCloudError{Name: name, File: file, Known: known}
	}

	// gophercloud does the rest of the parsing (secure.yaml next to the
	// file, public-cloud profiles, TLS settings, OS_REGION_NAME/OS_INTERFACE
	// overrides) exactly as openstackclient would.
	ao, eo, tlsConfig, err := clouds.Parse(clouds.WithCloudName(name), clouds.WithLocations(file))
	if err != nil {
		return nil, fmt.Errorf("cloud %s: parse %s: %w", name, file, err)
	}
	if ao.IdentityEndpoint == "" {
		return nil, fmt.Errorf("cloud %s: %s has no auth.auth_url for it", name, file)
	}
	pc, err := openstack.NewClient(ao.IdentityEndpoint)
	if err != nil {
		return nil, &redactedError{fmt.Errorf("cloud %s: auth_url %q: %w", name, ao.IdentityEndpoint, err)}
	}
	pc.HTTPClient = httpClient(opts.HTTPClient, tlsConfig)
	sess := &tokenSession{store: opts.Tokens, key: tokenKey(name, ao), ao: ao, pc: pc}
	if opts.Tokens != nil {
		// Unreadable: no cache this time; Open goes on to log in.
		sess.config, _ = configFingerprint(file)
	}
	if err := sess.authenticate(ctx); err != nil {
		return nil, classifyAuthError(name, file, ao.IdentityEndpoint, err)
	}
	pc.EndpointLocator = catalogLocator(pc)
	return &Cloud{Name: name, File: file, AuthURL: ao.IdentityEndpoint, Provider: pc, Endpoint: eo}, nil
}

// classifyAuthError turns gophercloud/net errors into ones that say what to
// do. gophercloud's own messages never contain the password (the request
// body is not part of ErrUnexpectedResponseCode), and neither do ours.
func classifyAuthError(name, file, authURL string, err error) error {
	if gophercloud.ResponseCodeIs(err, http.StatusUnauthorized) {
		return &AuthError{Cloud: name, File: file, AuthURL: authURL, Err: err}
	}
	var netErr net.Error
	var opErr *net.OpError
	var dnsErr *net.DNSError
	if errors.As(err, &opErr) || errors.As(err, &dnsErr) || errors.As(err, &netErr) ||
		errors.Is(err, context.DeadlineExceeded) {
		return &UnreachableError{Cloud: name, AuthURL: authURL, Err: err}
	}
	return &redactedError{fmt.Errorf("cloud %s: authenticate at %s: %w", name, authURL, err)}
}

// redactedError shows err's message with URL passwords hidden and keeps
// the chain for errors.Is/As.
type redactedError struct{ err error }

func (e *redactedError) Error() string { return RedactURLs(e.err.Error()) }
func (e *redactedError) Unwrap() error { return e.err }

// httpClient returns base (or a default with bounded waits) using tlsConfig
// when clouds.yaml asked for one.
func httpClient(base *http.Client, tlsConfig *tls.Config) http.Client {
	var c http.Client
	if base != nil {
		c = *base
	}
	var tr *http.Transport
	switch t := c.Transport.(type) {
	case nil:
		tr = defaultTransport()
	case *http.Transport:
		tr = t.Clone()
	default:
		// A custom RoundTripper (tests, proxies): leave it alone.
		return c
	}
	if tlsConfig != nil {
		tr.TLSClientConfig = tlsConfig
	}
	c.Transport = TraceRequests(tr)
	return c
}

// TraceRequests is rt printing one line per request on stderr when
// STACKLAB_DEBUG_HTTP is set (see traceTransport), else rt itself: for
// the clients that do not come from Open (doctor's probes), so that a
// trace, and the benchmarks' request counts, show every request.
func TraceRequests(rt http.RoundTripper) http.RoundTripper {
	if os.Getenv("STACKLAB_DEBUG_HTTP") == "" {
		return rt
	}
	return &traceTransport{next: rt, w: os.Stderr}
}

// traceTransport prints one line per request (method, URL without its
// query, status, duration) for STACKLAB_DEBUG_HTTP=1: where a slow run
// spends its time. Headers and bodies, which carry tokens and passwords,
// are never printed.
type traceTransport struct {
	next http.RoundTripper
	w    io.Writer
}

func (t *traceTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	start := time.Now()
	resp, err := t.next.RoundTrip(r)
	u := *r.URL
	u.RawQuery, u.User = "", nil
	status := "error"
	if err == nil {
		status = resp.Status
	}
	fmt.Fprintf(t.w, "http: %s %s → %s in %s\n", r.Method, u.String(), status, time.Since(start).Round(time.Millisecond))
	return resp, err
}

func defaultTransport() *http.Transport {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	tr.TLSHandshakeTimeout = 10 * time.Second
	// Bounds the wait for a response's headers, not its body, so an image
	// download can take as long as it needs while a wedged keystone worker
	// (it accepts TCP and never answers) surfaces as an error.
	tr.ResponseHeaderTimeout = 2 * time.Minute
	// Debian runs the APIs under uwsgi, which closes each connection after
	// its response without saying so; a pooled connection then fails the
	// next request with "connection reset by peer", and Go does not retry a
	// POST (measured: keystone's catalog creation failed on the 17th call).
	// A new connection per request costs a handshake on the lab's own LAN.
	tr.DisableKeepAlives = true
	return tr
}

// SearchPaths lists, in order, where Open looks for clouds.yaml when no file
// is given: the same places as openstackclient.
func SearchPaths() []string {
	if p := os.Getenv("OS_CLIENT_CONFIG_FILE"); p != "" {
		return []string{p}
	}
	var paths []string
	if cwd, err := os.Getwd(); err == nil {
		paths = append(paths, filepath.Join(cwd, "clouds.yaml"))
	}
	if xdg := os.Getenv("XDG_CONFIG_HOME"); xdg != "" {
		paths = append(paths, filepath.Join(xdg, "openstack", "clouds.yaml"))
	} else if home, err := os.UserHomeDir(); err == nil {
		paths = append(paths, filepath.Join(home, ".config", "openstack", "clouds.yaml"))
	}
	return append(paths, DefaultCloudsFile)
}

func findCloudsFile(explicit string) (string, error) {
	candidates := SearchPaths()
	if explicit != "" {
		candidates = []string{explicit}
	}
	for _, p := range candidates {
		fi, err := os.Stat(p)
		if err == nil && fi.Mode().IsRegular() {
			return p, nil
		}
	}
	return "", &NoCloudsFileError{Searched: candidates}
}

// cloudNames lists the entries of a clouds.yaml, sorted, without decoding
// (or holding on to) any credential in it.
func cloudNames(file string) ([]string, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", file, err)
	}
	var doc struct {
		Clouds map[string]yaml.Node `yaml:"clouds"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("parse %s: %w", file, err)
	}
	names := make([]string, 0, len(doc.Clouds))
	for n := range doc.Clouds {
		names = append(names, n)
	}
	slices.Sort(names)
	return names, nil
}
