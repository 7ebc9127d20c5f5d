package installer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func names(ps []Phase) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.Name)
	}
	return out
}

func phases(ns ...string) []Phase {
	var out []Phase
	for _, n := range ns {
		out = append(out, Phase{Name: n, Converge: func(context.Context, bool) (Outcome, error) { return Outcome{}, nil }})
	}
	return out
}

func TestSelect(t *testing.T) {
	all := phases("preflight", "net", "packages", "keystone", "verify")
	tests := []struct {
		sel     Selection
		want    []string
		wantErr string
	}{
		{Selection{}, []string{"preflight", "net", "packages", "keystone", "verify"}, ""},
		{Selection{From: "packages"}, []string{"packages", "keystone", "verify"}, ""},
		{Selection{Only: []string{"verify", "net"}}, []string{"net", "verify"}, ""},
		{Selection{Only: []string{"nova"}}, nil, `unknown phase "nova" (phases: preflight, net, packages, keystone, verify)`},
		{Selection{From: "x"}, nil, `unknown phase "x"`},
		{Selection{From: "net", Only: []string{"net"}}, nil, "cannot be combined"},
	}
	for _, tt := range tests {
		got, err := Select(all, tt.sel)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%+v: err %v, want %q", tt.sel, err, tt.wantErr)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(names(got), tt.want) {
			t.Errorf("%+v: got %v, %v; want %v", tt.sel, names(got), err, tt.want)
		}
	}
}

type recorder struct{ events []string }

func (r *recorder) PhaseStarted(name, _ string) { r.events = append(r.events, "start "+name) }
func (r *recorder) PhaseDone(name string, o Outcome, _ time.Duration, err error) {
	s := "done " + name
	if err != nil {
		s += " err"
	}
	r.events = append(r.events, s)
}

type fixErr struct{}

func (fixErr) Error() string { return "port 3306 held by foreign process mysqld-other" }
func (fixErr) Fix() string   { return "stop it: systemctl stop other" }

func TestRunStopsAtFirstFailureWithFix(t *testing.T) {
	ran := map[string]bool{}
	mk := func(name string, err error, changes ...string) Phase {
		return Phase{Name: name, Converge: func(_ context.Context, dry bool) (Outcome, error) {
			ran[name] = true
			if dry {
				return Outcome{Changes: []string{"would " + name}}, nil
			}
			return Outcome{Changes: changes}, err
		}}
	}
	ps := []Phase{mk("a", nil, "did a"), mk("b", fmt.Errorf("wrapped: %w", fixErr{})), mk("c", nil)}
	rec := &recorder{}
	res, err := Run(context.Background(), ps, false, rec)
	var pe *PhaseError
	if !errors.As(err, &pe) || pe.Phase != "b" || pe.Fix != "stop it: systemctl stop other" {
		t.Fatalf("err = %#v", err)
	}
	if !strings.Contains(err.Error(), "phase b") || !strings.Contains(err.Error(), "fix: stop it") {
		t.Errorf("message %q lacks phase or fix", err)
	}
	if ran["c"] {
		t.Error("phase after a failure ran")
	}
	if want := []string{"start a", "done a", "start b", "done b err"}; !reflect.DeepEqual(rec.events, want) {
		t.Errorf("events %v, want %v", rec.events, want)
	}
	if len(res.Phases) != 2 || res.Phases[1].Error == "" || res.Phases[1].Fix != "stop it: systemctl stop other" || !res.Changed() {
		t.Errorf("result %+v", res)
	}

	res, err = Run(context.Background(), ps[:1], true, &recorder{})
	if err != nil || !res.DryRun || res.Phases[0].Changes[0] != "would a" {
		t.Errorf("dry run: %+v %v", res, err)
	}
}

func TestRunHonoursCancellation(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Run(ctx, phases("a"), false, &recorder{})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
}

func TestSaveResult(t *testing.T) {
	dir := t.TempDir()
	r := RunResult{Phases: []PhaseResult{{Name: "keystone", Seconds: 1.5, Changes: []string{"x"}}}}
	if err := SaveResult(dir, r); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "last-run.json"))
	if err != nil {
		t.Fatal(err)
	}
	var back RunResult
	if err := json.Unmarshal(b, &back); err != nil || back.Phases[0].Name != "keystone" {
		t.Fatalf("%v %+v", err, back)
	}
}
