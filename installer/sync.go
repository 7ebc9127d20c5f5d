package installer

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"path"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/stacklab/stacklab/installer/openstack"
	"github.com/stacklab/stacklab/internal/fix"
)

// State files under the state dir.
func (l *lab) pendingPath() string { return path.Join(l.cfg.stateDir, "pending-restarts") }

func (l *lab) markerPath(name string) string { return path.Join(l.cfg.stateDir, "markers", name) }

var stateFilePerm = Perm{Mode: 0o600, Owner: "root", Group: "root"}

func (l *lab) readPending() ([]string, error) {
	data, err := l.h.Files.ReadFile(l.pendingPath())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return strings.Fields(string(data)), nil
}

func (l *lab) writePending(units []string) error {
	if len(units) == 0 {
		return l.h.Files.Remove(l.pendingPath())
	}
	slices.Sort(units)
	return l.h.Files.WriteFile(l.pendingPath(), []byte(strings.Join(units, "\n")+"\n"), stateFilePerm)
}

func (l *lab) addPending(units []string) error {
	cur, err := l.readPending()
	if err != nil {
		return err
	}
	n := len(cur)
	for _, u := range units {
		if !slices.Contains(cur, u) {
			cur = append(cur, u)
		}
	}
	if len(cur) == n {
		return nil
	}
	return l.writePending(cur)
}

func (l *lab) clearPending(units []string) error {
	cur, err := l.readPending()
	if err != nil || len(cur) == 0 {
		return err
	}
	left := slices.DeleteFunc(slices.Clone(cur), func(u string) bool { return slices.Contains(units, u) })
	if len(left) == len(cur) {
		return nil
	}
	return l.writePending(left)
}

// markerContent records what a sync command ran against: the version of
// its service's package and a digest of the command, its environment and
// input included (they may hold a password: only the digest is kept). A
// new package version or a changed command (a new password) runs it again.
func markerContent(version string, c openstack.Command) string {
	in := c.User + "\x00" + strings.Join(c.Argv, "\x00")
	if len(c.Env) > 0 || c.Stdin != "" {
		// Only then, so the markers of commands without either, written
		// before these fields existed, stay valid.
		in += "\x00\x00env\x00" + strings.Join(c.Env, "\x00") + "\x00\x00stdin\x00" + c.Stdin
	}
	sum := sha256.Sum256([]byte(in))
	return "version " + version + "\ncommand sha256:" + hex.EncodeToString(sum[:]) + "\n"
}

// version is pkg's installed version ("" when not installed); the first
// call reads every sync package's in one dpkg-query.
func (l *lab) version(ctx context.Context, pkg string) (string, error) {
	l.versionsMu.Lock()
	defer l.versionsMu.Unlock()
	if l.versions == nil {
		pkgs := slices.Compact(slices.Sorted(maps.Values(syncPackage)))
		v, err := l.h.Packages.Versions(ctx, pkgs)
		if err != nil {
			return "", fmt.Errorf("read the installed versions of %s: %w", strings.Join(pkgs, ", "), err)
		}
		l.versions = v
	}
	return l.versions[pkg], nil
}

// forgetVersions drops the versions read: apt is about to change them.
func (l *lab) forgetVersions() {
	l.versionsMu.Lock()
	defer l.versionsMu.Unlock()
	l.versions = nil
}

// needsRun decides whether a sync command must run: Unless, when the
// command has one, is the authority; otherwise the marker.
func (l *lab) needsRun(ctx context.Context, c openstack.Command) (bool, error) {
	if len(c.Unless) > 0 {
		_, err := l.h.Exec.Run(ctx, Cmd{User: cmp.Or(c.UnlessUser, c.User), Argv: c.Unless, ReadOnly: true, Redact: l.p.Secrets.Values()})
		return err != nil, nil
	}
	version, err := l.version(ctx, syncPackage[c.Tier])
	if err != nil {
		return false, err
	}
	if version == "" {
		return true, nil
	}
	have, err := l.h.Files.ReadFile(l.markerPath(c.Name))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, err
	}
	return string(have) != markerContent(version, c), nil
}

// runCommands runs the tier's sync commands of one phase that are not done.
func (l *lab) runCommands(ctx context.Context, tier string, when openstack.Phase, dryRun bool, o *outcome) error {
	phase := phaseOfTier(tier)
	for _, c := range l.cmds {
		if c.Tier != tier || c.Phase != when {
			continue
		}
		need, err := l.needsRun(ctx, c)
		if err != nil && !dryRun {
			return err
		}
		if !need && err == nil {
			continue
		}
		o.add("run %s", c.Name)
		if dryRun {
			continue
		}
		l.cfg.notify(phase, c.Name)
		if err := l.waitLeftover(ctx, phase, c); err != nil {
			return err
		}
		run := func() error {
			_, err := l.h.Exec.Run(ctx, Cmd{User: c.User, Argv: c.Argv, Env: c.Env, Stdin: c.Stdin, Redact: l.p.Secrets.Values()})
			return err
		}
		err = run()
		if err != nil {
			// A first sync killed half-way (an interrupted install) once
			// made the resumed install fail here for good.
			reset, rerr := l.resetFresh(ctx, c, o)
			if rerr != nil {
				return rerr
			}
			if reset {
				err = run()
			}
		}
		if err != nil {
			return fix.Wrapf(fmt.Errorf("%s: %w", c.Name, err),
				"the output above names the cause; after fixing it run: stacklab install --from %s", phase)
		}
		for _, db := range c.Databases {
			if err := l.h.Files.Remove(l.freshMarker(db)); err != nil {
				return err
			}
		}
		if len(c.Unless) > 0 {
			continue
		}
		version, err := l.version(ctx, syncPackage[c.Tier])
		if err != nil {
			return err
		}
		if err := l.h.Files.WriteFile(l.markerPath(c.Name), []byte(markerContent(version, c)), stateFilePerm); err != nil {
			return err
		}
	}
	return nil
}

// leftoverWait bounds the wait for a sync an interrupted install left
// running; leftoverPoll is how often it looks.
var (
	leftoverWait = 10 * time.Minute
	leftoverPoll = 500 * time.Millisecond
)

// waitLeftover waits until no process runs c's command. An install killed
// during a sync leaves the sync running (runuser keeps it alive), and a
// second one at the same time fails on the tables the first is creating:
// CI23's resumed install did. Once the leftover finishes, c runs again
// and finds its work done.
func (l *lab) waitLeftover(ctx context.Context, phase string, c openstack.Command) error {
	pattern := regexp.QuoteMeta(strings.Join(c.Argv, " "))
	deadline := time.Now().Add(leftoverWait)
	told := false
	for {
		out, err := l.h.Exec.Run(ctx, Cmd{Argv: []string{"pgrep", "-f", "--", pattern}, ReadOnly: true})
		if err != nil {
			// pgrep exits 1 when nothing matches.
			return nil
		}
		if !told {
			l.cfg.notify(phase, fmt.Sprintf("waiting for %s left running by an interrupted install (pid %s)", c.Name, strings.Join(strings.Fields(string(out)), ", ")))
			told = true
		}
		if time.Now().After(deadline) {
			return fix.Wrapf(fmt.Errorf("%s: still running from an interrupted install after %s (pid %s)", c.Name, leftoverWait, strings.Join(strings.Fields(string(out)), ", ")),
				"wait for it to finish, or stop it (kill PID), then run: stacklab install --from %s", phase)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(leftoverPoll):
		}
	}
}
