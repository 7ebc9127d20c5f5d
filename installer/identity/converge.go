package identity

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/endpoints"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/projects"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/roles"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/services"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/tokens"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/users"
	"github.com/gophercloud/gophercloud/v2/pagination"

	"github.com/stacklab/stacklab/internal/cloud"
)

// Result lists what Converge changed (or, in a dry run, would change), one
// human-readable line each; empty means keystone already matched the spec.
// No line ever contains a password.
type Result struct {
	Changes []string
}

// Converge makes keystone match spec through client (an identity v3 client
// authenticated as an admin): it reads the current state, works out the
// difference, acts on it, and then re-reads to verify that nothing is left
// to do. With dryRun it only reads and reports what it would change.
// Running it twice in a row changes nothing the second time.
//
// Passwords: keystone cannot tell us a user's password, so Converge tries to
// authenticate as each existing user and sets the password only when that
// fails. Setting it every time would also be harmless to keystone, but it
// is a write on every run, and "a second run changes nothing" must hold for
// the Changes list and for the API alike (doctor runs Converge as a check).
// The check costs one token request per user; it creates no resources. If
// keystone's lockout (lockout_failure_attempts) is enabled, a wrong password
// counts as one failed attempt per run; lab keystones leave it off.
func Converge(ctx context.Context, client *gophercloud.ServiceClient, spec Spec, dryRun bool) (Result, error) {
	if err := spec.validate(); err != nil {
		return Result{}, err
	}
	c := newConverger(client, spec, dryRun)
	if err := c.run(ctx); err != nil {
		return Result{Changes: c.changes}, err
	}
	res := Result{Changes: c.changes}
	if dryRun || len(res.Changes) == 0 {
		return res, nil
	}

	// Verify by planning again against freshly read state: whatever still
	// differs was not really done (or was undone by someone else meanwhile).
	// A keystone caching per worker may answer a read from before our write
	// for a moment, so a difference is re-read a few times before it counts.
	var left []string
	for attempt, backoff := 0, 500*time.Millisecond; ; attempt, backoff = attempt+1, backoff*2 {
		v := newConverger(client, spec, true)
		if err := v.run(ctx); err != nil {
			return res, fmt.Errorf("keystone: verify: %w", err)
		}
		if left = v.changes; len(left) == 0 {
			return res, nil
		}
		if attempt == verifyAttempts-1 {
			break
		}
		select {
		case <-ctx.Done():
			return res, fmt.Errorf("keystone: verify: %w", ctx.Err())
		case <-time.After(backoff):
		}
	}
	return res, fmt.Errorf("keystone: state still differs from the spec after converging: %s", strings.Join(left, "; "))
}

// verifyAttempts bounds how often Converge re-reads before it declares that
// its writes did not take.
const verifyAttempts = 3

type converger struct {
	client *gophercloud.ServiceClient
	// auth authenticates as service users. It has its own provider client
	// without a reauth function: through the admin's provider, a 401 (the
	// answer we are probing for) would make gophercloud re-authenticate the
	// admin and retry.
	auth    *gophercloud.ServiceClient
	spec    Spec
	dryRun  bool
	changes []string
	st      state
}

func newConverger(client *gophercloud.ServiceClient, spec Spec, dryRun bool) *converger {
	pc := &gophercloud.ProviderClient{
		HTTPClient: client.ProviderClient.HTTPClient,
		UserAgent:  client.ProviderClient.UserAgent,
	}
	auth := &gophercloud.ServiceClient{
		ProviderClient: pc,
		Endpoint:       client.Endpoint,
		ResourceBase:   client.ResourceBase,
		Type:           client.Type,
	}
	return &converger{client: client, auth: auth, spec: spec, dryRun: dryRun}
}

func (c *converger) change(format string, args ...any) {
	c.changes = append(c.changes, fmt.Sprintf(format, args...))
}

// planned is the stand-in ID of something a dry run would create; nothing
// in keystone has such an ID, so everything hanging off it counts as missing.
func planned(kind, name string) string { return "(new " + kind + " " + name + ")" }

// state is keystone as read at the start of a run, updated as the run
// creates things.
type state struct {
	projects  map[string]projects.Project // by name, in the spec's domain
	users     map[string]users.User       // by name, in the spec's domain
	roles     map[string]roles.Role       // global roles by name
	assigned  map[assignmentKey]bool      // user assignments on projects, by IDs
	services  []services.Service
	endpoints []endpoints.Endpoint
}

type assignmentKey struct{ user, project, role string }

func (c *converger) run(ctx context.Context) error {
	if err := c.read(ctx); err != nil {
		return err
	}
	for _, step := range []func(context.Context) error{
		c.convergeProjects,
		c.convergeRoles,
		c.convergeUsers,
		c.convergeAssignments,
		c.convergeServices,
	} {
		if err := step(ctx); err != nil {
			return err
		}
	}
	return nil
}

// listAll reads every page of p.
func listAll[T any](ctx context.Context, p pagination.Pager, extract func(pagination.Page) ([]T, error)) ([]T, error) {
	page, err := p.AllPages(ctx)
	if err != nil {
		return nil, err
	}
	return extract(page)
}

// read lists what the spec touches. The lists are independent reads, so
// they go to keystone together (its uwsgi serves them on threads while
// each waits on MariaDB): a re-run's keystone phase is mostly these and
// the password checks.
func (c *converger) read(ctx context.Context) error {
	dom := c.spec.DomainID
	st := state{
		projects: map[string]projects.Project{},
		users:    map[string]users.User{},
		roles:    map[string]roles.Role{},
		assigned: map[assignmentKey]bool{},
	}
	var (
		wg   sync.WaitGroup
		errs [5]error
		ps   []projects.Project
		us   []users.User
		rs   []roles.Role
	)
	wg.Go(func() {
		ps, errs[0] = listAll(ctx, projects.List(c.client, projects.ListOpts{DomainID: dom}), projects.ExtractProjects)
	})
	wg.Go(func() {
		us, errs[1] = listAll(ctx, users.List(c.client, users.ListOpts{DomainID: dom}), users.ExtractUsers)
	})
	wg.Go(func() { rs, errs[2] = listAll(ctx, roles.List(c.client, nil), roles.ExtractRoles) })
	wg.Go(func() { st.services, errs[3] = listAll(ctx, services.List(c.client, nil), services.ExtractServices) })
	wg.Go(func() {
		st.endpoints, errs[4] = listAll(ctx, endpoints.List(c.client, nil), endpoints.ExtractEndpoints)
	})
	wg.Wait()
	what := [5]string{"projects in domain " + dom, "users in domain " + dom, "roles", "services", "endpoints"}
	for i, err := range errs {
		if err != nil {
			errs[i] = fmt.Errorf("keystone: list %s: %w", what[i], err)
		}
	}
	if err := errors.Join(errs[:]...); err != nil {
		return err
	}
	for _, p := range ps {
		st.projects[p.Name] = p
	}
	for _, u := range us {
		st.users[u.Name] = u
	}
	for _, r := range rs {
		if r.DomainID == "" { // domain-specific roles are not what assignments here mean
			st.roles[r.Name] = r
		}
	}

	// Assignments only on the projects the spec grants roles on.
	var scoped []string
	for _, a := range c.spec.Assignments {
		if p, ok := st.projects[a.Project]; ok && !slices.Contains(scoped, p.ID) {
			scoped = append(scoped, p.ID)
		}
	}
	for _, pid := range scoped {
		page, err := roles.ListAssignments(c.client, roles.ListAssignmentsOpts{ScopeProjectID: pid}).AllPages(ctx)
		if err != nil {
			return fmt.Errorf("keystone: list role assignments on project %s: %w", pid, err)
		}
		as, err := roles.ExtractRoleAssignments(page)
		if err != nil {
			return fmt.Errorf("keystone: list role assignments on project %s: %w", pid, err)
		}
		for _, a := range as {
			if a.User.ID != "" {
				st.assigned[assignmentKey{a.User.ID, a.Scope.Project.ID, a.Role.ID}] = true
			}
		}
	}
	c.st = st
	return nil
}

func (c *converger) convergeProjects(ctx context.Context) error {
	for _, want := range c.spec.Projects {
		have, ok := c.st.projects[want.Name]
		switch {
		case !ok:
			c.change("create project %s", want.Name)
			have = projects.Project{ID: planned("project", want.Name), Name: want.Name, Enabled: true}
			if !c.dryRun {
				p, err := projects.Create(ctx, c.client, projects.CreateOpts{
					Name: want.Name, DomainID: c.spec.DomainID, Description: want.Description, Enabled: ptr(true),
				}).Extract()
				if err != nil {
					return fmt.Errorf("keystone: create project %s: %w", want.Name, err)
				}
				have = *p
			}
		case !have.Enabled:
			c.change("enable project %s", want.Name)
			if !c.dryRun {
				if _, err := projects.Update(ctx, c.client, have.ID, projects.UpdateOpts{Enabled: ptr(true)}).Extract(); err != nil {
					return fmt.Errorf("keystone: enable project %s: %w", want.Name, err)
				}
			}
		}
		c.st.projects[want.Name] = have
	}
	return nil
}

func (c *converger) convergeRoles(ctx context.Context) error {
	for _, name := range c.spec.Roles {
		if _, ok := c.st.roles[name]; ok {
			continue
		}
		c.change("create role %s", name)
		r := roles.Role{ID: planned("role", name), Name: name}
		if !c.dryRun {
			created, err := roles.Create(ctx, c.client, roles.CreateOpts{Name: name}).Extract()
			if err != nil {
				return fmt.Errorf("keystone: create role %s: %w", name, err)
			}
			r = *created
		}
		c.st.roles[name] = r
	}
	return nil
}

func (c *converger) convergeUsers(ctx context.Context) error {
	works, err := c.passwordsWork(ctx)
	if err != nil {
		return err
	}
	for _, want := range c.spec.Users {
		have, ok := c.st.users[want.Name]
		if !ok {
			c.change("create user %s", want.Name)
			u := users.User{ID: planned("user", want.Name), Name: want.Name, Enabled: true}
			if !c.dryRun {
				created, err := users.Create(ctx, c.client, users.CreateOpts{
					Name: want.Name, DomainID: c.spec.DomainID, Password: want.Password.Reveal(), Enabled: ptr(true),
				}).Extract()
				if err != nil {
					return fmt.Errorf("keystone: create user %s: %w", want.Name, err)
				}
				u = *created
			}
			c.st.users[want.Name] = u
			continue
		}

		if !have.Enabled {
			c.change("enable user %s", want.Name)
			if !c.dryRun {
				if _, err := users.Update(ctx, c.client, have.ID, users.UpdateOpts{Enabled: ptr(true)}).Extract(); err != nil {
					return fmt.Errorf("keystone: enable user %s: %w", want.Name, err)
				}
			}
		}
		ok, checked := works[want.Name]
		if !checked {
			// Enabled just now (or, in a dry run, to be enabled).
			if ok, err = c.passwordWorks(ctx, have.ID, want.Password); err != nil {
				return fmt.Errorf("keystone: check password of user %s: %w", want.Name, err)
			}
		}
		if ok {
			continue
		}
		c.change("set password of user %s", want.Name)
		if !c.dryRun {
			if _, err := users.Update(ctx, c.client, have.ID, users.UpdateOpts{Password: want.Password.Reveal()}).Extract(); err != nil {
				return fmt.Errorf("keystone: set password of user %s: %w", want.Name, err)
			}
		}
	}
	return nil
}

// passwordsWork checks the password of each enabled user the spec names,
// all at once: each is a login, a bcrypt hash that keystone's bcrypt
// computes without Python's lock. A disabled user cannot authenticate
// whatever its password: it is checked once enabled (a dry run cannot
// tell, and reports the password as to be set).
func (c *converger) passwordsWork(ctx context.Context) (map[string]bool, error) {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	works := map[string]bool{}
	for _, want := range c.spec.Users {
		have, ok := c.st.users[want.Name]
		if !ok || !have.Enabled {
			continue
		}
		wg.Go(func() {
			ok, err := c.passwordWorks(ctx, have.ID, want.Password)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, fmt.Errorf("keystone: check password of user %s: %w", want.Name, err))
			}
			works[want.Name] = ok
		})
	}
	wg.Wait()
	return works, errors.Join(errs...)
}

// passwordWorks asks keystone for an unscoped token as the user: 201 means
// the password is right, 401 that it is not (or the user is disabled).
func (c *converger) passwordWorks(ctx context.Context, userID string, password cloud.Secret) (bool, error) {
	err := tokens.Create(ctx, c.auth, &tokens.AuthOptions{UserID: userID, Password: password.Reveal()}).Err
	switch {
	case err == nil:
		return true, nil
	case gophercloud.ResponseCodeIs(err, http.StatusUnauthorized):
		return false, nil
	default:
		return false, err
	}
}

func (c *converger) convergeAssignments(ctx context.Context) error {
	for _, a := range c.spec.Assignments {
		u, ok := c.st.users[a.User]
		if !ok {
			return fmt.Errorf("keystone: assign role %s to user %s on project %s: no such user in domain %s", a.Role, a.User, a.Project, c.spec.DomainID)
		}
		p, ok := c.st.projects[a.Project]
		if !ok {
			return fmt.Errorf("keystone: assign role %s to user %s on project %s: no such project in domain %s", a.Role, a.User, a.Project, c.spec.DomainID)
		}
		r, ok := c.st.roles[a.Role]
		if !ok {
			return fmt.Errorf("keystone: assign role %s to user %s on project %s: no such role (add it to the spec's roles)", a.Role, a.User, a.Project)
		}
		key := assignmentKey{u.ID, p.ID, r.ID}
		if c.st.assigned[key] {
			continue
		}
		c.change("assign role %s to user %s on project %s", a.Role, a.User, a.Project)
		if !c.dryRun {
			if err := roles.Assign(ctx, c.client, r.ID, roles.AssignOpts{UserID: u.ID, ProjectID: p.ID}).ExtractErr(); err != nil {
				return fmt.Errorf("keystone: assign role %s to user %s on project %s: %w", a.Role, a.User, a.Project, err)
			}
		}
		c.st.assigned[key] = true
	}
	return nil
}

func (c *converger) convergeServices(ctx context.Context) error {
	for _, want := range c.spec.Services {
		svc, err := c.convergeService(ctx, want)
		if err != nil {
			return err
		}
		for _, e := range want.Endpoints.byInterface() {
			if err := c.convergeEndpoint(ctx, want, svc.ID, e.iface, e.url); err != nil {
				return err
			}
		}
	}
	return nil
}

// findService returns the service of that type and name; among duplicates
// (left by hand-run CLI commands) the enabled one with the lowest ID, so
// every run picks the same.
func (c *converger) findService(typ, name string) (services.Service, bool) {
	var found []services.Service
	for _, s := range c.st.services {
		if s.Type == typ && serviceName(s) == name {
			found = append(found, s)
		}
	}
	if len(found) == 0 {
		return services.Service{}, false
	}
	slices.SortFunc(found, func(a, b services.Service) int {
		if a.Enabled != b.Enabled {
			if a.Enabled {
				return -1
			}
			return 1
		}
		return cmp.Compare(a.ID, b.ID)
	})
	return found[0], true
}

// serviceName copes with keystones that return name only in extra.
func serviceName(s services.Service) string {
	if s.Name != "" {
		return s.Name
	}
	n, _ := s.Extra["name"].(string)
	return n
}

func (c *converger) convergeService(ctx context.Context, want Service) (services.Service, error) {
	have, ok := c.findService(want.Type, want.Name)
	if !ok {
		c.change("create service %s (%s)", want.Name, want.Type)
		s := services.Service{ID: planned("service", want.Name), Name: want.Name, Type: want.Type, Enabled: true}
		if !c.dryRun {
			created, err := services.Create(ctx, c.client, services.CreateOpts{
				Name: want.Name, Type: want.Type, Description: want.Description, Enabled: ptr(true),
			}).Extract()
			if err != nil {
				return s, fmt.Errorf("keystone: create service %s (%s): %w", want.Name, want.Type, err)
			}
			s = *created
		}
		c.st.services = append(c.st.services, s)
		return s, nil
	}

	var upd services.UpdateOpts
	var what []string
	if !have.Enabled {
		upd.Enabled = ptr(true)
		what = append(what, "enable")
	}
	if want.Description != "" && have.Description != want.Description {
		upd.Description = ptr(want.Description)
		what = append(what, fmt.Sprintf("description %q", want.Description))
	}
	if len(what) == 0 {
		return have, nil
	}
	c.change("update service %s (%s): %s", want.Name, want.Type, strings.Join(what, ", "))
	if !c.dryRun {
		if _, err := services.Update(ctx, c.client, have.ID, upd).Extract(); err != nil {
			return have, fmt.Errorf("keystone: update service %s (%s): %w", want.Name, want.Type, err)
		}
	}
	return have, nil
}

func endpointRegion(e endpoints.Endpoint) string {
	if e.RegionID != "" {
		return e.RegionID
	}
	return e.Region
}

// convergeEndpoint makes exactly one enabled endpoint of the service,
// interface and region carry url. An existing one is updated in place (a
// changed management address re-points it; its ID stays); extra ones,
// which would make clients pick at random, are deleted after that.
func (c *converger) convergeEndpoint(ctx context.Context, svc Service, serviceID, iface, url string) error {
	var cands []endpoints.Endpoint
	for _, e := range c.st.endpoints {
		if e.ServiceID == serviceID && string(e.Availability) == iface && endpointRegion(e) == c.spec.Region {
			cands = append(cands, e)
		}
	}
	// Keep the one already right if there is one, else the lowest ID.
	slices.SortFunc(cands, func(a, b endpoints.Endpoint) int {
		if (a.URL == url) != (b.URL == url) {
			if a.URL == url {
				return -1
			}
			return 1
		}
		return cmp.Compare(a.ID, b.ID)
	})

	if len(cands) == 0 {
		c.change("create endpoint %s %s %s in %s", svc.Name, iface, url, c.spec.Region)
		if !c.dryRun {
			_, err := endpoints.Create(ctx, c.client, endpoints.CreateOpts{
				Availability: gophercloud.Availability(iface), Region: c.spec.Region, URL: url, ServiceID: serviceID, Enabled: ptr(true),
			}).Extract()
			if err != nil {
				return fmt.Errorf("keystone: create endpoint %s %s: %w", svc.Name, iface, err)
			}
		}
		return nil
	}

	keep := cands[0]
	var upd endpoints.UpdateOpts
	var what []string
	if keep.URL != url {
		upd.URL = url
		what = append(what, fmt.Sprintf("%s -> %s", keep.URL, url))
	}
	if !keep.Enabled {
		upd.Enabled = ptr(true)
		what = append(what, "enable")
	}
	if len(what) > 0 {
		c.change("update endpoint %s %s: %s", svc.Name, iface, strings.Join(what, ", "))
		if !c.dryRun {
			if _, err := endpoints.Update(ctx, c.client, keep.ID, upd).Extract(); err != nil {
				return fmt.Errorf("keystone: update endpoint %s %s (%s): %w", svc.Name, iface, keep.ID, err)
			}
		}
	}
	for _, dup := range cands[1:] {
		c.change("delete duplicate endpoint %s %s %s (%s)", svc.Name, iface, dup.URL, dup.ID)
		if c.dryRun {
			continue
		}
		err := endpoints.Delete(ctx, c.client, dup.ID).ExtractErr()
		if err != nil && !gophercloud.ResponseCodeIs(err, http.StatusNotFound) { // already gone is fine
			return fmt.Errorf("keystone: delete duplicate endpoint %s %s (%s): %w", svc.Name, iface, dup.ID, err)
		}
	}
	return nil
}

func ptr[T any](v T) *T { return &v }
