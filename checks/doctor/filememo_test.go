package doctor

import (
	"sync"
	"testing"
	"time"
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

// One run parses a configuration file once for every check that asks it;
// the next run (a re-check after --fix) sees the file as it is then.
func TestReadINIParsesOncePerRun(t *testing.T) {
	const p = "/etc/nova/nova.conf"
	files := map[string]string{p: "[DEFAULT]\ntransport_url = rabbit://a\n"}
	h := memoHost(fakeHost{files: files})
	a, err := readINI(h, p)
	if err != nil {
		t.Fatal(err)
	}
	b, err := readINI(h, p)
	if err != nil {
		t.Fatal(err)
	}
	if a != b {
		t.Error("a second check of the same run parsed nova.conf again")
	}
	if v, _ := a.Get("", "transport_url"); v != "rabbit://a" {
		t.Errorf("transport_url = %q", v)
	}
	files[p] = "[DEFAULT]\ntransport_url = rabbit://b\n"
	c, err := readINI(memoHost(fakeHost{files: files}), p)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := c.Get("", "transport_url"); v != "rabbit://b" {
		t.Errorf("the next run read transport_url = %q, want the file's new value", v)
	}
	if _, err := readINI(h, "/etc/cinder/cinder.conf"); err == nil {
		t.Error("a missing file parsed without an error")
	}
}

// slowHost holds the read of one file until released.
type slowHost struct {
	fakeHost
	slow    string
	release chan struct{}
}

func (h slowHost) ReadFile(p string) ([]byte, error) {
	if p == h.slow {
		<-h.release
	}
	return h.fakeHost.ReadFile(p)
}

// A check reading one file does not wait for another's slow read of a
// different file (TestRunReadsEachFileOnce: one read per file).
func TestFileMemoReadsDifferentFilesSideBySide(t *testing.T) {
	files := map[string]string{"/etc/slow.conf": "a\n", "/etc/fast.conf": "b\n"}
	release := make(chan struct{})
	h := memoHost(slowHost{fakeHost: fakeHost{files: files}, slow: "/etc/slow.conf", release: release})
	slowDone := make(chan struct{})
	go func() {
		defer close(slowDone)
		if b, err := h.ReadFile("/etc/slow.conf"); err != nil || string(b) != "a\n" {
			t.Errorf("slow read: %q %v", b, err)
		}
	}()
	fast := make(chan struct{})
	go func() {
		defer close(fast)
		if b, err := h.ReadFile("/etc/fast.conf"); err != nil || string(b) != "b\n" {
			t.Errorf("fast read: %q %v", b, err)
		}
	}()
	select {
	case <-fast:
	case <-time.After(5 * time.Second):
		t.Error("the read of fast.conf waited for slow.conf's")
	}
	close(release)
	<-slowDone
}
