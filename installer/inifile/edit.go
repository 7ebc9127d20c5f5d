package inifile

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// Edit applies sets to the INI file at path and reports whether its content
// changed. path is the full path on this machine: callers working under a
// root prefix join it themselves. The file must exist (creating an OpenStack
// config is the package's job, and its owner and mode are not ours to
// guess). It is rewritten only when its content changes, atomically, with
// its mode and owner kept — the Debian configs are root:nova 0640 and the like,
// and a service that cannot read its config fails in confusing ways. A
// symlink (Debian's /etc/neutron/plugin.ini) is followed and its target
// edited.
func Edit(path string, sets []Set) (changed bool, err error) {
	target, err := filepath.EvalSymlinks(path)
	if err != nil {
		return false, fmt.Errorf("edit %s: %w", path, err)
	}
	old, err := os.ReadFile(target)
	if err != nil {
		return false, fmt.Errorf("edit %s: %w", path, err)
	}
	f := Parse(old)
	if err := f.Apply(sets); err != nil {
		return false, fmt.Errorf("edit %s: %w", path, err)
	}
	updated := f.Bytes()
	if bytes.Equal(old, updated) {
		return false, nil
	}
	if err := replaceFile(target, updated); err != nil {
		return false, fmt.Errorf("edit %s: %w", path, err)
	}
	return true, nil
}

// Get reads one value the way oslo.config would (the last assignment wins).
// A missing file reads as a missing key, since "not configured" is what the
// callers want to know.
func Get(path, section, key string) (value string, ok bool, err error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("read %s: %w", path, err)
	}
	value, ok = Parse(data).Get(section, key)
	return value, ok, nil
}

// replaceFile writes data next to path and renames it over path, so a crash
// leaves either the old or the new file, never half of one.
func replaceFile(path string, data []byte) (err error) {
	info, err := os.Stat(path)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".stacklab-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = os.Remove(tmp.Name())
		}
	}()
	// chown before chmod: chown may clear mode bits.
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		if err := tmp.Chown(int(st.Uid), int(st.Gid)); err != nil {
			_ = tmp.Close()
			return fmt.Errorf("keep owner of %s: %w", path, err)
		}
	}
	if err := tmp.Chmod(info.Mode().Perm()); err != nil {
		_ = tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		_ = tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		_ = tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	return syncDir(filepath.Dir(path))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
