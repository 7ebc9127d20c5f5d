package apt

import (
	"bytes"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

type Phase string

const (
	PhaseDownload Phase = "download"
	PhaseInstall  Phase = "install"
)

// Progress is one step of an apt run. Done and Total count files during
// download and packages during install; Total is 0 until apt has said how
// many there are.
type Progress struct {
	Phase   Phase
	Percent float64 // of the phase, 0 to 100
	Package string  // may be empty
	Done    int
	Total   int
	Message string
}

// statusLine is one line of APT::Status-Fd output:
//
//	dlstatus:1:19.5735:Retrieving file 1 of 2
//	pmstatus:hostname:60.0000:Configuring hostname (amd64)
//	pmerror:nova-common:40.0000:installed nova-common package post-installation script subprocess returned error exit status 1
type statusLine struct {
	kind    string
	item    string // dlstatus: file index; pm*: package
	percent float64
	message string
}

func parseStatusLine(s string) (statusLine, bool) {
	s = strings.TrimRight(s, "\r\n")
	parts := strings.SplitN(s, ":", 4)
	if len(parts) != 4 {
		return statusLine{}, false
	}
	pct, err := strconv.ParseFloat(parts[2], 64)
	if err != nil {
		return statusLine{}, false
	}
	return statusLine{kind: parts[0], item: parts[1], percent: pct, message: parts[3]}, true
}

var (
	retrievingRe = regexp.MustCompile(`^Retrieving file (\d+) of (\d+)`)
	// "0 upgraded, 3 newly installed, 1 reinstalled, 0 to remove and 136 not upgraded."
	summaryRe = regexp.MustCompile(`^(\d+) upgraded, (\d+) newly installed, (?:(\d+) reinstalled, )?\d+ to remove`)
	// "Get:1 http://deb.debian.org/debian bookworm/main amd64 hostname amd64 3.23+nmu1 [10.5 kB]"
	getRe = regexp.MustCompile(`^Get:(\d+) \S+ \S+ \S+ (\S+) `)
)

// tracker turns apt's two output streams (human text and the status
// channel) into Progress callbacks and remembers what failed. Both streams
// are written from their own goroutines.
type tracker struct {
	mu        sync.Mutex
	report    func(Progress)
	total     int             // packages to install, from apt's summary
	installed map[string]bool // packages that reached "Installed"
	files     map[string]string
	failures  []Failure
	// the install log's time split: time spent per stage, each status
	// line's stage lasting until the next line.
	now        func() time.Time
	start      time.Time
	stage      string
	stageSince time.Time
	spent      map[string]time.Duration
}

// Failure is a package dpkg reported as failed.
type Failure struct {
	Package string
	Message string
}

func newTracker(report func(Progress)) *tracker {
	return newTrackerAt(report, time.Now)
}

func newTrackerAt(report func(Progress), now func() time.Time) *tracker {
	t0 := now()
	return &tracker{report: report, installed: map[string]bool{}, files: map[string]string{},
		now: now, start: t0, stageSince: t0, spent: map[string]time.Duration{}}
}

// enter charges the time since the last status line to its stage; dpkg
// interleaves unpacking and configuring, so stages alternate.
func (t *tracker) enter(stage string) {
	now := t.now()
	if t.stage != "" {
		t.spent[t.stage] += now.Sub(t.stageSince)
	}
	t.stage, t.stageSince = stage, now
}

// pmStage is the stage of a dpkg status message.
func pmStage(msg string) string {
	for _, p := range []string{"Preparing to configure ", "Configuring ", "Installed ", "Running post-installation trigger "} {
		if strings.HasPrefix(msg, p) {
			return "configure"
		}
	}
	return "unpack"
}

// split is how long the run spent downloading, unpacking and configuring
// (triggers included), for the install log: "download 12.0 s, unpack
// 40.5 s, configure 61.2 s, in 113.7 s". A stage apt never entered is left
// out.
func (t *tracker) split() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.enter("")
	var parts []string
	for _, st := range []string{"download", "unpack", "configure"} {
		if d, ok := t.spent[st]; ok {
			parts = append(parts, fmt.Sprintf("%s %.1f s", st, d.Seconds()))
		}
	}
	parts = append(parts, fmt.Sprintf("in %.1f s", t.stageSince.Sub(t.start).Seconds()))
	return strings.Join(parts, ", ")
}

func (t *tracker) outputLine(s string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if m := summaryRe.FindStringSubmatch(s); m != nil {
		t.total = atoi(m[1]) + atoi(m[2]) + atoi(m[3])
	}
	if m := getRe.FindStringSubmatch(s); m != nil {
		t.files[m[1]] = m[2]
	}
}

func (t *tracker) statusLine(s string) {
	l, ok := parseStatusLine(s)
	if !ok {
		return
	}
	t.mu.Lock()
	var p Progress
	emit := true
	switch l.kind {
	case "dlstatus":
		t.enter("download")
		p = Progress{Phase: PhaseDownload, Percent: l.percent, Package: t.files[l.item], Message: l.message}
		if m := retrievingRe.FindStringSubmatch(l.message); m != nil {
			p.Done, p.Total = atoi(m[1])-1, atoi(m[2])
			if l.percent >= 100 {
				p.Done = p.Total
			}
		}
	case "pmstatus":
		if l.item != "dpkg-exec" {
			t.enter(pmStage(l.message))
		}
		p = Progress{Phase: PhaseInstall, Percent: l.percent, Message: l.message}
		// "dpkg-exec" marks apt starting a dpkg run, not a package.
		if l.item != "dpkg-exec" {
			p.Package = l.item
			if strings.HasPrefix(l.message, "Installed ") {
				t.installed[l.item] = true
			}
		}
		p.Done, p.Total = len(t.installed), max(t.total, len(t.installed))
	case "pmerror":
		t.failures = append(t.failures, Failure{Package: l.item, Message: l.message})
		emit = false
	default: // pmconffile, media-change: not progress
		emit = false
	}
	report := t.report
	t.mu.Unlock()
	if emit && report != nil {
		report(p)
	}
}

func (t *tracker) finish(downloadOnly bool) {
	t.mu.Lock()
	p := Progress{Phase: PhaseInstall, Percent: 100, Done: max(t.total, len(t.installed)), Total: max(t.total, len(t.installed))}
	if downloadOnly {
		p = Progress{Phase: PhaseDownload, Percent: 100}
	}
	report := t.report
	t.mu.Unlock()
	if report != nil {
		report(p)
	}
}

func (t *tracker) failed() []Failure {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]Failure(nil), t.failures...)
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

// lineWriter calls fn for every complete line written to it. apt redraws
// "Reading database ... 45%" with carriage returns, so those end a line too.
type lineWriter struct {
	mu  sync.Mutex
	buf []byte
	fn  func(string)
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexAny(w.buf, "\r\n")
		if i < 0 {
			break
		}
		line := string(w.buf[:i])
		w.buf = w.buf[i+1:]
		if line != "" {
			w.fn(line)
		}
	}
	return len(p), nil
}

func (w *lineWriter) flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.buf) > 0 {
		w.fn(string(w.buf))
		w.buf = nil
	}
}

// tail keeps the last n lines.
type tail struct {
	mu    sync.Mutex
	n     int
	lines []string
}

func (t *tail) add(s string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.lines = append(t.lines, s)
	if len(t.lines) > t.n {
		t.lines = t.lines[len(t.lines)-t.n:]
	}
}

func (t *tail) get() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]string(nil), t.lines...)
}
