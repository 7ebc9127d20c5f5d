package checks

import (
	"fmt"
	"io"
	"strings"

	"github.com/jedib0t/go-pretty/v6/table"
	"github.com/jedib0t/go-pretty/v6/text"
	"github.com/stacklab/stacklab/internal/jsonout"
)

// jsonReport is the stable, documented schema of `--output json`.
type jsonReport struct {
	Checks  []jsonEntry `json:"checks"`
	Summary Counts      `json:"summary"`
}

type jsonEntry struct {
	ID         string   `json:"id"`
	Title      string   `json:"title"`
	Status     Status   `json:"status"`
	Summary    string   `json:"summary"`
	Evidence   []string `json:"evidence"`
	Fix        string   `json:"fix"`
	RootCauses []string `json:"root_causes,omitempty"`
	// Milliseconds is how long the check ran: the slowest are where a
	// slow diagnosis spends its time.
	Milliseconds int64 `json:"ms"`
	// AtMilliseconds is when it started, from the run's start: a check
	// that starts late waited on its dependencies.
	AtMilliseconds int64 `json:"at_ms"`
}

// WriteJSON renders the report in the stable JSON schema:
// {"checks":[{"id","title","status","summary","evidence","fix","ms","at_ms"}],"summary":{"ok","warn","fail","skip"}}.
func (r Report) WriteJSON(w io.Writer) error {
	out := jsonReport{Checks: make([]jsonEntry, 0, len(r.Entries)), Summary: r.Counts()}
	for _, e := range r.Entries {
		ev := e.Evidence
		if ev == nil {
			ev = []string{}
		}
		out.Checks = append(out.Checks, jsonEntry{
			ID: e.ID, Title: e.Title, Status: e.Status, Summary: e.Summary,
			Evidence: ev, Fix: e.Fix, RootCauses: e.RootCauses, Milliseconds: e.Duration.Milliseconds(),
			AtMilliseconds: e.Started.Milliseconds(),
		})
	}
	return jsonout.Write(w, out)
}

// TextOptions tune the human rendering.
type TextOptions struct {
	Color   bool // ANSI colours, for a terminal
	Verbose bool // evidence for every check, not only for problems
}

var marks = map[Status]string{OK: "✓", Warn: "!", Fail: "✗", Skip: "-"}

var colors = map[Status]text.Colors{
	OK: {text.FgGreen}, Warn: {text.FgYellow}, Fail: {text.FgRed, text.Bold}, Skip: {text.FgHiBlack},
}

// WriteText renders one aligned line per check, then the evidence and fix of
// every problem below it, then a summary line naming the root causes.
func (r Report) WriteText(w io.Writer, o TextOptions) error {
	t := table.NewWriter()
	t.SetStyle(table.StyleLight)
	t.Style().Options = table.OptionsNoBordersAndSeparators
	t.Style().Box.PaddingLeft = ""
	t.Style().Box.PaddingRight = "  "
	for _, e := range r.Entries {
		mark := marks[e.Status]
		if o.Color {
			mark = colors[e.Status].Sprint(mark)
		}
		t.AppendRow(table.Row{mark, e.ID, e.Summary})
	}
	var b strings.Builder
	for _, line := range strings.Split(t.Render(), "\n") {
		b.WriteString(strings.TrimRight(line, " "))
		b.WriteString("\n")
	}
	for _, e := range r.Entries {
		problem := e.Status == Fail || e.Status == Warn
		if !problem && !(o.Verbose && len(e.Evidence) > 0) {
			continue
		}
		fmt.Fprintf(&b, "\n%s %s: %s\n", marks[e.Status], e.ID, e.Title)
		for _, ev := range e.Evidence {
			fmt.Fprintf(&b, "    evidence: %s\n", ev)
		}
		if problem && e.Fix != "" {
			fix := strings.ReplaceAll(strings.TrimRight(e.Fix, "\n"), "\n", "\n         ")
			fmt.Fprintf(&b, "    fix: %s\n", fix)
		}
	}
	c := r.Counts()
	fmt.Fprintf(&b, "\n%d ok, %d warning(s), %d failed, %d skipped", c.OK, c.Warn, c.Fail, c.Skip)
	if roots := r.RootCauses(); len(roots) > 0 {
		fmt.Fprintf(&b, " — root cause: %s", strings.Join(roots, ", "))
	}
	b.WriteString("\n")
	_, err := io.WriteString(w, b.String())
	return err
}
