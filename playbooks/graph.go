package playbooks

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// runGraph runs fn on every resource once all of deps[its ID] are done,
// at most n at a time. A resource whose dependency failed or was skipped
// is skipped. Results come back in the order of rs.
func runGraph(ctx context.Context, rs []Resource, deps map[string][]string, o Options, fn func(context.Context, Resource) Result) []Result {
	n := o.Concurrency
	if n <= 0 {
		n = 4
	}
	index := map[string]int{}
	done := make([]chan struct{}, len(rs))
	for i, r := range rs {
		index[r.ID()] = i
		done[i] = make(chan struct{})
	}
	results := make([]Result, len(rs))
	// failed[i] is written before done[i] is closed and read only after,
	// so the channel orders the accesses.
	failed := make([]bool, len(rs))
	sem := make(chan struct{}, n)
	var wg sync.WaitGroup
	for i, r := range rs {
		wg.Go(func() {
			defer close(done[i])
			skip := func(why error) {
				results[i] = Result{Step: Step{Kind: r.Kind, Name: r.Name, Action: Skipped}, Err: why}
				failed[i] = true
				if o.OnDone != nil {
					o.OnDone(results[i])
				}
			}
			for _, d := range deps[r.ID()] {
				j, ok := index[d]
				if !ok {
					continue
				}
				select {
				case <-done[j]:
				case <-ctx.Done():
					skip(fmt.Errorf("not started: %w", ctx.Err()))
					return
				}
				if failed[j] {
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
			res := fn(ctx, r)
			<-sem
			res.Kind, res.Name = r.Kind, r.Name
			res.Duration = time.Since(start)
			results[i] = res
			failed[i] = res.Err != nil
			if o.OnDone != nil {
				o.OnDone(res)
			}
		})
	}
	wg.Wait()
	return results
}
