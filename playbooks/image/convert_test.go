package image

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stacklab/stacklab/internal/fix"
	"github.com/stacklab/stacklab/internal/safefile"
)

// patternDisk writes a raw disk of size bytes with an MBR boot signature
// and a distinct pattern in every MiB, so that a conversion that loses or
// moves any block is caught by qemu-img compare.
func patternDisk(t *testing.T, path string, size int) {
	t.Helper()
	b := make([]byte, size)
	b[0] = 0xeb // a jump, as boot code starts
	b[510], b[511] = 0x55, 0xaa
	for off := 1 << 20; off < size; off += 1 << 20 {
		copy(b[off:], bytes.Repeat([]byte{byte(off >> 20), 0x5a}, 2048))
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestConvertRealQemuImg(t *testing.T) {
	needQemuImg(t)
	dir := t.TempDir()
	raw := filepath.Join(dir, "disk.raw")
	patternDisk(t, raw, 16<<20)
	for _, tc := range []struct {
		qemu string
		want Format
	}{{"vdi", VDI}, {"vmdk", VMDK}, {"vpc", VHD}, {"vhdx", VHDX}, {"raw", Raw}} {
		t.Run(tc.qemu, func(t *testing.T) {
			src := raw
			if tc.qemu != "raw" {
				// A misleading name: the format must come from the bytes.
				src = filepath.Join(dir, "disk-"+tc.qemu+".img")
				run(t, dir, "qemu-img", "convert", "-f", "raw", "-O", tc.qemu, raw, src)
			}
			out := filepath.Join(dir, tc.qemu+".qcow2")
			res, err := Convert(context.Background(), src, out, ConvertOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if res.SourceFormat != tc.want || res.Info.Format != QCOW2 || res.Info.BootableVerdict != Likely {
				t.Fatalf("source %s, result %s verdict %s; want %s → qcow2, likely", res.SourceFormat, res.Info.Format, res.Info.BootableVerdict, tc.want)
			}
			// Independent of Convert's own check: the result holds the
			// original raw bytes.
			run(t, dir, "qemu-img", "compare", "-f", "raw", "-F", "qcow2", raw, out)
			if leftovers(t, dir) != 0 {
				t.Fatal("a temporary file was left next to OUT")
			}
		})
	}
}

// TestConvertCancelled: an interrupted conversion leaves no OUT and no
// temporary file (the qemu-img process is killed with the context).
func TestConvertCancelled(t *testing.T) {
	needQemuImg(t)
	dir := t.TempDir()
	src := filepath.Join(dir, "disk.raw")
	patternDisk(t, src, 4<<20)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	out := filepath.Join(dir, "out.qcow2")
	_, err := Convert(ctx, src, out, ConvertOptions{})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if _, err := os.Lstat(out); !errors.Is(err, fs.ErrNotExist) || leftovers(t, dir) != 0 {
		t.Fatalf("OUT or a temporary file was left: %v", err)
	}
}

func leftovers(t *testing.T, dir string) int {
	t.Helper()
	parts, err := filepath.Glob(filepath.Join(dir, ".*.part"))
	if err != nil {
		t.Fatal(err)
	}
	return len(parts)
}

type fakeTool struct {
	calls [][]string
	err   error
}

func (f *fakeTool) Run(_ context.Context, _ io.Writer, args ...string) error {
	f.calls = append(f.calls, args)
	return f.err
}

type fakeSpace int64

func (f fakeSpace) Available(string) (int64, error) { return int64(f), nil }

func TestConvertRefusals(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "disk.vdi")
	patternDisk(t, src, 2<<20)
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	exists := filepath.Join(dir, "exists.qcow2")
	if err := os.WriteFile(exists, []byte("mine"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, src, out string
		space          int64
		tool           error
		want           error
		fix            string
	}{
		{"missing source", filepath.Join(dir, "nope.vdi"), filepath.Join(dir, "a.qcow2"), 1 << 40, nil, fs.ErrNotExist, ""},
		{"FIFO source", fifo, filepath.Join(dir, "b.qcow2"), 1 << 40, nil, safefile.ErrNotRegular, "FIFO"},
		{"existing OUT", src, exists, 1 << 40, nil, fs.ErrExist, "fix: name a new file"},
		{"no space", src, filepath.Join(dir, "c.qcow2"), 1 << 20, nil, ErrNoSpace, "fix: free space"},
		{"qemu-img fails", src, filepath.Join(dir, "d.qcow2"), 1 << 40, errors.New("boom"), nil, "boom"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tool := &fakeTool{err: tc.tool}
			_, err := Convert(context.Background(), tc.src, tc.out, ConvertOptions{Tool: tool, Space: fakeSpace(tc.space)})
			if err == nil {
				t.Fatal("converted; want a refusal")
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if !strings.Contains(fix.Message(err), tc.fix) {
				t.Fatalf("err = %v, want it to say %q", err, tc.fix)
			}
			if tc.tool == nil && len(tool.calls) != 0 {
				t.Fatalf("qemu-img ran (%v) though the input was refused", tool.calls)
			}
			if tc.out != exists {
				if _, err := os.Lstat(tc.out); !errors.Is(err, fs.ErrNotExist) {
					t.Fatalf("OUT exists after a refusal: %v", err)
				}
			}
			if leftovers(t, dir) != 0 {
				t.Fatal("a temporary file was left")
			}
		})
	}
	if b, _ := os.ReadFile(exists); string(b) != "mine" {
		t.Fatal("an existing OUT was changed")
	}
}

// TestConvertNoSpaceSaysHowMuch: the refusal names both numbers.
func TestConvertNoSpaceSaysHowMuch(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "disk.raw")
	patternDisk(t, src, 8<<20)
	_, err := Convert(context.Background(), src, filepath.Join(dir, "o.qcow2"), ConvertOptions{Tool: &fakeTool{}, Space: fakeSpace(3 << 20)})
	var ns *NoSpaceError
	if !errors.As(err, &ns) || ns.Avail != 3<<20 || ns.Need < 8<<20 {
		t.Fatalf("err = %v, want a NoSpaceError needing ≥ 8 MiB with 3 MiB available", err)
	}
}

func TestConvertCache(t *testing.T) {
	needQemuImg(t)
	dir := t.TempDir()
	src := filepath.Join(dir, "disk.raw")
	patternDisk(t, src, 4<<20)
	c := Cache{Dir: filepath.Join(dir, "cache")}
	p1, conv1, err := c.QCOW2(context.Background(), src)
	if err != nil || !conv1 {
		t.Fatalf("first: %v converted=%v", err, conv1)
	}
	p2, conv2, err := c.QCOW2(context.Background(), src)
	if err != nil || conv2 || p2 != p1 {
		t.Fatalf("second: %v converted=%v path %s vs %s; want the cached entry", err, conv2, p2, p1)
	}
	patternDisk(t, src, 6<<20) // the student changed the disk
	p3, conv3, err := c.QCOW2(context.Background(), src)
	if err != nil || !conv3 || p3 == p1 {
		t.Fatalf("after a change: %v converted=%v; want a new conversion", err, conv3)
	}
}

// blockingTool stands for a qemu-img still converting: it returns only
// when its context ends, as exec.CommandContext's kill makes it.
type blockingTool struct{ started chan struct{} }

func (b blockingTool) Run(ctx context.Context, _ io.Writer, _ ...string) error {
	close(b.started)
	<-ctx.Done()
	return ctx.Err()
}

// TestConvertInterruptedMidway: Ctrl-C while qemu-img writes leaves
// neither OUT nor its temporary file.
func TestConvertInterruptedMidway(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "disk.raw")
	patternDisk(t, src, 2<<20)
	out := filepath.Join(dir, "out.qcow2")
	tool := blockingTool{started: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := Convert(ctx, src, out, ConvertOptions{Tool: tool, Space: fakeSpace(1 << 40)})
		done <- err
	}()
	<-tool.started
	if leftovers(t, dir) != 1 {
		t.Fatal("no temporary file while converting: the test proves nothing")
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if _, err := os.Lstat(out); !errors.Is(err, fs.ErrNotExist) || leftovers(t, dir) != 0 {
		t.Fatalf("OUT or a temporary file was left: %v", err)
	}
}
