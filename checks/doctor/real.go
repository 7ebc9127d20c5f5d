package doctor

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/stacklab/stacklab/installer/identity"
	"github.com/stacklab/stacklab/installer/openstack"
	"github.com/stacklab/stacklab/internal/atomicfile"
	"github.com/stacklab/stacklab/internal/cloud"
	"github.com/stacklab/stacklab/internal/systemd"
	"github.com/stacklab/stacklab/lab"
)

// System is the real Host: this machine's files and commands under Root.
type System struct{ Root string }

func (s System) path(p string) string { return filepath.Join(s.Root, p) }

// DiskUsage is df's "Use%": used / (used + available to users).
func (s System) DiskUsage(path string) (float64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(s.path(path), &st); err != nil {
		return 0, &os.PathError{Op: "statfs", Path: path, Err: err}
	}
	used := float64(st.Blocks - st.Bfree)
	total := used + float64(st.Bavail)
	if total == 0 {
		return 0, nil
	}
	return 100 * used / total, nil
}

func (s System) ReadFile(path string) ([]byte, error) { return os.ReadFile(s.path(path)) }

func (s System) Readlink(path string) (string, error) { return os.Readlink(s.path(path)) }

func (s System) ReadDir(path string) ([]string, error) {
	entries, err := os.ReadDir(s.path(path))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names, err
}

func (s System) Run(ctx context.Context, name string, args ...string) ([]byte, error) {
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("%s %s: %w", name, strings.Join(args, " "), err)
	}
	return out, nil
}

// RunInput runs a command with input on its standard input: how a
// password reaches a command without being on its command line.
func (s System) RunInput(ctx context.Context, input, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdin = strings.NewReader(input)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return out, nil
}

// UnitControl is the slice of systemd repairs need.
type UnitControl interface {
	States(ctx context.Context, units ...string) ([]systemd.UnitState, error)
	Restart(ctx context.Context, unit string) error
	Enable(ctx context.Context, units ...string) error
}

// HostRepairer is the real Repairer on the lab host.
type HostRepairer struct {
	Units UnitControl
	Host  System
	// Lab is the model the repairs restore the lab to.
	Lab lab.Model
	// Cloud opens a fresh authenticated connection.
	Cloud func(ctx context.Context) (*cloud.Cloud, error)
	// Note, if set, hears what a repair did beyond its description.
	Note func(string)
}

// Restart restarts the unit; apache2 until the dashboard answers (Restarter).
func (h HostRepairer) Restart(ctx context.Context, unit string) error {
	r := Restarter{Units: h.Units, Note: h.Note}
	if h.Lab.MgmtIP != "" {
		r.Dashboard = h.Lab.DashboardLoginURL()
	}
	return r.Restart(ctx, unit)
}

func (h HostRepairer) EnableAtBoot(ctx context.Context, units []string) ([]string, error) {
	states, err := h.Units.States(ctx, units...)
	if err != nil {
		return nil, err
	}
	var off []string
	for i, s := range states {
		if s.Found() && s.UnitFileState != "" && s.LoadState != "masked" && !s.StartsAtBoot() {
			off = append(off, units[i])
		}
	}
	if len(off) == 0 {
		return nil, nil
	}
	return off, h.Units.Enable(ctx, off...)
}

// StartStopped restarts rather than starts: a failed unit needs it, and a
// unit that is inactive starts either way.
func (h HostRepairer) StartStopped(ctx context.Context, units []string) ([]string, error) {
	var started []string
	for _, u := range units {
		st, err := h.Units.States(ctx, u)
		if err != nil {
			return started, err
		}
		if len(st) == 1 && (st[0].Active() || !st[0].Found()) {
			continue
		}
		if err := h.Restart(ctx, u); err != nil {
			return started, err
		}
		started = append(started, u)
	}
	return started, nil
}

func (h HostRepairer) ConvergeCatalog(ctx context.Context) ([]string, error) {
	spec, err := h.Lab.Catalog()
	if err != nil {
		return nil, err
	}
	c, err := h.Cloud(ctx)
	if err != nil {
		return nil, err
	}
	res, err := identity.Converge(ctx, c.IdentityAtAuthURL(), spec, false)
	return res.Changes, err
}

var allowedHostsRE = regexp.MustCompile(`(?m)^ALLOWED_HOSTS\s*=\s*\[([^\]]*)\]`)

// AllowedHostsExpr returns the ALLOWED_HOSTS expression with host added,
// keeping the hosts already allowed; ok is false when host (or '*') is
// already there.
func AllowedHostsExpr(settings, host string) (string, bool) {
	m := allowedHostsRE.FindStringSubmatch(settings)
	if m == nil {
		return "[" + strconv.Quote(host) + "]", true
	}
	var items []string
	for _, it := range strings.Split(m[1], ",") {
		it = strings.TrimSpace(it)
		if it == "" {
			continue
		}
		if v := strings.Trim(it, `'"`); v == host || v == "*" {
			return "", false
		}
		items = append(items, it)
	}
	items = append(items, strconv.Quote(host))
	return "[" + strings.Join(items, ", ") + "]", true
}

func (h HostRepairer) AllowMgmtHost(context.Context) (bool, error) {
	file := h.Host.path(openstack.HorizonSettings)
	b, err := os.ReadFile(file)
	if err != nil {
		return false, err
	}
	expr, add := AllowedHostsExpr(string(b), h.Lab.MgmtIP)
	if !add {
		return false, nil
	}
	out, changed := openstack.EditPythonSettings(string(b), []openstack.PySetting{{Name: "ALLOWED_HOSTS", Expr: expr}})
	if !changed {
		return false, errors.New(openstack.HorizonSettings + ": cannot edit ALLOWED_HOSTS (unbalanced Python?)")
	}
	return true, writeKeepMode(file, []byte(out))
}

func (h HostRepairer) RestoreMemcached(context.Context) (bool, error) {
	for _, f := range openstack.Files(h.Lab.Params) {
		if f.Path != "/etc/memcached.conf" {
			continue
		}
		file := h.Host.path(f.Path)
		if cur, err := os.ReadFile(file); err == nil && string(cur) == f.Content {
			return false, nil
		}
		return true, writeKeepMode(file, []byte(f.Content))
	}
	return false, errors.New("the lab has no memcached configuration")
}

func (h HostRepairer) SetRabbitPassword(ctx context.Context, user string, password cloud.Secret) error {
	_, err := h.Host.RunInput(ctx, password.Reveal()+"\n", "rabbitmqctl", "change_password", user)
	return err
}

func (h HostRepairer) DiscoverHosts(ctx context.Context) error {
	_, err := h.Host.Run(ctx, "runuser", "-u", "nova", "--", "nova-manage", "cell_v2", "discover_hosts", "--verbose")
	return err
}

// SetHorizonKeystoneURL points Horizon at the management address's
// keystone. The file as it was is kept next to it first, with the same
// mode and owner: it holds Horizon's SECRET_KEY.
func (h HostRepairer) SetHorizonKeystoneURL(context.Context) (bool, error) {
	file := h.Host.path(openstack.HorizonSettings)
	b, err := os.ReadFile(file)
	if err != nil {
		return false, fmt.Errorf("read Horizon's settings: %w", err)
	}
	out, changed, err := SetKeystoneURL(string(b), h.Lab.KeystoneURL())
	if err != nil {
		return false, fmt.Errorf("%s: %w", openstack.HorizonSettings, err)
	}
	if !changed {
		return false, nil
	}
	if err := writeLike(file+HorizonBackupSuffix, file, b); err != nil {
		return false, fmt.Errorf("back up Horizon's settings: %w", err)
	}
	if err := writeKeepMode(file, []byte(out)); err != nil {
		return false, fmt.Errorf("rewrite Horizon's settings: %w", err)
	}
	return true, nil
}

// writeKeepMode replaces file atomically, keeping its mode and owner.
func writeKeepMode(file string, data []byte) error { return writeLike(file, file, data) }

// writeLike writes file atomically with the mode and owner of model.
func writeLike(file, model string, data []byte) error {
	st, err := os.Stat(model)
	if err != nil {
		return err
	}
	o := atomicfile.Options{Mode: st.Mode().Perm()}
	// os.Stat fills a syscall.Stat_t: x/sys/unix's type is a different
	// one, and asserting it silently dropped the owner (a nova.conf
	// rewritten root:root 0640 is unreadable by nova).
	if sys, ok := st.Sys().(*syscall.Stat_t); ok {
		o.SetOwner, o.UID, o.GID = true, int(sys.Uid), int(sys.Gid)
	}
	return atomicfile.Write(file, data, o)
}
