package checks

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite golden files")

func fixed(id string, r Result, deps ...string) Check {
	return Check{ID: id, Title: "title of " + id, DependsOn: deps, Run: func(context.Context) Result { return r }}
}

func statuses(r Report) map[string]Status {
	m := map[string]Status{}
	for _, e := range r.Entries {
		m[e.ID] = e.Status
	}
	return m
}

func TestRunDependencies(t *testing.T) {
	tests := []struct {
		name      string
		checks    []Check
		skip      []string
		want      map[string]Status
		wantRoots map[string]string // id -> root cause
	}{
		{
			name:   "independent checks all run",
			checks: []Check{fixed("a", Pass("fine")), fixed("b", Warnf("meh", "do x")), fixed("c", Failf("bad", "do y"))},
			want:   map[string]Status{"a": OK, "b": Warn, "c": Fail},
		},
		{
			name: "dependent of a failure is skipped naming the root",
			checks: []Check{
				fixed("mariadb", Failf("down", "start it")),
				fixed("keystone", Pass("up"), "mariadb"),
				fixed("dashboard", Pass("up"), "keystone", "memcached"),
				fixed("memcached", Pass("up")),
			},
			want:      map[string]Status{"mariadb": Fail, "keystone": Skip, "dashboard": Skip, "memcached": OK},
			wantRoots: map[string]string{"keystone": "mariadb", "dashboard": "mariadb"},
		},
		{
			name: "two failed roots are both named once",
			checks: []Check{
				fixed("a", Failf("x", "f")), fixed("b", Failf("y", "f")),
				fixed("c", Pass(""), "a", "b"),
				fixed("d", Pass(""), "c", "a"),
			},
			want:      map[string]Status{"a": Fail, "b": Fail, "c": Skip, "d": Skip},
			wantRoots: map[string]string{"c": "a, b", "d": "a, b"},
		},
		{
			name:   "a warning does not block dependents",
			checks: []Check{fixed("a", Warnf("slow", "f")), fixed("b", Pass("ok"), "a")},
			want:   map[string]Status{"a": Warn, "b": OK},
		},
		{
			name:   "a user skip does not block dependents",
			checks: []Check{fixed("a", Failf("never run", "f")), fixed("b", Pass("ok"), "a")},
			skip:   []string{"a"},
			want:   map[string]Status{"a": Skip, "b": OK},
		},
		{
			name:   "a not-applicable skip does not block dependents",
			checks: []Check{fixed("a", Skipped("n/a")), fixed("b", Pass("ok"), "a")},
			want:   map[string]Status{"a": Skip, "b": OK},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep, err := Run(context.Background(), tt.checks, Options{Skip: tt.skip})
			if err != nil {
				t.Fatal(err)
			}
			got := statuses(rep)
			for id, want := range tt.want {
				if got[id] != want {
					t.Errorf("%s: status %q, want %q", id, got[id], want)
				}
			}
			for _, e := range rep.Entries {
				got := strings.Join(e.RootCauses, ", ")
				if want := tt.wantRoots[e.ID]; got != want {
					t.Errorf("%s: root cause %q, want %q", e.ID, got, want)
				}
				if got != "" && !strings.Contains(e.Summary, got+" failed") {
					t.Errorf("%s: summary %q does not name the root cause", e.ID, e.Summary)
				}
			}
			// Order of the report is the order the checks were given.
			for i, c := range tt.checks {
				if rep.Entries[i].ID != c.ID {
					t.Errorf("entry %d is %s, want %s", i, rep.Entries[i].ID, c.ID)
				}
			}
		})
	}
}

func TestStartedShowsTheWaitOnDependencies(t *testing.T) {
	// b waits for a, which sleeps: b's start offset must be past a's end,
	// and a's must be near the run's start, or at_ms misleads whoever
	// reads a slow run's critical path from it.
	const nap = 30 * time.Millisecond
	list := []Check{
		{ID: "a", Run: func(context.Context) Result { time.Sleep(nap); return Pass("slept") }},
		fixed("b", Pass("after a"), "a"),
	}
	rep, err := Run(context.Background(), list, Options{})
	if err != nil {
		t.Fatal(err)
	}
	a, b := rep.Entries[0], rep.Entries[1]
	if a.Duration < nap {
		t.Errorf("a ran %v, slept %v", a.Duration, nap)
	}
	if b.Started < a.Started+a.Duration {
		t.Errorf("b started at %v, before a ended at %v", b.Started, a.Started+a.Duration)
	}
	if a.Started >= nap {
		t.Errorf("a, with no dependency, started at %v", a.Started)
	}
}

// Early starts with the run, before the check's dependencies end; it is
// not called for a check the user skipped, and its context ends with the
// run.
func TestEarlyStartsWithTheRun(t *testing.T) {
	began := make(chan struct{})
	var earlyCtx context.Context
	skippedEarly := false
	list := []Check{
		{ID: "a", Run: func(context.Context) Result {
			select {
			case <-began:
				return Pass("b's early read had begun")
			case <-time.After(time.Second):
				return Failf("b's early read had not begun", "")
			}
		}},
		{ID: "b", DependsOn: []string{"a"}, Run: func(context.Context) Result { return Pass("graded") },
			Early: func(ctx context.Context) { earlyCtx = ctx; close(began) }},
		{ID: "c", Run: func(context.Context) Result { return Pass("never run") },
			Early: func(context.Context) { skippedEarly = true }},
	}
	rep, err := Run(context.Background(), list, Options{Skip: []string{"c"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := statuses(rep); got["a"] != OK || got["b"] != OK {
		t.Errorf("statuses %v", got)
	}
	if skippedEarly {
		t.Error("the skipped check's Early was called")
	}
	if earlyCtx == nil || earlyCtx.Err() == nil {
		t.Error("Early's context did not end with the run")
	}
}

func TestRunIsParallel(t *testing.T) {
	// Each check waits until all have started: this only completes if the
	// runner starts them concurrently.
	const n = 8
	var started sync.WaitGroup
	started.Add(n)
	all := make(chan struct{})
	go func() { started.Wait(); close(all) }()
	var list []Check
	for i := range n {
		list = append(list, Check{ID: string(rune('a' + i)), Run: func(ctx context.Context) Result {
			started.Done()
			select {
			case <-all:
				return Pass("met the others")
			case <-ctx.Done():
				return Failf("ran alone", "")
			}
		}})
	}
	rep, err := Run(context.Background(), list, Options{DefaultTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if c := rep.Counts(); c.OK != n {
		t.Fatalf("counts %+v: checks did not run concurrently", c)
	}
}

func TestRunParallelismBound(t *testing.T) {
	var mu sync.Mutex
	running, peak := 0, 0
	var list []Check
	for i := range 6 {
		list = append(list, Check{ID: string(rune('a' + i)), Run: func(context.Context) Result {
			mu.Lock()
			running++
			peak = max(peak, running)
			mu.Unlock()
			time.Sleep(10 * time.Millisecond) // work, not synchronisation
			mu.Lock()
			running--
			mu.Unlock()
			return Pass("")
		}})
	}
	if _, err := Run(context.Background(), list, Options{Parallelism: 2}); err != nil {
		t.Fatal(err)
	}
	if peak > 2 {
		t.Fatalf("peak concurrency %d, want <= 2", peak)
	}
}

func TestRunTimeouts(t *testing.T) {
	hang := make(chan struct{})
	defer close(hang)
	list := []Check{
		// Respects its context.
		{ID: "polite", Timeout: 20 * time.Millisecond, Run: func(ctx context.Context) Result {
			<-ctx.Done()
			return Failf("gave up: "+ctx.Err().Error(), "")
		}},
		// Ignores its context entirely: the runner must not wait for it.
		{ID: "rude", Timeout: 20 * time.Millisecond, Run: func(context.Context) Result {
			<-hang
			return Pass("too late")
		}},
		{ID: "after-rude", DependsOn: []string{"rude"}, Run: func(context.Context) Result { return Pass("") }},
		{ID: "panics", Run: func(context.Context) Result { panic("boom") }},
		{ID: "empty", Run: func(context.Context) Result { return Result{} }},
	}
	start := time.Now()
	rep, err := Run(context.Background(), list, Options{DefaultTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el > 900*time.Millisecond {
		t.Fatalf("run took %s: a hung check held the report", el)
	}
	rude, _ := rep.Get("rude")
	if rude.Status != Fail || !strings.Contains(rude.Summary, "no answer within 20ms") {
		t.Errorf("rude: %+v", rude)
	}
	if e, _ := rep.Get("after-rude"); e.Status != Skip || len(e.RootCauses) != 1 || e.RootCauses[0] != "rude" {
		t.Errorf("after-rude: %+v", e)
	}
	if e, _ := rep.Get("polite"); e.Status != Fail {
		t.Errorf("polite: %+v", e)
	}
	if e, _ := rep.Get("panics"); e.Status != Fail || !strings.Contains(e.Summary, "boom") {
		t.Errorf("panics: %+v", e)
	}
	if e, _ := rep.Get("empty"); e.Status != Fail {
		t.Errorf("empty result must not pass: %+v", e)
	}
}

func TestValidate(t *testing.T) {
	ok := func(context.Context) Result { return Pass("") }
	tests := []struct {
		name   string
		checks []Check
		skip   []string
		want   string
	}{
		{"duplicate", []Check{{ID: "a", Run: ok}, {ID: "a", Run: ok}}, nil, `duplicate check ID "a"`},
		{"unknown dep", []Check{{ID: "a", DependsOn: []string{"zz"}, Run: ok}}, nil, `unknown check "zz"`},
		{"cycle", []Check{{ID: "a", DependsOn: []string{"b"}, Run: ok}, {ID: "b", DependsOn: []string{"a"}, Run: ok}}, nil, "dependency cycle: a -> b -> a"},
		{"bad skip", []Check{{ID: "a", Run: ok}}, []string{"nope"}, "--skip nope: no such check (known: a)"},
		{"no id", []Check{{Title: "x", Run: ok}}, nil, "has no ID"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Run(context.Background(), tt.checks, Options{Skip: tt.skip})
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("err = %v, want *ValidationError", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %q, want it to contain %q", err, tt.want)
			}
		})
	}
}

func sampleReport(t *testing.T) Report {
	t.Helper()
	rep, err := Run(context.Background(), []Check{
		{ID: "memory", Title: "Memory", Run: func(context.Context) Result {
			return Pass("24.0 GiB total", "MemTotal: 25165824 kB")
		}},
		{ID: "ext-nic-unaddressed", Title: "External NIC carries no address", Run: func(context.Context) Result {
			return Failf("eth1 has 192.168.56.10/24", "stacklab net apply --flush-external", "eth1: inet 192.168.56.10/24 scope global")
		}},
		{ID: "cpu-virt", Title: "Hardware virtualization", Run: func(context.Context) Result {
			return Warnf("nova will use qemu software emulation (slow)", "VBoxManage modifyvm VM --nested-hw-virt on", "flags: none")
		}},
		{ID: "provider-net", Title: "Provider network", DependsOn: []string{"ext-nic-unaddressed"}, Run: func(context.Context) Result {
			return Pass("")
		}},
	}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	// The goldens fix the rendering, not the clock: a loaded machine
	// (-race, -count) makes a check last a millisecond.
	for i := range rep.Entries {
		rep.Entries[i].Duration, rep.Entries[i].Started = 0, 0
	}
	return rep
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from golden file:\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

func TestJSONSchemaGolden(t *testing.T) {
	var buf bytes.Buffer
	if err := sampleReport(t).WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	golden(t, "report.json", buf.Bytes())

	// The documented schema, checked structurally so a renamed field fails
	// even if someone regenerates the golden file carelessly.
	var doc struct {
		Checks []map[string]json.RawMessage `json:"checks"`
		Sum    map[string]int               `json:"summary"`
	}
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	for _, c := range doc.Checks {
		for _, k := range []string{"id", "title", "status", "summary", "evidence", "fix", "ms", "at_ms"} {
			if _, ok := c[k]; !ok {
				t.Errorf("check lacks %q: %v", k, c)
			}
		}
	}
	for _, k := range []string{"ok", "warn", "fail", "skip"} {
		if _, ok := doc.Sum[k]; !ok {
			t.Errorf("summary lacks %q", k)
		}
	}
	if doc.Sum["fail"] != 1 || doc.Sum["skip"] != 1 || doc.Sum["ok"] != 1 || doc.Sum["warn"] != 1 {
		t.Errorf("summary %v", doc.Sum)
	}
}

func TestTextGolden(t *testing.T) {
	var buf bytes.Buffer
	if err := sampleReport(t).WriteText(&buf, TextOptions{}); err != nil {
		t.Fatal(err)
	}
	golden(t, "report.txt", buf.Bytes())
	if !strings.Contains(buf.String(), "root cause: ext-nic-unaddressed") {
		t.Errorf("summary line does not name the root cause:\n%s", buf.String())
	}
}
