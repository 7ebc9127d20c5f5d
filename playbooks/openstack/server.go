package openstack

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/secgroups"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"
	"github.com/gophercloud/gophercloud/v2/openstack/image/v2/images"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/ports"

	"github.com/stacklab/stacklab/internal/fix"
	"github.com/stacklab/stacklab/internal/novnc"
	"github.com/stacklab/stacklab/playbooks"
)

// consoleLines is how much console output one poll reads, and tailLines
// how much of it an error shows as evidence.
const (
	consoleLines = 200
	tailLines    = 10
	// deleteWait bounds the wait for a deleted server to be gone; its
	// ports are released only then, and the engine deletes subnets next.
	deleteWait = 5 * time.Minute
)

// novaServer is the part of nova's server we read, at computeMicroversion
// (flavor embedded by name, description present).
type novaServer struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Status      string `json:"status"`
	Description string `json:"description"`
	Flavor      struct {
		OriginalName string `json:"original_name"`
	} `json:"flavor"`
	// Image is {"id": ...}, or "" for a server booted from a volume.
	Image          any    `json:"image"`
	KeyName        string `json:"key_name"`
	SecurityGroups []struct {
		Name string `json:"name"`
	} `json:"security_groups"`
	Fault struct {
		Message string `json:"message"`
	} `json:"fault"`
	TaskState  string             `json:"OS-EXT-STS:task_state"`
	PowerState servers.PowerState `json:"OS-EXT-STS:power_state"`
}

func (s novaServer) imageID() string {
	if m, ok := s.Image.(map[string]any); ok {
		id, _ := m["id"].(string)
		return id
	}
	return ""
}

func (s novaServer) groupNames() []string {
	var out []string
	for _, g := range s.SecurityGroups {
		// Nova lists a group once per port.
		if !slices.Contains(out, g.Name) {
			out = append(out, g.Name)
		}
	}
	slices.Sort(out)
	return out
}

type serverDriver struct{ c *Cloud }

// listServers lists servers, all of them when name is "" (nova's name
// filter is a regular expression: the name is matched whole).
func (c *Cloud) listServers(ctx context.Context, name string) ([]novaServer, error) {
	return cachedRead(ctx, "servers?name="+name, func() ([]novaServer, error) {
		nova, err := c.novaClient()
		if err != nil {
			return nil, err
		}
		var opts servers.ListOpts
		if name != "" {
			opts.Name = "^" + regexp.QuoteMeta(name) + "$"
		}
		pages, err := servers.List(nova, opts).AllPages(ctx)
		if err != nil {
			return nil, fmt.Errorf("nova: list servers: %w", err)
		}
		var all []novaServer
		if err := servers.ExtractServersInto(pages, &all); err != nil {
			return nil, fmt.Errorf("nova: list servers: %w", err)
		}
		return all, nil
	})
}

func (c *Cloud) findServer(ctx context.Context, name string) (novaServer, bool, error) {
	all, err := c.listServers(ctx, byName(ctx, name))
	if err != nil {
		return novaServer{}, false, err
	}
	return pickOne(playbooks.KindServer, name, all, func(s novaServer) string { return s.Name }, func(s novaServer) string { return s.ID })
}

// getServer reads the server with id. While reads are shared it comes
// from the one listing of the project's servers, if there: a floating
// IP's plan then names its server without a request of its own, which
// queued at nova's one worker behind that listing (265 ms of a 0.34 s
// no-op run on the Debian 12 dev lab).
func (c *Cloud) getServer(ctx context.Context, id string) (novaServer, error) {
	if sharingReads(ctx) {
		all, err := c.listServers(ctx, "")
		if err != nil {
			return novaServer{}, err
		}
		for _, s := range all {
			if s.ID == id {
				return s, nil
			}
		}
	}
	nova, err := c.novaClient()
	if err != nil {
		return novaServer{}, err
	}
	var s novaServer
	// servers' ExtractInto reads inside the "server" key itself.
	if err := servers.Get(ctx, nova, id).ExtractInto(&s); err != nil {
		return novaServer{}, err
	}
	return s, nil
}

// serverNetworks names the networks of the server's ports, sorted: neutron
// does not keep the order they were given in.
func (c *Cloud) serverNetworks(ctx context.Context, serverID string) ([]string, []ports.Port, error) {
	// The network names are read beside the ports, not after them: a
	// server's verify is the last thing on a run's longest chain.
	var names map[string]string
	var namesErr error
	var wg sync.WaitGroup
	wg.Go(func() { names, namesErr = c.networkNames(ctx) })
	ps, err := c.listPorts(ctx, ports.ListOpts{DeviceID: serverID})
	wg.Wait()
	if err != nil {
		return nil, nil, err
	}
	if len(ps) == 0 {
		return nil, nil, nil
	}
	if namesErr != nil {
		return nil, nil, namesErr
	}
	var out []string
	for _, p := range ps {
		if n := nameOr(names, p.NetworkID); !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out, ps, nil
}

func (d *serverDriver) Get(ctx context.Context, name string) (playbooks.Current, bool, error) {
	s, found, err := d.c.findServer(ctx, name)
	if err != nil || !found {
		return playbooks.Current{}, found, err
	}
	spec := playbooks.Server{Name: s.Name, Flavor: s.Flavor.OriginalName, Keypair: s.KeyName, SecurityGroups: s.groupNames()}
	// The image's name and the networks are independent reads: made
	// together, as the verify after a create ends the run.
	var imgErr error
	var wg sync.WaitGroup
	if id := s.imageID(); id != "" {
		wg.Go(func() { spec.Image, imgErr = d.c.imageName(ctx, id, name) })
	}
	nets, ps, err := d.c.serverNetworks(ctx, s.ID)
	wg.Wait()
	if err = cmp.Or(imgErr, err); err != nil {
		return playbooks.Current{}, false, err
	}
	spec.Networks = nets
	var fixed []string
	for _, p := range ps {
		for _, ip := range p.FixedIPs {
			fixed = append(fixed, ip.IPAddress)
		}
	}
	info := map[string]string{"id": s.ID, "status": s.Status}
	if len(fixed) > 0 {
		info["fixed_ips"] = strings.Join(fixed, ",")
	}
	return playbooks.Current{ID: s.ID, Owner: playbooks.OwnerOf(s.Description), Spec: spec, Info: info}, true, nil
}

// imageName names the image a server booted from; the ID itself when the
// image was deleted (or replaced) since, which is no longer the declared
// image.
func (c *Cloud) imageName(ctx context.Context, id, server string) (string, error) {
	gc, err := c.glanceClient()
	if err != nil {
		return "", err
	}
	img, err := images.Get(ctx, gc, id).Extract()
	switch {
	case isNotFound(err):
		return id, nil
	case err != nil:
		return "", fmt.Errorf("glance: image %s of server %s: %w", id, server, err)
	}
	return img.Name, nil
}

// serverComparable puts cur's networks in want's order when they are the
// same set, since the order of a server's ports cannot be read back.
func serverComparable(want, cur playbooks.Server) playbooks.Server {
	a, b := slices.Clone(want.Networks), slices.Clone(cur.Networks)
	slices.Sort(a)
	slices.Sort(b)
	if slices.Equal(a, b) {
		cur.Networks = want.Networks
	}
	return cur
}

func (d *serverDriver) Diff(r playbooks.Resource, cur playbooks.Current) []playbooks.FieldChange {
	want := r.Spec.(playbooks.Server)
	changes := playbooks.DiffFields(playbooks.Fields(want), playbooks.Fields(serverComparable(want, cur.Spec.(playbooks.Server))))
	// A server nova put in ERROR (its build failed) never runs again:
	// only a new one does what the playbook declares. A stopped one
	// (SHUTOFF) is the user's doing and keeps its disk.
	if cur.Info["status"] == "ERROR" {
		changes = append(changes, playbooks.FieldChange{Field: "status", From: "ERROR", To: "ACTIVE"})
	}
	return changes
}

// describedCreate adds the description and key name, which gophercloud's
// CreateOpts lacks, to a server create request.
type describedCreate struct {
	servers.CreateOpts
	description, keyName string
}

func (o describedCreate) ToServerCreateMap() (map[string]any, error) {
	m, err := o.CreateOpts.ToServerCreateMap()
	if err != nil {
		return nil, err
	}
	server := m["server"].(map[string]any)
	server["description"] = o.description
	if o.keyName != "" {
		server["key_name"] = o.keyName
	}
	return m, nil
}

func (d *serverDriver) Create(ctx context.Context, r playbooks.Resource, owner string) error {
	s := r.Spec.(playbooks.Server)
	// The ports' leftovers from an interrupted run are read beside the
	// references, so the read costs the create nothing.
	var left []ports.Port
	var leftErr error
	var wg sync.WaitGroup
	wg.Go(func() { left, leftErr = d.c.ownPorts(ctx, s.Name, owner, "") })
	opts, err := d.createOpts(ctx, s)
	wg.Wait()
	if err = cmp.Or(err, leftErr); err != nil {
		return fmt.Errorf("nova: create server %s: %w", s.Name, err)
	}
	nets, _ := opts.Networks.([]servers.Network)
	portIDs, err := d.c.makePorts(ctx, s.Name, owner, nets, opts.SecurityGroups, left)
	if err != nil {
		return fmt.Errorf("nova: create server %s: %w", s.Name, err)
	}
	if len(portIDs) > 0 {
		byPort := make([]servers.Network, len(portIDs))
		for i, id := range portIDs {
			byPort[i] = servers.Network{Port: id}
		}
		opts.Networks = byPort
		// Nova applies no group to a port it is given: they are the ports'.
		opts.SecurityGroups = nil
	}
	nova, err := d.c.novaClient()
	if err != nil {
		return err
	}
	created, err := servers.Create(ctx, nova, describedCreate{CreateOpts: opts, description: playbooks.Marker(owner), keyName: s.Keypair}, nil).Extract()
	if err != nil {
		d.c.dropPorts(ctx, portIDs)
		return fmt.Errorf("nova: create server %s: %w", s.Name, err)
	}
	return d.c.waitReady(ctx, created.ID, s)
}

// ownPorts lists the ports playbook owner made for the server named name:
// its marker in the description, and bound to serverID or to nothing
// (nova unbinds a port it was given when the server goes, and a run
// stopped between the port and the server leaves one unbound).
func (c *Cloud) ownPorts(ctx context.Context, name, owner, serverID string) ([]ports.Port, error) {
	all, err := c.listPorts(ctx, ports.ListOpts{Name: name})
	if err != nil {
		return nil, err
	}
	var out []ports.Port
	for _, p := range all {
		if playbooks.OwnerOf(p.Description) == owner && (p.DeviceID == "" || p.DeviceID == serverID && serverID != "") {
			out = append(out, p)
		}
	}
	return out, nil
}

// makePorts makes the server's port on each of its networks before nova is
// asked for the server: nova then binds it instead of creating it on the
// build's longest chain (its port create took 1.75 s under CI's load
// while the router's calls held neutron), and the port's security groups
// are set where neutron keeps them. An unbound port of ours left on the
// network with the same groups is taken instead of a new one.
func (c *Cloud) makePorts(ctx context.Context, server, owner string, nets []servers.Network, groups []string, left []ports.Port) ([]string, error) {
	if len(nets) == 0 {
		return nil, nil
	}
	nc, err := c.neutronClient()
	if err != nil {
		return nil, err
	}
	groups = slices.Clone(groups)
	slices.Sort(groups)
	ids := make([]string, len(nets))
	errs := make([]error, len(nets))
	var wg sync.WaitGroup
	for i, n := range nets {
		if j := slices.IndexFunc(left, func(p ports.Port) bool {
			have := slices.Clone(p.SecurityGroups)
			slices.Sort(have)
			return p.NetworkID == n.UUID && p.DeviceID == "" && (len(groups) == 0 || slices.Equal(have, groups))
		}); j >= 0 {
			ids[i] = left[j].ID
			left = slices.Delete(slices.Clone(left), j, j+1)
			continue
		}
		wg.Go(func() {
			create := ports.CreateOpts{NetworkID: n.UUID, Name: server, Description: playbooks.Marker(owner)}
			if len(groups) > 0 {
				create.SecurityGroups = &groups
			}
			p, err := ports.Create(ctx, nc, create).Extract()
			if err != nil {
				errs[i] = fmt.Errorf("neutron: port on network %s: %w", n.UUID, err)
				return
			}
			ids[i] = p.ID
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		var made []string
		for i, id := range ids {
			if errs[i] == nil && id != "" {
				made = append(made, id)
			}
		}
		c.dropPorts(ctx, made)
		return nil, err
	}
	return ids, nil
}

// deletePorts deletes ports of ours, each tried; a port already gone is
// deleted.
func (c *Cloud) deletePorts(ctx context.Context, ids []string) error {
	nc, err := c.neutronClient()
	if err != nil {
		return err
	}
	var errs []error
	for _, id := range ids {
		if err := ignoreNotFound(ports.Delete(ctx, nc, id).ExtractErr()); err != nil {
			errs = append(errs, fmt.Errorf("neutron: delete port %s: %w", id, err))
		}
	}
	return errors.Join(errs...)
}

// dropPorts is deletePorts on a failure's way out: the failure is the
// error to report, so a port left is logged.
func (c *Cloud) dropPorts(ctx context.Context, ids []string) {
	if err := c.deletePorts(context.WithoutCancel(ctx), ids); err != nil {
		c.logf("ports left: %v", err)
	}
}

// createOpts resolves the server's references by name; each must name
// exactly one resource. The look-ups are independent reads, made at once:
// one after another they were four round trips on the run's longest chain
// (about 0.15 s under CI's load) before nova even had the request. The
// error reported is the first in the spec's order, as when they were made
// in turn.
func (d *serverDriver) createOpts(ctx context.Context, s playbooks.Server) (servers.CreateOpts, error) {
	opts := servers.CreateOpts{Name: s.Name}
	nets := make([]servers.Network, len(s.Networks))
	groups := make([]string, len(s.SecurityGroups))
	errs := make([]error, 2+len(s.Networks)+len(s.SecurityGroups))
	var wg sync.WaitGroup
	wg.Go(func() {
		flavor, err := found((&flavorDriver{d.c}).find(ctx, s.Flavor))
		if err != nil {
			errs[0] = refError(playbooks.KindFlavor, s.Flavor, err)
			return
		}
		opts.FlavorRef = flavor.ID
	})
	wg.Go(func() {
		img, err := found(d.c.findImage(ctx, s.Image))
		if err != nil {
			errs[1] = refError(playbooks.KindImage, s.Image, err)
			return
		}
		opts.ImageRef = img.ID
	})
	for i, n := range s.Networks {
		wg.Go(func() {
			id, err := d.c.networkID(ctx, n)
			errs[2+i] = err
			nets[i] = servers.Network{UUID: id}
		})
	}
	for i, g := range s.SecurityGroups {
		wg.Go(func() {
			sg, err := found(d.c.findSecGroup(ctx, g))
			if err != nil {
				errs[2+len(s.Networks)+i] = refError(playbooks.KindSecurityGroup, g, err)
				return
			}
			groups[i] = sg.ID
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return opts, err
		}
	}
	if len(nets) == 0 {
		nets = nil
	}
	opts.Networks = nets
	if len(groups) > 0 {
		opts.SecurityGroups = groups
	}
	return opts, nil
}

// readiness is what one poll of a server says about the wait.
type readiness int

const (
	notYet readiness = iota
	ready
	failed
)

// classifyStatus decides from a server's status whether the wait for
// ACTIVE is over.
func classifyStatus(status string) readiness {
	switch status {
	case "ACTIVE":
		return ready
	case "ERROR", "DELETED", "SOFT_DELETED", "SHUTOFF":
		return failed
	}
	return notYet
}

func serverError(name string, s novaServer) *ServerError {
	return &ServerError{Server: name, ID: s.ID, Status: s.Status, TaskState: s.TaskState,
		PowerState: s.PowerState.String(), Fault: s.Fault.Message, Cause: faultCause(s.Fault.Message)}
}

// firstMatch is the first console line matching re, if any.
func firstMatch(re *regexp.Regexp, out string) (string, bool) {
	for _, l := range lastLines(out, consoleLines) {
		if re.MatchString(l) {
			return l, true
		}
	}
	return "", false
}

// waitReady waits, within the server's timeout, for ACTIVE and then for
// its console line.
func (c *Cloud) waitReady(ctx context.Context, id string, spec playbooks.Server) error {
	limit := spec.WaitTimeout()
	wctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	var last novaServer
	hasPort := false
	err := wait(wctx, c.o.PollInterval, func() (bool, error) {
		s, err := c.getServer(wctx, id)
		if err != nil {
			return false, fmt.Errorf("nova: server %s: %w", spec.Name, err)
		}
		last = s
		if !hasPort {
			// Once nova has made its port, a floating IP can go on it
			// while the guest boots. A failed look is only a later start.
			ps, err := c.listPorts(wctx, ports.ListOpts{DeviceID: id})
			if hasPort = err == nil && len(ps) > 0; hasPort {
				playbooks.Exists(ctx)
			}
		}
		switch classifyStatus(s.Status) {
		case ready:
			return true, nil
		case failed:
			return false, serverError(spec.Name, s)
		}
		return false, nil
	})
	if err != nil {
		return c.waitError(ctx, err, func() error {
			e := serverError(spec.Name, last)
			e.Timeout, e.Waited = true, limit.String()
			return e
		})
	}
	re := spec.ConsoleRE()
	if re == nil {
		return nil
	}
	nova, err := c.novaClient()
	if err != nil {
		return err
	}
	var out string
	err = wait(wctx, c.o.PollInterval, func() (bool, error) {
		got, err := servers.ShowConsoleOutput(wctx, nova, id, servers.ShowConsoleOutputOpts{Length: consoleLines}).Extract()
		if err != nil {
			// The console is not there until the guest runs; keep trying
			// until the deadline rather than failing on the first miss.
			c.logf("server %s: console: %v", spec.Name, err)
			return false, nil
		}
		out = got
		_, ok := firstMatch(re, out)
		return ok, nil
	})
	if err != nil {
		return c.waitError(ctx, err, func() error {
			s, gerr := c.getServer(context.WithoutCancel(ctx), id)
			if gerr != nil {
				s = last
			}
			e := serverError(spec.Name, s)
			e.Timeout, e.Waited, e.Console, e.ConsoleTail = true, limit.String(), spec.Console, lastLines(out, tailLines)
			if e.Cause == "" {
				e.Cause = consoleCause(out)
			}
			return e
		})
	}
	return nil
}

// waitError turns the end of a wait into its error: the caller's own
// cancellation as is, our deadline as the timeout error made by timedOut.
func (c *Cloud) waitError(parent context.Context, err error, timedOut func() error) error {
	if parent.Err() != nil {
		return parent.Err()
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return timedOut()
	}
	return err
}

// recreateFields are the server fields nova cannot change in place.
var recreateFields = []string{"flavor", "image", "networks", "keypair", "status"}

// serverNeedsRecreate tells whether changes need a new server; a change
// of security groups alone is made live.
func serverNeedsRecreate(changes []playbooks.FieldChange) bool {
	for _, c := range changes {
		if slices.Contains(recreateFields, c.Field) {
			return true
		}
	}
	return false
}

func (d *serverDriver) Update(ctx context.Context, r playbooks.Resource, cur playbooks.Current, changes []playbooks.FieldChange) error {
	want := r.Spec.(playbooks.Server)
	if serverNeedsRecreate(changes) {
		d.c.logf("server %s: %v cannot change on a running server; deleting and recreating it", want.Name, changes)
		if err := d.Delete(ctx, cur); err != nil {
			return err
		}
		return d.Create(ctx, r, cur.Owner)
	}
	nova, err := d.c.novaClient()
	if err != nil {
		return err
	}
	have := cur.Spec.(playbooks.Server).SecurityGroups
	add, remove := interfaceChanges(want.SecurityGroups, have)
	for _, g := range add {
		if err := secgroups.AddServer(ctx, nova, cur.ID, g).ExtractErr(); err != nil {
			return fmt.Errorf("nova: server %s: add security group %s: %w", want.Name, g, err)
		}
	}
	for _, g := range remove {
		if err := secgroups.RemoveServer(ctx, nova, cur.ID, g).ExtractErr(); err != nil {
			return fmt.Errorf("nova: server %s: remove security group %s: %w", want.Name, g, err)
		}
	}
	return nil
}

// Delete waits until nova no longer has the server, so that its ports are
// gone before the engine deletes the subnets they were on. Nova keeps the
// ports it was given: those made for the server are deleted after it.
func (d *serverDriver) Delete(ctx context.Context, cur playbooks.Current) error {
	nova, err := d.c.novaClient()
	if err != nil {
		return err
	}
	name := ""
	if s, ok := cur.Spec.(playbooks.Server); ok {
		name = s.Name
	}
	var own []ports.Port
	if name != "" && cur.Owner != "" {
		if own, err = d.c.ownPorts(ctx, name, cur.Owner, cur.ID); err != nil {
			return fmt.Errorf("nova: delete server %s: %w", name, err)
		}
	}
	if err := ignoreNotFound(servers.Delete(ctx, nova, cur.ID).ExtractErr()); err != nil {
		return fmt.Errorf("nova: delete server %s: %w", cur.ID, err)
	}
	wctx, cancel := context.WithTimeout(ctx, deleteWait)
	defer cancel()
	var status string
	err = wait(wctx, d.c.o.PollInterval, func() (bool, error) {
		s, err := d.c.getServer(wctx, cur.ID)
		if isNotFound(err) {
			return true, nil
		}
		if err != nil {
			return false, fmt.Errorf("nova: server %s: %w", cur.ID, err)
		}
		status = s.Status
		return false, nil
	})
	if err := d.c.waitError(ctx, err, func() error {
		return fmt.Errorf("nova: server %s still exists (%s) %s after delete", cur.ID, status, deleteWait)
	}); err != nil {
		return err
	}
	ids := make([]string, len(own))
	for i, p := range own {
		ids[i] = p.ID
	}
	if err := d.c.deletePorts(ctx, ids); err != nil {
		return fmt.Errorf("server %s: %w", name, err)
	}
	return nil
}

// ServerInfo is what the CLI and the end-to-end tests read of a server.
type ServerInfo struct {
	ID          string   `json:"id"`
	Status      string   `json:"status"`
	FixedIPs    []string `json:"fixed_ips"`
	FloatingIPs []string `json:"floating_ips"`
	ConsoleTail []string `json:"console_tail"`
}

// ServerInfo reads the server named name: its addresses from neutron and
// the last lines of its console.
func (c *Cloud) ServerInfo(ctx context.Context, name string) (ServerInfo, error) {
	s, found, err := c.findServer(ctx, name)
	if err != nil {
		return ServerInfo{}, err
	}
	if !found {
		return ServerInfo{}, fmt.Errorf("server %s: %w", name, errNotFoundRef)
	}
	info := ServerInfo{ID: s.ID, Status: s.Status}
	_, ps, err := c.serverNetworks(ctx, s.ID)
	if err != nil {
		return info, err
	}
	for _, p := range ps {
		for _, ip := range p.FixedIPs {
			info.FixedIPs = append(info.FixedIPs, ip.IPAddress)
		}
		fips, err := c.listFloatingIPs(ctx, p.ID)
		if err != nil {
			return info, err
		}
		for _, f := range fips {
			info.FloatingIPs = append(info.FloatingIPs, f.address())
		}
	}
	nova, err := c.novaClient()
	if err != nil {
		return info, err
	}
	out, err := servers.ShowConsoleOutput(ctx, nova, s.ID, servers.ShowConsoleOutputOpts{Length: consoleLines}).Extract()
	if err != nil && !isNotFound(err) {
		return info, fmt.Errorf("nova: console of server %s: %w", name, err)
	}
	info.ConsoleTail = lastLines(out, tailLines)
	return info, nil
}

// ServerConsole is a noVNC console URL for the server named name (nova's
// novncproxy_base_url with a fresh, expiring token). Only a running server
// has a screen to show.
func (c *Cloud) ServerConsole(ctx context.Context, name string) (string, error) {
	s, found, err := c.findServer(ctx, name)
	if err != nil {
		return "", err
	}
	if !found {
		return "", fix.Errorf("openstack server list shows the names", "server %s: %w", name, errNotFoundRef)
	}
	if s.Status != "ACTIVE" {
		return "", fix.Errorf(fmt.Sprintf("openstack server start %s (or, in ERROR, stacklab run to recreate it)", name), "server %s is %s: only a running server has a console", name, s.Status)
	}
	nova, err := c.novaClient()
	if err != nil {
		return "", err
	}
	return novnc.Create(ctx, nova, s.ID)
}
