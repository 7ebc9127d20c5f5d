package playbooks_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stacklab/stacklab/playbooks"
	"github.com/stacklab/stacklab/playbooks/playbookstest"
)

// labPlaybook is the default playbook with its image pointed at a real
// (raw) file, so every resource can be applied.
func labPlaybook(t *testing.T) *playbooks.Playbook {
	t.Helper()
	data := strings.Replace(string(playbooks.Default()), "/var/lib/stacklab/images/lab-image.img", rawFile(t), 1)
	pb, err := playbooks.LoadBytes("lab.yaml", []byte(data))
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	return pb
}

// testContext fails a test that would otherwise hang on a barrier.
func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestPlanDanglingReferenceChangesNothing(t *testing.T) {
	pb, err := playbooks.LoadBytes("p.yaml", []byte(`name: t
networks:
  - name: selfservice
subnets:
  - name: s
    network: selfservise
    cidr: 10.0.0.0/24
  - name: s2
    network: existing
    cidr: 10.0.1.0/24
`))
	if err != nil {
		t.Fatal(err)
	}
	cloud := playbookstest.New()
	cloud.Put(playbooks.KindNetwork, "existing", "", playbooks.Network{Name: "existing"})
	_, err = playbooks.Apply(testContext(t), pb, cloud, playbooks.Options{})
	want := `p.yaml:6:14: subnet s: network "selfservise" is neither declared nor in the cloud; did you mean "selfservice"?`
	if got := strings.Join(errorLines(err), "\n"); got != want {
		t.Errorf("errors:\n%s\nwant:\n%s", got, want)
	}
	if w := cloud.Writes(); len(w) != 0 {
		t.Errorf("writes despite a failed plan: %v", w)
	}
}

func TestPlanRefusesHandMadeNameAndChangesNothing(t *testing.T) {
	pb := labPlaybook(t)
	cloud := playbookstest.New()
	cloud.Put(playbooks.KindSecurityGroup, "lab", "", playbooks.SecurityGroup{Name: "lab"})
	_, err := playbooks.Apply(testContext(t), pb, cloud, playbooks.Options{})
	want := `lab.yaml:41:5: security_group "lab" already exists and was not made by playbook lab (made by hand); rename it here, or delete or rename the existing one`
	if got := strings.Join(errorLines(err), "\n"); got != want {
		t.Errorf("errors:\n%s\nwant:\n%s", got, want)
	}
	if w := cloud.Writes(); len(w) != 0 {
		t.Errorf("writes despite a failed plan: %v", w)
	}
}

func TestPlanImageNotBuiltYet(t *testing.T) {
	pb, err := playbooks.LoadDefault(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	_, err = playbooks.PlanApply(testContext(t), pb, playbookstest.New())
	want := `lab.yaml:57:11: image lab-image: /var/lib/stacklab/images/lab-image.img does not exist; build it with: stacklab image tiny /var/lib/stacklab/images/lab-image.img (stacklab run does this itself)`
	if got := strings.Join(errorLines(err), "\n"); got != want {
		t.Errorf("errors:\n%s\nwant:\n%s", got, want)
	}
}

// dependents maps each resource ID to the IDs that must be created after it.
func dependencies(pb *playbooks.Playbook) map[string][]string {
	declared := map[string]bool{}
	for _, r := range pb.Resources() {
		declared[r.ID()] = true
	}
	deps := map[string][]string{}
	for _, r := range pb.Resources() {
		for _, ref := range append(slices.Clone(r.Refs), r.After...) {
			id := string(ref.Kind) + " " + ref.Name
			if declared[id] {
				deps[r.ID()] = append(deps[r.ID()], id)
			}
		}
	}
	return deps
}

func positions(calls []playbookstest.Call, op string) map[string]int {
	pos := map[string]int{}
	for i, c := range calls {
		if c.Op == op {
			pos[string(c.Kind)+" "+c.Name] = i
		}
	}
	return pos
}

func TestApplyOrderUnchangedAndDestroy(t *testing.T) {
	ctx := testContext(t)
	pb := labPlaybook(t)
	cloud := playbookstest.New()
	// A hand-made network the playbook does not declare: destroy must
	// leave it, as it must leave everything not made by this playbook.
	cloud.Put(playbooks.KindNetwork, "handmade", "", playbooks.Network{Name: "handmade"})

	plan, err := playbooks.PlanApply(ctx, pb, cloud)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range plan.Steps {
		if s.Action != playbooks.Create {
			t.Errorf("first plan: %s %s is %s, want create", s.Kind, s.Name, s.Action)
		}
	}

	rep, err := playbooks.Apply(ctx, pb, cloud, playbooks.Options{Concurrency: 3})
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	writes := cloud.Writes()
	created := positions(writes, "create")
	if len(created) != len(pb.Resources()) || len(writes) != len(created) {
		t.Fatalf("first apply wrote %v, want one create per resource", writes)
	}
	deps := dependencies(pb)
	for id, ds := range deps {
		for _, d := range ds {
			if created[d] > created[id] {
				t.Errorf("%s created before its dependency %s", id, d)
			}
		}
	}
	if len(deps["server lab-vm"]) == 0 || len(deps["floating_ip lab-vm-fip"]) == 0 {
		t.Errorf("dependencies missing: %v", deps)
	}
	for _, r := range rep.Results {
		if r.Action != playbooks.Create || r.Err != nil {
			t.Errorf("first apply: %s %s: %s %v", r.Kind, r.Name, r.Action, r.Err)
		}
	}

	// Second apply: every resource unchanged, nothing written.
	before := len(cloud.Writes())
	rep, err = playbooks.Apply(ctx, pb, cloud, playbooks.Options{})
	if err != nil {
		t.Fatalf("second apply: %v", err)
	}
	for _, r := range rep.Results {
		if r.Action != playbooks.Unchanged {
			t.Errorf("second apply: %s %s is %s, want unchanged", r.Kind, r.Name, r.Action)
		}
	}
	if w := cloud.Writes()[before:]; len(w) != 0 {
		t.Errorf("second apply wrote %v", w)
	}

	// Destroy: the plan deletes everything, the floating IP first.
	dplan, err := playbooks.PlanDestroy(ctx, pb, cloud)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	dplan.WriteText(&buf)
	if !strings.HasPrefix(buf.String(), "- floating_ip    lab-vm-fip\n- server         lab-vm\n") ||
		!strings.HasSuffix(buf.String(), "- flavor         m1.lab\n11 delete\n") {
		t.Errorf("destroy plan:\n%s", buf.String())
	}

	// Destroy: deletes exactly what apply made, dependents first.
	before = len(cloud.Calls())
	if _, err := playbooks.Destroy(ctx, pb, cloud, playbooks.Options{Concurrency: 3}); err != nil {
		t.Fatalf("destroy: %v", err)
	}
	dels := cloud.Calls()[before:]
	deleted := positions(dels, "delete")
	if len(deleted) != len(created) {
		t.Errorf("destroy deleted %d, apply created %d: %v", len(deleted), len(created), dels)
	}
	for id := range created {
		if _, ok := deleted[id]; !ok {
			t.Errorf("%s not deleted", id)
		}
	}
	for id, ds := range deps {
		for _, d := range ds {
			if deleted[d] < deleted[id] {
				t.Errorf("%s deleted before %s, which depends on it", d, id)
			}
		}
	}
	if !cloud.Has(playbooks.KindNetwork, "handmade") {
		t.Error("destroy removed a hand-made network")
	}
}

func TestDestroyKeepsHandMadeResourceOfDeclaredName(t *testing.T) {
	pb := labPlaybook(t)
	cloud := playbookstest.New()
	cloud.Put(playbooks.KindNetwork, "selfservice", "", playbooks.Network{Name: "selfservice"})
	cloud.Put(playbooks.KindNetwork, "ext_net", "other", playbooks.Network{Name: "ext_net"})
	rep, err := playbooks.Destroy(testContext(t), pb, cloud, playbooks.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if w := cloud.Writes(); len(w) != 0 {
		t.Errorf("destroy wrote %v", w)
	}
	var buf bytes.Buffer
	rep.WriteText(&buf)
	for _, want := range []string{
		"! network        selfservice (not made by this playbook; kept)",
		"! network        ext_net (not made by this playbook; kept)",
		"  floating_ip    lab-vm-fip (absent)",
	} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, buf.String())
		}
	}
}

// TestIndependentResourcesRunConcurrently holds the image upload until the
// network is being created and the network until the image is: a serial
// engine could never get both into the barrier and would time out.
func TestIndependentResourcesRunConcurrently(t *testing.T) {
	pb := labPlaybook(t)
	cloud := playbookstest.New()
	imageIn, networkIn := make(chan struct{}), make(chan struct{})
	cloud.BeforeWrite = func(ctx context.Context, c playbookstest.Call) error {
		var mine, other chan struct{}
		switch {
		case c.Op == "create" && c.Kind == playbooks.KindImage:
			mine, other = imageIn, networkIn
		case c.Op == "create" && c.Kind == playbooks.KindNetwork && c.Name == "selfservice":
			mine, other = networkIn, imageIn
		default:
			return nil
		}
		close(mine)
		select {
		case <-other:
			return nil
		case <-ctx.Done():
			return fmt.Errorf("barrier: %w", ctx.Err())
		}
	}
	if _, err := playbooks.Apply(testContext(t), pb, cloud, playbooks.Options{Concurrency: 2}); err != nil {
		t.Fatalf("apply: %v", err)
	}
}

func TestFailedDependencySkipsDependents(t *testing.T) {
	pb := labPlaybook(t)
	cloud := playbookstest.New()
	boom := errors.New("boom")
	cloud.BeforeWrite = func(_ context.Context, c playbookstest.Call) error {
		if c.Kind == playbooks.KindImage {
			return boom
		}
		return nil
	}
	rep, err := playbooks.Apply(testContext(t), pb, cloud, playbooks.Options{})
	if !errors.Is(err, boom) {
		t.Fatalf("apply error %v, want boom", err)
	}
	got := map[string]playbooks.Action{}
	for _, r := range rep.Results {
		got[string(r.Kind)+" "+r.Name] = r.Action
	}
	for id, want := range map[string]playbooks.Action{
		"image lab-image":        playbooks.Create,
		"server lab-vm":          playbooks.Skipped,
		"floating_ip lab-vm-fip": playbooks.Skipped,
		"router lab-router":      playbooks.Create,
	} {
		if got[id] != want {
			t.Errorf("%s: %s, want %s", id, got[id], want)
		}
	}
	if cloud.Has(playbooks.KindServer, "lab-vm") {
		t.Error("server created without its image")
	}
}

func TestPlanShowsUpdates(t *testing.T) {
	ctx := testContext(t)
	pb := labPlaybook(t)
	cloud := playbookstest.New()
	if _, err := playbooks.Apply(ctx, pb, cloud, playbooks.Options{}); err != nil {
		t.Fatal(err)
	}
	sub := pb.Subnets[1]
	sub.Gateway = "203.0.113.254"
	cloud.Put(playbooks.KindSubnet, sub.Name, "lab", sub)

	plan, err := playbooks.PlanApply(ctx, pb, cloud)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	plan.WriteText(&buf)
	for _, want := range []string{
		"~ subnet         ext_net-subnet: gateway 203.0.113.254 → 203.0.113.1\n",
		"= router         lab-router (unchanged)\n",
		"= floating_ip    lab-vm-fip (unchanged)\n",
		"1 update, 10 unchanged\n",
	} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("plan lacks %q:\n%s", want, buf.String())
		}
	}
	buf.Reset()
	if err := plan.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	var decoded playbooks.Plan
	if err := json.Unmarshal(buf.Bytes(), &decoded); err != nil {
		t.Fatal(err)
	}
	if !slices.EqualFunc(decoded.Steps, plan.Steps, func(a, b playbooks.Step) bool {
		return a.Kind == b.Kind && a.Name == b.Name && a.Action == b.Action && slices.Equal(a.Changes, b.Changes)
	}) {
		t.Errorf("json round trip: %s", buf.String())
	}

	rep, err := playbooks.Apply(ctx, pb, cloud, playbooks.Options{})
	if err != nil {
		t.Fatal(err)
	}
	updates := 0
	for _, w := range cloud.Writes() {
		if w.Op == "update" {
			updates++
		}
	}
	if updates != 1 {
		t.Errorf("updates %d, want 1", updates)
	}
	buf.Reset()
	if err := rep.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), `"duration_ms"`) {
		t.Errorf("report json lacks durations: %s", buf.String())
	}
}

func TestConcurrencyIsBounded(t *testing.T) {
	pb := labPlaybook(t)
	cloud := playbookstest.New()
	var mu sync.Mutex
	inflight, most := 0, 0
	cloud.BeforeWrite = func(context.Context, playbookstest.Call) error {
		mu.Lock()
		inflight++
		most = max(most, inflight)
		mu.Unlock()
		// Let the scheduler run anything else that could start now.
		runtime.Gosched()
		mu.Lock()
		inflight--
		mu.Unlock()
		return nil
	}
	if _, err := playbooks.Apply(testContext(t), pb, cloud, playbooks.Options{Concurrency: 1}); err != nil {
		t.Fatal(err)
	}
	if most != 1 {
		t.Errorf("%d writes at once with Concurrency 1", most)
	}
}

func TestApplyReportsProgressAndInfo(t *testing.T) {
	pb := labPlaybook(t)
	cloud := playbookstest.New()
	var mu sync.Mutex
	started, done := map[string]int{}, map[string]int{}
	o := playbooks.Options{
		OnStart: func(s playbooks.Step) { mu.Lock(); started[string(s.Kind)+" "+s.Name]++; mu.Unlock() },
		OnDone:  func(r playbooks.Result) { mu.Lock(); done[string(r.Kind)+" "+r.Name]++; mu.Unlock() },
	}
	rep, err := playbooks.Apply(testContext(t), pb, cloud, o)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range pb.Resources() {
		if started[r.ID()] != 1 || done[r.ID()] != 1 {
			t.Errorf("%s: started %d, done %d; want 1 and 1", r.ID(), started[r.ID()], done[r.ID()])
		}
	}
	// The address is not declared anywhere: the report is where a user
	// finds it, in text and JSON, on the run that made it and on re-runs.
	for _, pass := range []string{"apply", "re-run"} {
		var fip *playbooks.Result
		for i := range rep.Results {
			if rep.Results[i].Kind == playbooks.KindFloatingIP {
				fip = &rep.Results[i]
			}
		}
		if fip == nil || !strings.HasPrefix(fip.Info["address"], "203.0.113.") {
			t.Fatalf("%s: floating IP result %+v has no address", pass, fip)
		}
		if !strings.Contains(fip.String(), "address="+fip.Info["address"]) {
			t.Errorf("%s: text line %q lacks the address", pass, fip.String())
		}
		var buf bytes.Buffer
		if err := rep.WriteJSON(&buf); err != nil || !strings.Contains(buf.String(), `"address": "`+fip.Info["address"]) {
			t.Errorf("%s: JSON lacks the address: %v\n%s", pass, err, buf.String())
		}
		if rep, err = playbooks.Apply(testContext(t), pb, cloud, playbooks.Options{}); err != nil {
			t.Fatal(err)
		}
	}
}

// Neutron refuses to delete a subnet while a router's gateway port holds an
// address on it; found on the real lab, where ext_net-subnet was deleted
// concurrently with lab-router.
func TestDestroyDeletesExternalSubnetAfterRouter(t *testing.T) {
	pb := labPlaybook(t)
	cloud := playbookstest.New()
	if _, err := playbooks.Apply(testContext(t), pb, cloud, playbooks.Options{}); err != nil {
		t.Fatal(err)
	}
	cloud.BeforeWrite = func(_ context.Context, c playbookstest.Call) error {
		if c.Op == "delete" && c.Kind == playbooks.KindSubnet && c.Name == "ext_net-subnet" && cloud.Has(playbooks.KindRouter, "lab-router") {
			return errors.New("SubnetInUse: one or more ports have an IP allocation from this subnet")
		}
		if c.Op == "create" && c.Kind == playbooks.KindRouter && !cloud.Has(playbooks.KindSubnet, "ext_net-subnet") {
			return errors.New("router gateway on ext_net before it has a subnet")
		}
		return nil
	}
	if _, err := playbooks.Destroy(testContext(t), pb, cloud, playbooks.Options{Concurrency: 8}); err != nil {
		t.Fatalf("destroy: %v", err)
	}
	if _, err := playbooks.Apply(testContext(t), pb, cloud, playbooks.Options{Concurrency: 8}); err != nil {
		t.Fatalf("apply again: %v", err)
	}
}

// TestFloatingIPStartsBesideItsServer holds the server's create, after it
// said it exists, until its floating IP has been created: an engine that
// waited for the server to be done would never get the floating IP into
// the barrier. The floating IP's wait for the server to be ready
// (AwaitDeps) ends only once the server is done, and a dependency across
// an ordinary edge (the server's image) is still waited for whole.
func TestFloatingIPStartsBesideItsServer(t *testing.T) {
	pb := labPlaybook(t)
	cloud := playbookstest.New()
	fipIn := make(chan struct{})
	var imageWritten, serverDoneSeen atomic.Bool
	cloud.BeforeWrite = func(ctx context.Context, c playbookstest.Call) error {
		switch {
		case c.Op == "create" && c.Kind == playbooks.KindImage:
			// Said early, but the server needs the image uploaded.
			playbooks.Exists(ctx)
			time.Sleep(50 * time.Millisecond)
			imageWritten.Store(true)
		case c.Op == "create" && c.Kind == playbooks.KindServer:
			if !imageWritten.Load() {
				return errors.New("server started before its image was done")
			}
			playbooks.Exists(ctx)
			select {
			case <-fipIn:
			case <-ctx.Done():
				return fmt.Errorf("barrier: %w", ctx.Err())
			}
		case c.Op == "create" && c.Kind == playbooks.KindFloatingIP:
			close(fipIn)
			if err := playbooks.AwaitDeps(ctx); err != nil {
				return err
			}
			serverDoneSeen.Store(cloud.Has(playbooks.KindServer, "lab-vm"))
		}
		return nil
	}
	if _, err := playbooks.Apply(testContext(t), pb, cloud, playbooks.Options{}); err != nil {
		t.Fatalf("apply: %v", err)
	}
	if !serverDoneSeen.Load() {
		t.Error("AwaitDeps returned before the server was done")
	}
}

// TestAwaitDepsReportsAServerThatFailsLate: the floating IP started beside
// its server learns, before pinging, that the server failed after it said
// it exists.
func TestAwaitDepsReportsAServerThatFailsLate(t *testing.T) {
	pb := labPlaybook(t)
	cloud := playbookstest.New()
	fipIn := make(chan struct{})
	var awaitErr error
	cloud.BeforeWrite = func(ctx context.Context, c playbookstest.Call) error {
		switch {
		case c.Op == "create" && c.Kind == playbooks.KindServer:
			playbooks.Exists(ctx)
			<-fipIn
			return errors.New("guest never printed its console line")
		case c.Op == "create" && c.Kind == playbooks.KindFloatingIP:
			close(fipIn)
			awaitErr = playbooks.AwaitDeps(ctx)
			return awaitErr
		}
		return nil
	}
	rep, err := playbooks.Apply(testContext(t), pb, cloud, playbooks.Options{})
	if err == nil {
		t.Fatal("apply succeeded with a failed server")
	}
	if awaitErr == nil || !strings.Contains(awaitErr.Error(), "server lab-vm failed") {
		t.Errorf("AwaitDeps: %v, want the server named as failed", awaitErr)
	}
	for _, r := range rep.Results {
		if r.Kind == playbooks.KindFloatingIP && r.Action != playbooks.Create {
			t.Errorf("floating IP: %s, want create (started beside the server)", r.Action)
		}
	}
}

// A resource the plan found unchanged is read again when something it
// depends on changes first: recreating a server (its build failed, its
// flavor changed) deletes its port, and with it the association of its
// floating IP, which the plan had seen attached. A run that changes
// nothing reads nothing twice.
func TestDependentOfAChangedResourceIsReadAgain(t *testing.T) {
	ctx := testContext(t)
	pb := labPlaybook(t)
	cloud := playbookstest.New()
	if _, err := playbooks.Apply(ctx, pb, cloud, playbooks.Options{}); err != nil {
		t.Fatal(err)
	}
	before := len(cloud.Calls())
	if _, err := playbooks.Apply(ctx, pb, cloud, playbooks.Options{}); err != nil {
		t.Fatal(err)
	}
	for _, c := range cloud.Calls()[before:] {
		if c.Op != "get" {
			t.Errorf("a run with nothing to do wrote: %v", c)
		}
	}
	if got, want := len(cloud.Calls())-before, len(pb.Resources()); got != want {
		t.Errorf("a run with nothing to do made %d reads, want %d (one each)", got, want)
	}

	server, fip := pb.Servers[0], pb.FloatingIPs[0]
	stale := server
	stale.Flavor = "m1.old"
	cloud.Put(playbooks.KindServer, server.Name, "lab", stale)
	cloud.BeforeWrite = func(_ context.Context, c playbookstest.Call) error {
		if c.Op == "update" && c.Kind == playbooks.KindServer {
			detached := fip
			detached.Server = ""
			cloud.Put(playbooks.KindFloatingIP, fip.Name, "lab", detached)
		}
		return nil
	}
	plan, err := playbooks.PlanApply(ctx, pb, cloud)
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range plan.Steps {
		if st.Kind == playbooks.KindFloatingIP && st.Action != playbooks.Unchanged {
			t.Fatalf("the plan already saw the floating IP change: %+v", st)
		}
	}
	rep, err := playbooks.Apply(ctx, pb, cloud, playbooks.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rep.Results {
		if r.Kind == playbooks.KindFloatingIP && r.Action != playbooks.Update {
			t.Errorf("floating IP after its server was recreated: %s, want update", r.Action)
		}
	}
	drv, _ := cloud.Driver(playbooks.KindFloatingIP)
	if got, _, _ := drv.Get(ctx, fip.Name); got.Spec.(playbooks.FloatingIP).Server != server.Name {
		t.Errorf("floating IP left on %q", got.Spec.(playbooks.FloatingIP).Server)
	}
}
