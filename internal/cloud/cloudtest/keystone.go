// Package cloudtest provides an in-memory fake of the keystone v3 API for
// tests: enough of tokens, projects, users, roles, role assignments,
// services and endpoints for gophercloud's identity packages, with state a
// test can seed and inspect and a log of every request it served.
package cloudtest

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack"
)

// Bootstrap values, as keystone-manage bootstrap would leave them.
const (
	Region        = "RegionOne"
	AdminUser     = "admin"
	AdminPassword = "admin-secret"
	AdminProject  = "admin"
	DefaultDomain = "default" // ID; its name is "Default"
)

// Project, User, Role, Service and Endpoint are the fake's records, in
// keystone's JSON shape.
type Project struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	DomainID    string `json:"domain_id"`
	Description string `json:"description"`
	Enabled     bool   `json:"enabled"`
}

type User struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	DomainID string `json:"domain_id"`
	Enabled  bool   `json:"enabled"`
	Password string `json:"-"`
}

type Role struct {
	ID       string  `json:"id"`
	Name     string  `json:"name"`
	DomainID *string `json:"domain_id"`
}

type Service struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Type        string `json:"type"`
	Description string `json:"description"`
	Enabled     bool   `json:"enabled"`
}

type Endpoint struct {
	ID        string `json:"id"`
	ServiceID string `json:"service_id"`
	Interface string `json:"interface"`
	Region    string `json:"region"`
	RegionID  string `json:"region_id"`
	URL       string `json:"url"`
	Enabled   bool   `json:"enabled"`
}

// Assignment is a role granted to a user on a project.
type Assignment struct{ UserID, ProjectID, RoleID string }

// State is a copy of everything the fake holds, each list sorted by ID, so
// tests can compare two snapshots with reflect.DeepEqual. Passwords are
// included (the User.Password field is only hidden from JSON).
type State struct {
	Projects    []Project
	Users       []User
	Roles       []Role
	Assignments []Assignment
	Services    []Service
	Endpoints   []Endpoint
}

// Request is one request the fake served.
type Request struct {
	Method, Path, Query string
}

func (r Request) String() string { return r.Method + " " + r.Path }

// Keystone is the fake. Create it with NewKeystone.
type Keystone struct {
	Server *httptest.Server

	mu          sync.Mutex
	next        int
	projects    map[string]*Project
	users       map[string]*User
	roles       map[string]*Role
	assignments map[Assignment]bool
	services    map[string]*Service
	endpoints   map[string]*Endpoint
	tokens      map[string]string // token → user ID
	log         []Request
	failures    []failure
}

type failure struct {
	method, pathPrefix string
	status             int
}

// NewKeystone starts a fake seeded like a freshly bootstrapped keystone:
// domain "default", project and user "admin" (AdminPassword) holding role
// "admin", roles admin/member/reader, and the identity service with
// public/internal/admin endpoints (pointing at the fake) in Region.
func NewKeystone(t testing.TB) *Keystone {
	t.Helper()
	k := &Keystone{
		projects:    map[string]*Project{},
		users:       map[string]*User{},
		roles:       map[string]*Role{},
		assignments: map[Assignment]bool{},
		services:    map[string]*Service{},
		endpoints:   map[string]*Endpoint{},
		tokens:      map[string]string{},
	}
	k.Server = httptest.NewServer(k)
	t.Cleanup(k.Server.Close)

	adminProject := k.AddProject(AdminProject)
	adminUser := k.AddUser(AdminUser, AdminPassword)
	adminRole := k.AddRole("admin")
	k.AddRole("member")
	k.AddRole("reader")
	k.Assign(adminUser, adminProject, adminRole)
	ks := k.AddService("keystone", "identity", "")
	for _, iface := range []string{"public", "internal", "admin"} {
		k.AddEndpoint(ks, iface, Region, k.AuthURL())
	}
	return k
}

// AuthURL is the versioned identity endpoint, as clouds.yaml's auth_url.
func (k *Keystone) AuthURL() string { return k.Server.URL + "/v3/" }

// AdminClient authenticates as the bootstrap admin and returns an identity
// v3 client bound to the fake's own URL, not to the catalog's identity
// endpoint: tests re-point that endpoint at addresses nothing listens on.
func (k *Keystone) AdminClient(t testing.TB) *gophercloud.ServiceClient {
	t.Helper()
	pc, err := openstack.NewClient(k.AuthURL())
	if err != nil {
		t.Fatalf("fake keystone: %v", err)
	}
	pc.HTTPClient = LoopbackClient()
	err = openstack.Authenticate(context.Background(), pc, gophercloud.AuthOptions{
		IdentityEndpoint: k.AuthURL(),
		Username:         AdminUser,
		Password:         AdminPassword,
		DomainID:         DefaultDomain,
		Scope:            &gophercloud.AuthScope{ProjectName: AdminProject, DomainID: DefaultDomain},
	})
	if err != nil {
		t.Fatalf("fake keystone: authenticate as admin: %v", err)
	}
	return &gophercloud.ServiceClient{ProviderClient: pc, Endpoint: k.AuthURL(), Type: "identity"}
}

// LoopbackClient is an HTTP client that refuses to dial anything but a
// loopback address, so a test that follows a catalog URL by mistake fails at
// once instead of sending traffic off the machine.
func LoopbackClient() http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil
	dialer := &net.Dialer{}
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
			return nil, fmt.Errorf("cloudtest: refusing to dial non-loopback address %s", addr)
		}
		return dialer.DialContext(ctx, network, addr)
	}
	return http.Client{Transport: tr}
}

// --- seeding and inspection -------------------------------------------------

func (k *Keystone) newID(prefix string) string {
	k.next++
	return fmt.Sprintf("%s%04d", prefix, k.next)
}

// AddProject adds a project in the default domain and returns its ID.
func (k *Keystone) AddProject(name string) string {
	k.mu.Lock()
	defer k.mu.Unlock()
	p := &Project{ID: k.newID("p"), Name: name, DomainID: DefaultDomain, Enabled: true}
	k.projects[p.ID] = p
	return p.ID
}

// AddUser adds an enabled user in the default domain and returns its ID.
func (k *Keystone) AddUser(name, password string) string {
	k.mu.Lock()
	defer k.mu.Unlock()
	u := &User{ID: k.newID("u"), Name: name, DomainID: DefaultDomain, Enabled: true, Password: password}
	k.users[u.ID] = u
	return u.ID
}

// AddRole adds a global role and returns its ID.
func (k *Keystone) AddRole(name string) string {
	k.mu.Lock()
	defer k.mu.Unlock()
	r := &Role{ID: k.newID("r"), Name: name}
	k.roles[r.ID] = r
	return r.ID
}

// Assign grants role on project to user.
func (k *Keystone) Assign(userID, projectID, roleID string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.assignments[Assignment{userID, projectID, roleID}] = true
}

// AddService adds an enabled service and returns its ID.
func (k *Keystone) AddService(name, typ, description string) string {
	k.mu.Lock()
	defer k.mu.Unlock()
	s := &Service{ID: k.newID("s"), Name: name, Type: typ, Description: description, Enabled: true}
	k.services[s.ID] = s
	return s.ID
}

// AddEndpoint adds an enabled endpoint and returns its ID.
func (k *Keystone) AddEndpoint(serviceID, iface, region, url string) string {
	k.mu.Lock()
	defer k.mu.Unlock()
	e := &Endpoint{ID: k.newID("e"), ServiceID: serviceID, Interface: iface, Region: region, RegionID: region, URL: url, Enabled: true}
	k.endpoints[e.ID] = e
	return e.ID
}

// SetEndpointURL changes an endpoint behind the API's back (as if someone
// re-pointed it by hand, or the management address moved).
func (k *Keystone) SetEndpointURL(id, url string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.endpoints[id].URL = url
}

// SetPassword changes a user's password behind the API's back.
func (k *Keystone) SetPassword(userID, password string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.users[userID].Password = password
}

// SetUserEnabled enables or disables a user behind the API's back.
func (k *Keystone) SetUserEnabled(userID string, enabled bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.users[userID].Enabled = enabled
}

// FailOn makes every later request whose method matches and whose path
// starts with pathPrefix fail with status and a keystone-style error body.
func (k *Keystone) FailOn(method, pathPrefix string, status int) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.failures = append(k.failures, failure{method, pathPrefix, status})
}

// Snapshot returns a copy of the fake's state.
func (k *Keystone) Snapshot() State {
	k.mu.Lock()
	defer k.mu.Unlock()
	var s State
	for _, id := range slices.Sorted(maps.Keys(k.projects)) {
		s.Projects = append(s.Projects, *k.projects[id])
	}
	for _, id := range slices.Sorted(maps.Keys(k.users)) {
		s.Users = append(s.Users, *k.users[id])
	}
	for _, id := range slices.Sorted(maps.Keys(k.roles)) {
		s.Roles = append(s.Roles, *k.roles[id])
	}
	for a := range k.assignments {
		s.Assignments = append(s.Assignments, a)
	}
	slices.SortFunc(s.Assignments, func(a, b Assignment) int {
		return strings.Compare(a.UserID+a.ProjectID+a.RoleID, b.UserID+b.ProjectID+b.RoleID)
	})
	for _, id := range slices.Sorted(maps.Keys(k.services)) {
		s.Services = append(s.Services, *k.services[id])
	}
	for _, id := range slices.Sorted(maps.Keys(k.endpoints)) {
		s.Endpoints = append(s.Endpoints, *k.endpoints[id])
	}
	return s
}

// Requests returns every request served so far.
func (k *Keystone) Requests() []Request {
	k.mu.Lock()
	defer k.mu.Unlock()
	return slices.Clone(k.log)
}

// Writes returns the requests that could change state: every POST, PUT,
// PATCH and DELETE except POST /v3/auth/tokens, which only issues a token.
func (k *Keystone) Writes() []Request {
	var w []Request
	for _, r := range k.Requests() {
		switch r.Method {
		case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
			if r.Method == http.MethodPost && r.Path == "/v3/auth/tokens" {
				continue
			}
			w = append(w, r)
		}
	}
	return w
}

// ResetRequests forgets the request log.
func (k *Keystone) ResetRequests() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.log = nil
}

// UserByName returns the user of that name in the default domain.
func (k *Keystone) UserByName(name string) (User, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, u := range k.users {
		if u.Name == name {
			return *u, true
		}
	}
	return User{}, false
}

// --- HTTP -------------------------------------------------------------------

type apiError struct {
	status int
	msg    string
}

func errf(status int, format string, args ...any) *apiError {
	return &apiError{status, fmt.Sprintf(format, args...)}
}

// ServeHTTP implements http.Handler.
func (k *Keystone) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.log = append(k.log, Request{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery})

	for _, f := range k.failures {
		if f.method == r.Method && strings.HasPrefix(r.URL.Path, f.pathPrefix) {
			writeError(w, errf(f.status, "injected failure"))
			return
		}
	}

	path := strings.Trim(r.URL.Path, "/")
	if path == "v3/auth/tokens" && r.Method == http.MethodPost {
		k.issueToken(w, r)
		return
	}
	if _, ok := k.tokens[r.Header.Get("X-Auth-Token")]; !ok {
		writeError(w, errf(http.StatusUnauthorized, "The request you have made requires authentication."))
		return
	}
	status, body, apiErr := k.route(r, strings.Split(strings.TrimPrefix(path, "v3/"), "/"))
	if apiErr != nil {
		writeError(w, apiErr)
		return
	}
	writeJSON(w, status, body)
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	if body == nil {
		w.WriteHeader(status)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

func writeError(w http.ResponseWriter, e *apiError) {
	writeJSON(w, e.status, map[string]any{"error": map[string]any{
		"code": e.status, "message": e.msg, "title": http.StatusText(e.status),
	}})
}

func (k *Keystone) route(r *http.Request, seg []string) (int, any, *apiError) {
	m := r.Method
	q := r.URL.Query()
	switch {
	case len(seg) == 2 && seg[0] == "auth" && seg[1] == "projects" && m == http.MethodGet:
		return k.authProjects(r)
	case len(seg) == 2 && seg[0] == "auth" && seg[1] == "catalog" && m == http.MethodGet:
		return http.StatusOK, map[string]any{"catalog": k.catalog(), "links": map[string]any{"self": nil}}, nil
	case len(seg) == 1 && seg[0] == "projects" && m == http.MethodGet:
		return list(r, "projects", filter(k.projects, func(p *Project) bool {
			return match(q, "name", p.Name) && match(q, "domain_id", p.DomainID)
		}))
	case len(seg) == 1 && seg[0] == "projects" && m == http.MethodPost:
		var in struct{ Project Project }
		in.Project.Enabled = true
		if e := decode(r, &in); e != nil {
			return 0, nil, e
		}
		p := in.Project
		if p.Name == "" {
			return 0, nil, errf(http.StatusBadRequest, "project name required")
		}
		if p.DomainID == "" {
			p.DomainID = DefaultDomain
		}
		for _, o := range k.projects {
			if o.Name == p.Name && o.DomainID == p.DomainID {
				return 0, nil, errf(http.StatusConflict, "Duplicate entry found with name %s", p.Name)
			}
		}
		p.ID = k.newID("p")
		k.projects[p.ID] = &p
		return http.StatusCreated, map[string]any{"project": p}, nil

	case len(seg) == 6 && seg[0] == "projects" && seg[2] == "users" && seg[4] == "roles":
		a := Assignment{UserID: seg[3], ProjectID: seg[1], RoleID: seg[5]}
		if k.projects[a.ProjectID] == nil || k.users[a.UserID] == nil || k.roles[a.RoleID] == nil {
			return 0, nil, errf(http.StatusNotFound, "Could not find project, user or role")
		}
		switch m {
		case http.MethodPut:
			k.assignments[a] = true
			return http.StatusNoContent, nil, nil
		case http.MethodHead, http.MethodGet:
			if !k.assignments[a] {
				return 0, nil, errf(http.StatusNotFound, "Could not find role assignment")
			}
			return http.StatusNoContent, nil, nil
		case http.MethodDelete:
			delete(k.assignments, a)
			return http.StatusNoContent, nil, nil
		}

	case len(seg) == 1 && seg[0] == "users" && m == http.MethodGet:
		return list(r, "users", filter(k.users, func(u *User) bool {
			return match(q, "name", u.Name) && match(q, "domain_id", u.DomainID)
		}))
	case len(seg) == 1 && seg[0] == "users" && m == http.MethodPost:
		var in struct {
			User struct {
				User
				Password string `json:"password"`
			}
		}
		in.User.Enabled = true
		if e := decode(r, &in); e != nil {
			return 0, nil, e
		}
		u := in.User.User
		u.Password = in.User.Password
		if u.DomainID == "" {
			u.DomainID = DefaultDomain
		}
		for _, o := range k.users {
			if o.Name == u.Name && o.DomainID == u.DomainID {
				return 0, nil, errf(http.StatusConflict, "Duplicate entry found with name %s", u.Name)
			}
		}
		u.ID = k.newID("u")
		k.users[u.ID] = &u
		return http.StatusCreated, map[string]any{"user": u}, nil
	case len(seg) == 2 && seg[0] == "users" && m == http.MethodPatch:
		u := k.users[seg[1]]
		if u == nil {
			return 0, nil, errf(http.StatusNotFound, "Could not find user: %s", seg[1])
		}
		var in struct {
			User struct {
				Password *string `json:"password"`
				Enabled  *bool   `json:"enabled"`
				Name     *string `json:"name"`
			}
		}
		if e := decode(r, &in); e != nil {
			return 0, nil, e
		}
		if in.User.Password != nil {
			u.Password = *in.User.Password
		}
		if in.User.Enabled != nil {
			u.Enabled = *in.User.Enabled
		}
		if in.User.Name != nil {
			u.Name = *in.User.Name
		}
		return http.StatusOK, map[string]any{"user": u}, nil

	case len(seg) == 1 && seg[0] == "roles" && m == http.MethodGet:
		return list(r, "roles", filter(k.roles, func(x *Role) bool { return match(q, "name", x.Name) }))
	case len(seg) == 1 && seg[0] == "roles" && m == http.MethodPost:
		var in struct{ Role Role }
		if e := decode(r, &in); e != nil {
			return 0, nil, e
		}
		for _, o := range k.roles {
			if o.Name == in.Role.Name {
				return 0, nil, errf(http.StatusConflict, "Duplicate entry found with name %s", o.Name)
			}
		}
		x := in.Role
		x.ID = k.newID("r")
		k.roles[x.ID] = &x
		return http.StatusCreated, map[string]any{"role": x}, nil

	case len(seg) == 1 && seg[0] == "role_assignments" && m == http.MethodGet:
		var out []any
		for _, a := range slices.SortedFunc(maps.Keys(k.assignments), func(a, b Assignment) int {
			return strings.Compare(a.UserID+a.ProjectID+a.RoleID, b.UserID+b.ProjectID+b.RoleID)
		}) {
			if !match(q, "user.id", a.UserID) || !match(q, "scope.project.id", a.ProjectID) || !match(q, "role.id", a.RoleID) {
				continue
			}
			out = append(out, map[string]any{
				"role":  map[string]any{"id": a.RoleID},
				"user":  map[string]any{"id": a.UserID},
				"scope": map[string]any{"project": map[string]any{"id": a.ProjectID}},
			})
		}
		return list(r, "role_assignments", out)

	case len(seg) == 1 && seg[0] == "services" && m == http.MethodGet:
		return list(r, "services", filter(k.services, func(s *Service) bool {
			return match(q, "type", s.Type) && match(q, "name", s.Name)
		}))
	case len(seg) == 1 && seg[0] == "services" && m == http.MethodPost:
		var in struct{ Service Service }
		in.Service.Enabled = true
		if e := decode(r, &in); e != nil {
			return 0, nil, e
		}
		s := in.Service
		if s.Type == "" {
			return 0, nil, errf(http.StatusBadRequest, "service type required")
		}
		s.ID = k.newID("s")
		k.services[s.ID] = &s
		return http.StatusCreated, map[string]any{"service": s}, nil
	case len(seg) == 2 && seg[0] == "services" && m == http.MethodPatch:
		s := k.services[seg[1]]
		if s == nil {
			return 0, nil, errf(http.StatusNotFound, "Could not find service: %s", seg[1])
		}
		var in struct {
			Service struct {
				Name        *string `json:"name"`
				Description *string `json:"description"`
				Enabled     *bool   `json:"enabled"`
			}
		}
		if e := decode(r, &in); e != nil {
			return 0, nil, e
		}
		if in.Service.Name != nil {
			s.Name = *in.Service.Name
		}
		if in.Service.Description != nil {
			s.Description = *in.Service.Description
		}
		if in.Service.Enabled != nil {
			s.Enabled = *in.Service.Enabled
		}
		return http.StatusOK, map[string]any{"service": s}, nil

	case len(seg) == 1 && seg[0] == "endpoints" && m == http.MethodGet:
		return list(r, "endpoints", filter(k.endpoints, func(e *Endpoint) bool {
			return match(q, "service_id", e.ServiceID) && match(q, "interface", e.Interface) && match(q, "region_id", e.RegionID)
		}))
	case len(seg) == 1 && seg[0] == "endpoints" && m == http.MethodPost:
		var in struct{ Endpoint Endpoint }
		in.Endpoint.Enabled = true
		if e := decode(r, &in); e != nil {
			return 0, nil, e
		}
		ep := in.Endpoint
		if k.services[ep.ServiceID] == nil {
			return 0, nil, errf(http.StatusBadRequest, "Could not find service: %s", ep.ServiceID)
		}
		if ep.URL == "" || !slices.Contains([]string{"public", "internal", "admin"}, ep.Interface) {
			return 0, nil, errf(http.StatusBadRequest, "invalid endpoint")
		}
		// Like keystone: the legacy "region" field names the region.
		if ep.RegionID == "" {
			ep.RegionID = ep.Region
		}
		ep.Region = ep.RegionID
		ep.ID = k.newID("e")
		k.endpoints[ep.ID] = &ep
		return http.StatusCreated, map[string]any{"endpoint": ep}, nil
	case len(seg) == 2 && seg[0] == "endpoints" && m == http.MethodPatch:
		ep := k.endpoints[seg[1]]
		if ep == nil {
			return 0, nil, errf(http.StatusNotFound, "Could not find endpoint: %s", seg[1])
		}
		var in struct {
			Endpoint struct {
				URL       *string `json:"url"`
				Enabled   *bool   `json:"enabled"`
				Region    *string `json:"region"`
				Interface *string `json:"interface"`
			}
		}
		if e := decode(r, &in); e != nil {
			return 0, nil, e
		}
		if in.Endpoint.URL != nil {
			ep.URL = *in.Endpoint.URL
		}
		if in.Endpoint.Enabled != nil {
			ep.Enabled = *in.Endpoint.Enabled
		}
		if in.Endpoint.Region != nil {
			ep.Region, ep.RegionID = *in.Endpoint.Region, *in.Endpoint.Region
		}
		if in.Endpoint.Interface != nil {
			ep.Interface = *in.Endpoint.Interface
		}
		return http.StatusOK, map[string]any{"endpoint": ep}, nil
	case len(seg) == 2 && seg[0] == "endpoints" && m == http.MethodDelete:
		if k.endpoints[seg[1]] == nil {
			return 0, nil, errf(http.StatusNotFound, "Could not find endpoint: %s", seg[1])
		}
		delete(k.endpoints, seg[1])
		return http.StatusNoContent, nil, nil
	}
	return 0, nil, errf(http.StatusNotFound, "fake keystone does not implement %s /v3/%s", m, strings.Join(seg, "/"))
}

// decode unmarshals the JSON body into v. Fields absent from the body keep
// the values v already has, which is how callers give defaults (enabled:
// true, as keystone does).
func decode(r *http.Request, v any) *apiError {
	if err := json.NewDecoder(r.Body).Decode(v); err != nil {
		return errf(http.StatusBadRequest, "malformed JSON: %v", err)
	}
	return nil
}

func match(q map[string][]string, key, value string) bool {
	want, ok := q[key]
	return !ok || want[0] == value
}

func filter[T any](m map[string]*T, keep func(*T) bool) []any {
	var out []any
	for _, id := range slices.Sorted(maps.Keys(m)) {
		if keep(m[id]) {
			out = append(out, *m[id])
		}
	}
	return out
}

func list(r *http.Request, key string, items []any) (int, any, *apiError) {
	if items == nil {
		items = []any{}
	}
	return http.StatusOK, map[string]any{
		key:     items,
		"links": map[string]any{"self": r.URL.String(), "next": nil, "previous": nil},
	}, nil
}

// issueToken implements POST /v3/auth/tokens for the password method.
func (k *Keystone) issueToken(w http.ResponseWriter, r *http.Request) {
	type ref struct {
		ID     string `json:"id"`
		Name   string `json:"name"`
		Domain *struct {
			ID   string `json:"id"`
			Name string `json:"name"`
		} `json:"domain"`
	}
	var in struct {
		Auth struct {
			Identity struct {
				Methods  []string `json:"methods"`
				Password struct {
					User struct {
						ref
						Password string `json:"password"`
					} `json:"user"`
				} `json:"password"`
			} `json:"identity"`
			Scope json.RawMessage `json:"scope"`
		} `json:"auth"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		writeError(w, errf(http.StatusBadRequest, "malformed JSON: %v", err))
		return
	}
	inDomain := func(d *struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	}, domainID string) bool {
		return d == nil || d.ID == domainID || (d.ID == "" && strings.EqualFold(d.Name, "Default") && domainID == DefaultDomain)
	}
	unauthorized := errf(http.StatusUnauthorized, "The request you have made requires authentication.")
	if !slices.Contains(in.Auth.Identity.Methods, "password") {
		writeError(w, unauthorized)
		return
	}
	want := in.Auth.Identity.Password.User
	var user *User
	for _, u := range k.users {
		if (want.ID != "" && u.ID == want.ID) || (want.ID == "" && u.Name == want.Name && inDomain(want.Domain, u.DomainID)) {
			user = u
		}
	}
	if user == nil || !user.Enabled || user.Password != want.Password {
		writeError(w, unauthorized)
		return
	}

	body := map[string]any{
		"expires_at": "2099-01-01T00:00:00.000000Z",
		"issued_at":  "2024-01-01T00:00:00.000000Z",
		"methods":    []string{"password"},
		"user":       map[string]any{"id": user.ID, "name": user.Name, "domain": map[string]any{"id": user.DomainID}},
	}
	var scope struct {
		Project *ref `json:"project"`
	}
	if len(in.Auth.Scope) > 0 {
		_ = json.Unmarshal(in.Auth.Scope, &scope)
	}
	if p := scope.Project; p != nil {
		var project *Project
		for _, x := range k.projects {
			if (p.ID != "" && x.ID == p.ID) || (p.ID == "" && x.Name == p.Name && inDomain(p.Domain, x.DomainID)) {
				project = x
			}
		}
		if project == nil {
			writeError(w, unauthorized)
			return
		}
		var roles []any
		for a := range k.assignments {
			if a.UserID == user.ID && a.ProjectID == project.ID {
				roles = append(roles, map[string]any{"id": a.RoleID, "name": k.roles[a.RoleID].Name})
			}
		}
		if len(roles) == 0 {
			writeError(w, unauthorized)
			return
		}
		body["project"] = map[string]any{"id": project.ID, "name": project.Name, "domain": map[string]any{"id": project.DomainID}}
		body["roles"] = roles
		body["catalog"] = k.catalog()
	}

	token := fmt.Sprintf("tok-%d", len(k.tokens)+1)
	k.tokens[token] = user.ID
	w.Header().Set("X-Subject-Token", token)
	writeJSON(w, http.StatusCreated, map[string]any{"token": body})
}

func (k *Keystone) catalog() []any {
	var out []any
	for _, sid := range slices.Sorted(maps.Keys(k.services)) {
		s := k.services[sid]
		if !s.Enabled {
			continue
		}
		eps := []any{}
		for _, eid := range slices.Sorted(maps.Keys(k.endpoints)) {
			e := k.endpoints[eid]
			if e.ServiceID == sid && e.Enabled {
				eps = append(eps, map[string]any{"id": e.ID, "interface": e.Interface, "region": e.Region, "region_id": e.RegionID, "url": e.URL})
			}
		}
		out = append(out, map[string]any{"id": s.ID, "type": s.Type, "name": s.Name, "endpoints": eps})
	}
	return out
}
