package doctor

import (
	"sync"
	"testing"
)

type countingHost struct {
	fakeHost
	mu    sync.Mutex
	reads map[string]int
}

func (h *countingHost) ReadFile(p string) ([]byte, error) {
	h.mu.Lock()
	h.reads[p]++
	h.mu.Unlock()
	return h.fakeHost.ReadFile(p)
}

// One run reads each file once, however many checks look at it; the next
// run (a re-check after --fix) reads afresh.
func TestRunReadsEachFileOnce(t *testing.T) {
	w := newWorld(t)
	h := &countingHost{fakeHost: w.deps.Host.(fakeHost), reads: map[string]int{}}
	w.deps.Host = h
	w.run(t)
	if len(h.reads) == 0 {
		t.Fatal("no file read: the test proves nothing")
	}
	for p, n := range h.reads {
		if n != 1 {
			t.Errorf("%s read %d times in one run", p, n)
		}
	}
	w.run(t)
	for p, n := range h.reads {
		if n != 2 {
			t.Errorf("%s: a second run read it %d times in all, want 2", p, n)
		}
	}
}
