package openstack

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"

	"github.com/stacklab/stacklab/playbooks"
)

// rawImage writes a small raw disk image (an MBR boot signature and zeros).
func rawImage(t *testing.T, size int64) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "disk.img")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte{0x55, 0xaa}, 510); err != nil {
		t.Fatal(err)
	}
	return path
}

func labPlaybook(t *testing.T, img, key string) *playbooks.Playbook {
	t.Helper()
	pb, err := playbooks.LoadBytes("lab.yaml", []byte(labPlaybookSource(img, key)))
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	return pb
}

// labPlaybookSource is the lab playbook over the image file img, keeping
// its generated private key at key.
func labPlaybookSource(img, key string) string {
	return `name: lab
flavors:
  - {name: m1.lab, vcpus: 1, ram: 512, disk: 1}
networks:
  - {name: selfservice, type: vxlan}
  - {name: ext_net, type: flat, physical_network: provider, external: true}
subnets:
  - {name: selfservice-subnet, network: selfservice, cidr: 172.16.1.0/24}
  - name: ext_net-subnet
    network: ext_net
    cidr: 203.0.113.0/24
    gateway: 203.0.113.1
    allocation_pools: [{start: 203.0.113.100, end: 203.0.113.200}]
    dhcp: false
routers:
  - {name: lab-router, external_gateway: ext_net, interfaces: [selfservice-subnet]}
security_groups:
  - name: lab
    rules: [{protocol: icmp}, {protocol: tcp, port: 22}]
keypairs:
  - {name: lab-key, generate: true, private_key_file: ` + key + `}
images:
  - {name: lab-image, file: ` + img + `, min_disk: 1, min_ram: 64}
servers:
  - {name: lab-vm, flavor: m1.lab, image: lab-image, networks: [selfservice], keypair: lab-key, security_groups: [lab], console: '^stacklab-guest up', timeout: 5}
floating_ips:
  - {name: lab-vm-fip, network: ext_net, server: lab-vm}
`
}

// TestApplyTwiceThenDestroy drives every kind through the engine: the
// first apply creates and verifies all, the second finds nothing to do
// (so Get describes each resource exactly as declared), and destroy leaves
// nothing of ours behind while a hand-made network survives.
func TestApplyTwiceThenDestroy(t *testing.T) {
	f := newFake(t)
	f.Console = func(_ string, n int) string {
		if n < 3 {
			return "booting\n"
		}
		return "booting\nstacklab-guest up 172.16.1.10\n"
	}
	var progress atomic.Int64
	c := f.open(t, Options{Progress: func(_ string, done, _ int64) { progress.Store(done) }})
	f.put("networks", obj{"name": "handmade", "description": "", "shared": false, "router:external": false})

	key := filepath.Join(t.TempDir(), "lab-key.pem")
	img := rawImage(t, 1<<20)
	pb := labPlaybook(t, img, key)
	ctx := context.Background()

	rep, err := playbooks.Apply(ctx, pb, c, playbooks.Options{})
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	for _, r := range rep.Results {
		if r.Action != playbooks.Create {
			t.Errorf("%s %s: %s, want create", r.Kind, r.Name, r.Action)
		}
	}
	if progress.Load() != 1<<20 {
		t.Errorf("progress ended at %d, want %d", progress.Load(), 1<<20)
	}
	if pemData, err := os.ReadFile(key); err != nil || !strings.Contains(string(pemData), "OPENSSH PRIVATE KEY") {
		t.Errorf("private key file: %v %q", err, pemData)
	}
	kp := f.all("keypairs")[0]
	if pub := kp["public_key"].(string); !strings.HasPrefix(pub, "ssh-ed25519 ") || !strings.HasSuffix(pub, " managed-by: stacklab playbook lab") {
		t.Errorf("imported key %q lacks the marker comment", pub)
	}
	if fips := f.all("floatingips"); len(fips) != 1 || fips[0]["description"] != "managed-by: stacklab playbook lab; name: lab-vm-fip" || fips[0]["port_id"] == nil {
		t.Errorf("floating IPs = %v", fips)
	}

	rep, err = playbooks.Apply(ctx, pb, c, playbooks.Options{})
	if err != nil {
		t.Fatalf("second apply: %v", err)
	}
	for _, r := range rep.Results {
		if r.Action != playbooks.Unchanged {
			t.Errorf("second apply: %s %s: %s %v, want unchanged", r.Kind, r.Name, r.Action, r.Changes)
		}
		// How to reach the server is reported, not declared.
		switch {
		case r.Kind == playbooks.KindFloatingIP && (r.Info["address"] != fipAddress(f) || r.Info["fixed_ip"] == ""):
			t.Errorf("floating IP info %v, want address %s and the fixed IP", r.Info, fipAddress(f))
		case r.Kind == playbooks.KindServer && (r.Info["id"] == "" || r.Info["fixed_ips"] == ""):
			t.Errorf("server info %v, want its id and fixed IPs", r.Info)
		}
	}

	info, err := c.ServerInfo(ctx, "lab-vm")
	if err != nil {
		t.Fatal(err)
	}
	if info.Status != "ACTIVE" || len(info.FixedIPs) != 1 || len(info.FloatingIPs) != 1 || len(info.ConsoleTail) == 0 {
		t.Errorf("ServerInfo = %+v", info)
	}

	if _, err := playbooks.Destroy(ctx, pb, c, playbooks.Options{}); err != nil {
		t.Fatalf("destroy: %v", err)
	}
	for _, coll := range []string{"flavors", "subnets", "routers", "security-groups", "security-group-rules", "keypairs", "images", "servers", "floatingips", "ports"} {
		if left := f.all(coll); len(left) != 0 {
			t.Errorf("after destroy %s left: %v", coll, left)
		}
	}
	if nets := f.all("networks"); len(nets) != 1 || nets[0]["name"] != "handmade" {
		t.Errorf("networks after destroy = %v, want only the hand-made one", nets)
	}
}

func TestHandMadeHasNoOwnerAndDuplicatesAreErrors(t *testing.T) {
	f := newFake(t)
	c := f.open(t, Options{})
	ctx := context.Background()
	f.put("networks", obj{"name": "mine", "description": "my own"})
	f.put("security-groups", obj{"name": "web", "description": "managed-by: stacklab playbook lab"})
	f.put("security-groups", obj{"name": "web", "description": ""})
	f.put("floatingips", obj{"description": "managed-by: stacklab playbook other; name: fip", "floating_network_id": "x"})

	drv, _ := c.Driver(playbooks.KindNetwork)
	cur, found, err := drv.Get(ctx, "mine")
	if err != nil || !found || cur.Owner != "" {
		t.Errorf("hand-made network: %+v %v %v, want found with owner \"\"", cur, found, err)
	}
	drv, _ = c.Driver(playbooks.KindSecurityGroup)
	var dup *DuplicateError
	if _, _, err := drv.Get(ctx, "web"); !errors.As(err, &dup) || len(dup.IDs) != 2 {
		t.Errorf("two groups named web: err = %v, want a DuplicateError naming both", err)
	}
	drv, _ = c.Driver(playbooks.KindFloatingIP)
	if cur, found, err := drv.Get(ctx, "fip"); err != nil || !found || cur.Owner != "other" {
		t.Errorf("floating IP: %+v %v %v, want owner other", cur, found, err)
	}
}

func TestSecurityGroupUpdateAddsAndDeletesRules(t *testing.T) {
	f := newFake(t)
	c := f.open(t, Options{})
	ctx := context.Background()
	drv, _ := c.Driver(playbooks.KindSecurityGroup)
	sg := playbooks.SecurityGroup{Name: "lab", Rules: []playbooks.Rule{{Protocol: "icmp"}, {Protocol: "tcp", Port: 22}}}
	r := playbooks.Resource{Kind: playbooks.KindSecurityGroup, Name: "lab", Spec: sg}
	if err := drv.Create(ctx, r, "lab"); err != nil {
		t.Fatal(err)
	}
	sg.Rules = []playbooks.Rule{{Protocol: "tcp", Port: 22}, {Protocol: "udp", Port: 53, RemoteIP: "2001:db8::/32"}}
	r.Spec = sg
	cur, _, _ := drv.Get(ctx, "lab")
	changes := drv.Diff(r, cur)
	if len(changes) != 1 || changes[0].Field != "rules" {
		t.Fatalf("changes = %v", changes)
	}
	if err := drv.Update(ctx, r, cur, changes); err != nil {
		t.Fatal(err)
	}
	cur, _, _ = drv.Get(ctx, "lab")
	if left := drv.Diff(r, cur); len(left) != 0 {
		t.Errorf("after update: %v", left)
	}
	var v6 bool
	for _, rule := range f.all("security-group-rules") {
		v6 = v6 || rule["remote_ip_prefix"] == "2001:db8::/32" && rule["ethertype"] == "IPv6"
	}
	if !v6 {
		t.Error("the IPv6 rule was not created with ethertype IPv6")
	}
	// neutron's two default egress rules are kept, not "extra".
	if n := len(f.all("security-group-rules")); n != 4 {
		t.Errorf("%d rules, want 2 declared + 2 default egress", n)
	}
}

// createServerError creates the server serverResource declares, which
// must fail with a *ServerError.
func createServerError(t *testing.T, f *fakeOpenStack, console string) (*ServerError, error) {
	t.Helper()
	c := f.open(t, Options{})
	drv, _ := c.Driver(playbooks.KindServer)
	err := drv.Create(context.Background(), serverResource(f, console), "lab")
	var se *ServerError
	if !errors.As(err, &se) {
		t.Fatalf("err = %v, want *ServerError", err)
	}
	return se, err
}

// serverResource seeds what a server named vm refers to and declares it.
func serverResource(f *fakeOpenStack, console string) playbooks.Resource {
	f.put("flavors", obj{"id": "fl-1", "name": "m1", "vcpus": 1, "ram": 512, "disk": 1})
	f.put("images", obj{"id": "img-1", "name": "cirros", "status": "active", "disk_format": "raw", "container_format": "bare", "visibility": "public"})
	f.put("networks", obj{"name": "net", "description": ""})
	s := playbooks.Server{Name: "vm", Flavor: "m1", Image: "cirros", Networks: []string{"net"}, Console: console, Timeout: 1}
	return playbooks.Resource{Kind: playbooks.KindServer, Name: "vm", Spec: s}
}

// createServerIn creates serverResource's server, in groups, through the
// server driver, for tests of what comes after.
func createServerIn(t *testing.T, f *fakeOpenStack, c *Cloud, groups ...string) (playbooks.Driver, playbooks.Resource) {
	t.Helper()
	sd, err := c.Driver(playbooks.KindServer)
	if err != nil {
		t.Fatal(err)
	}
	res := serverResource(f, "")
	s := res.Spec.(playbooks.Server)
	s.SecurityGroups = groups
	res.Spec = s
	if err := sd.Create(context.Background(), res, "lab"); err != nil {
		t.Fatal(err)
	}
	return sd, res
}

func TestServerErrorCarriesClassifiedFault(t *testing.T) {
	f := newFake(t)
	f.ServerStatus = func(_ string, n int) (string, string) {
		if n < 2 {
			return "BUILD", ""
		}
		return "ERROR", "No valid host was found. There are not enough hosts available."
	}
	se, _ := createServerError(t, f, "")
	if se.Status != "ERROR" || !strings.Contains(se.Fault, "No valid host") || !strings.Contains(se.Cause, "RAM") {
		t.Errorf("ServerError = %+v", se)
	}
}

func TestServerConsoleTimeoutShowsTail(t *testing.T) {
	f := newFake(t)
	f.Console = func(_ string, _ int) string {
		var b strings.Builder
		for i := range 30 {
			b.WriteString("kernel line " + string(rune('a'+i%26)) + "\n")
		}
		b.WriteString("login prompt never comes\n")
		return b.String()
	}
	se, _ := createServerError(t, f, "^stacklab-guest up")
	if !se.Timeout || se.Status != "ACTIVE" || len(se.ConsoleTail) != tailLines || se.ConsoleTail[tailLines-1] != "login prompt never comes" {
		t.Errorf("ServerError = %+v", se)
	}
}

// A guest whose console says it got no DHCP lease: the timeout names the
// DHCP side, where a bare console tail left the user to read it.
func TestServerConsoleTimeoutNamesNoDHCPLease(t *testing.T) {
	f := newFake(t)
	f.Console = func(_ string, _ int) string {
		return "stacklab-guest: DHCP on eth0\nstacklab-guest error reason=no-dhcp-lease (still trying)\n"
	}
	se, err := createServerError(t, f, "^stacklab-guest up")
	if !se.Timeout || !strings.Contains(se.Cause, "no DHCP lease") || !strings.Contains(err.Error(), "likely cause: the guest got no DHCP lease") {
		t.Errorf("ServerError = %+v\n%v", se, err)
	}
}

func TestImageChecksumMismatchDeletesImage(t *testing.T) {
	f := newFake(t)
	f.CorruptUpload = true
	c := f.open(t, Options{})
	drv, _ := c.Driver(playbooks.KindImage)
	img := playbooks.Image{Name: "img", File: "disk.img", Path: rawImage(t, 1<<20)}
	err := drv.Create(context.Background(), playbooks.Resource{Kind: playbooks.KindImage, Name: "img", Spec: img}, "lab")
	var ce *ChecksumError
	if !errors.As(err, &ce) || ce.Algo != "sha512" {
		t.Fatalf("err = %v, want a sha512 ChecksumError", err)
	}
	if left := f.all("images"); len(left) != 0 {
		t.Errorf("images left after a failed upload: %v", left)
	}
}

func TestQueuedImageIsRecreated(t *testing.T) {
	f := newFake(t)
	c := f.open(t, Options{})
	ctx := context.Background()
	f.put("images", obj{"id": "old", "name": "img", "status": "queued", "disk_format": "raw", "container_format": "bare",
		"visibility": "private", "min_disk": 0, "min_ram": 0, ownerProperty: "managed-by: stacklab playbook lab"})
	drv, _ := c.Driver(playbooks.KindImage)
	path := rawImage(t, 1<<20)
	r := playbooks.Resource{Kind: playbooks.KindImage, Name: "img", Spec: playbooks.Image{Name: "img", Path: path, DetectedFormat: "raw"}}
	cur, found, err := drv.Get(ctx, "img")
	if err != nil || !found || cur.Owner != "lab" {
		t.Fatalf("Get: %+v %v %v", cur, found, err)
	}
	changes := drv.Diff(r, cur)
	if len(changes) != 1 || changes[0] != (playbooks.FieldChange{Field: "status", From: "queued", To: "active"}) {
		t.Fatalf("changes = %v", changes)
	}
	if err := drv.Update(ctx, r, cur, changes); err != nil {
		t.Fatal(err)
	}
	imgs := f.all("images")
	if len(imgs) != 1 || imgs[0]["id"] == "old" || imgs[0]["status"] != "active" {
		t.Errorf("images = %v", imgs)
	}
}

// TestUploadConstantMemory uploads a 256 MiB sparse file and checks the
// process allocated a small fraction of it: the file is streamed, never
// held.
func TestUploadConstantMemory(t *testing.T) {
	const size = 256 << 20
	f := newFake(t)
	c := f.open(t, Options{})
	drv, _ := c.Driver(playbooks.KindImage)
	path := rawImage(t, size)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	err := drv.Create(context.Background(), playbooks.Resource{Kind: playbooks.KindImage, Name: "big", Spec: playbooks.Image{Name: "big", Path: path}}, "lab")
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	if f.all("images")[0]["size"].(int64) != size {
		t.Fatalf("glance received %v bytes", f.all("images")[0]["size"])
	}
	t.Logf("uploaded %d MiB: allocated %d KiB in total, heap in use %d KiB", size>>20, (after.TotalAlloc-before.TotalAlloc)>>10, after.HeapInuse>>10)
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > size/8 {
		t.Errorf("allocated %d MiB uploading %d MiB", alloc>>20, size>>20)
	}
	if after.HeapInuse > size/4 {
		t.Errorf("heap in use %d MiB after uploading %d MiB", after.HeapInuse>>20, size>>20)
	}
}

func TestKeypairImportFailureRemovesPrivateKey(t *testing.T) {
	f := newFake(t)
	c := f.open(t, Options{})
	f.put("keypairs", obj{"name": "k", "public_key": "ssh-rsa AAAA someone@else"})
	drv, _ := c.Driver(playbooks.KindKeypair)
	k := playbooks.Keypair{Name: "k", Generate: true, PrivateKeyFile: "k.pem", PrivateKeyPath: filepath.Join(t.TempDir(), "k.pem")}
	err := drv.Create(context.Background(), playbooks.Resource{Kind: playbooks.KindKeypair, Name: "k", Spec: k}, "lab")
	if err == nil {
		t.Fatal("importing over an existing keypair succeeded")
	}
	if _, serr := os.Stat(k.PrivateKeyPath); !os.IsNotExist(serr) {
		t.Errorf("private key of the failed import left at %s (%v)", k.PrivateKeyPath, serr)
	}
	cur, found, err := drv.Get(context.Background(), "k")
	if err != nil || !found || cur.Owner != "" {
		t.Errorf("hand-made keypair: %+v %v %v, want owner \"\"", cur, found, err)
	}
}

// Destroy deletes the keypair but keeps its private key; applying again
// must import that key's public half (found on the real lab, where the
// re-apply refused because the key file existed).
func TestGeneratedKeypairReappliedFromItsKeptPrivateKey(t *testing.T) {
	f := newFake(t)
	c := f.open(t, Options{})
	ctx := context.Background()
	drv, _ := c.Driver(playbooks.KindKeypair)
	k := playbooks.Keypair{Name: "k", Generate: true, PrivateKeyFile: "k.pem", PrivateKeyPath: filepath.Join(t.TempDir(), "k.pem")}
	r := playbooks.Resource{Kind: playbooks.KindKeypair, Name: "k", Spec: k}
	if err := drv.Create(ctx, r, "lab"); err != nil {
		t.Fatal(err)
	}
	first := f.all("keypairs")[0]["public_key"]
	pemBefore, err := os.ReadFile(k.PrivateKeyPath)
	if err != nil {
		t.Fatal(err)
	}
	cur, _, _ := drv.Get(ctx, "k")
	if err := drv.Delete(ctx, cur); err != nil {
		t.Fatal(err)
	}
	if err := drv.Create(ctx, r, "lab"); err != nil {
		t.Fatalf("re-apply with the kept private key: %v", err)
	}
	if again := f.all("keypairs")[0]["public_key"]; again != first {
		t.Errorf("re-imported %v, want the same key %v", again, first)
	}
	if pemAfter, _ := os.ReadFile(k.PrivateKeyPath); string(pemAfter) != string(pemBefore) {
		t.Error("the private key file changed")
	}

	// A file that is not a key is not ours to replace.
	cur, _, _ = drv.Get(ctx, "k")
	_ = drv.Delete(ctx, cur)
	if err := os.WriteFile(k.PrivateKeyPath, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := drv.Create(ctx, r, "lab"); err == nil || !strings.Contains(err.Error(), "move it aside") {
		t.Errorf("create over a garbage key file: %v", err)
	}
	if b, _ := os.ReadFile(k.PrivateKeyPath); string(b) != "not a key" {
		t.Error("the unusable key file was touched")
	}
}

func TestRouterAndServerUpdates(t *testing.T) {
	f := newFake(t)
	c := f.open(t, Options{})
	ctx := context.Background()
	netID := f.put("networks", obj{"name": "rnet", "description": ""})
	f.put("subnets", obj{"name": "a", "network_id": netID, "cidr": "10.0.1.0/24", "gateway_ip": "10.0.1.1"})
	f.put("subnets", obj{"name": "b", "network_id": netID, "cidr": "10.0.2.0/24", "gateway_ip": "10.0.2.1"})

	rd, _ := c.Driver(playbooks.KindRouter)
	r := playbooks.Resource{Kind: playbooks.KindRouter, Name: "r", Spec: playbooks.Router{Name: "r", Interfaces: []string{"a"}}}
	if err := rd.Create(ctx, r, "lab"); err != nil {
		t.Fatal(err)
	}
	r.Spec = playbooks.Router{Name: "r", Interfaces: []string{"b"}}
	cur, _, _ := rd.Get(ctx, "r")
	if err := rd.Update(ctx, r, cur, rd.Diff(r, cur)); err != nil {
		t.Fatal(err)
	}
	cur, _, _ = rd.Get(ctx, "r")
	if got := cur.Spec.(playbooks.Router).Interfaces; len(got) != 1 || got[0] != "b" {
		t.Errorf("interfaces after update = %v, want [b]", got)
	}
	if err := rd.Delete(ctx, cur); err != nil {
		t.Fatalf("delete a router with an interface: %v", err)
	}

	for _, g := range []string{"x", "y"} {
		f.put("security-groups", obj{"name": g, "description": ""})
	}
	sd, res := createServerIn(t, f, c, "x")
	s := res.Spec.(playbooks.Server)
	s.SecurityGroups = []string{"y"}
	res.Spec = s
	cur, _, _ = sd.Get(ctx, "vm")
	changes := sd.Diff(res, cur)
	if err := sd.Update(ctx, res, cur, changes); err != nil {
		t.Fatal(err)
	}
	after, _, _ := sd.Get(ctx, "vm")
	if after.ID != cur.ID || len(sd.Diff(res, after)) != 0 {
		t.Errorf("security group change: server %s -> %s, left %v; want the same server, converged", cur.ID, after.ID, sd.Diff(res, after))
	}
}

func fipAddress(f *fakeOpenStack) string {
	fips := f.all("floatingips")
	if len(fips) != 1 {
		return ""
	}
	addr, _ := fips[0]["floating_ip_address"].(string)
	return addr
}

// TestFloatingIPMadeWhileTheServerBoots: the server stays in BUILD until
// its floating IP exists (and goes to ERROR if that never happens), so
// the run passes only if the floating IP is made on the server's port
// while nova still builds it; the ping waits for the server to be done.
func TestFloatingIPMadeWhileTheServerBoots(t *testing.T) {
	f := newFake(t)
	f.Console = guestUp
	f.ServerStatus = func(_ string, n int) (string, string) {
		// Called with f.mu held.
		switch {
		case len(f.colls["floatingips"]) > 0:
			return "ACTIVE", ""
		case n < 2000:
			return "BUILD", ""
		}
		return "ERROR", "the floating IP was not made while the server built"
	}
	pingedActive := false
	reach := func(context.Context, string, string) error {
		f.mu.Lock()
		defer f.mu.Unlock()
		for _, s := range f.colls["servers"] {
			pingedActive = s["status"] == "ACTIVE"
		}
		return nil
	}
	pb := defaultPlaybook(t)
	if _, err := playbooks.Apply(context.Background(), pb, f.open(t, Options{Reach: reach}), playbooks.Options{}); err != nil {
		t.Fatalf("apply: %v", err)
	}
	if !pingedActive {
		t.Error("the floating IP was pinged before its server was ACTIVE")
	}
}

// A server's references are looked up at once, not one round trip after
// another before nova gets the request; a missing one is still named, the
// first in the spec's order when several are.
func TestServerReferencesLookedUpTogether(t *testing.T) {
	f := newFake(t)
	res := serverResource(f, "")
	f.put("security-groups", obj{"name": "sg", "description": ""})
	s := res.Spec.(playbooks.Server)
	s.SecurityGroups = []string{"sg"}
	var inFlight, most atomic.Int32
	f.mu.Lock()
	f.Gate = func(r *http.Request) {
		if r.Method != http.MethodGet {
			return
		}
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		time.Sleep(50 * time.Millisecond)
	}
	f.mu.Unlock()
	d := &serverDriver{f.open(t, Options{})}
	opts, err := d.createOpts(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	if opts.FlavorRef != "fl-1" || opts.ImageRef != "img-1" || len(opts.SecurityGroups) != 1 {
		t.Errorf("opts = %+v", opts)
	}
	if nets, ok := opts.Networks.([]servers.Network); !ok || len(nets) != 1 || nets[0].UUID == "" {
		t.Errorf("networks = %#v", opts.Networks)
	}
	if n := most.Load(); n < 4 {
		t.Errorf("at most %d look-ups in flight, want the flavor, image, network and group at once", n)
	}

	// Its verify after the create, the run's last step, reads the image's
	// name, its ports and the networks' names together too.
	res.Spec = s
	if err := d.Create(context.Background(), res, "lab"); err != nil {
		t.Fatal(err)
	}
	most.Store(0)
	cur, found, err := d.Get(context.Background(), "vm")
	if err != nil || !found || cur.Spec.(playbooks.Server).Image != "cirros" || len(cur.Spec.(playbooks.Server).Networks) != 1 {
		t.Fatalf("get: %v %v %+v", err, found, cur.Spec)
	}
	if n := most.Load(); n < 3 {
		t.Errorf("verify: at most %d reads in flight, want the image, ports and networks at once", n)
	}

	s.Flavor, s.Image = "no-such-flavor", "no-such-image"
	_, err = d.createOpts(context.Background(), s)
	if err == nil || !strings.Contains(err.Error(), "no-such-flavor") || strings.Contains(err.Error(), "no-such-image") {
		t.Errorf("err = %v, want the flavor named, first in the spec", err)
	}
}

func TestPollDelayStartsFastAndBacksOff(t *testing.T) {
	for _, c := range []struct {
		elapsed, max, want time.Duration
	}{
		{0, 2 * time.Second, 200 * time.Millisecond},
		{4 * time.Second, 2 * time.Second, 300 * time.Millisecond},
		{20 * time.Second, 2 * time.Second, 700 * time.Millisecond},
		{2 * time.Minute, 2 * time.Second, 2 * time.Second},
		{0, time.Millisecond, time.Millisecond},
	} {
		if got := pollDelay(c.elapsed, c.max); got != c.want {
			t.Errorf("pollDelay(%s, %s) = %s, want %s", c.elapsed, c.max, got, c.want)
		}
	}
}
