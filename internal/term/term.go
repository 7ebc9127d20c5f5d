// Package term holds the terminal conventions every command shares: whether
// to use colour and animation, and the one-line-per-step progress display
// for long work (install phases, `up`).
package term

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/jedib0t/go-pretty/v6/text"
	xterm "golang.org/x/term"
)

// IsTerminal reports whether w is a terminal. Anything that is not an
// *os.File (a buffer in a test, a pipe wrapper) is not.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && xterm.IsTerminal(int(f.Fd()))
}

// UseColor follows the NO_COLOR convention (https://no-color.org) and the
// --no-color flag, and never colours a pipe or file.
func UseColor(w io.Writer, noColor bool) bool {
	if noColor || os.Getenv("NO_COLOR") != "" || os.Getenv("TERM") == "dumb" {
		return false
	}
	return IsTerminal(w)
}

// Steps prints one status line per step of a long operation, in the manner
// of kind: "✓ keystone  41.2s". On a terminal a spinner shows the step in
// progress; elsewhere (CI logs, pipes) only the final line is written, so
// logs stay readable.
type Steps struct {
	w       io.Writer
	animate bool
	color   bool
	now     func() time.Time
	mu      sync.Mutex
}

// NewSteps writes to w; animate and color are usually IsTerminal/UseColor.
func NewSteps(w io.Writer, animate, color bool) *Steps {
	return &Steps{w: w, animate: animate, color: color, now: time.Now}
}

// Step is one running step.
type Step struct {
	s     *Steps
	name  string
	start time.Time
	stop  chan struct{}
	done  chan struct{}
	note  string
}

var spinner = []string{"⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"}

// Start begins a step.
func (s *Steps) Start(name string) *Step {
	st := &Step{s: s, name: name, start: s.now(), stop: make(chan struct{}), done: make(chan struct{})}
	if !s.animate {
		close(st.done)
		return st
	}
	go func() {
		defer close(st.done)
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for i := 0; ; i++ {
			s.mu.Lock()
			fmt.Fprintf(s.w, "\r\033[K%s %s %s", spinner[i%len(spinner)], name, st.noteText())
			s.mu.Unlock()
			select {
			case <-st.stop:
				return
			case <-t.C:
			}
		}
	}()
	return st
}

func (st *Step) noteText() string {
	if st.note == "" {
		return ""
	}
	return "(" + st.note + ")"
}

// Note updates the detail shown beside a running step on a terminal, such as
// "312/970 packages". It is not written to non-terminals.
func (st *Step) Note(format string, a ...any) {
	st.s.mu.Lock()
	st.note = fmt.Sprintf(format, a...)
	st.s.mu.Unlock()
}

// End finishes the step with a ✓, or a ✗ when err is not nil; detail is
// appended to the line (e.g. "no changes").
func (st *Step) End(err error, detail string) {
	if st.s.animate {
		close(st.stop)
	}
	<-st.done
	el := st.s.now().Sub(st.start).Round(100 * time.Millisecond)
	mark, col := "✓", text.Colors{text.FgGreen}
	if err != nil {
		mark, col = "✗", text.Colors{text.FgRed, text.Bold}
	}
	if st.s.color {
		mark = col.Sprint(mark)
	}
	var b strings.Builder
	if st.s.animate {
		b.WriteString("\r\033[K")
	}
	fmt.Fprintf(&b, "%s %-12s %7s", mark, st.name, el)
	if detail != "" {
		b.WriteString("  " + detail)
	}
	b.WriteString("\n")
	st.s.mu.Lock()
	defer st.s.mu.Unlock()
	_, _ = io.WriteString(st.s.w, b.String())
}
