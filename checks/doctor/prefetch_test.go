package doctor

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stacklab/stacklab/checks"
	"github.com/stacklab/stacklab/internal/systemd"
)

// gatedUnits answers the unit states only once apache2ctl has started (or
// after a second): whether the parse began before the unit checks had
// their answer.
type gatedUnits struct {
	fakeUnits
	started <-chan struct{}
	before  *atomic.Bool
}

func (g gatedUnits) States(ctx context.Context, units ...string) ([]systemd.UnitState, error) {
	select {
	case <-g.started:
		g.before.Store(true)
	case <-time.After(time.Second):
	}
	return g.fakeUnits.States(ctx, units...)
}

// apache2ctl's parse starts with the run (the apache check's Early),
// beside the unit checks instead of behind them; it runs once, and the apache check grades
// it as before: a configuration that does not parse still fails it, as its
// own root cause.
func TestApacheParseStartsBesideTheUnitChecks(t *testing.T) {
	w := newWorld(t)
	started := make(chan struct{})
	var once sync.Once
	var runs atomic.Int32
	files := w.deps.Host.(fakeHost).files
	w.deps.Host = fakeHost{files: files, run: func(name string, args ...string) ([]byte, error) {
		switch name {
		case "apache2ctl":
			runs.Add(1)
			once.Do(func() { close(started) })
			return []byte("AH00526: Syntax error on line 7 of /etc/apache2/ports.conf:\nListen takes one argument\n"), errors.New("exit status 1")
		case "mysql":
			return []byte(healthyMySQL), nil
		}
		return nil, errors.New("unexpected command " + name)
	}}
	var before atomic.Bool
	w.deps.Units = gatedUnits{fakeUnits: fakeUnits{states: map[string]string{}}, started: started, before: &before}
	rep := w.run(t)
	if !before.Load() {
		t.Error("apache2ctl had not started when systemd's unit states were answered")
	}
	if n := runs.Load(); n != 1 {
		t.Errorf("apache2ctl ran %d times, want once", n)
	}
	e, _ := rep.Get(IDApache)
	if e.Status != checks.Fail || len(e.RootCauses) != 0 || !strings.Contains(e.Fix, "/etc/apache2/ports.conf") {
		t.Errorf("apache: %s %q roots %v fix %q, want a failure of its own naming ports.conf", e.Status, e.Summary, e.RootCauses, e.Fix)
	}
}
