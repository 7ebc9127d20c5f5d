package playbooks

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/stacklab/stacklab/internal/fix"
	"github.com/stacklab/stacklab/internal/jsonout"
)

// symbol is the one-character mark of an action, as in terraform's plans.
func symbol(a Action) string {
	switch a {
	case Create:
		return "+"
	case Update:
		return "~"
	case Unchanged:
		return "="
	case Delete:
		return "-"
	case Keep:
		return "!"
	}
	return " "
}

// line renders one step: "+ network selfservice", "= router r (unchanged)",
// "~ subnet s: gateway 1 → 2". width pads the kind so names line up.
func line(s Step, width int) string {
	out := fmt.Sprintf("%s %-*s %s", symbol(s.Action), width, s.Kind, s.Name)
	switch s.Action {
	case Update:
		parts := make([]string, len(s.Changes))
		for i, c := range s.Changes {
			parts[i] = fmt.Sprintf("%s %s → %s", c.Field, quoteEmpty(c.From), quoteEmpty(c.To))
		}
		out += ": " + strings.Join(parts, ", ")
	case Unchanged, Absent, Skipped:
		out += " (" + string(s.Action) + ")"
	case Keep:
		out += " (not made by this playbook; kept)"
	}
	return out
}

func quoteEmpty(s string) string {
	if s == "" {
		return `""`
	}
	return s
}

func kindWidth(steps []Step) int {
	w := 0
	for _, s := range steps {
		w = max(w, len(s.Kind))
	}
	return w
}

// WriteText writes the plan one aligned line per resource, then a summary.
func (p *Plan) WriteText(w io.Writer) {
	width := kindWidth(p.Steps)
	counts := map[Action]int{}
	for _, s := range p.Steps {
		fmt.Fprintln(w, line(s, width))
		counts[s.Action]++
	}
	fmt.Fprintln(w, summary(counts))
}

func summary(counts map[Action]int) string {
	var parts []string
	for _, a := range []Action{Create, Update, Unchanged, Delete, Absent, Keep, Skipped} {
		if counts[a] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[a], a))
		}
	}
	if len(parts) == 0 {
		return "nothing declared"
	}
	return strings.Join(parts, ", ")
}

// resultWidth pads kinds in lines printed one at a time, as a run
// progresses: the longest kind name.
var resultWidth = len(KindSecurityGroup)

// String is the result as one line: mark, action, resource, duration and
// error, as a run prints it when the resource is done.
func (r Result) String() string { return r.line(resultWidth) }

func (r Result) line(width int) string {
	mark := "✓"
	if r.Err != nil {
		mark = "✗"
	}
	s := mark + " " + line(r.Step, width)
	if r.Action != Skipped {
		s += fmt.Sprintf(" [%s]", r.Duration.Round(time.Millisecond))
	}
	if r.Err != nil {
		s += ": " + fix.Message(r.Err)
	}
	if len(r.Info) > 0 {
		keys := make([]string, 0, len(r.Info))
		for k := range r.Info {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			s += fmt.Sprintf(" %s=%s", k, r.Info[k])
		}
	}
	return s
}

// WriteText writes one line per resource with its outcome and duration,
// then a summary.
func (r *Report) WriteText(w io.Writer) {
	steps := make([]Step, len(r.Results))
	for i, res := range r.Results {
		steps[i] = res.Step
	}
	width := kindWidth(steps)
	for _, res := range r.Results {
		fmt.Fprintln(w, res.line(width))
	}
	fmt.Fprintln(w, r.Summary())
}

// Summary counts the actions and failures: "3 create, 6 unchanged".
func (r *Report) Summary() string {
	counts := map[Action]int{}
	failed := 0
	for _, res := range r.Results {
		counts[res.Action]++
		if res.Err != nil {
			failed++
		}
	}
	s := summary(counts)
	if failed > 0 {
		s += fmt.Sprintf("; %d failed", failed)
	}
	return s
}

// WriteJSON writes the plan as indented JSON.
func (p *Plan) WriteJSON(w io.Writer) error {
	return writeJSON(w, p)
}

// MarshalJSON adds the duration in milliseconds and the error text.
func (r Result) MarshalJSON() ([]byte, error) {
	type out struct {
		Step
		Info       map[string]string `json:"info,omitempty"`
		DurationMS int64             `json:"duration_ms"`
		Error      string            `json:"error,omitempty"`
		Fix        string            `json:"fix,omitempty"`
	}
	o := out{Step: r.Step, Info: r.Info, DurationMS: r.Duration.Milliseconds()}
	if r.Err != nil {
		o.Error, o.Fix = r.Err.Error(), fix.Of(r.Err)
	}
	return json.Marshal(o)
}

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	return writeJSON(w, r)
}

func writeJSON(w io.Writer, v any) error { return jsonout.Write(w, v) }
