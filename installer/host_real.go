package installer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/stacklab/stacklab/internal/atomicfile"

	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/services"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/agents"

	"github.com/stacklab/stacklab/installer/apt"
	"github.com/stacklab/stacklab/installer/identity"
	"github.com/stacklab/stacklab/installer/openstack"
	"github.com/stacklab/stacklab/installer/ovs"
	"github.com/stacklab/stacklab/internal/cloud"
	"github.com/stacklab/stacklab/internal/systemd"
)

// HostOptions configure NewHost.
type HostOptions struct {
	// Root prefixes every file path ("/" on a real install).
	Root string
	// Hostname is this host's name as nova and neutron report it.
	Hostname string
	// Notify receives messages for the user (who holds the apt lock).
	Notify func(string)
	// ProbeTimeout bounds one probe (default 10 s).
	ProbeTimeout time.Duration
}

// NewHost connects to systemd and returns the real Host; close releases
// the connection.
func NewHost(ctx context.Context, o HostOptions) (h Host, closeFn func(), err error) {
	if o.Root == "" {
		o.Root = "/"
	}
	if o.ProbeTimeout == 0 {
		o.ProbeTimeout = 10 * time.Second
	}
	sd, err := systemd.Connect(ctx)
	if err != nil {
		return Host{}, nil, err
	}
	m := apt.New(o.Root)
	m.Notify = o.Notify
	ex := ExecRunner{}
	c := &realCloud{root: o.Root}
	return Host{
		Files:    RootFiles{Root: o.Root},
		Units:    sd,
		Exec:     ex,
		Packages: &realPackages{m: m, root: o.Root, exec: ex},
		Probes:   &realProber{timeout: o.ProbeTimeout, hostname: o.Hostname, cloud: c},
		Cloud:    c,
		Switch:   vsctlSwitch{ovs.NewVsctl(openstack.OVSDBSock, 30)},
	}, sd.Close, nil
}

// vsctlSwitch is the lab's OVS database through ovs-vsctl.
type vsctlSwitch struct{ db ovs.DB }

func (v vsctlSwitch) ConvergeBridges(ctx context.Context, want []openstack.Bridge, dryRun bool) ([]string, error) {
	if dryRun {
		// Before the packages (or the switch) exist there is nothing
		// to read: say what would be made.
		if _, err := v.db.Bridges(ctx); err != nil {
			var out []string
			for _, b := range want {
				out = append(out, "add bridge "+b.Name+" (datapath "+b.Datapath+") with ports "+strings.Join(b.Ports, " "))
			}
			return out, nil
		}
	}
	return ovs.Converge(ctx, v.db, want, dryRun)
}

func (v vsctlSwitch) RemoveBridges(ctx context.Context, names []string, dryRun bool) ([]string, error) {
	return ovs.Remove(ctx, v.db, names, dryRun)
}

// RootFiles is Files on this machine under Root.
type RootFiles struct{ Root string }

func (r RootFiles) abs(p string) string { return filepath.Join(r.Root, p) }

func (r RootFiles) ReadFile(p string) ([]byte, error) { return os.ReadFile(r.abs(p)) }

func (r RootFiles) Exists(p string) (bool, error) {
	_, err := os.Lstat(r.abs(p))
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

func (r RootFiles) Remove(p string) error {
	err := os.Remove(r.abs(p))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

func (r RootFiles) RemoveAll(p string) error {
	if p == "" || p == "/" {
		return fmt.Errorf("refusing to remove %q", p)
	}
	return os.RemoveAll(r.abs(p))
}

// WriteFile writes atomically (temporary file, fsync, rename). A symlink
// (Debian's /etc/neutron/plugin.ini) is followed and its target replaced;
// an existing file keeps its mode and owner.
func (r RootFiles) WriteFile(p string, data []byte, perm Perm) (err error) {
	target := r.abs(p)
	if t, err := filepath.EvalSymlinks(target); err == nil {
		target = t
	}
	if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
		return err
	}
	mode := perm.Mode
	if mode == 0 {
		mode = 0o644
	}
	uid, gid := -1, -1
	if info, err := os.Stat(target); err == nil {
		mode = info.Mode().Perm()
		if st, ok := info.Sys().(*syscall.Stat_t); ok {
			uid, gid = int(st.Uid), int(st.Gid)
		}
	} else if uid, gid, err = lookupOwner(perm.Owner, perm.Group); err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	return atomicfile.Write(target, data, atomicfile.Options{Mode: mode, SetOwner: uid >= 0, UID: uid, GID: gid})
}

func lookupOwner(owner, group string) (uid, gid int, err error) {
	if owner == "" {
		owner = "root"
	}
	if group == "" {
		group = "root"
	}
	u, err := user.Lookup(owner)
	if err != nil {
		return -1, -1, err
	}
	g, err := user.LookupGroup(group)
	if err != nil {
		return -1, -1, err
	}
	uid, _ = strconv.Atoi(u.Uid)
	gid, _ = strconv.Atoi(g.Gid)
	return uid, gid, nil
}

// ExecRunner runs commands on this machine; another user through runuser
// (util-linux), so the files a db sync creates are the service's.
type ExecRunner struct{}

func (ExecRunner) Run(ctx context.Context, c Cmd) ([]byte, error) {
	argv := c.Argv
	if c.User != "" && c.User != "root" {
		argv = append([]string{"runuser", "-u", c.User, "--"}, argv...)
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append(append(os.Environ(), "LC_ALL=C.UTF-8"), c.Env...)
	cmd.Stdin = strings.NewReader(c.Stdin)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = 10 * time.Second
	err := cmd.Run()
	if err == nil {
		return out.Bytes(), nil
	}
	e := &ExecError{User: c.User, Argv: redactAll(c.Argv, c.Redact), ExitCode: -1, Output: redact(out.String(), c.Redact), Err: err}
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.ExitCode() >= 0 {
		e.ExitCode = ee.ExitCode()
	}
	return []byte(e.Output), e
}

type realPackages struct {
	m    *apt.Manager
	root string
	exec Executor
}

func (p *realPackages) Missing(ctx context.Context, pkgs []string) ([]string, error) {
	return p.m.Missing(ctx, pkgs)
}

func (p *realPackages) Preseed(ctx context.Context, sels []apt.Selection) (bool, error) {
	return p.m.Preseed(ctx, sels)
}

func (p *realPackages) Install(ctx context.Context, pkgs []string, opts apt.InstallOptions) error {
	return p.m.Install(ctx, pkgs, opts)
}

func (p *realPackages) Purge(ctx context.Context, pkgs []string, opts apt.InstallOptions) error {
	return p.m.Purge(ctx, pkgs, opts)
}

func (p *realPackages) HoldServices() (func() error, error) { return apt.HoldServices(p.root) }

func (p *realPackages) Versions(ctx context.Context, pkgs []string) (map[string]string, error) {
	argv := append([]string{"dpkg-query", "--show", "--showformat=${Package}\t${db:Status-Status}\t${Version}\n"}, pkgs...)
	out, err := p.exec.Run(ctx, Cmd{Argv: argv, ReadOnly: true})
	var ee *ExecError
	if err != nil && !(errors.As(err, &ee) && ee.ExitCode == 1) {
		// 1: some names are unknown to dpkg, which only means not installed.
		return nil, err
	}
	return dpkgVersions(string(out)), nil
}

// dpkgVersions reads dpkg-query's Package, Status-Status and Version
// table; dpkg's complaints (merged into the output) have no tabs.
func dpkgVersions(out string) map[string]string {
	v := map[string]string{}
	for _, l := range strings.Split(out, "\n") {
		f := strings.Split(l, "\t")
		if len(f) == 3 && f[1] == "installed" {
			v[f[0]] = f[2]
		}
	}
	return v
}

// realProber checks probes: TCP and HTTP directly, compute services and
// network agents through the lab's API as its admin.
type realProber struct {
	timeout  time.Duration
	hostname string
	cloud    *realCloud
}

func (r *realProber) Probe(ctx context.Context, p openstack.Probe, since time.Time) error {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	switch p.Kind {
	case openstack.ProbeTCP:
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", p.Target)
		if err != nil {
			return err
		}
		return c.Close()
	case openstack.ProbeUnix:
		var d net.Dialer
		c, err := d.DialContext(ctx, "unix", p.Target)
		if err != nil {
			return err
		}
		return c.Close()
	case openstack.ProbeHTTP:
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.Target, nil)
		if err != nil {
			return err
		}
		resp, err := (&http.Client{Timeout: r.timeout}).Do(req)
		if err != nil {
			return err
		}
		_ = resp.Body.Close()
		if (p.Status != 0 && resp.StatusCode != p.Status) || (p.Status == 0 && resp.StatusCode >= 500) {
			return fmt.Errorf("HTTP status %d", resp.StatusCode)
		}
		return nil
	case openstack.ProbeComputeService:
		c, err := r.cloud.open(ctx)
		if err != nil {
			return err
		}
		client, err := c.Compute()
		if err != nil {
			return err
		}
		page, err := services.List(client, services.ListOpts{Binary: "nova-compute", Host: p.Target}).AllPages(ctx)
		if err != nil {
			return err
		}
		list, err := services.ExtractServices(page)
		if err != nil {
			return err
		}
		for _, s := range list {
			if s.State == "up" && s.Status == "enabled" {
				if !openstack.ReportedSince(s.UpdatedAt, since) {
					return fmt.Errorf("nova-compute on %s has not reported since it started at %s (nova's \"up\" is its last report, at %s)",
						p.Target, since.UTC().Format(time.TimeOnly), s.UpdatedAt.UTC().Format(time.TimeOnly))
				}
				return nil
			}
		}
		return fmt.Errorf("nova-compute on %s is not listed as enabled and up (%d listed)", p.Target, len(list))
	case openstack.ProbeNetworkAgent:
		c, err := r.cloud.open(ctx)
		if err != nil {
			return err
		}
		client, err := c.Network()
		if err != nil {
			return err
		}
		page, err := agents.List(client, agents.ListOpts{AgentType: p.Target, Host: r.hostname}).AllPages(ctx)
		if err != nil {
			return err
		}
		list, err := agents.ExtractAgents(page)
		if err != nil {
			return err
		}
		if len(list) == 0 {
			return fmt.Errorf("neutron lists no %s on %s", p.Target, r.hostname)
		}
		if bad := openstack.AgentsNotReady(neutronAgents(list)); len(bad) > 0 {
			return fmt.Errorf("not ready: %s", strings.Join(bad, ", "))
		}
		return nil
	}
	return fmt.Errorf("unknown probe kind %q", p.Kind)
}

// realCloud writes the credentials under root and opens the lab's cloud
// from them.
type realCloud struct {
	root string
	mu   sync.Mutex
	c    *cloud.Cloud
}

func (r *realCloud) cloudsFile() string { return filepath.Join(r.root, cloud.DefaultCloudsFile) }

func (r *realCloud) open(ctx context.Context) (*cloud.Cloud, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.c != nil {
		return r.c, nil
	}
	c, err := cloud.Open(ctx, cloud.Options{Cloud: cloud.DefaultCloudName, CloudsFile: r.cloudsFile()})
	if err != nil {
		return nil, err
	}
	r.c = c
	return c, nil
}

func (r *realCloud) WriteCredentials(entry cloud.CloudEntry, dryRun bool) ([]string, error) {
	if dryRun {
		var out []string
		for _, p := range []string{cloud.DefaultCloudsFile, cloud.DefaultOpenRC} {
			if _, err := os.Stat(filepath.Join(r.root, p)); err != nil {
				out = append(out, "write "+p)
			}
		}
		return out, nil
	}
	var out []string
	changed, err := cloud.WriteCloudsYAML(r.root, "", entry)
	if err != nil {
		return nil, err
	}
	if changed {
		out = append(out, "write "+cloud.DefaultCloudsFile)
		r.mu.Lock()
		r.c = nil
		r.mu.Unlock()
	}
	changed, err = cloud.WriteOpenRC(r.root, "", entry)
	if err != nil {
		return out, err
	}
	if changed {
		out = append(out, "write "+cloud.DefaultOpenRC)
	}
	return out, nil
}

func (r *realCloud) ConvergeIdentity(ctx context.Context, _ cloud.CloudEntry, spec identity.Spec, dryRun bool) ([]string, error) {
	c, err := r.open(ctx)
	if err != nil {
		return nil, err
	}
	res, err := identity.Converge(ctx, c.IdentityAtAuthURL(), spec, dryRun)
	if len(res.Changes) > 0 && !dryRun {
		// The cached cloud's token carries the catalog from before these
		// changes; the next use must authenticate again to see them.
		r.mu.Lock()
		r.c = nil
		r.mu.Unlock()
	}
	return res.Changes, err
}

func neutronAgents(list []agents.Agent) []openstack.Agent {
	out := make([]openstack.Agent, len(list))
	for i, a := range list {
		out[i] = openstack.Agent{Type: a.AgentType, Host: a.Host, Alive: a.Alive, AdminUp: a.AdminStateUp}
	}
	return out
}
