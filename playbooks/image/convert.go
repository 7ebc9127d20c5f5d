package image

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/stacklab/stacklab/internal/fix"
	"golang.org/x/sys/unix"
)

// ErrNoSpace is the cause when the result of a conversion may not fit.
var ErrNoSpace = errors.New("not enough free space")

// ErrNotConvertible is the cause when a source cannot become a qcow2 the
// cloud can boot (damaged, encrypted, backed by another file, an ISO).
var ErrNotConvertible = errors.New("cannot convert this image")

// ErrDiffers is the cause when the converted image does not hold the
// source's data.
var ErrDiffers = errors.New("converted image differs from its source")

// NoSpaceError says how much a conversion needs and how much there is.
type NoSpaceError struct {
	Dir          string
	Need, Avail  int64
	SourceFormat Format
}

func (e *NoSpaceError) Error() string {
	return fmt.Sprintf("%v in %s for the converted image: it may need up to %s (the %s disk's virtual size), %s are available",
		ErrNoSpace, e.Dir, humanBytes(e.Need), e.SourceFormat, humanBytes(e.Avail))
}

// Fix is what makes room.
func (e *NoSpaceError) Fix() string { return "free space there or write OUT to another file system" }

func (e *NoSpaceError) Unwrap() error { return ErrNoSpace }

// Tool runs qemu-img; the real one is QemuImg. stdout receives what the
// command prints (its progress with -p); a failure's error carries its
// stderr.
type Tool interface {
	Run(ctx context.Context, stdout io.Writer, args ...string) error
}

// SpaceReader tells how many bytes an unprivileged write may still use
// in dir's file system; the real one is Statfs.
type SpaceReader interface {
	Available(dir string) (int64, error)
}

// QemuImg is the qemu-img on PATH.
type QemuImg struct{}

// Run runs qemu-img. The process is killed when ctx ends, so an
// interrupted convert leaves no qemu-img behind.
func (QemuImg) Run(ctx context.Context, stdout io.Writer, args ...string) error {
	cmd := exec.CommandContext(ctx, "qemu-img", args...)
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = stdout, &stderr
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("qemu-img %s: %w", args[0], ctx.Err())
		}
		return fmt.Errorf("qemu-img %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return nil
}

// Statfs reads free space with statfs(2).
type Statfs struct{}

// Available is the space left to a non-root writer (Bavail): root's
// reserve is not ours to fill.
func (Statfs) Available(dir string) (int64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, &fs.PathError{Op: "statfs", Path: dir, Err: err}
	}
	return int64(st.Bavail) * st.Bsize, nil //nolint:gosec // block counts fit int64 on any real file system
}

// ConvertOptions are Convert's side effects; zero values are the real ones.
type ConvertOptions struct {
	Tool  Tool
	Space SpaceReader
	// Progress, when set, receives qemu-img's progress (-p): set it only
	// on a terminal, where the lines redraw in place.
	Progress io.Writer
}

// ConvertResult is what Convert made, validated.
type ConvertResult struct {
	Source       string `json:"source"`
	SourceFormat Format `json:"source_format"`
	Output       string `json:"output"`
	// Info is `image inspect` of Output.
	Info Info `json:"info"`
}

// Convert turns the disk image at src (VDI, VMDK, VHD, VHDX, raw or
// qcow2, detected from its bytes) into a new qcow2 at out. It refuses an
// out that exists and a src that is not a regular file, checks free space
// first, writes a temporary file next to out and links it into place
// only once it is a valid qcow2 that `qemu-img compare` finds identical
// to src: whatever happens, out is either absent or complete.
func Convert(ctx context.Context, src, out string, o ConvertOptions) (ConvertResult, error) {
	if o.Tool == nil {
		o.Tool = QemuImg{}
	}
	if o.Space == nil {
		o.Space = Statfs{}
	}
	res := ConvertResult{Source: src, Output: out}
	info, err := InspectRegularFile(src)
	if err != nil {
		return res, fmt.Errorf("convert: %w", err)
	}
	res.SourceFormat = info.Format
	if err := convertible(info); err != nil {
		return res, fmt.Errorf("convert %s: %w", src, err)
	}
	if err := newOutput(out); err != nil {
		return res, fmt.Errorf("convert: %w", err)
	}
	dir := filepath.Dir(out)
	avail, err := o.Space.Available(dir)
	if err != nil {
		return res, fmt.Errorf("convert: free space for %s: %w", out, err)
	}
	// qcow2 stores no more than the guest's disk plus metadata; the
	// virtual size is the bound, the file's own size says nothing (a
	// sparse VDI is small until its guest fills it).
	need := qcow2Room(info.VirtualSize)
	if avail < need {
		return res, fmt.Errorf("convert %s: %w", src, &NoSpaceError{Dir: dir, Need: need, Avail: avail, SourceFormat: info.Format})
	}
	tmp, err := tempName(dir, filepath.Base(out))
	if err != nil {
		return res, fmt.Errorf("convert: %w", err)
	}
	defer os.Remove(tmp) // a no-op once linked into place and removed
	args := []string{"convert"}
	if o.Progress != nil {
		args = append(args, "-p")
	}
	args = append(args, "-f", info.QemuFormat, "-O", "qcow2", src, tmp)
	progress := o.Progress
	if progress == nil {
		progress = io.Discard
	}
	if err := o.Tool.Run(ctx, progress, args...); err != nil {
		return res, fmt.Errorf("convert %s: %w", src, err)
	}
	if res.Info, err = validateConverted(ctx, o.Tool, src, info, tmp); err != nil {
		return res, fmt.Errorf("convert %s: %w", src, err)
	}
	// CreateTemp made it 0600; a disk image is not a secret, and glance
	// or a student's own user may have to read it.
	if err := os.Chmod(tmp, 0o644); err != nil {
		return res, fmt.Errorf("convert: %w", err)
	}
	if err := syncFile(tmp); err != nil {
		return res, fmt.Errorf("convert: %w", err)
	}
	// link(2), unlike rename(2), fails on an existing name: an out made
	// by someone else meanwhile is not overwritten.
	if err := os.Link(tmp, out); err != nil {
		return res, fmt.Errorf("convert: put the result in place: %w", err)
	}
	res.Info.Path = out
	return res, nil
}

func convertible(info Info) error {
	if info.Format == ISO {
		return fix.Errorf("upload it as it is (disk_format: iso) and install from it onto a volume", "%w: it is an ISO 9660 installer CD, not a disk", ErrNotConvertible)
	}
	for _, r := range Refusals(CheckUpload(info, "", 0)) {
		return fix.Errorf(r.Fix, "%w: %s", ErrNotConvertible, r.Reason)
	}
	return nil
}

// validateConverted proves tmp is a qcow2 with a boot verdict inspect
// accepts and the same data as src.
func validateConverted(ctx context.Context, tool Tool, src string, srcInfo Info, tmp string) (Info, error) {
	got, err := InspectRegularFile(tmp)
	if err != nil {
		return got, fmt.Errorf("inspect the result: %w", err)
	}
	if got.Format != QCOW2 || len(got.Problems) > 0 {
		return got, fmt.Errorf("%w: qemu-img wrote a %s with problems %q", ErrDiffers, got.Format, got.Problems)
	}
	if got.VirtualSize != srcInfo.VirtualSize {
		return got, fmt.Errorf("%w: virtual size %d, the source's is %d", ErrDiffers, got.VirtualSize, srcInfo.VirtualSize)
	}
	if srcInfo.BootableVerdict == Likely && got.BootableVerdict != Likely {
		return got, fmt.Errorf("%w: the source looked bootable, the result does not (%s)", ErrDiffers, got.BootableReason)
	}
	if err := tool.Run(ctx, io.Discard, "compare", "-f", srcInfo.QemuFormat, "-F", "qcow2", src, tmp); err != nil {
		return got, fmt.Errorf("%w: %w", ErrDiffers, err)
	}
	return got, nil
}

// newOutput refuses an output path that exists: a disk is never
// overwritten, whoever's it is.
func newOutput(path string) error {
	_, err := os.Lstat(path)
	switch {
	case err == nil:
		return &fs.PathError{Op: "create", Path: path,
			Err: fix.Errorf("name a new file, or remove it first if it is a stale copy", "%w", fs.ErrExist)}
	case errors.Is(err, fs.ErrNotExist):
		return nil
	}
	return err
}

// qcow2Room is the most a qcow2 of the given virtual size may take: the
// guest's data, its tables and a margin.
func qcow2Room(virtual int64) int64 { return virtual + virtual/64 + 1<<20 }

// tempName reserves a new name next to out for qemu-img to write.
func tempName(dir, base string) (string, error) {
	f, err := os.CreateTemp(dir, "."+base+".*.part")
	if err != nil {
		return "", err
	}
	name := f.Name()
	return name, f.Close()
}

func syncFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}
