package apt

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/stacklab/stacklab/internal/atomicfile"
)

// PolicyRCPath is consulted by invoke-rc.d and deb-systemd-invoke before a
// maintainer script starts or restarts a service; exit status 101 means
// "not now".
const PolicyRCPath = "/usr/sbin/policy-rc.d"

// holdMarker identifies our policy-rc.d, so that a run interrupted before
// releasing it is cleaned up by the next one and a foreign file is never
// removed.
const holdMarker = "# stacklab-hold-services: written by stacklab during package installation"

// holdScript denies only what would start a service. Stop and reload stay
// allowed: dbus's trigger reloads the daemon as packages add bus policies,
// and when that was denied too polkitd could not own its bus name, so
// libvirt refused nova-compute (measured in the lab host).
const holdScript = "#!/bin/sh\n" + holdMarker + "\n" +
	"# Services start only once stacklab has configured them. If stacklab is\n" +
	"# not running, this file is left from an interrupted run: delete it.\n" +
	"# Usage (invoke-rc.d): policy-rc.d [options] <service> <actions> [<runlevel>]\n" +
	"while [ $# -gt 0 ]; do case \"$1\" in --*) shift ;; *) break ;; esac; done\n" +
	"for action in $2; do\n" +
	"\tcase \"$action\" in start | restart | try-restart | force-start) exit 101 ;; esac\n" +
	"done\n" +
	"exit 0\n"

// HoldServices keeps package scripts from starting services until release
// is called. On a fresh host every postinst would start its service
// unconfigured; nova and neutron then crash-loop and a 2-core install took
// 52 minutes instead of 8. A policy-rc.d that is not ours is left alone,
// and release then does nothing. One of ours from an interrupted run is
// adopted, so release removes it. release is safe to call more than once.
func HoldServices(root string) (release func() error, err error) {
	// Created atomically, so invoke-rc.d never runs a half-written one.
	return markedFile{
		path: PolicyRCPath, marker: holdMarker, data: holdScript, mode: 0o755,
		what: "hold services",
	}.hold(root)
}

// markedFile is a file stacklab puts, for the length of one apt run, where
// dpkg's tools look for their settings. Its marker tells ours (possibly
// left by an interrupted run: adopted, so that this run removes it) from
// a foreign one, never touched.
type markedFile struct {
	path, marker, data string
	mode               fs.FileMode
	// removeEmptyDir: the file's directory goes with it when nothing
	// else is left in it (one the system does not ship).
	removeEmptyDir bool
	what           string // for errors
}

func (f markedFile) ours(data []byte) bool { return bytes.Contains(data, []byte(f.marker)) }

// hold writes the file under root unless one is there already.
func (f markedFile) hold(root string) (release func() error, err error) {
	path := filepath.Join(root, f.path)
	data, err := os.ReadFile(path)
	switch {
	case err == nil && !f.ours(data):
		return func() error { return nil }, nil
	case err == nil:
		// Ours, left by an interrupted run: adopt it.
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return nil, fmt.Errorf("%s: %w", f.what, err)
		}
		// Never over a file that appeared meanwhile.
		if err := atomicfile.Write(path, []byte(f.data), atomicfile.Options{Mode: f.mode, NoReplace: true}); err != nil {
			return nil, fmt.Errorf("%s: %w", f.what, err)
		}
	default:
		return nil, fmt.Errorf("%s: %w", f.what, err)
	}
	return func() error { return f.release(path) }, nil
}

func (f markedFile) release(path string) error {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("end %s: %w", f.what, err)
	}
	if !f.ours(data) {
		return nil // replaced by someone else since: theirs now
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("end %s: %w", f.what, err)
	}
	if f.removeEmptyDir {
		_ = os.Remove(filepath.Dir(path)) // fails, as it should, unless empty
	}
	return nil
}
