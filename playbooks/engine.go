package playbooks

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
)

// markerPrefix starts the description (or tag) of everything a playbook
// makes; destroy deletes only what carries its own playbook's marker.
const markerPrefix = "managed-by: stacklab playbook "

// Marker is the description a resource made by playbook carries.
func Marker(playbook string) string { return markerPrefix + playbook }

// OwnerOf returns the playbook named by a description carrying a Marker,
// or "" for anything else (a resource made by hand).
func OwnerOf(description string) string {
	owner, ok := strings.CutPrefix(strings.TrimSpace(description), markerPrefix)
	if !ok {
		return ""
	}
	return owner
}

// Current is a resource as the cloud has it.
type Current struct {
	ID string
	// Owner is the playbook whose Marker it carries, "" when hand-made.
	Owner string
	// Spec is the resource described with the same type as its
	// declaration (Network for a network, ...), with references by name.
	Spec any
	// Info is what a user needs to reach or use the resource and cannot
	// declare (a floating IP's address, a server's fixed IPs), shown in
	// the report.
	Info map[string]string
}

// Driver manages one kind of resource in a cloud. Every method resolves
// references by name itself; Create and Update return once the resource
// is usable (a server ACTIVE), or the error that keeps it from being so.
type Driver interface {
	// Get finds the resource by name; found is false when there is none.
	Get(ctx context.Context, name string) (cur Current, found bool, err error)
	// Create makes r and marks it with Marker(owner).
	Create(ctx context.Context, r Resource, owner string) error
	// Update changes only the managed fields listed in changes.
	Update(ctx context.Context, r Resource, cur Current, changes []FieldChange) error
	// Delete removes cur; a resource already gone is success.
	Delete(ctx context.Context, cur Current) error
	// Diff lists the managed fields where cur differs from r.
	Diff(r Resource, cur Current) []FieldChange
}

// Cloud hands out the driver of each kind.
type Cloud interface {
	Driver(kind Kind) (Driver, error)
}

// ReadSharer is a Cloud whose drivers can share reads: under the context
// CachedReads returns, Gets that need the same data (every resource that
// names a network wants the network list) make one request between them.
// The plan reads under it; a converge's reads never do, so a change made
// behind the plan's back is still seen before a write.
type ReadSharer interface {
	CachedReads(ctx context.Context) context.Context
}

// planContext is ctx for one plan's reads.
func planContext(ctx context.Context, cloud Cloud) context.Context {
	if rs, ok := cloud.(ReadSharer); ok {
		return rs.CachedReads(ctx)
	}
	return ctx
}

// Action is what a plan or run does to one resource.
type Action string

// Actions.
const (
	Create    Action = "create"
	Update    Action = "update"
	Unchanged Action = "unchanged"
	Delete    Action = "delete"
	// Absent: destroy found nothing to delete.
	Absent Action = "absent"
	// Keep: destroy found a resource of that name not made by this
	// playbook and leaves it alone.
	Keep Action = "keep"
	// Skipped: not attempted because a dependency failed.
	Skipped Action = "skipped"
)

// Step is one resource in a plan.
type Step struct {
	Kind    Kind          `json:"kind"`
	Name    string        `json:"name"`
	Action  Action        `json:"action"`
	Changes []FieldChange `json:"changes,omitempty"`
}

// Plan is what apply or destroy would do, in dependency order.
type Plan struct {
	Playbook string `json:"playbook"`
	Steps    []Step `json:"steps"`
}

// Options tune a run.
type Options struct {
	// Concurrency is how many resources change at once; 0 means 4.
	Concurrency int
	// OnStart and OnDone, when set, are called as each resource starts
	// and ends (from several goroutines at once), so a long run shows
	// progress instead of going silent until the report.
	OnStart func(Step)
	OnDone  func(Result)
	// CheckPlan, when set, sees Apply's plan before anything changes; an
	// error stops the run there (as a plan problem does). The caller's
	// checks then need no plan of their own, which would read the whole
	// cloud a second time.
	CheckPlan func(*Plan) error
}

// Result is what happened to one resource.
type Result struct {
	Step
	// Info is the resource's Current.Info once converged.
	Info     map[string]string `json:"info,omitempty"`
	Duration time.Duration     `json:"-"`
	Err      error             `json:"-"`
}

// Report is the outcome of Apply or Destroy, in dependency order.
type Report struct {
	Playbook string   `json:"playbook"`
	Results  []Result `json:"results"`
}

// Resources lists the playbook's declarations in dependency order.
func (pb *Playbook) Resources() []Resource {
	rs, _ := order(resources(pb))
	return rs
}

// order sorts rs so every resource comes after what it depends on,
// keeping file order otherwise; it returns each resource's dependencies
// by ID. Load refuses the one cycle a playbook can write (a server booting
// from a snapshot of itself), so a cycle here is a bug.
func order(rs []Resource) ([]Resource, map[string][]string) {
	declared := map[string]bool{}
	for _, r := range rs {
		declared[r.ID()] = true
	}
	deps := map[string][]string{}
	for _, r := range rs {
		for _, ref := range append(append([]Ref{}, r.Refs...), r.After...) {
			id := string(ref.Kind) + " " + ref.Name
			if declared[id] && id != r.ID() {
				deps[r.ID()] = append(deps[r.ID()], id)
			}
		}
	}
	placed := map[string]bool{}
	var out []Resource
	for len(out) < len(rs) {
		progress := false
		for _, r := range rs {
			if placed[r.ID()] {
				continue
			}
			ready := true
			for _, d := range deps[r.ID()] {
				ready = ready && placed[d]
			}
			if ready {
				placed[r.ID()] = true
				out = append(out, r)
				progress = true
			}
		}
		if !progress {
			panic("playbooks: dependency cycle")
		}
	}
	return out, deps
}

// earlyEdges are the dependencies of rs that a dependent may start
// beside (Resource.Beside).
func earlyEdges(rs []Resource) map[edge]bool {
	out := map[edge]bool{}
	for _, r := range rs {
		for _, b := range r.Beside {
			out[edge{r.ID(), string(b.Kind) + " " + b.Name}] = true
		}
	}
	return out
}

type drivers struct {
	cloud Cloud
	got   map[Kind]Driver
}

func (d *drivers) get(kind Kind) (Driver, error) {
	if drv, ok := d.got[kind]; ok {
		return drv, nil
	}
	drv, err := d.cloud.Driver(kind)
	if err != nil {
		return nil, fmt.Errorf("driver for %s: %w", kind, err)
	}
	d.got[kind] = drv
	return drv, nil
}

// PlanApply reads the cloud and says what Apply would do. Problems only
// the cloud can show (a reference to something neither declared nor
// existing, a declared name taken by a resource this playbook did not
// make) come back joined as *Error, like Load's.
func PlanApply(ctx context.Context, pb *Playbook, cloud Cloud) (*Plan, error) {
	plan, _, err := planApply(planContext(ctx, cloud), pb, &lockedDrivers{d: drivers{cloud: cloud, got: map[Kind]Driver{}}})
	return plan, err
}

// read is one resource as the plan found it.
type read struct {
	cur   Current
	found bool
	err   error
}

// planReaders bounds the plan's concurrent reads.
const planReaders = 8

// readAll gets every ref at once, planReaders at a time: a plan is only
// reads, and doing them one after another made a run with nothing to do
// take over a second on the lab.
func readAll(ctx context.Context, ds *lockedDrivers, refs []Ref) (map[string]read, error) {
	out := make(map[string]read, len(refs))
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, planReaders)
	var firstErr error
	seen := map[string]bool{}
	for _, ref := range refs {
		id := string(ref.Kind) + " " + ref.Name
		if seen[id] {
			continue
		}
		seen[id] = true
		drv, err := ds.get(ref.Kind)
		if err != nil {
			wg.Wait()
			return nil, err
		}
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			cur, found, err := drv.Get(ctx, ref.Name)
			mu.Lock()
			defer mu.Unlock()
			out[id] = read{cur, found, err}
			if err != nil && firstErr == nil {
				firstErr = fmt.Errorf("read %s: %w", id, err)
			}
		})
	}
	wg.Wait()
	return out, firstErr
}

func planApply(ctx context.Context, pb *Playbook, ds *lockedDrivers) (*Plan, map[string]read, error) {
	rs, _ := order(resources(pb))
	declared := map[Kind][]string{}
	var want []Ref
	for _, r := range rs {
		declared[r.Kind] = append(declared[r.Kind], r.Name)
		want = append(want, Ref{Kind: r.Kind, Name: r.Name})
	}
	for _, r := range rs {
		for _, ref := range r.Refs {
			if !contains(declared[ref.Kind], ref.Name) {
				want = append(want, ref)
			}
		}
	}
	reads, err := readAll(ctx, ds, want)
	if err != nil {
		return nil, nil, err
	}
	var problems []*Error
	errAt := func(p Pos, hint, format string, args ...any) {
		problems = append(problems, &Error{File: pb.File, Line: p.Line, Col: p.Col, Msg: fmt.Sprintf(format, args...), Hint: hint})
	}
	plan := &Plan{Playbook: pb.Name}
	for _, r := range rs {
		drv, err := ds.get(r.Kind)
		if err != nil {
			return nil, nil, err
		}
		got := reads[r.ID()]
		cur, found := got.cur, got.found
		step := Step{Kind: r.Kind, Name: r.Name, Action: Create}
		if found {
			if cur.Owner != pb.Name {
				errAt(r.At, "rename it here, or delete or rename the existing one",
					"%s %q already exists and was not made by playbook %s (%s)", r.Kind, r.Name, pb.Name, madeBy(cur.Owner))
			}
			step.Changes = drv.Diff(r, cur)
			step.Action = Unchanged
			if len(step.Changes) > 0 {
				step.Action = Update
			}
		}
		if img, ok := r.Spec.(Image); ok && !found && img.FromServer != "" {
			// Refused now, not after the servers before it were made.
			if src := reads[string(KindServer)+" "+img.FromServer]; src.found && src.cur.Info["status"] != "" && src.cur.Info["status"] != "ACTIVE" {
				errAt(img.pos("from_server"), "start it first: openstack server start "+img.FromServer,
					"image %s: server %s is %s; nova snapshots only an ACTIVE server here", r.Name, img.FromServer, src.cur.Info["status"])
			}
		} else if ok && !found && img.DetectedFormat == "" {
			hint := "point file at an existing image (qcow2, raw, iso, ...)"
			if img.Build != "" {
				hint = fmt.Sprintf("build it with: stacklab image %s %s (stacklab run does this itself)", img.Build, img.Path)
			}
			errAt(img.pos("file"), hint, "image %s: %s does not exist", r.Name, img.File)
		}
		plan.Steps = append(plan.Steps, step)
		for _, ref := range r.Refs {
			if contains(declared[ref.Kind], ref.Name) {
				continue
			}
			if !reads[string(ref.Kind)+" "+ref.Name].found {
				hint := "declare it in the playbook or create it first"
				if s := suggest(ref.Name, declared[ref.Kind]); s != "" {
					hint = fmt.Sprintf("did you mean %q?", s)
				}
				errAt(ref.At, hint, "%s %s: %s %q is neither declared nor in the cloud", r.Kind, r.Name, ref.Kind, ref.Name)
			}
		}
	}
	if len(problems) > 0 {
		return nil, nil, joinErrors(problems)
	}
	return plan, reads, nil
}

func madeBy(owner string) string {
	if owner == "" {
		return "made by hand"
	}
	return "made by playbook " + owner
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// PlanDestroy reads the cloud and says what Destroy would do, in the
// order it would do it.
func PlanDestroy(ctx context.Context, pb *Playbook, cloud Cloud) (*Plan, error) {
	rs, _ := order(resources(pb))
	ds := &drivers{cloud: cloud, got: map[Kind]Driver{}}
	plan := &Plan{Playbook: pb.Name}
	ctx = planContext(ctx, cloud)
	for i := len(rs) - 1; i >= 0; i-- {
		r := rs[i]
		drv, err := ds.get(r.Kind)
		if err != nil {
			return nil, err
		}
		cur, found, err := drv.Get(ctx, r.Name)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", r.ID(), err)
		}
		plan.Steps = append(plan.Steps, Step{Kind: r.Kind, Name: r.Name, Action: destroyAction(pb.Name, cur, found)})
	}
	return plan, nil
}

func destroyAction(playbook string, cur Current, found bool) Action {
	switch {
	case !found:
		return Absent
	case cur.Owner != playbook:
		return Keep
	}
	return Delete
}

// Apply converges the cloud to the playbook: it plans first, and changes
// nothing if the plan finds a problem; then each resource, once what it
// depends on is done, is read, compared, created or updated, and read
// again to verify. Independent resources run concurrently, and one that
// needs another only to exist (Resource.Beside) starts once it does.
func Apply(ctx context.Context, pb *Playbook, cloud Cloud, o Options) (*Report, error) {
	ds := &lockedDrivers{d: drivers{cloud: cloud, got: map[Kind]Driver{}}}
	plan, reads, err := planApply(planContext(ctx, cloud), pb, ds)
	if err != nil {
		return nil, err
	}
	if o.CheckPlan != nil {
		if err := o.CheckPlan(plan); err != nil {
			return nil, err
		}
	}
	// What the plan found unchanged a moment ago is not read again: a
	// second run must be fast, and the verify after each change is where
	// reading back matters. Unless something it depends on changes first:
	// a server recreated (its build had failed, or its flavor changed)
	// takes its port, and with it its floating IP's association, along.
	unchanged := map[string]bool{}
	for _, st := range plan.Steps {
		unchanged[string(st.Kind)+" "+st.Name] = st.Action == Unchanged
	}
	rs, deps := order(resources(pb))
	for _, r := range rs { // dependencies first
		for _, d := range deps[r.ID()] {
			if !unchanged[d] {
				unchanged[r.ID()] = false
			}
		}
	}
	results := runGraph(ctx, rs, deps, earlyEdges(rs), o, func(ctx context.Context, r Resource) Result {
		if unchanged[r.ID()] {
			return Result{Step: Step{Kind: r.Kind, Name: r.Name, Action: Unchanged}, Info: reads[r.ID()].cur.Info}
		}
		drv, err := ds.get(r.Kind)
		if err != nil {
			return Result{Err: err}
		}
		return converge(ctx, drv, r, pb.Name)
	})
	return &Report{Playbook: pb.Name, Results: results}, resultsErr(results)
}

func converge(ctx context.Context, drv Driver, r Resource, owner string) Result {
	res := Result{Step: Step{Kind: r.Kind, Name: r.Name}}
	cur, found, err := drv.Get(ctx, r.Name)
	if err != nil {
		res.Err = fmt.Errorf("read: %w", err)
		return res
	}
	switch {
	case !found:
		res.Action = Create
		err = drv.Create(ctx, r, owner)
	case cur.Owner != owner:
		// Plan refused this already; it appeared since.
		res.Err = fmt.Errorf("exists and was %s; not touching it", madeBy(cur.Owner))
		return res
	default:
		res.Changes = drv.Diff(r, cur)
		res.Action = Unchanged
		if len(res.Changes) == 0 {
			res.Info = cur.Info
			return res
		}
		res.Action = Update
		err = drv.Update(ctx, r, cur, res.Changes)
	}
	if err != nil {
		res.Err = fmt.Errorf("%s: %w", res.Action, err)
		return res
	}
	cur, found, err = drv.Get(ctx, r.Name)
	switch {
	case err != nil:
		res.Err = fmt.Errorf("verify: %w", err)
	case !found:
		res.Err = errors.New("verify: gone right after " + string(res.Action))
	default:
		res.Info = cur.Info
		if left := drv.Diff(r, cur); len(left) > 0 {
			res.Err = fmt.Errorf("verify: %s is %q, want %q", left[0].Field, left[0].From, left[0].To)
		}
	}
	return res
}

// Destroy deletes what the playbook declares and made, dependents first;
// resources of the same names made otherwise are kept.
func Destroy(ctx context.Context, pb *Playbook, cloud Cloud, o Options) (*Report, error) {
	rs, deps := order(resources(pb))
	// Reverse every edge: a resource goes once its dependents are gone.
	rdeps := map[string][]string{}
	for id, ds := range deps {
		for _, d := range ds {
			rdeps[d] = append(rdeps[d], id)
		}
	}
	rev := make([]Resource, len(rs))
	for i, r := range rs {
		rev[len(rs)-1-i] = r
	}
	ds := &lockedDrivers{d: drivers{cloud: cloud, got: map[Kind]Driver{}}}
	results := runGraph(ctx, rev, rdeps, nil, o, func(ctx context.Context, r Resource) Result {
		res := Result{Step: Step{Kind: r.Kind, Name: r.Name}}
		drv, err := ds.get(r.Kind)
		if err != nil {
			res.Err = err
			return res
		}
		cur, found, err := drv.Get(ctx, r.Name)
		if err != nil {
			res.Err = fmt.Errorf("read: %w", err)
			return res
		}
		res.Action = destroyAction(pb.Name, cur, found)
		if res.Action != Delete {
			return res
		}
		if err := drv.Delete(ctx, cur); err != nil {
			res.Err = fmt.Errorf("delete: %w", err)
			return res
		}
		switch _, found, err := drv.Get(ctx, r.Name); {
		case err != nil:
			res.Err = fmt.Errorf("verify: %w", err)
		case found:
			res.Err = errors.New("verify: still there after delete")
		}
		return res
	})
	return &Report{Playbook: pb.Name, Results: results}, resultsErr(results)
}

type lockedDrivers struct {
	mu sync.Mutex
	d  drivers
}

func (l *lockedDrivers) get(kind Kind) (Driver, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.d.get(kind)
}

func resultsErr(results []Result) error {
	var errs []error
	for _, r := range results {
		if r.Err != nil {
			errs = append(errs, fmt.Errorf("%s %s: %w", r.Kind, r.Name, r.Err))
		}
	}
	return errors.Join(errs...)
}
