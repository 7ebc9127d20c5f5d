package image

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stacklab/stacklab/internal/fix"
)

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{
		"64M": 64 << 20, "10G": 10 << 30, "10GiB": 10 << 30, "512k": 512 << 10, "1T": 1 << 40, "4096": 4096, "2G": 2 << 30, "3gb": 3 << 30,
	} {
		if got, err := ParseSize(in); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "G", "-1G", "0", "ten", "1.5G", "1P", "99999999T"} {
		if got, err := ParseSize(bad); err == nil {
			t.Errorf("ParseSize(%q) = %d, want an error", bad, got)
		}
	}
}

// fakeISO is an ISO 9660 file as image inspect knows one: the "CD001"
// signature at sector 16.
func fakeISO(t *testing.T, dir string, size int) string {
	t.Helper()
	b := make([]byte, size)
	copy(b[32768:], "\x01CD001\x01")
	p := filepath.Join(dir, "installer.iso")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// entries lists dir: what a refused or failed install must leave as it was.
func entries(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

func TestInstallRefusesBeforeAnyChange(t *testing.T) {
	src := t.TempDir()
	iso := fakeISO(t, src, 4<<20)
	raw := filepath.Join(src, "disk.raw")
	patternDisk(t, raw, 1<<20)
	outDir := t.TempDir()
	existing := filepath.Join(outDir, "taken.qcow2")
	if err := os.WriteFile(existing, []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(outDir, "new.qcow2")
	base := InstallOptions{ISO: iso, Output: out, Size: 64 << 20, VNC: "127.0.0.1:1", Space: fakeSpace(1 << 40)}
	for _, tc := range []struct {
		name string
		edit func(o *InstallOptions)
		want string
		is   error
	}{
		{"not an ISO", func(o *InstallOptions) { o.ISO = raw }, "is raw: not an installer ISO\n  fix:", ErrNotISO},
		{"a directory as ISO", func(o *InstallOptions) { o.ISO = src }, "not a regular file", nil},
		{"a driver CD that is not one", func(o *InstallOptions) { o.DriverCDs = []string{raw} }, "driver CD " + raw + " is raw: not an installer ISO\n  fix: give the drivers' .iso", ErrNotISO},
		{"output exists", func(o *InstallOptions) { o.Output = existing }, "already exists\n  fix: name a new file", fs.ErrExist},
		{"size below the ISO's", func(o *InstallOptions) { o.Size = 1 << 20 }, "below the ISO's own 4 MiB: disk too small for what it installs\n  fix: --size 8M", ErrTooSmall},
		{"not enough disk", func(o *InstallOptions) { o.Space = fakeSpace(32 << 20) }, "it may grow to", ErrNoSpace},
		{"bad VNC address", func(o *InstallOptions) { o.VNC = "127.0.0.1" }, "want HOST:DISPLAY", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := entries(t, outDir)
			o := base
			tc.edit(&o)
			ran := false
			o.Machine = machineFunc(func(context.Context, []string) error { ran = true; return nil })
			_, err := Install(context.Background(), o)
			if err == nil || !strings.Contains(fix.Message(err), tc.want) || (tc.is != nil && !errors.Is(err, tc.is)) {
				t.Fatalf("err %v, want %q", err, tc.want)
			}
			if ran {
				t.Error("the machine was started")
			}
			if after := entries(t, outDir); strings.Join(after, ",") != strings.Join(before, ",") {
				t.Errorf("files %v, want %v as before", after, before)
			}
		})
	}
}

type machineFunc func(ctx context.Context, args []string) error

func (f machineFunc) Run(ctx context.Context, args []string) error { return f(ctx, args) }

// diskArg is the qcow2 the installing machine writes to.
func diskArg(t *testing.T, args []string) string {
	t.Helper()
	for i, a := range args {
		if a == "-drive" && strings.HasSuffix(args[i+1], ",format=qcow2,if=virtio") {
			return strings.TrimPrefix(strings.TrimSuffix(args[i+1], ",format=qcow2,if=virtio"), "file=")
		}
	}
	t.Fatalf("no virtio qcow2 disk in %v", args)
	return ""
}

// An installer's outcomes, each with a real qemu-img making and reading
// the disk: only one that leaves a bootable disk puts OUT in place, and
// every other leaves no file at all.
func TestInstallOutcomes(t *testing.T) {
	qemuImg := needQemuImg(t)
	src := t.TempDir()
	iso := fakeISO(t, src, 1<<20)
	drivers := iso + ".drivers"
	if err := os.Link(iso, drivers); err != nil {
		t.Fatal(err)
	}
	boot := filepath.Join(src, "boot.raw")
	patternDisk(t, boot, 2<<20)
	for _, tc := range []struct {
		name    string
		machine func(t *testing.T) machineFunc
		cancel  bool
		timeout time.Duration
		want    string
	}{
		{name: "installs and powers off", machine: func(t *testing.T) machineFunc {
			return func(_ context.Context, args []string) error {
				if strings.Join(args, " ") == "" || !strings.Contains(strings.Join(args, " "), "-vnc 127.0.0.1:3") ||
					!strings.Contains(strings.Join(args, " "), "file="+iso+",format=raw,media=cdrom") || !strings.Contains(strings.Join(args, " "), "-no-reboot") ||
					!strings.Contains(strings.Join(args, " "), "file="+iso+".drivers,format=raw,media=cdrom") {
					t.Errorf("qemu args %v", args)
				}
				// The "installer" writes a bootable system onto the disk.
				b, err := exec.Command(qemuImg, "dd", "-f", "raw", "-O", "qcow2", "if="+boot, "of="+diskArg(t, args), "bs=1M").CombinedOutput()
				if err != nil {
					t.Errorf("qemu-img dd: %v %s", err, b)
				}
				return nil
			}
		}},
		{name: "powers off with the disk blank", want: "the disk is not one to boot", machine: func(t *testing.T) machineFunc {
			return func(context.Context, []string) error { return nil }
		}},
		{name: "qemu fails", want: "qemu: could not open", machine: func(t *testing.T) machineFunc {
			return func(context.Context, []string) error { return errors.New("could not open the ISO") }
		}},
		{name: "interrupted", cancel: true, want: "interrupted after", machine: func(t *testing.T) machineFunc {
			return func(ctx context.Context, _ []string) error { <-ctx.Done(); return ctx.Err() }
		}},
		{name: "never powers off", timeout: 200 * time.Millisecond, want: "did not power off within 200ms", machine: func(t *testing.T) machineFunc {
			return func(ctx context.Context, _ []string) error { <-ctx.Done(); return ctx.Err() }
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			out := filepath.Join(dir, "os.qcow2")
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tc.cancel {
				time.AfterFunc(200*time.Millisecond, cancel)
			}
			res, err := Install(ctx, InstallOptions{ISO: iso, DriverCDs: []string{drivers}, Output: out, Size: 8 << 20, VNC: "127.0.0.1:3",
				Timeout: tc.timeout, Space: fakeSpace(1 << 40), Machine: tc.machine(t)})
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				st, err := os.Stat(out)
				if err != nil || st.Mode().Perm() != 0o644 || res.Info.BootableVerdict != Likely || res.Info.Format != QCOW2 {
					t.Fatalf("result %+v, %v", res.Info, err)
				}
				if es := entries(t, dir); len(es) != 1 {
					t.Errorf("files %v, want only the disk", es)
				}
				return
			}
			if err == nil || !strings.Contains(fix.Message(err), tc.want) {
				t.Fatalf("err %v, want %q", err, tc.want)
			}
			if es := entries(t, dir); len(es) != 0 {
				t.Errorf("files %v left, want none", es)
			}
		})
	}
}
