package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// TestSignalHelper is the process TestSecondSignalEndsProcess signals: it
// installs main's handling, then blocks in a read that no context can
// interrupt, as a read of a FIFO used to.
func TestSignalHelper(t *testing.T) {
	if os.Getenv("STACKLAB_SIGNAL_HELPER") != "1" {
		t.Skip("run by TestSecondSignalEndsProcess")
	}
	ctx, _ := interruptContext()
	fmt.Println("ready")
	<-ctx.Done()
	fmt.Println("canceled")
	_, _ = os.Stdin.Read(make([]byte, 1)) // never written to
	fmt.Println("read returned")
}

func TestSecondSignalEndsProcess(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^TestSignalHelper$", "-test.count=1")
	cmd.Env = append(os.Environ(), "STACKLAB_SIGNAL_HELPER=1")
	stdinR, stdinW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer stdinW.Close()
	cmd.Stdin = stdinR
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	_ = stdinR.Close()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	lines := bufio.NewScanner(out)
	expect := func(want string) {
		t.Helper()
		for lines.Scan() {
			if lines.Text() == want {
				return
			}
		}
		t.Fatalf("helper ended before printing %q", want)
	}
	expect("ready")
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	expect("canceled")
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, _ = io.Copy(io.Discard, out) // Wait must not race the pipe's reader
		done <- cmd.Wait()
	}()
	select {
	case err := <-done:
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			t.Fatalf("helper exit = %v, want death by SIGTERM", err)
		}
		if ws, ok := ee.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGTERM {
			t.Fatalf("helper exit = %v, want death by SIGTERM", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the second SIGTERM did not end a process blocked in a read")
	}
}

// Ctrl-C at a confirmation prompt ends the command at once: the prompt's
// read of a terminal that never sends a line must not hold it.
func TestReadLineReturnsOnCancel(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	defer r.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { _, err := readLine(ctx, r); done <- err }()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("readLine after cancel = %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("readLine still waiting for a line after the context was canceled")
	}
	// A line that does come is the answer.
	r2, w2, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	if _, err := w2.WriteString("yes\n"); err != nil {
		t.Fatal(err)
	}
	_ = w2.Close()
	if line, err := readLine(context.Background(), r2); err != nil || line != "yes\n" {
		t.Errorf("readLine = %q, %v; want the line", line, err)
	}
}
