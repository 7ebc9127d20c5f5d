// Package atomicfile writes a file so that a reader, a crash or a power cut
// sees either the old content or the new, never half of it: stacklab
// rewrites the package maintainers' configuration files, its secrets and
// the host's network configuration, and none of those may be left torn.
package atomicfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Options say what the new file looks like.
type Options struct {
	// Mode of the new file. The temporary file is created 0600 and only
	// then given Mode, so a secret is never readable by others on the way.
	Mode fs.FileMode
	// Owner is set when SetOwner is true; chown happens before chmod
	// because chown may clear mode bits.
	SetOwner bool
	UID, GID int
	// NoReplace fails with an error matching fs.ErrExist when path already
	// exists, instead of replacing it (link instead of rename).
	NoReplace bool
}

// Write replaces (or creates) path with data: temporary file in the same
// directory, owner, mode, content, fsync, rename, then fsync of the
// directory so the rename itself is durable.
func Write(path string, data []byte, o Options) (err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".stacklab-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	if o.SetOwner {
		if err := tmp.Chown(o.UID, o.GID); err != nil {
			return fmt.Errorf("write %s: owner: %w", path, err)
		}
	}
	if err := tmp.Chmod(o.Mode); err != nil {
		return fmt.Errorf("write %s: mode: %w", path, err)
	}
	if _, err := tmp.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("write %s: sync: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if o.NoReplace {
		if err := os.Link(tmp.Name(), path); err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
		if err := os.Remove(tmp.Name()); err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
	} else if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, fs.ErrInvalid) {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}
