package openstack

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/stacklab/stacklab/playbooks"
)

// requests returns the requests served since the last call, "METHOD /path".
func (f *fakeOpenStack) requests() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := f.reqs
	f.reqs = nil
	return out
}

// count is how many of reqs are exactly want ("GET /network/v2.0/networks").
func count(reqs []string, want string) int {
	n := 0
	for _, r := range reqs {
		if r == want {
			n++
		}
	}
	return n
}

// defaultPlaybook is the built-in lab playbook with its image and key
// files in t's temporary directory.
func defaultPlaybook(t *testing.T) *playbooks.Playbook {
	t.Helper()
	src := strings.Replace(string(playbooks.Default()), "/var/lib/stacklab/images/lab-image.img", rawImage(t, 1<<20), 1)
	// Written out so that the key file resolves in its directory.
	file := filepath.Join(t.TempDir(), playbooks.DefaultName)
	if err := os.WriteFile(file, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	pb, err := playbooks.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	return pb
}

// guestUp is a console on which the guest came up at once.
func guestUp(string, int) string { return "stacklab-guest up 172.16.1.10\n" }

func reachAtOnce(context.Context, string, string) error { return nil }

// noOpRequests is what a run of the default playbook with nothing to do
// may cost at most: before issue 16 it was 23 requests to the services
// (networks listed 7 times, subnets 3, a group's rules fetched apart from
// it), version-discovery GETs and a password login. Now: one read per
// type (networks, subnets, flavors, routers, groups with their rules,
// floating IPs with their port's device, images, the project's servers,
// the keypair), the router's and the server's ports, and the server's
// image. The floating IP's server is found in the server listing: its own
// read queued at nova's one worker behind that listing.
const noOpRequests = 12

// appliedLab is a fake holding the default playbook, applied once.
func appliedLab(t *testing.T) (*fakeOpenStack, *playbooks.Playbook) {
	t.Helper()
	f := newFake(t)
	f.Console = guestUp
	pb := defaultPlaybook(t)
	if _, err := playbooks.Apply(context.Background(), pb, f.open(t, Options{Reach: reachAtOnce}), playbooks.Options{}); err != nil {
		t.Fatalf("first apply: %v", err)
	}
	return f, pb
}

// TestNoOpRunRequestCount pins what a run with nothing to do costs on the
// default playbook: one read per resource type, no login (the token is
// cached), no discovery, no re-read after the plan.
func TestNoOpRunRequestCount(t *testing.T) {
	f, pb := appliedLab(t)
	f.ks.ResetRequests()
	f.requests()

	c := f.open(t, Options{Reach: reachAtOnce})
	rep, err := playbooks.Apply(context.Background(), pb, c, playbooks.Options{})
	if err != nil {
		t.Fatalf("no-op apply: %v", err)
	}
	for _, r := range rep.Results {
		if r.Action != playbooks.Unchanged {
			t.Errorf("%s %s: %s, want unchanged", r.Kind, r.Name, r.Action)
		}
	}
	reqs := f.requests()
	sorted := append([]string(nil), reqs...)
	sort.Strings(sorted)
	if len(reqs) > noOpRequests {
		t.Errorf("a no-op run made %d requests, want at most %d:\n  %s", len(reqs), noOpRequests, strings.Join(sorted, "\n  "))
	}
	for path, want := range map[string]int{
		"GET /network/v2.0/networks": 1, "GET /network/v2.0/subnets": 1, "GET /network/v2.0/security-groups": 1,
		"GET /network/v2.0/security-group-rules": 0, "GET /network": 0, "GET /image": 0, "GET /compute/v2.1": 0,
		"GET /compute/v2.1/servers/detail": 1,
	} {
		if n := count(reqs, path); n != want {
			t.Errorf("%s: %d times, want %d", path, n, want)
		}
	}
	for _, r := range reqs {
		if strings.HasPrefix(r, "GET /compute/v2.1/servers/") && r != "GET /compute/v2.1/servers/detail" {
			t.Errorf("%s: read apart from the plan's server listing", r)
		}
	}
	if kreqs := f.ks.Requests(); len(kreqs) != 0 {
		t.Errorf("keystone got %v, want nothing: the token is cached", kreqs)
	}
}

// A token revoked mid-run (after the plan, before the change) costs one
// refused request, one login and the retry; the run succeeds.
func TestTokenRevokedMidRun(t *testing.T) {
	f, pb := appliedLab(t)
	f.mu.Lock()
	f.colls["flavors"] = nil // to be made again: the run has a write to do
	f.mu.Unlock()
	f.ks.ResetRequests()

	c := f.open(t, Options{Reach: reachAtOnce})
	revoke := func(*playbooks.Plan) error {
		f.ks.RevokeTokens()
		return nil
	}
	rep, err := playbooks.Apply(context.Background(), pb, c, playbooks.Options{CheckPlan: revoke})
	if err != nil {
		t.Fatalf("apply with the token revoked after the plan: %v", err)
	}
	if r := rep.Results[0]; r.Kind != playbooks.KindFlavor || r.Action != playbooks.Create {
		t.Errorf("first result %s %s %s, want the flavor created", r.Kind, r.Name, r.Action)
	}
	if n := f.ks.Logins(); n != 1 {
		t.Errorf("%d logins, want exactly 1 after the revocation", n)
	}
	f.mu.Lock()
	rejected := f.rejected
	f.mu.Unlock()
	if rejected != 1 {
		t.Errorf("%d requests refused for their token, want 1 (then the new token)", rejected)
	}
}

// The plan's shared reads never stand in for the read before a write: a
// flavor made by hand between the plan (which found none) and the change
// is seen, and not duplicated.
func TestChangeBehindThePlansBackSeenBeforeWriting(t *testing.T) {
	f, pb := appliedLab(t)
	f.mu.Lock()
	f.colls["flavors"] = nil
	f.mu.Unlock()

	c := f.open(t, Options{Reach: reachAtOnce})
	handMade := func(*playbooks.Plan) error {
		f.put("flavors", obj{"name": "m1.lab", "vcpus": 1, "ram": 512, "disk": 1, "description": nil})
		return nil
	}
	rep, err := playbooks.Apply(context.Background(), pb, c, playbooks.Options{CheckPlan: handMade})
	if err == nil || !strings.Contains(err.Error(), "made by hand") {
		t.Errorf("apply error = %v, want the hand-made flavor named", err)
	}
	if rep == nil || rep.Results[0].Action == playbooks.Create {
		t.Errorf("the flavor was created over a hand-made one: %+v", rep)
	}
	n := 0
	for _, fl := range f.all("flavors") {
		if fl["name"] == "m1.lab" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d flavors named m1.lab, want the hand-made one alone", n)
	}
}

// A neutron without the fip-port-details extension still has the floating
// IP's server found, through its port.
func TestFloatingIPServerWithoutPortDetails(t *testing.T) {
	f, pb := appliedLab(t)
	f.mu.Lock()
	for _, fip := range f.colls["floatingips"] {
		delete(fip, "port_details")
	}
	f.mu.Unlock()
	f.requests()
	rep, err := playbooks.Apply(context.Background(), pb, f.open(t, Options{Reach: reachAtOnce}), playbooks.Options{})
	if err != nil {
		t.Fatalf("no-op apply: %v", err)
	}
	for _, r := range rep.Results {
		if r.Action != playbooks.Unchanged {
			t.Errorf("%s %s: %s %v, want unchanged", r.Kind, r.Name, r.Action, r.Changes)
		}
	}
	reqs := f.requests()
	ports := 0
	for _, r := range reqs {
		if strings.HasPrefix(r, "GET /network/v2.0/ports/") {
			ports++
		}
	}
	if ports != 1 {
		t.Errorf("read the floating IP's port %d times, want once (no port_details)", ports)
	}
}
