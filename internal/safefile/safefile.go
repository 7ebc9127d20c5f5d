// Package safefile opens and reads files named by users (playbooks, configs,
// keys, images) without trusting what the name points at: a FIFO would block
// open(2) forever, /dev/zero never ends, and a directory is not data.
package safefile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"
)

// ErrNotRegular is the cause when a path names something other than a
// regular file (or, for OpenRegularOrBlock, a block device).
var ErrNotRegular = errors.New("not a regular file")

// ErrTooLarge is the cause when a file is over the caller's size limit.
var ErrTooLarge = errors.New("file too large")

// TooLargeError says which file was over which limit.
type TooLargeError struct {
	Path  string
	Limit int64
}

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("%s: %v: over the limit of %s", e.Path, ErrTooLarge, size(e.Limit))
}

func (e *TooLargeError) Unwrap() error { return ErrTooLarge }

func size(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// OpenRegular opens path for reading only if it is a regular file (a
// symlink to one is fine). Anything else is refused before it is opened,
// because opening a device can itself act (a tape rewinds, a watchdog
// arms); the file is opened with O_NONBLOCK so that a FIFO swapped in
// after that check cannot block open(2), and checked again through the
// descriptor, which is what is actually read.
func OpenRegular(path string) (*os.File, error) {
	return open(path, func(m fs.FileMode) bool { return m.IsRegular() })
}

// OpenRegularOrBlock is OpenRegular that also accepts a block device: a
// disk image may live on a logical volume, and a block device neither
// blocks in open(2) nor reads forever.
func OpenRegularOrBlock(path string) (*os.File, error) {
	return open(path, func(m fs.FileMode) bool {
		return m.IsRegular() || (m&fs.ModeDevice != 0 && m&fs.ModeCharDevice == 0)
	})
}

func open(path string, ok func(fs.FileMode) bool) (*os.File, error) {
	before, err := os.Stat(path)
	if err != nil {
		// Say "open", as os.Open would: the caller opened, the stat is ours.
		var pe *fs.PathError
		if errors.As(err, &pe) {
			pe.Op = "open"
		}
		return nil, err
	}
	if !ok(before.Mode()) {
		return nil, notRegular(path, before.Mode())
	}
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	after, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return nil, err
	}
	if !ok(after.Mode()) {
		_ = f.Close()
		return nil, notRegular(path, after.Mode())
	}
	return f, nil
}

func notRegular(path string, m fs.FileMode) error {
	what := "a " + describe(m)
	return &fs.PathError{Op: "open", Path: path, Err: fmt.Errorf("%w (%s)", ErrNotRegular, what)}
}

func describe(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "directory"
	case m&fs.ModeNamedPipe != 0:
		return "FIFO"
	case m&fs.ModeSocket != 0:
		return "socket"
	case m&fs.ModeCharDevice != 0:
		return "character device"
	case m&fs.ModeDevice != 0:
		return "block device"
	}
	return "special file"
}

// ReadRegular reads the regular file at path, refusing it when it holds
// more than maxBytes: a file of user input (a playbook, a config) has no
// reason to be large, and reading an unbounded one is how a typo such as
// a log file's path turns into an out-of-memory kill.
func ReadRegular(path string, maxBytes int64) ([]byte, error) {
	f, err := OpenRegular(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Size() > maxBytes {
		return nil, &TooLargeError{Path: path, Limit: maxBytes}
	}
	// The size may grow after Stat; the limit holds on what is read.
	data, err := io.ReadAll(io.LimitReader(f, maxBytes+1))
	if err != nil {
		return nil, &fs.PathError{Op: "read", Path: path, Err: err}
	}
	if int64(len(data)) > maxBytes {
		return nil, &TooLargeError{Path: path, Limit: maxBytes}
	}
	return data, nil
}

// CreateNew creates path for writing with mode perm, failing with an error
// that matches fs.ErrExist when anything is already there, a symlink
// included (dangling or not): the caller may be root writing where the
// user pointed, and must neither follow a planted link nor truncate a file
// someone else owns.
func CreateNew(path string, perm fs.FileMode) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, perm)
	if err != nil {
		return nil, err
	}
	return f, nil
}
