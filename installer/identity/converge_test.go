package identity_test

import (
	"context"
	"errors"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/tokens"

	"github.com/stacklab/stacklab/installer/identity"
	"github.com/stacklab/stacklab/installer/openstack"
	"github.com/stacklab/stacklab/internal/cloud/cloudtest"
	"github.com/stacklab/stacklab/lab"
)

// The spec's URLs are only data here: Converge registers them and never
// contacts them (TEST-NET addresses, so nothing could answer anyway).
// labUsers are the service users the lab's catalog holds, in its order.
var labUsers = []string{"glance", "placement", "nova", "neutron"}

const (
	mgmt    = "192.0.2.10"
	newMgmt = "192.0.2.77"
)

func labSpec(t *testing.T, ip string) identity.Spec {
	t.Helper()
	p := openstack.Params{MgmtIP: ip, Region: cloudtest.Region}
	p.GlanceUser, p.PlacementUser, p.NovaUser, p.NeutronUser = "glance-pw", "placement-pw", "nova-pw", "neutron-pw"
	s, err := lab.Of(p).Catalog()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func converge(t *testing.T, k *cloudtest.Keystone, s identity.Spec, dryRun bool) []string {
	t.Helper()
	res, err := identity.Converge(context.Background(), k.AdminClient(t), s, dryRun)
	if err != nil {
		t.Fatalf("Converge(dryRun=%v): %v", dryRun, err)
	}
	return res.Changes
}

func firstRunChanges() []string {
	// keystone-manage bootstrap already made roles admin, member and reader.
	want := []string{"create project service"}
	for _, u := range labUsers {
		want = append(want, "create user "+u)
	}
	for _, u := range labUsers {
		want = append(want, "assign role admin to user "+u+" on project service")
	}
	// The bootstrap's identity endpoints point at the fake itself; the spec
	// re-points them at the management address, in place.
	for _, iface := range []string{"public", "internal", "admin"} {
		want = append(want, "update endpoint keystone "+iface+": KEYSTONE -> http://192.0.2.10:5000/v3/")
	}
	for _, s := range []struct{ name, typ, url string }{
		{"glance", "image", "http://192.0.2.10:9292"},
		{"placement", "placement", "http://192.0.2.10:8778"},
		{"nova", "compute", "http://192.0.2.10:8774/v2.1"},
		{"neutron", "network", "http://192.0.2.10:9696"},
	} {
		want = append(want, "create service "+s.name+" ("+s.typ+")")
		for _, iface := range []string{"public", "internal", "admin"} {
			want = append(want, "create endpoint "+s.name+" "+iface+" "+s.url+" in RegionOne")
		}
	}
	return want
}

func expand(k *cloudtest.Keystone, changes []string) []string {
	out := slices.Clone(changes)
	for i := range out {
		out[i] = strings.ReplaceAll(out[i], "KEYSTONE", k.AuthURL())
	}
	return out
}

func TestConvergeFromBootstrapThenIdempotent(t *testing.T) {
	k := cloudtest.NewKeystone(t)
	spec := labSpec(t, mgmt)

	got := converge(t, k, spec, false)
	if want := expand(k, firstRunChanges()); !slices.Equal(got, want) {
		t.Errorf("first run changes:\n got %q\nwant %q", got, want)
	}

	st := k.Snapshot()
	ids := map[string]string{}
	for _, p := range st.Projects {
		ids["p/"+p.Name] = p.ID
	}
	for _, r := range st.Roles {
		ids["r/"+r.Name] = r.ID
	}
	for _, u := range labUsers {
		user, ok := k.UserByName(u)
		if !ok || !user.Enabled || user.Password != u+"-pw" || user.DomainID != "default" {
			t.Errorf("user %s = %+v", u, user)
		}
		if !slices.Contains(st.Assignments, cloudtest.Assignment{UserID: user.ID, ProjectID: ids["p/service"], RoleID: ids["r/admin"]}) {
			t.Errorf("user %s lacks admin on service", u)
		}
	}
	var urls []string
	for _, e := range st.Endpoints {
		if e.RegionID != cloudtest.Region || !e.Enabled {
			t.Errorf("endpoint %+v", e)
		}
		urls = append(urls, e.Interface+" "+e.URL)
	}
	if len(st.Endpoints) != 15 {
		t.Errorf("want 15 endpoints (5 services × 3 interfaces), got %d: %v", len(st.Endpoints), urls)
	}

	// Second run: nothing to do, and nothing written.
	k.ResetRequests()
	if got := converge(t, k, spec, false); len(got) != 0 {
		t.Errorf("second run changes = %q, want none", got)
	}
	if w := k.Writes(); len(w) != 0 {
		t.Errorf("second run wrote: %v", w)
	}
	if !reflect.DeepEqual(k.Snapshot(), st) {
		t.Error("second run changed the state")
	}
}

func TestConvergeDryRunWritesNothing(t *testing.T) {
	k := cloudtest.NewKeystone(t)
	before := k.Snapshot()

	got := converge(t, k, labSpec(t, mgmt), true)
	if want := expand(k, firstRunChanges()); !slices.Equal(got, want) {
		t.Errorf("dry run should report exactly what a real run does:\n got %q\nwant %q", got, want)
	}
	if w := k.Writes(); len(w) != 0 {
		t.Errorf("dry run wrote: %v", w)
	}
	if !reflect.DeepEqual(k.Snapshot(), before) {
		t.Error("dry run changed the state")
	}
}

func TestConvergeRepointsChangedEndpoint(t *testing.T) {
	k := cloudtest.NewKeystone(t)
	spec := labSpec(t, mgmt)
	converge(t, k, spec, false)

	var glancePublic cloudtest.Endpoint
	st := k.Snapshot()
	for _, e := range st.Endpoints {
		if e.URL == "http://192.0.2.10:9292" && e.Interface == "public" {
			glancePublic = e
		}
	}
	k.SetEndpointURL(glancePublic.ID, "http://10.9.9.9:9292")

	// Dry run sees it, touches nothing.
	k.ResetRequests()
	want := []string{"update endpoint glance public: http://10.9.9.9:9292 -> http://192.0.2.10:9292"}
	if got := converge(t, k, spec, true); !slices.Equal(got, want) {
		t.Errorf("dry run = %q, want %q", got, want)
	}
	if w := k.Writes(); len(w) != 0 {
		t.Errorf("dry run wrote: %v", w)
	}

	if got := converge(t, k, spec, false); !slices.Equal(got, want) {
		t.Errorf("changes = %q, want %q", got, want)
	}
	wantWrites := []cloudtest.Request{{Method: http.MethodPatch, Path: "/v3/endpoints/" + glancePublic.ID}}
	if w := k.Writes(); !reflect.DeepEqual(w, wantWrites) {
		t.Errorf("writes = %v, want one PATCH of the endpoint (in place, same ID)", w)
	}
	if !reflect.DeepEqual(k.Snapshot(), st) {
		t.Error("state after re-pointing should equal the converged state")
	}
}

// A moved management address: doctor sees every endpoint off, and converging
// the spec for the new address re-points all of them in place.
func TestManagementAddressMoved(t *testing.T) {
	k := cloudtest.NewKeystone(t)
	converge(t, k, labSpec(t, mgmt), false)
	idsBefore := endpointIDs(k)

	mm := mismatches(t, k, newMgmt)
	if len(mm) != 15 {
		t.Fatalf("mismatches for the new address = %d, want 15: %v", len(mm), mm)
	}

	got := converge(t, k, labSpec(t, newMgmt), false)
	if len(got) != 15 {
		t.Errorf("want 15 endpoint updates, got %q", got)
	}
	for _, c := range got {
		if !strings.HasPrefix(c, "update endpoint ") {
			t.Errorf("unexpected change %q", c)
		}
	}
	if ids := endpointIDs(k); !slices.Equal(ids, idsBefore) {
		t.Errorf("endpoint IDs changed: %v -> %v", idsBefore, ids)
	}
	if mm := mismatches(t, k, newMgmt); len(mm) != 0 {
		t.Errorf("after converge: %v", mm)
	}
}

// mismatches lists k's catalog and returns the endpoints off mgmtIP.
func mismatches(t *testing.T, k *cloudtest.Keystone, mgmtIP string) []identity.Mismatch {
	t.Helper()
	eps, err := identity.ListEndpoints(context.Background(), k.AdminClient(t))
	if err != nil {
		t.Fatal(err)
	}
	return identity.Mismatches(eps, mgmtIP)
}

func endpointIDs(k *cloudtest.Keystone) []string {
	var ids []string
	for _, e := range k.Snapshot().Endpoints {
		ids = append(ids, e.ID)
	}
	return ids
}

func TestConvergeResetsOnlyWrongPassword(t *testing.T) {
	k := cloudtest.NewKeystone(t)
	spec := labSpec(t, mgmt)
	converge(t, k, spec, false)
	nova, _ := k.UserByName("nova")
	k.SetPassword(nova.ID, "changed-by-hand")

	k.ResetRequests()
	want := []string{"set password of user nova"}
	if got := converge(t, k, spec, false); !slices.Equal(got, want) {
		t.Errorf("changes = %q, want %q", got, want)
	}
	wantWrites := []cloudtest.Request{{Method: http.MethodPatch, Path: "/v3/users/" + nova.ID}}
	if w := k.Writes(); !reflect.DeepEqual(w, wantWrites) {
		t.Errorf("writes = %v, want %v", w, wantWrites)
	}
	if u, _ := k.UserByName("nova"); u.Password != "nova-pw" {
		t.Errorf("password not reset")
	}
}

func TestConvergeRemovesDuplicateEndpointsAndEnables(t *testing.T) {
	k := cloudtest.NewKeystone(t)
	spec := labSpec(t, mgmt)
	converge(t, k, spec, false)
	var glanceID string
	for _, s := range k.Snapshot().Services {
		if s.Name == "glance" {
			glanceID = s.ID
		}
	}
	// A duplicate, as a second hand-run "openstack endpoint create" leaves,
	// and one in another region, which is not ours to touch.
	dup := k.AddEndpoint(glanceID, "internal", cloudtest.Region, "http://10.1.1.1:9292")
	other := k.AddEndpoint(glanceID, "internal", "RegionTwo", "http://10.2.2.2:9292")

	want := []string{"delete duplicate endpoint glance internal http://10.1.1.1:9292 (" + dup + ")"}
	if got := converge(t, k, spec, false); !slices.Equal(got, want) {
		t.Errorf("changes = %q, want %q", got, want)
	}
	ids := endpointIDs(k)
	if slices.Contains(ids, dup) || !slices.Contains(ids, other) {
		t.Errorf("endpoints after: %v (dup %s should be gone, %s kept)", ids, dup, other)
	}
}

func TestConvergeWrapsAPIErrors(t *testing.T) {
	for _, tc := range []struct {
		method, path string
		status       int
		want         string
	}{
		{http.MethodPost, "/v3/endpoints", http.StatusInternalServerError, "keystone: create endpoint glance public"},
		{http.MethodPost, "/v3/users", http.StatusForbidden, "keystone: create user glance"},
		{http.MethodGet, "/v3/users", http.StatusServiceUnavailable, "keystone: list users in domain default"},
		{http.MethodPut, "/v3/projects/", http.StatusInternalServerError, "keystone: assign role admin to user glance on project service"},
		{http.MethodPatch, "/v3/endpoints/", http.StatusConflict, "keystone: update endpoint keystone public"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			k := cloudtest.NewKeystone(t)
			client := k.AdminClient(t)
			k.FailOn(tc.method, tc.path, tc.status)
			_, err := identity.Converge(context.Background(), client, labSpec(t, mgmt), false)
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("err = %v, want prefix %q", err, tc.want)
			}
			var uerr gophercloud.ErrUnexpectedResponseCode
			if !errors.As(err, &uerr) || uerr.Actual != tc.status {
				t.Errorf("the HTTP status must stay reachable with errors.As: %v", err)
			}
			if strings.Contains(err.Error(), "-pw") {
				t.Errorf("error leaks a password: %v", err)
			}
		})
	}
}

func TestConvergeInvalidSpecSendsNothing(t *testing.T) {
	k := cloudtest.NewKeystone(t)
	client := k.AdminClient(t)
	k.ResetRequests()
	spec := labSpec(t, mgmt)
	spec.Users[1].Password = ""
	spec.Services = append(spec.Services, spec.Services[0])
	_, err := identity.Converge(context.Background(), client, spec, false)
	if err == nil || !strings.Contains(err.Error(), `user "placement"`) || !strings.Contains(err.Error(), "listed twice") {
		t.Errorf("err = %v", err)
	}
	if r := k.Requests(); len(r) != 0 {
		t.Errorf("requests sent for an invalid spec: %v", r)
	}
}

func TestConvergeUnknownRoleInAssignment(t *testing.T) {
	k := cloudtest.NewKeystone(t)
	spec := labSpec(t, mgmt)
	spec.Assignments = append(spec.Assignments, identity.Assignment{User: "nova", Project: "service", Role: "superuser"})
	_, err := identity.Converge(context.Background(), k.AdminClient(t), spec, true)
	if err == nil || !strings.Contains(err.Error(), "no such role") {
		t.Errorf("err = %v", err)
	}
}

func TestCatalogEndpoints(t *testing.T) {
	got := identity.CatalogEndpoints([]tokens.CatalogEntry{
		{ID: "s1", Name: "nova", Type: "compute", Endpoints: []tokens.Endpoint{
			{ID: "e1", Interface: "public", Region: "RegionOne", RegionID: "RegionOne", URL: "http://10.0.0.2:8774/v2.1"},
			{ID: "e2", Interface: "admin", Region: "RegionOne", URL: "http://10.0.0.9:8774/v2.1"},
		}},
		// A service keystone knows by no name is named by its ID.
		{ID: "s2", Type: "image", Endpoints: []tokens.Endpoint{{ID: "e3", Interface: "internal", RegionID: "r2", URL: "http://10.0.0.2:9292"}}},
	})
	want := []identity.Endpoint{
		{ID: "e1", Service: "nova", Type: "compute", Interface: "public", Region: "RegionOne", URL: "http://10.0.0.2:8774/v2.1"},
		{ID: "e2", Service: "nova", Type: "compute", Interface: "admin", Region: "RegionOne", URL: "http://10.0.0.9:8774/v2.1"},
		{ID: "e3", Service: "s2", Type: "image", Interface: "internal", Region: "r2", URL: "http://10.0.0.2:9292"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("CatalogEndpoints =\n%+v\nwant\n%+v", got, want)
	}
	if mm := identity.Mismatches(got, "10.0.0.2"); len(mm) != 1 || mm[0].ID != "e2" {
		t.Errorf("Mismatches = %+v, want e2 only", mm)
	}
}

func TestListEndpointsAndMismatches(t *testing.T) {
	k := cloudtest.NewKeystone(t) // bootstrap endpoints point at 127.0.0.1
	img := k.AddService("glance", "image", "")
	k.AddEndpoint(img, "public", "RegionOne", "http://10.0.0.5:9292")
	k.AddEndpoint(img, "internal", "RegionOne", "http://10.0.0.9:9292")
	k.AddEndpoint(img, "admin", "RegionOne", "::not a url")
	v6 := k.AddService("nova", "compute", "")
	k.AddEndpoint(v6, "public", "RegionOne", "http://[fd00::5]:8774/v2.1")

	eps, err := identity.ListEndpoints(context.Background(), k.AdminClient(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(eps) != 7 {
		t.Fatalf("ListEndpoints = %d endpoints, want 7 (3 keystone, 3 glance, 1 nova): %+v", len(eps), eps)
	}
	mm := identity.Mismatches(eps, "10.0.0.5")
	var got []string
	for _, m := range mm {
		got = append(got, m.Service+" "+m.Interface+" "+m.Host)
	}
	want := []string{"glance admin ", "glance internal 10.0.0.9", "keystone admin 127.0.0.1",
		"keystone internal 127.0.0.1", "keystone public 127.0.0.1", "nova public fd00::5"}
	if !slices.Equal(got, want) {
		t.Errorf("mismatches:\n got %q\nwant %q", got, want)
	}
	if s := mm[1].String(); !strings.Contains(s, "glance (image) internal endpoint in RegionOne points at 10.0.0.9") {
		t.Errorf("String() = %q", s)
	}

	k.FailOn(http.MethodGet, "/v3/endpoints", http.StatusInternalServerError)
	if _, err := identity.ListEndpoints(context.Background(), k.AdminClient(t)); err == nil {
		t.Error("a failed listing must be an error, not an empty catalog")
	}
}

func TestMismatches(t *testing.T) {
	ep := func(id, svc, iface, u string) identity.Endpoint {
		return identity.Endpoint{ID: id, Service: svc, Type: "t", Interface: iface, Region: "RegionOne", URL: u}
	}
	tests := []struct {
		name string
		eps  []identity.Endpoint
		mgmt string
		want []string // ID and Host of each mismatch, in order
	}{
		{"none", nil, "10.0.0.5", nil},
		{"all on the address", []identity.Endpoint{ep("a", "glance", "public", "http://10.0.0.5:9292")}, "10.0.0.5", nil},
		{"host compared without case", []identity.Endpoint{ep("a", "glance", "public", "http://LAB1:9292")}, "lab1", nil},
		{"other host", []identity.Endpoint{ep("a", "glance", "public", "http://10.0.0.9:9292")}, "10.0.0.5", []string{"a 10.0.0.9"}},
		{"unparsable URL has no host", []identity.Endpoint{ep("a", "glance", "public", "::bad")}, "10.0.0.5", []string{"a "}},
		{"no host at all", []identity.Endpoint{ep("a", "glance", "public", "/v3")}, "", []string{"a "}},
		{"ipv6 without brackets", []identity.Endpoint{ep("a", "nova", "public", "http://[fd00::5]:8774")}, "fd00::5", nil},
		{"sorted by service, interface, id", []identity.Endpoint{
			ep("c", "nova", "public", "http://x"), ep("b", "glance", "public", "http://x"),
			ep("a", "glance", "internal", "http://x"), ep("d", "glance", "public", "http://x"),
		}, "10.0.0.5", []string{"a x", "b x", "d x", "c x"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, m := range identity.Mismatches(tt.eps, tt.mgmt) {
				got = append(got, m.ID+" "+m.Host)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("Mismatches = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestConvergeCreatesRoleAndEnablesUser(t *testing.T) {
	k := cloudtest.NewKeystone(t)
	spec := labSpec(t, mgmt)
	converge(t, k, spec, false)
	glance, _ := k.UserByName("glance")
	k.SetUserEnabled(glance.ID, false)
	spec.Roles = append(spec.Roles, "operator")
	spec.Assignments = append(spec.Assignments, identity.Assignment{User: "glance", Project: "service", Role: "operator"})

	want := []string{"create role operator", "enable user glance", "assign role operator to user glance on project service"}
	if got := converge(t, k, spec, false); !slices.Equal(got, want) {
		t.Errorf("changes = %q, want %q", got, want)
	}
	if u, _ := k.UserByName("glance"); !u.Enabled {
		t.Error("glance still disabled")
	}
	if got := converge(t, k, spec, false); len(got) != 0 {
		t.Errorf("second run: %q", got)
	}
}

// A write keystone acknowledges but does not apply must not pass as done.
func TestConvergeVerifyCatchesLostWrite(t *testing.T) {
	k := cloudtest.NewKeystone(t)
	spec := labSpec(t, mgmt)
	converge(t, k, spec, false)
	for _, e := range k.Snapshot().Endpoints {
		if e.URL == "http://192.0.2.10:9696" && e.Interface == "admin" {
			k.SetEndpointURL(e.ID, "http://10.9.9.9:9696")
		}
	}
	k.FailOn(http.MethodPatch, "/v3/endpoints/", http.StatusOK) // "200", state unchanged

	res, err := identity.Converge(context.Background(), k.AdminClient(t), spec, false)
	if err == nil || !strings.Contains(err.Error(), "still differs") || !strings.Contains(err.Error(), "neutron admin") {
		t.Fatalf("err = %v, want a verify failure naming the endpoint", err)
	}
	if len(res.Changes) != 1 {
		t.Errorf("changes = %q: the attempted change is still reported", res.Changes)
	}
}
