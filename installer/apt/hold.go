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
	path := filepath.Join(root, PolicyRCPath)
	data, err := os.ReadFile(path)
	switch {
	case err == nil && !isOurs(data):
		return func() error { return nil }, nil
	case err == nil:
		// Ours, left by an interrupted run: adopt it.
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return nil, fmt.Errorf("hold services: %w", err)
		}
		if err := writeScript(path, []byte(holdScript)); err != nil {
			return nil, fmt.Errorf("hold services: %w", err)
		}
	default:
		return nil, fmt.Errorf("hold services: %w", err)
	}
	return func() error { return releaseHold(path) }, nil
}

func isOurs(data []byte) bool { return bytes.Contains(data, []byte(holdMarker)) }

func releaseHold(path string) error {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("release services: %w", err)
	}
	if !isOurs(data) {
		return nil // replaced by someone else since: theirs now
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("release services: %w", err)
	}
	return nil
}

// writeScript creates the script atomically, so invoke-rc.d never runs a
// half-written one, and never over a policy-rc.d that appeared meanwhile.
func writeScript(path string, data []byte) error {
	return atomicfile.Write(path, data, atomicfile.Options{Mode: 0o755, NoReplace: true})
}
