package term

import (
	"bytes"
	"errors"
	"os"
	"testing"
	"time"
)

func TestStepsPlainOutput(t *testing.T) {
	var buf bytes.Buffer
	s := NewSteps(&buf, false, false)
	clock := time.Unix(0, 0)
	s.now = func() time.Time { return clock }

	st := s.Start("keystone")
	st.Note("bootstrapping") // notes are for terminals only
	clock = clock.Add(41200 * time.Millisecond)
	st.End(nil, "3 changes")

	st = s.Start("glance")
	clock = clock.Add(1500 * time.Millisecond)
	st.End(errors.New("boom"), "")

	want := "✓ keystone       41.2s  3 changes\n✗ glance          1.5s\n"
	if buf.String() != want {
		t.Fatalf("got %q\nwant %q", buf.String(), want)
	}
}

func TestStepsAnimatedEndsWithFinalLine(t *testing.T) {
	var buf bytes.Buffer
	s := NewSteps(&buf, true, false)
	st := s.Start("nova")
	st.End(nil, "")
	out := buf.String()
	if !bytes.HasSuffix([]byte(out), []byte("\n")) || !bytes.Contains([]byte(out), []byte("✓ nova")) {
		t.Fatalf("animated output %q lacks the final line", out)
	}
}

func TestColorPolicy(t *testing.T) {
	var buf bytes.Buffer
	if UseColor(&buf, false) {
		t.Error("a buffer is not a terminal: no colour")
	}
	f, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if IsTerminal(f) {
		t.Error("a regular file is not a terminal")
	}
	t.Setenv("NO_COLOR", "1")
	if UseColor(os.Stdout, false) {
		t.Error("NO_COLOR must disable colour")
	}
}
