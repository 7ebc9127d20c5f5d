package main

import (
	"bufio"
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
