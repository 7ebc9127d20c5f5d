package checks

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"
)

// DefaultTimeout bounds a check that does not set its own.
const DefaultTimeout = 5 * time.Second

// Options tune a run.
type Options struct {
	// Skip lists check IDs the user asked not to run.
	Skip []string
	// DefaultTimeout replaces DefaultTimeout when non-zero.
	DefaultTimeout time.Duration
	// Parallelism bounds how many checks run at once; zero means all.
	Parallelism int
}

// Entry is one check's outcome in a report.
type Entry struct {
	ID    string `json:"id"`
	Title string `json:"title"`
	Result
	// RootCauses names the failed checks that made this one skip; empty
	// unless the skip was caused by a dependency.
	RootCauses []string      `json:"root_causes,omitempty"`
	Duration   time.Duration `json:"-"`
	// Started is when the check began, from the run's start: with
	// Duration it shows the chain of dependencies a run waited on.
	Started time.Duration `json:"-"`
}

// Report is the outcome of a run, in the order the checks were given.
type Report struct {
	Entries []Entry
}

// ValidationError reports a malformed check list (a programming error or a
// bad --skip value), distinct from a check failing.
type ValidationError struct{ Problems []string }

func (e *ValidationError) Error() string {
	return "checks: " + strings.Join(e.Problems, "; ")
}

// Validate rejects duplicate IDs, unknown dependencies, dependency cycles and
// --skip values that name no check, so a typo in --skip is an error rather
// than a silently ignored flag.
func Validate(list []Check, skip []string) error {
	var problems []string
	byID := make(map[string]Check, len(list))
	for _, c := range list {
		if c.ID == "" {
			problems = append(problems, fmt.Sprintf("check %q has no ID", c.Title))
			continue
		}
		if _, dup := byID[c.ID]; dup {
			problems = append(problems, fmt.Sprintf("duplicate check ID %q", c.ID))
		}
		byID[c.ID] = c
	}
	for _, c := range list {
		for _, d := range c.DependsOn {
			if _, ok := byID[d]; !ok {
				problems = append(problems, fmt.Sprintf("check %q depends on unknown check %q", c.ID, d))
			}
		}
	}
	for _, s := range skip {
		if _, ok := byID[s]; !ok {
			problems = append(problems, fmt.Sprintf("--skip %s: no such check (known: %s)", s, strings.Join(sortedIDs(byID), ", ")))
		}
	}
	if len(problems) == 0 {
		if cyc := findCycle(list, byID); cyc != "" {
			problems = append(problems, "dependency cycle: "+cyc)
		}
	}
	if len(problems) > 0 {
		return &ValidationError{Problems: problems}
	}
	return nil
}

func sortedIDs(m map[string]Check) []string {
	ids := make([]string, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

func findCycle(list []Check, byID map[string]Check) string {
	const (
		white = iota
		grey
		black
	)
	color := map[string]int{}
	var path []string
	var visit func(id string) string
	visit = func(id string) string {
		color[id] = grey
		path = append(path, id)
		for _, d := range byID[id].DependsOn {
			switch color[d] {
			case grey:
				return strings.Join(append(path, d), " -> ")
			case white:
				if c := visit(d); c != "" {
					return c
				}
			}
		}
		path = path[:len(path)-1]
		color[id] = black
		return ""
	}
	for _, c := range list {
		if color[c.ID] == white {
			if cyc := visit(c.ID); cyc != "" {
				return cyc
			}
		}
	}
	return ""
}

// Run executes every check and reports all of them, never stopping at the
// first failure. Each check starts as soon as the checks it depends on have
// finished, so independent checks overlap and a slow probe delays only its
// dependents.
func Run(ctx context.Context, list []Check, opts Options) (Report, error) {
	if err := Validate(list, opts.Skip); err != nil {
		return Report{}, err
	}
	timeout := opts.DefaultTimeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	skip := make(map[string]bool, len(opts.Skip))
	for _, s := range opts.Skip {
		skip[s] = true
	}
	var sem chan struct{}
	if opts.Parallelism > 0 {
		sem = make(chan struct{}, opts.Parallelism)
	}

	index := make(map[string]int, len(list))
	done := make([]chan struct{}, len(list))
	for i, c := range list {
		index[c.ID] = i
		done[i] = make(chan struct{})
	}
	entries := make([]Entry, len(list))

	begin := time.Now()
	earlyCtx, cancelEarly := context.WithCancel(ctx)
	defer cancelEarly()
	for _, c := range list {
		if c.Early != nil && !skip[c.ID] {
			c.Early(earlyCtx)
		}
	}
	var wg sync.WaitGroup
	for i, c := range list {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(done[i])
			for _, d := range c.DependsOn {
				<-done[index[d]]
			}
			e := Entry{ID: c.ID, Title: c.Title}
			if skip[c.ID] {
				e.Result = Skipped("skipped by --skip " + c.ID)
				entries[i] = e
				return
			}
			if roots := failedRoots(c, entries, index); len(roots) > 0 {
				e.Result = Skipped("not run because " + strings.Join(roots, ", ") + " failed")
				e.RootCauses = roots
				entries[i] = e
				return
			}
			if sem != nil {
				sem <- struct{}{}
				defer func() { <-sem }()
			}
			t := timeout
			if c.Timeout > 0 {
				t = c.Timeout
			}
			start := time.Now()
			e.Started = start.Sub(begin)
			e.Result = runOne(ctx, c, t)
			e.Duration = time.Since(start)
			entries[i] = e
		}()
	}
	wg.Wait()
	return Report{Entries: entries}, nil
}

// failedRoots returns the root causes among c's dependencies: dependencies
// that failed, and the root causes skipped dependencies carry. Dependencies the user
// skipped do not block: the user asked not to look, not that it is broken.
// The caller has waited for every dependency, so reading entries is safe.
func failedRoots(c Check, entries []Entry, index map[string]int) []string {
	var roots []string
	seen := map[string]bool{}
	for _, d := range c.DependsOn {
		e := entries[index[d]]
		var found []string
		if e.Status == Fail {
			found = []string{e.ID}
		} else if e.Status == Skip {
			found = e.RootCauses
		}
		for _, r := range found {
			if !seen[r] {
				seen[r] = true
				roots = append(roots, r)
			}
		}
	}
	return roots
}

// runOne runs a check under its own deadline. A check that ignores its context
// still cannot hold the report hostage: past the deadline the runner reports a
// timeout and abandons the goroutine.
func runOne(ctx context.Context, c Check, timeout time.Duration) (res Result) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	ch := make(chan Result, 1)
	go func() {
		defer func() {
			if r := recover(); r != nil {
				ch <- Failf(fmt.Sprintf("check crashed: %v", r), "this is a stacklab bug: please report it with this output")
			}
		}()
		ch <- c.Run(ctx)
	}()
	select {
	case r := <-ch:
		if r.Status == "" {
			r.Status = Fail
			r.Summary = "check returned no status (stacklab bug)"
		}
		return r
	case <-ctx.Done():
		return Failf(fmt.Sprintf("no answer within %s", timeout),
			"the probe hung: the service may accept connections but never answer; restart it",
			"timeout: "+timeout.String())
	}
}

// Counts tallies statuses.
type Counts struct {
	OK   int `json:"ok"`
	Warn int `json:"warn"`
	Fail int `json:"fail"`
	Skip int `json:"skip"`
}

// Counts tallies the report by status.
func (r Report) Counts() Counts {
	var c Counts
	for _, e := range r.Entries {
		switch e.Status {
		case OK:
			c.OK++
		case Warn:
			c.Warn++
		case Fail:
			c.Fail++
		case Skip:
			c.Skip++
		}
	}
	return c
}

// Failed reports whether any check failed.
func (r Report) Failed() bool { return r.Counts().Fail > 0 }

// RootCauses lists failed checks that are not explained by another failure:
// those are what the user should fix first.
func (r Report) RootCauses() []string {
	var out []string
	for _, e := range r.Entries {
		if e.Status == Fail {
			out = append(out, e.ID)
		}
	}
	return out
}

// Get returns the entry for id.
func (r Report) Get(id string) (Entry, bool) {
	for _, e := range r.Entries {
		if e.ID == id {
			return e, true
		}
	}
	return Entry{}, false
}
