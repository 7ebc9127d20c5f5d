package playbooks

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// edge is a dependency: From needs To.
type edge struct{ From, To string }

// node is what a running resource's context carries to its driver: the
// call that lets dependents needing only its existence start, and the
// wait for its own dependencies to be wholly done.
type node struct {
	exists    func()
	awaitDeps func(context.Context) error
}

type nodeKey struct{}

// Exists tells the engine that the resource being created or updated
// under ctx now exists, though its Create or Update still waits for it to
// be ready: dependents that need only its existence (a floating IP on a
// server's port, while the guest boots) start now instead of after the
// wait. Outside a run, and on a second call, it does nothing.
func Exists(ctx context.Context) {
	if n, ok := ctx.Value(nodeKey{}).(*node); ok {
		n.exists()
	}
}

// AwaitDeps waits until every dependency of the resource converged under
// ctx is done, and fails if one failed: a resource started beside a
// dependency that still waits (Exists) calls it before a step that needs
// that dependency ready (pinging a server's address needs its guest up).
// Outside a run it returns at once.
func AwaitDeps(ctx context.Context) error {
	if n, ok := ctx.Value(nodeKey{}).(*node); ok {
		return n.awaitDeps(ctx)
	}
	return nil
}

// runGraph runs fn on every resource once all of deps[its ID] are done,
// at most n at a time; across an early edge, once the dependency exists
// (Exists) or is done. A resource whose dependency failed or was skipped
// is skipped. Results come back in the order of rs.
func runGraph(ctx context.Context, rs []Resource, deps map[string][]string, early map[edge]bool, o Options, fn func(context.Context, Resource) Result) []Result {
	n := o.Concurrency
	if n <= 0 {
		n = 4
	}
	index := map[string]int{}
	done := make([]chan struct{}, len(rs))
	exists := make([]chan struct{}, len(rs))
	existsOnce := make([]sync.Once, len(rs))
	for i, r := range rs {
		index[r.ID()] = i
		done[i] = make(chan struct{})
		exists[i] = make(chan struct{})
	}
	results := make([]Result, len(rs))
	// failed[i] is set before done[i] is closed; a dependent started
	// early may read it while i still runs, hence atomic.
	failed := make([]atomic.Bool, len(rs))
	sem := make(chan struct{}, n)
	awaitDeps := func(ctx context.Context, id string) error {
		for _, d := range deps[id] {
			j, ok := index[d]
			if !ok {
				continue
			}
			select {
			case <-done[j]:
			case <-ctx.Done():
				return ctx.Err()
			}
			if failed[j].Load() {
				return errors.New(d + " failed")
			}
		}
		return nil
	}
	var wg sync.WaitGroup
	for i, r := range rs {
		wg.Go(func() {
			markExists := func() { existsOnce[i].Do(func() { close(exists[i]) }) }
			defer close(done[i])
			defer markExists()
			skip := func(why error) {
				results[i] = Result{Step: Step{Kind: r.Kind, Name: r.Name, Action: Skipped}, Err: why}
				failed[i].Store(true)
				if o.OnDone != nil {
					o.OnDone(results[i])
				}
			}
			for _, d := range deps[r.ID()] {
				j, ok := index[d]
				if !ok {
					continue
				}
				wait := done[j]
				if early[edge{r.ID(), d}] {
					wait = exists[j]
				}
				select {
				case <-wait:
				case <-ctx.Done():
					skip(fmt.Errorf("not started: %w", ctx.Err()))
					return
				}
				if failed[j].Load() {
					skip(fmt.Errorf("needs %s, which failed", d))
					return
				}
			}
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				skip(fmt.Errorf("not started: %w", ctx.Err()))
				return
			}
			if o.OnStart != nil {
				o.OnStart(Step{Kind: r.Kind, Name: r.Name})
			}
			start := time.Now()
			nctx := context.WithValue(ctx, nodeKey{}, &node{
				exists:    markExists,
				awaitDeps: func(ctx context.Context) error { return awaitDeps(ctx, r.ID()) },
			})
			res := fn(nctx, r)
			<-sem
			res.Kind, res.Name = r.Kind, r.Name
			res.Duration = time.Since(start)
			results[i] = res
			// Set before exists[i] closes (deferred), so a dependent
			// that waited on it sees a failure.
			failed[i].Store(res.Err != nil)
			if o.OnDone != nil {
				o.OnDone(res)
			}
		})
	}
	wg.Wait()
	return results
}
