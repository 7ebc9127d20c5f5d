package inifile

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"github.com/stacklab/stacklab/internal/atomicfile"
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

// replaceFile replaces path atomically, keeping its owner and mode: the
// packages install their configs root:nova 0640 and the like.
func replaceFile(path string, data []byte) error {
	info, err := os.Stat(path)
	if err != nil {
		return err
	}
	o := atomicfile.Options{Mode: info.Mode().Perm()}
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		o.SetOwner, o.UID, o.GID = true, int(st.Uid), int(st.Gid)
	}
	return atomicfile.Write(path, data, o)
}
