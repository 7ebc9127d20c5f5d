package doctor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/services"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/agents"
	"github.com/gophercloud/gophercloud/v2/openstack/placement/v1/resourceproviders"
	"github.com/gophercloud/gophercloud/v2/pagination"

	"github.com/stacklab/stacklab/checks"
	"github.com/stacklab/stacklab/installer/identity"
	"github.com/stacklab/stacklab/installer/openstack"
	"github.com/stacklab/stacklab/internal/cloud"
)

func (dr *doctor) apiChecks() []checks.Check {
	compute := []string{IDNova, UnitID("nova-conductor"), UnitID("nova-compute"), UnitID("libvirtd")}
	// Debian splits neutron's server into neutron-api + neutron-rpc-server;
	// other installs run one neutron-server, which the advice must name.
	neutronAPI, neutronRPC := "neutron-api", "neutron-rpc-server"
	if slices.Contains(dr.cfg.Units, "neutron-server") && !slices.Contains(dr.cfg.Units, neutronAPI) {
		neutronAPI, neutronRPC = "neutron-server", "neutron-server"
	}
	agentDeps := []string{IDNeutron, UnitID(neutronRPC)}
	for _, u := range dr.cfg.Units {
		if strings.HasPrefix(u, "neutron-") && strings.HasSuffix(u, "-agent") {
			agentDeps = append(agentDeps, UnitID(u))
		}
	}
	api := func(id, title, unit, typ string, extra ...string) checks.Check {
		return checks.Check{
			ID: id, Title: title,
			DependsOn: dr.deps(append([]string{IDKeystoneAuth, IDCatalog, UnitID(unit)}, extra...)...),
			Run:       func(ctx context.Context) checks.Result { return dr.checkAPI(ctx, typ, unit) },
		}
	}
	return []checks.Check{
		{ID: IDKeystone, Title: "keystone answers its version document",
			DependsOn: dr.deps(UnitID("keystone"), IDMariaDB, IDMemcached), Run: dr.checkKeystone},
		{ID: IDKeystoneAuth, Title: "keystone issues a token for the admin credentials",
			DependsOn: []string{IDKeystone}, Run: dr.checkAuth, Early: dr.startAuth},
		{ID: IDCatalog, Title: "every catalog endpoint is on the management address and answers",
			DependsOn: []string{IDKeystoneAuth}, Run: dr.checkCatalog},
		api(IDGlance, "glance answers with a token", "glance-api", "image"),
		api(IDPlacement, "placement answers with a token", "placement-api", "placement"),
		api(IDNova, "nova answers with a token", "nova-api", "compute", IDRabbitMQ),
		api(IDNeutron, "neutron answers with a token", neutronAPI, "network", IDRabbitMQ),
		{ID: IDComputeServices, Title: "every compute service is up",
			DependsOn: dr.deps(compute...), Run: dr.checkComputeServices},
		{ID: IDCellMapping, Title: "the compute host is mapped to a cell",
			DependsOn: []string{IDComputeServices, IDMariaDB}, Run: dr.checkCellMapping},
		{ID: IDPlacementInv, Title: "the hypervisor is in placement with inventory",
			DependsOn: []string{IDPlacement, IDComputeServices}, Run: dr.checkPlacementInventory},
		{ID: IDNetworkAgents, Title: "every neutron agent is alive",
			DependsOn: dr.deps(agentDeps...), Run: dr.checkAgents},
	}
}

// get GETs u under its own timeout and drains the body; body is its first
// 64 KiB. Without headers the answer is shared by every check of the run
// that asks for the same URL: the catalog lists each service three times
// (public, internal, admin) at one URL, keystone's is also the URL the
// keystone check and Horizon's setting name, and three dashboard checks
// read the login page (the login posts back its CSRF token).
func (dr *doctor) get(ctx context.Context, u string, hdr http.Header) (int, []byte, error) {
	p, err := dr.page(ctx, u, hdr)
	return p.Status, p.Body, err
}

// page is get with the cookies the answer set.
func (dr *doctor) page(ctx context.Context, u string, hdr http.Header) (Page, error) {
	if hdr != nil {
		return dr.fetch(ctx, u, hdr)
	}
	return dr.gets.get(ctx, getKey(u), func(ctx context.Context) (Page, error) {
		return dr.fetch(ctx, u, nil)
	})
}

// getKey is the key a URL's shared GET is kept under.
func getKey(u string) string { return strings.TrimSuffix(u, "/") }

// Page is one GET's answer: status, the first 64 KiB of the body, and the
// cookies it set.
type Page struct {
	Status  int
	Body    []byte
	Cookies []*http.Cookie
}

// getResult is one shared GET.
type getResult struct {
	done chan struct{}
	page Page
	err  error
	// dropped: a lead's answer its askers must not take (they read anew).
	dropped bool
}

// getMemo shares GETs by URL within one run.
type getMemo struct {
	mu sync.Mutex
	m  map[string]*getResult
}

// get runs f once per key. The first caller's request is detached from its
// cancellation (still bounded by the probe timeout), so one check giving up
// does not hand its error to the others; later callers wait for it or for
// their own context, and read anew when it was a lead's dropped answer.
func (g *getMemo) get(ctx context.Context, key string, f func(context.Context) (Page, error)) (Page, error) {
	for {
		r, found := g.slot(key)
		if !found {
			r.page, r.err = f(context.WithoutCancel(ctx))
			close(r.done)
			return r.page, r.err
		}
		select {
		case <-r.done:
			if !r.dropped {
				return r.page, r.err
			}
		case <-ctx.Done():
			return Page{}, ctx.Err()
		}
	}
}

// slot is key's result and whether someone had it already; a new one,
// unfinished, is the caller's to fill.
func (g *getMemo) slot(key string) (*getResult, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.m == nil {
		g.m = map[string]*getResult{}
	}
	r, found := g.m[key]
	if !found {
		r = &getResult{done: make(chan struct{})}
		g.m[key] = r
	}
	return r, found
}

// fetch is one GET of u.
func (dr *doctor) fetch(ctx context.Context, u string, hdr http.Header) (Page, error) {
	ctx, cancel := context.WithTimeout(ctx, dr.cfg.probe())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return Page{}, err
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := dr.d.http().Do(req)
	if err != nil {
		return Page{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	_, _ = io.Copy(io.Discard, resp.Body)
	return Page{Status: resp.StatusCode, Body: body, Cookies: resp.Cookies()}, err
}

// lead claims key for a GET made outside the memo (the early login reads
// the form the page check grades): askers wait for it, and take its answer
// when keep says so; otherwise the claim is dropped and they read anew.
// A key already read or claimed is left alone.
func (g *getMemo) lead(key string) (done func(p Page, err error, keep bool)) {
	r, found := g.slot(key)
	if found {
		return func(Page, error, bool) {}
	}
	return func(p Page, err error, keep bool) {
		if keep {
			r.page, r.err = p, err
		} else {
			g.mu.Lock()
			delete(g.m, key)
			g.mu.Unlock()
			r.dropped = true
		}
		close(r.done)
	}
}

// hungSummary ends the summary of a probe that connected and got no answer.
const hungSummary = "accepts connections but never answers (hung)"

// hungOrDown explains a probe error: a timeout means the service accepts
// connections and never answers (the keystone worker deadlock).
func hungOrDown(err error) string {
	if cloud.TimedOut(err) {
		return hungSummary
	}
	return "does not answer"
}

func (dr *doctor) checkKeystone(ctx context.Context) checks.Result {
	u := dr.cfg.KeystoneURL
	shown := cloud.RedactURLs(u) // a --cloud auth_url may carry user:password
	if u == "" {
		return checks.Failf("no keystone URL known", "pass --cloud NAME or run on the lab host")
	}
	start := time.Now()
	status, body, err := dr.get(ctx, u, nil)
	ev := []string{"GET " + shown}
	if err != nil {
		ev = append(ev, cloud.RedactURLs(err.Error()))
		if dr.cfg.Lab && dr.d.Units != nil {
			if lines, jerr := dr.d.Units.JournalTail(ctx, "keystone", 50); jerr == nil {
				if sig, ok := MatchSignature(lines); ok {
					ev = append(ev, "known problem in keystone's journal: "+sig.Meaning)
				}
			}
		}
		return checks.Failf("keystone "+hungOrDown(err)+" at "+shown,
			"systemctl restart keystone   (or: stacklab doctor --fix); then journalctl -u keystone -n 50", ev...)
	}
	ev = append(ev, fmt.Sprintf("HTTP %d in %s", status, time.Since(start).Round(time.Millisecond)))
	var doc struct {
		Version struct {
			ID     string `json:"id"`
			Status string `json:"status"`
		} `json:"version"`
	}
	if status != http.StatusOK || json.Unmarshal(body, &doc) != nil || doc.Version.ID == "" {
		return checks.Failf(fmt.Sprintf("keystone answers HTTP %d without a version document", status),
			"journalctl -u keystone -n 50; systemctl restart keystone", append(ev, "body: "+firstLines(string(body), 2))...)
	}
	return checks.Pass("keystone "+doc.Version.ID+" ("+doc.Version.Status+")", ev...)
}

// startAuth reads the token and keystone's live catalog as the run
// begins. keystone-auth waits behind the unit checks and keystone's (it
// started 75 ms into a 190 ms run on a Debian 13 lab), and the API checks'
// chain behind it (catalog, APIs, compute services, placement's
// inventory) ended the run. What worked is offered to the run's memos,
// which keystone-auth and the catalog check then grade as their own
// reading; a failure is dropped, as it may have come before keystone was
// back, and they read anew.
func (dr *doctor) startAuth(ctx context.Context) {
	if dr.d.Cloud == nil {
		return
	}
	done := make(chan struct{})
	dr.authRead = done
	go func() {
		defer close(done)
		ctx, cancel := context.WithTimeout(ctx, dr.cfg.probe())
		defer cancel()
		c, err := dr.d.Cloud(ctx)
		if err != nil {
			return
		}
		dr.cloud.offer(c)
		entries, err := c.Catalog(ctx)
		if err != nil {
			return
		}
		dr.catalog.offer(identity.CatalogEndpoints(entries))
	}()
}

// waitAuth waits for startAuth's reading, if there is one: a check that
// read beside it would log in or read the catalog twice.
func (dr *doctor) waitAuth(ctx context.Context) {
	if dr.authRead == nil {
		return
	}
	select {
	case <-dr.authRead:
	case <-ctx.Done():
	}
}

func (dr *doctor) cloudConn(ctx context.Context) (*cloud.Cloud, error) {
	dr.waitAuth(ctx)
	return dr.cloud.get(ctx, func(ctx context.Context) (*cloud.Cloud, error) {
		if dr.d.Cloud == nil {
			return nil, errors.New("no cloud configured")
		}
		return dr.d.Cloud(ctx)
	})
}

func (dr *doctor) checkAuth(ctx context.Context) checks.Result {
	c, err := dr.cloudConn(ctx)
	if err == nil {
		// A cached token says keystone took the credentials once; this
		// check is about now: the live catalog, which the catalog check
		// grades, is read with it.
		_, err = dr.liveCatalog(ctx)
	}
	if err != nil {
		var ae *cloud.AuthError
		var nf *cloud.NoCloudsFileError
		var uc *cloud.UnknownCloudError
		switch {
		case errors.As(err, &ae):
			return checks.Failf("keystone refuses the admin credentials", "compare the password in clouds.yaml with /etc/stacklab/secrets.yaml; stacklab install --yes re-asserts it", err.Error())
		case errors.As(err, &nf), errors.As(err, &uc):
			return checks.Failf("no usable clouds.yaml entry", "pass --cloud NAME (and OS_CLIENT_CONFIG_FILE), or run on the lab host as root", err.Error())
		}
		return checks.Failf("no token: "+err.Error(), "systemctl restart keystone; journalctl -u keystone -n 50", err.Error())
	}
	return checks.Pass("token issued for cloud "+c.Name, "auth_url "+cloud.RedactURLs(c.AuthURL), "clouds.yaml "+c.File, "region "+c.Region())
}

// EndpointProbe is one catalog endpoint and whether it answered.
type EndpointProbe struct {
	Service, Interface, URL string
	Err                     error
}

// CatalogVerdict grades the catalog: endpoints off the management address
// fail (doctor --fix re-points them); at the right address, endpoints that
// do not answer are left to the service's own API check.
func CatalogVerdict(mgmtIP string, mism []identity.Mismatch, probes []EndpointProbe) checks.Result {
	var ev []string
	for _, m := range mism {
		ev = append(ev, "wrong address: "+m.String())
	}
	var dead []string
	for _, p := range probes {
		if p.Err != nil {
			ev = append(ev, fmt.Sprintf("not answering: %s %s %s: %v", p.Service, p.Interface, p.URL, p.Err))
			if mgmtIP == "" || endpointHostOf(p.URL) != mgmtIP {
				dead = append(dead, p.URL)
			}
		}
	}
	if len(mism) > 0 {
		return checks.Failf(fmt.Sprintf("%d catalog endpoint(s) not on the management address %s", len(mism), mgmtIP),
			"stacklab doctor --fix   (re-points the catalog: identity converge with the current address)", ev...)
	}
	if len(dead) > 0 {
		return checks.Failf(fmt.Sprintf("%d catalog endpoint(s) do not answer", len(dead)),
			"check each service's host, or correct the endpoint: openstack endpoint set --url URL ID", ev...)
	}
	return checks.Pass(fmt.Sprintf("%d endpoints checked", len(probes)), ev...)
}

func endpointHostOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return u.Hostname()
}

func (dr *doctor) checkCatalog(ctx context.Context) checks.Result {
	// One reading serves both the address check and the probes.
	eps, err := dr.liveCatalog(ctx)
	if err != nil {
		return checks.Failf("cannot read the catalog", "journalctl -u keystone -n 50", err.Error())
	}
	var mism []identity.Mismatch
	if dr.cfg.MgmtIP != "" {
		mism = dr.cfg.notMgmtNames(identity.Mismatches(eps, dr.cfg.MgmtIP))
	}
	probes := make([]EndpointProbe, len(eps))
	var wg sync.WaitGroup
	for i, e := range eps {
		probes[i] = EndpointProbe{Service: e.Service, Interface: e.Interface, URL: e.URL}
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Any HTTP answer counts: unauthenticated roots answer 300/401.
			_, _, probes[i].Err = dr.get(ctx, e.URL, nil)
		}()
	}
	wg.Wait()
	slices.SortFunc(probes, func(a, b EndpointProbe) int { return strings.Compare(a.URL+a.Interface, b.URL+b.Interface) })
	return CatalogVerdict(dr.cfg.MgmtIP, mism, probes)
}

// liveCatalog is keystone's catalog for the run's token, read once: the
// keystone-auth check's proof that the token works now, and what the
// catalog check grades.
func (dr *doctor) liveCatalog(ctx context.Context) ([]identity.Endpoint, error) {
	dr.waitAuth(ctx)
	return dr.catalog.get(ctx, func(ctx context.Context) ([]identity.Endpoint, error) {
		c, err := dr.cloudConn(ctx)
		if err != nil {
			return nil, err
		}
		entries, err := c.Catalog(ctx)
		if err != nil {
			return nil, err
		}
		return identity.CatalogEndpoints(entries), nil
	})
}

func (dr *doctor) client(ctx context.Context, typ string) (*gophercloud.ServiceClient, error) {
	c, err := dr.cloudConn(ctx)
	if err != nil {
		return nil, err
	}
	switch typ {
	case "image":
		return c.Image()
	case "placement":
		return c.Placement()
	case "compute":
		return c.Compute()
	case "network":
		return c.Network()
	}
	return nil, fmt.Errorf("unknown service type %s", typ)
}

// apiPath is a cheap authenticated read for each service type.
var apiPath = map[string]string{
	"image":     "images?limit=1",
	"placement": "resource_providers",
	"compute":   "flavors?limit=1",
	// neutron lists networks in about 70 ms of CPU even with one; its
	// extensions, behind the same token check, in 7.
	"network": "extensions",
}

func (dr *doctor) checkAPI(ctx context.Context, typ, unit string) checks.Result {
	fix := "systemctl restart " + unit + "; journalctl -u " + unit + " -n 50"
	sc, err := dr.client(ctx, typ)
	if err != nil {
		return checks.Failf(typ+" API: no client", fix, err.Error())
	}
	u := sc.ResourceBaseURL() + apiPath[typ]
	ctx, cancel := context.WithTimeout(ctx, dr.cfg.probe())
	defer cancel()
	start := time.Now()
	if typ == "placement" {
		// The same read the inventory check grades: made once.
		if _, err := dr.providers(ctx); err != nil {
			return checks.Failf(typ+" API "+hungOrDown(err)+" correctly", fix, "GET "+u, err.Error())
		}
		return checks.Pass(fmt.Sprintf("%s API answers (HTTP 200 in %s)", typ, time.Since(start).Round(time.Millisecond)), "GET "+u)
	}
	if typ == "compute" {
		// The service list compute-services grades is as cheap an
		// authenticated read, made once: nova-api's one worker answered
		// the flavors and then the services, one after the other, on
		// every run. A user nova does not let list services (not an
		// admin, on --cloud) is asked for a flavor as before.
		su := sc.ResourceBaseURL() + "os-services"
		_, err := dr.computeServices(ctx)
		switch {
		case err == nil:
			return checks.Pass(fmt.Sprintf("%s API answers (HTTP 200 in %s)", typ, time.Since(start).Round(time.Millisecond)), "GET "+su)
		case !gophercloud.ResponseCodeIs(err, http.StatusForbidden):
			return checks.Failf(typ+" API "+hungOrDown(err)+" correctly", fix, "GET "+su, err.Error())
		}
	}
	resp, err := sc.Request(ctx, http.MethodGet, u, &gophercloud.RequestOpts{OkCodes: []int{200}, KeepResponseBody: true})
	if err != nil {
		return checks.Failf(typ+" API "+hungOrDown(err)+" correctly", fix, "GET "+u, err.Error())
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return checks.Pass(fmt.Sprintf("%s API answers (HTTP %d in %s)", typ, resp.StatusCode, time.Since(start).Round(time.Millisecond)), "GET "+u)
}

// ComputeVerdict grades nova's compute services. started is when this
// host's nova-compute process started (zero: unknown, or not here): nova
// calls the service up on its predecessor's last report for a minute after
// a restart or a boot, and this one's may never come.
func ComputeVerdict(list []services.Service, host string, started time.Time) checks.Result {
	var ev, down, silent []string
	n := 0
	for _, s := range list {
		ev = append(ev, fmt.Sprintf("%s on %s: %s/%s", s.Binary, s.Host, s.Status, s.State))
		if s.Binary != openstack.ComputeUnit {
			continue
		}
		n++
		switch {
		case s.State != "up" || s.Status != "enabled":
			down = append(down, s.Host+" ("+s.Status+"/"+s.State+")")
		case sameHost(s.Host, host) && !openstack.ReportedSince(s.UpdatedAt, started):
			silent = append(silent, s.Host)
			ev = append(ev, fmt.Sprintf("nova-compute on %s started at %s; its last report to nova is from %s",
				s.Host, started.UTC().Format(time.TimeOnly), s.UpdatedAt.UTC().Format(time.TimeOnly)))
		}
	}
	switch {
	case n == 0:
		return checks.Failf("nova lists no nova-compute service", "systemctl restart nova-compute; journalctl -u nova-compute -n 50", ev...)
	case len(down) > 0:
		return checks.Failf("nova-compute down or disabled: "+strings.Join(down, ", "),
			"systemctl restart nova-compute (down); openstack compute service set --enable HOST nova-compute (disabled)", ev...)
	case len(silent) > 0:
		// Not "down": nothing to restart yet, it is starting.
		return checks.Failf("nova-compute on "+strings.Join(silent, ", ")+" has not reported since it started (nova's \"up\" is the previous run's report)",
			"wait: nova-compute reports within about 30 s of its start; if it does not, journalctl -u nova-compute -n 50", ev...)
	}
	return checks.Pass(fmt.Sprintf("%d compute service(s) up", n), ev...)
}

// sameHost: nova names a host as its socket.gethostname() did, with or
// without the domain.
func sameHost(a, b string) bool {
	short := func(h string) string { h, _, _ = strings.Cut(h, "."); return h }
	return a != "" && b != "" && (a == b || short(a) == short(b))
}

// computeServices is read once per run: three checks grade it.
func (dr *doctor) computeServices(ctx context.Context) ([]services.Service, error) {
	return listOnce(ctx, dr, &dr.services, "compute",
		func(sc *gophercloud.ServiceClient) pagination.Pager { return services.List(sc, nil) }, services.ExtractServices)
}

// listOnce reads one listing of a service's API the first time a check
// asks for it; the run's other checks grade the same answer.
func listOnce[T any](ctx context.Context, dr *doctor, m *memo[[]T], service string,
	list func(*gophercloud.ServiceClient) pagination.Pager, extract func(pagination.Page) ([]T, error)) ([]T, error) {
	return m.get(ctx, func(ctx context.Context) ([]T, error) {
		sc, err := dr.client(ctx, service)
		if err != nil {
			return nil, err
		}
		page, err := list(sc).AllPages(ctx)
		if err != nil {
			return nil, fmt.Errorf("list %s: %w", service, err)
		}
		return extract(page)
	})
}

func (dr *doctor) checkComputeServices(ctx context.Context) checks.Result {
	list, err := dr.computeServices(ctx)
	if err != nil {
		return checks.Failf("cannot list compute services", "journalctl -u nova-api -n 50", err.Error())
	}
	return ComputeVerdict(list, dr.cfg.Hostname, dr.computeStart(ctx))
}

// computeStart is when this host's nova-compute started: zero off the lab
// host, when it does not run here, or when systemd cannot say.
func (dr *doctor) computeStart(ctx context.Context) time.Time {
	if !dr.cfg.Lab || !slices.Contains(dr.cfg.Units, openstack.ComputeUnit) {
		return time.Time{}
	}
	states, _ := dr.unitStates(ctx) // nil when unread: no start
	return states[openstack.ComputeUnit].Started()
}

// CellVerdict: every nova-compute host must be in nova_api.host_mappings.
func CellVerdict(computeHosts, mapped []string) checks.Result {
	var missing []string
	for _, h := range computeHosts {
		if !slices.Contains(mapped, h) {
			missing = append(missing, h)
		}
	}
	ev := []string{"compute hosts: " + strings.Join(computeHosts, " "), "mapped: " + strings.Join(mapped, " ")}
	if len(missing) > 0 {
		return checks.Failf("not mapped to a cell: "+strings.Join(missing, ", ")+" (instances fail: Host is not mapped to any cell)",
			"su -s /bin/sh -c 'nova-manage cell_v2 discover_hosts --verbose' nova   (or: stacklab doctor --fix)", ev...)
	}
	return checks.Pass("every compute host is mapped to a cell", ev...)
}

func (dr *doctor) checkCellMapping(ctx context.Context) checks.Result {
	if r, ok := dr.notLab(); ok {
		return checks.Skipped(r.Summary + " (reads nova_api's host mappings)")
	}
	list, err := dr.computeServices(ctx)
	if err != nil {
		return checks.Failf("cannot list compute services", "", err.Error())
	}
	var hosts []string
	for _, s := range list {
		if s.Binary == "nova-compute" {
			hosts = append(hosts, s.Host)
		}
	}
	out, err := dr.d.sql(ctx, "SELECT host FROM nova_api.host_mappings")
	if err != nil {
		return checks.Failf("cannot read nova_api.host_mappings", "", err.Error(), string(out))
	}
	return CellVerdict(hosts, strings.Fields(string(out)))
}

// ProviderInventory is one resource provider and its resource classes.
type ProviderInventory struct {
	Name    string
	Classes []string
}

// InventoryVerdict: each compute host needs a provider with VCPU,
// MEMORY_MB and DISK_GB inventory.
func InventoryVerdict(computeHosts []string, provs []ProviderInventory) checks.Result {
	var ev, bad []string
	for _, p := range provs {
		ev = append(ev, p.Name+": "+strings.Join(p.Classes, " "))
	}
	for _, h := range computeHosts {
		i := slices.IndexFunc(provs, func(p ProviderInventory) bool {
			return p.Name == h || strings.HasPrefix(p.Name, h+".")
		})
		if i < 0 {
			bad = append(bad, h+" has no resource provider")
			continue
		}
		for _, rc := range []string{"VCPU", "MEMORY_MB", "DISK_GB"} {
			if !slices.Contains(provs[i].Classes, rc) {
				bad = append(bad, h+" lacks "+rc)
			}
		}
	}
	if len(bad) > 0 {
		return checks.Failf(strings.Join(bad, "; "), "systemctl restart nova-compute (it reports its inventory at start); journalctl -u nova-compute -n 50", ev...)
	}
	return checks.Pass(fmt.Sprintf("%d resource provider(s) with inventory", len(provs)), ev...)
}

func (dr *doctor) checkPlacementInventory(ctx context.Context) checks.Result {
	list, err := dr.computeServices(ctx)
	if err != nil {
		return checks.Failf("cannot list compute services", "", err.Error())
	}
	var hosts []string
	for _, s := range list {
		if s.Binary == "nova-compute" {
			hosts = append(hosts, s.Host)
		}
	}
	sc, err := dr.client(ctx, "placement")
	if err != nil {
		return checks.Failf("no placement client", "", err.Error())
	}
	rps, err := dr.providers(ctx)
	if err != nil {
		return checks.Failf("cannot list resource providers", "", err.Error())
	}
	var provs []ProviderInventory
	for _, rp := range rps {
		inv, err := resourceproviders.GetInventories(ctx, sc, rp.UUID).Extract()
		if err != nil {
			return checks.Failf("cannot read inventory of "+rp.Name, "", err.Error())
		}
		p := ProviderInventory{Name: rp.Name}
		for rc := range inv.Inventories {
			p.Classes = append(p.Classes, rc)
		}
		slices.Sort(p.Classes)
		provs = append(provs, p)
	}
	return InventoryVerdict(hosts, provs)
}

// providers is placement's resource providers, read once per run: the
// placement API check and the inventory check both need the listing.
func (dr *doctor) providers(ctx context.Context) ([]resourceproviders.ResourceProvider, error) {
	return listOnce(ctx, dr, &dr.rps, "placement",
		func(sc *gophercloud.ServiceClient) pagination.Pager { return resourceproviders.List(sc, nil) },
		resourceproviders.ExtractResourceProviders)
}

// AgentsVerdict grades neutron's agents by install's own readiness rule.
func AgentsVerdict(list []agents.Agent) checks.Result {
	var ev []string
	var states []openstack.Agent
	for _, a := range list {
		state := "alive"
		if !a.Alive {
			state = "DEAD"
		}
		if !a.AdminStateUp {
			state += ", admin down"
		}
		ev = append(ev, fmt.Sprintf("%s (%s) on %s: %s", a.AgentType, a.Binary, a.Host, state))
		states = append(states, openstack.Agent{Type: a.AgentType, Host: a.Host, Alive: a.Alive, AdminUp: a.AdminStateUp})
	}
	if len(list) == 0 {
		return checks.Failf("neutron lists no agents", "systemctl restart the neutron-*-agent units; journalctl -u neutron-rpc-server -n 50")
	}
	if dead := openstack.AgentsNotReady(states); len(dead) > 0 {
		return checks.Failf("not alive: "+strings.Join(dead, ", "),
			"systemctl restart the agent's unit (stacklab services restart UNIT); neutron marks it alive within 75 s", ev...)
	}
	return checks.Pass(fmt.Sprintf("%d agent(s) alive", len(list)), ev...)
}

func (dr *doctor) checkAgents(ctx context.Context) checks.Result {
	sc, err := dr.client(ctx, "network")
	if err != nil {
		return checks.Failf("no network client", "", err.Error())
	}
	page, err := agents.List(sc, agents.ListOpts{}).AllPages(ctx)
	if err != nil {
		return checks.Failf("cannot list neutron agents", "journalctl -u neutron-api -n 50", err.Error())
	}
	list, err := agents.ExtractAgents(page)
	if err != nil {
		return checks.Failf("cannot list neutron agents", "", err.Error())
	}
	return AgentsVerdict(list)
}
