package netcfg

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
)

// Action is what one Change does.
type Action string

const (
	ActionLinkUp    Action = "link-up"
	ActionRouteDel  Action = "route-del"
	ActionAddrDel   Action = "addr-del"
	ActionWriteFile Action = "write-file"
	// ActionStopDHCP stops the DHCP client that would add the external
	// NIC's address back; planned before any file or address changes.
	ActionStopDHCP Action = "stop-dhcp"
	// ActionEditFile edits one of the user's files, keeping a backup.
	ActionEditFile Action = "edit-file"
	// ActionRemoveFile removes a file of ours that another place now
	// decides for.
	ActionRemoveFile Action = "remove-file"
)

// Change is one step of a plan. Only the fields of its Action are set.
type Change struct {
	Action Action       `json:"action"`
	Link   string       `json:"link,omitempty"`
	Addr   netip.Prefix `json:"addr,omitzero"`
	Route  *Route       `json:"route,omitempty"`
	Path   string       `json:"path,omitempty"`
	Mode   uint32       `json:"mode,omitempty"`
	// Content is the whole file for write-file, shown by --output json so
	// the user can review what will be written.
	Content string `json:"content,omitempty"`
	// Before is the user's file as read when planning (edit-file): Apply
	// refuses to edit a file that changed since.
	Before string `json:"-"`
	// Backup keeps the user's original (edit-file); Diff shows the edit.
	Backup string `json:"backup,omitempty"`
	Diff   string `json:"diff,omitempty"`
	// Argv is the command that stops a DHCP client, PIDs the processes
	// it stops (stop-dhcp).
	Argv []string `json:"argv,omitempty"`
	PIDs []int    `json:"pids,omitempty"`
	// Reason says why (remove-file).
	Reason string `json:"reason,omitempty"`
}

func (c Change) String() string {
	switch c.Action {
	case ActionLinkUp:
		return fmt.Sprintf("set %s up", c.Link)
	case ActionRouteDel:
		return fmt.Sprintf("remove route %s (it leaves by %s)", c.Route, c.Link)
	case ActionAddrDel:
		return fmt.Sprintf("remove %s from %s", c.Addr, c.Link)
	case ActionWriteFile:
		return fmt.Sprintf("write %s (mode %04o)", c.Path, c.Mode)
	case ActionStopDHCP:
		if len(c.PIDs) == 0 {
			return fmt.Sprintf("stop ifupdown's configuration of %s: %s", c.Link, strings.Join(c.Argv, " "))
		}
		pids := make([]string, 0, len(c.PIDs))
		for _, p := range c.PIDs {
			pids = append(pids, strconv.Itoa(p))
		}
		return fmt.Sprintf("stop the DHCP client of %s (PID %s): %s", c.Link, strings.Join(pids, ", "), strings.Join(c.Argv, " "))
	case ActionEditFile:
		return fmt.Sprintf("edit %s (original kept as %s):\n%s", c.Path, c.Backup, indent(c.Diff, "      "))
	case ActionRemoveFile:
		return fmt.Sprintf("remove %s (%s)", c.Path, c.Reason)
	}
	return string(c.Action)
}

// Warning is something the user should know and act on; we do not act on it
// ourselves (the user's files, addresses kept without --flush-external).
type Warning struct {
	Message  string   `json:"message"`
	Evidence []string `json:"evidence,omitempty"`
	Fix      string   `json:"fix,omitempty"`
	// readds marks a user's setting that gives the external NIC an
	// address (its DHCP client puts a removed one back): with
	// --flush-external, where we do not edit that file, it refuses.
	readds bool
}

// Options tune a plan.
type Options struct {
	// FlushExternal allows removing the external NIC's IPv4 and global IPv6
	// addresses; without it they are reported and kept.
	FlushExternal bool `json:"flush_external"`
	// SSHConnection is $SSH_CONNECTION ("clientIP clientPort serverIP
	// serverPort"); serverIP is the address this session came in on.
	SSHConnection string `json:"ssh_connection,omitempty"`
	// Config is the host's network configuration as ReadConfig found it;
	// its zero value plans no persistence.
	Config HostConfig `json:"-"`
	// Clients are the processes of the NIC's network namespace and
	// IfupdownUp whether ifupdown's state has the external NIC up: how
	// Prepare finds the DHCP client to stop before the address goes.
	Clients    []Process `json:"-"`
	IfupdownUp bool      `json:"-"`
	// Hostname, when set, is made to resolve to the management address
	// through Hosts, /etc/hosts as read (an empty file when absent).
	Hostname string     `json:"hostname,omitempty"`
	Hosts    ConfigFile `json:"-"`
	// Neighbours are the addresses the kernel has seen on the external
	// NIC's link, recorded with its network.
	Neighbours []netip.Addr `json:"-"`
	// NMConf is NetworkManager's configuration as read, for which NICs it
	// leaves alone.
	NMConf []ConfigFile `json:"-"`
}

// Plan is what Apply would do, and why it would refuse.
type Plan struct {
	Layout  Layout  `json:"layout"`
	Options Options `json:"options"`
	// Ext is the external NIC as read when planning.
	Ext         Link      `json:"ext"`
	Persistence System    `json:"persistence"`
	Changes     []Change  `json:"changes"`
	Refusals    []string  `json:"refusals"`
	Warnings    []Warning `json:"warnings"`
	// Record is the external NIC's network, written to
	// ExternalNetworkPath before its address goes (not a Change: it
	// describes the NIC, it does not configure it).
	Record *ExternalNetwork `json:"record,omitempty"`
}

// Refused reports whether Apply will refuse this plan.
func (p Plan) Refused() bool { return len(p.Refusals) > 0 }

// BuildPlan decides the changes that make layout.Ext a clean provider NIC:
// up, without addresses, persisted for the next boot. It never plans to
// delete a route, and it refuses when the external NIC is what keeps this
// machine (or this SSH session) reachable.
func BuildPlan(s Snapshot, lay Layout, opts Options) (Plan, error) {
	ext, ok := s.Link(lay.Ext)
	if !ok {
		return Plan{}, &DetectError{Err: ErrNoSuchInterface, Role: "external", Name: lay.Ext, Seen: s.Names()}
	}
	p := Plan{
		Layout: lay, Options: opts, Ext: ext,
		Changes: []Change{}, Refusals: []string{}, Warnings: []Warning{},
	}
	var warn []Warning
	p.Refusals, warn = refusals(s, lay, opts.SSHConnection)
	p.Warnings = append(p.Warnings, warn...)

	if !ext.Up {
		p.Changes = append(p.Changes, Change{Action: ActionLinkUp, Link: ext.Name})
	}
	if blocking := ext.BlockingAddrs(); len(blocking) > 0 {
		if opts.FlushExternal {
			// Recorded before it goes: ext_net can then live on the real
			// network this NIC was on.
			if rec, ok := recordNetwork(s, ext, opts.Neighbours); ok {
				p.Record = &rec
			}
			// The addresses take these routes with them: each is named
			// before anything goes, so nobody loses a path unannounced.
			for _, r := range s.RoutesVia(ext.Name) {
				p.Changes = append(p.Changes, Change{Action: ActionRouteDel, Link: ext.Name, Route: &r})
			}
			for _, a := range blocking {
				p.Changes = append(p.Changes, Change{Action: ActionAddrDel, Link: ext.Name, Addr: a.Prefix})
			}
		} else {
			ev := make([]string, 0, len(blocking))
			for _, a := range blocking {
				ev = append(ev, ext.Name+": "+a.String())
			}
			p.Warnings = append(p.Warnings, Warning{
				Message:  fmt.Sprintf("%s keeps its addresses (neutron needs it unaddressed); they are removed only with --flush-external", ext.Name),
				Evidence: ev,
				Fix:      FlushFix(ext.Name),
			})
		}
	}
	if ext.Master != "" && !strings.HasPrefix(ext.Master, "brq") {
		p.Warnings = append(p.Warnings, Warning{
			Message:  fmt.Sprintf("%s is enslaved to %s %s, not to a neutron bridge; neutron cannot bridge it there", ext.Name, ext.MasterKind, ext.Master),
			Evidence: []string{ext.Evidence()},
			Fix:      fmt.Sprintf("ip link set dev %s nomaster", ext.Name),
		})
	}

	p.Persistence = opts.Config.System
	switch f, ok := Render(opts.Config.System, ext.Name); {
	case opts.Config.System == "":
		p.Persistence = SystemNone
		p.Warnings = append(p.Warnings, Warning{Message: "the host's network configuration was not read; nothing is persisted for the next boot"})
	case !ok:
		p.Warnings = append(p.Warnings, Warning{
			Message:  fmt.Sprintf("no network configuration system found: what is set on %s now does not survive a reboot", ext.Name),
			Evidence: opts.Config.Why,
			Fix:      fmt.Sprintf("after each boot run: stacklab net apply (or: ip link set dev %s up)", ext.Name),
		})
	default:
		ch, warn := persistChanges(opts.Config, f, ext.Name, opts.FlushExternal)
		p.Changes = append(p.Changes, ch...)
		for _, w := range warn {
			if opts.FlushExternal && w.readds {
				p.Refusals = append(p.Refusals, fmt.Sprintf("%s (%s): removing the address now would not last; fix: %s, then run stacklab net apply --flush-external again",
					w.Message, strings.Join(w.Evidence, "; "), w.Fix))
				continue
			}
			p.Warnings = append(p.Warnings, w)
		}
	}

	if c, w := hostsChange(s, lay, opts); c != nil {
		p.Changes = append(p.Changes, *c)
	} else if w != nil {
		p.Warnings = append(p.Warnings, *w)
	}

	// The DHCP client goes first: stopped after the file changes, ifdown
	// would read the new stanza and not release; stopped after the address
	// goes, it would already have put it back.
	if opts.FlushExternal {
		// ifdown only while the stanza still asks for an address: once it
		// says manual, ifdown would have nothing of ours to undo.
		stops, refusal := stopDHCP(opts.Clients, opts.IfupdownUp && ifupdownAsksAddress(opts.Config, ext.Name), ext.Name)
		if refusal != "" {
			p.Refusals = append(p.Refusals, refusal)
		}
		if r := nmRefusal(opts.Clients, opts.NMConf, opts.Config, ext.Name); r != "" {
			p.Refusals = append(p.Refusals, r)
		}
		if len(stops) > 0 {
			head := stops
			// ifdown takes the link down with the address: bring it up again.
			if ext.Up && stops[len(stops)-1].Argv[0] == "ifdown" {
				head = append(head, Change{Action: ActionLinkUp, Link: ext.Name})
			}
			p.Changes = append(head, p.Changes...)
		}
	}
	return p, nil
}

// FlushFix is the pasteable remedy for addresses on the external NIC.
func FlushFix(ext string) string {
	return fmt.Sprintf("stacklab net apply --flush-external   (or once, by hand: ip addr flush dev %s scope global)", ext)
}

// refusals lists why touching lay.Ext could cut this machine off. They are
// evaluated again by Apply on fresh state, so a stale plan cannot bypass them.
func refusals(s Snapshot, lay Layout, sshConn string) ([]string, []Warning) {
	out := []string{}
	var warn []Warning
	if lay.Ext == lay.Mgmt {
		out = append(out, fmt.Sprintf("%s is the management NIC", lay.Ext))
	}
	ext, extOK := s.Link(lay.Ext)
	if mgmt, ok := s.Link(lay.Mgmt); ok && extOK {
		if why := carriesMgmt(ext, mgmt); why != "" {
			out = append(out, fmt.Sprintf("%s %s; changing it would cut the management path", lay.Ext, why))
		}
	}
	if extOK {
		if ok, why := usableExternal(ext); !ok {
			out = append(out, fmt.Sprintf("%s cannot be the external NIC: %s", lay.Ext, why))
		}
		// $SSH_CONNECTION is gone under sudo; the kernel's sockets are not.
		if ss := s.SessionsTo(ext); len(ss) > 0 {
			list := make([]string, 0, len(ss))
			for _, se := range ss {
				list = append(list, se.String())
			}
			via := "the management NIC " + lay.Mgmt
			if m, ok := s.Link(lay.Mgmt); ok {
				if a, ok := m.PrimaryIPv4(); ok {
					via += " (" + a.Addr().String() + ")"
				}
			}
			out = append(out, fmt.Sprintf("%s carries established TCP sessions (%s), an SSH session perhaps; removing its address would cut them off. "+
				"Connect through %s instead (VirtualBox NAT: a port forward to it), keep %s for neutron alone, and run stacklab again from there",
				lay.Ext, strings.Join(list, ", "), via, lay.Ext))
		}
	}
	for _, r := range s.DefaultRoutesVia(lay.Ext) {
		out = append(out, fmt.Sprintf("%s carries a default route (%s); it is the way out of this machine", lay.Ext, r))
	}
	if sshConn != "" {
		server, err := sshServerAddr(sshConn)
		if err != nil {
			warn = append(warn, Warning{Message: "could not tell which address this SSH session uses: " + err.Error(), Evidence: []string{"SSH_CONNECTION=" + sshConn}})
		} else if ext, ok := s.Link(lay.Ext); ok {
			for _, a := range ext.Addrs {
				if a.Prefix.Addr().WithZone("") == server {
					out = append(out, fmt.Sprintf("this SSH session came in on %s (SSH_CONNECTION server address %s); changing it would cut the session off", lay.Ext, server))
				}
			}
		}
	}
	return out, warn
}

func sshServerAddr(conn string) (netip.Addr, error) {
	f := strings.Fields(conn)
	if len(f) != 4 {
		return netip.Addr{}, fmt.Errorf("SSH_CONNECTION %q: want 4 fields, have %d", conn, len(f))
	}
	a, err := netip.ParseAddr(f[2])
	if err != nil {
		return netip.Addr{}, fmt.Errorf("SSH_CONNECTION server address: %w", err)
	}
	return a.Unmap().WithZone(""), nil
}

// Prepare reads the host and plans: the whole of `stacklab net plan`.
func (h Host) Prepare(ctx context.Context, mgmtIf, extIf string, opts Options) (Plan, error) {
	s, err := h.Snapshot(ctx)
	if err != nil {
		return Plan{}, err
	}
	lay, err := Detect(s, mgmtIf, extIf)
	if err != nil {
		return Plan{}, err
	}
	if opts.Config.System == "" {
		if opts.Config, err = h.ReadConfig(); err != nil {
			return Plan{}, err
		}
	}
	if opts.Hostname != "" && opts.Hosts.Path == "" {
		if opts.Hosts, err = h.readFile(HostsPath); err != nil {
			return Plan{}, err
		}
	}
	if ext, ok := s.Link(lay.Ext); ok && opts.FlushExternal && opts.Neighbours == nil {
		if opts.Neighbours, err = h.neighbours(ext.Index); err != nil {
			return Plan{}, err
		}
	}
	if opts.FlushExternal && h.Procs != nil && opts.Clients == nil {
		if opts.Clients, err = h.Procs.List(); err != nil {
			return Plan{}, err
		}
	}
	if opts.FlushExternal && opts.NMConf == nil {
		if opts.NMConf, err = h.readNMConf(); err != nil {
			return Plan{}, err
		}
	}
	if opts.FlushExternal && !opts.IfupdownUp && opts.Config.System == SystemIfupdown {
		if opts.IfupdownUp, err = h.ifupdownUp(lay.Ext); err != nil {
			return Plan{}, err
		}
	}
	return BuildPlan(s, lay, opts)
}

// Render writes the plan for a terminal.
func (p Plan) Render(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "management NIC: %s (%s)\n", p.Layout.Mgmt, p.Layout.MgmtFrom)
	fmt.Fprintf(&b, "external NIC:   %s (%s)\n", p.Layout.Ext, p.Layout.ExtFrom)
	fmt.Fprintf(&b, "  now: %s\n", p.Ext.Evidence())
	fmt.Fprintf(&b, "persistence:    %s\n", p.Persistence)
	if p.Refused() {
		b.WriteString("REFUSED, nothing will be changed:\n")
		for _, r := range p.Refusals {
			fmt.Fprintf(&b, "  ✗ %s\n", r)
		}
	}
	if len(p.Changes) == 0 {
		b.WriteString("no changes: the external NIC is already as it should be\n")
	} else {
		b.WriteString("changes:\n")
		for _, c := range p.Changes {
			fmt.Fprintf(&b, "  + %s\n", c)
		}
	}
	if p.Record != nil {
		fmt.Fprintf(&b, "records %s's network (%s", p.Record.Interface, p.Record.Address.Masked())
		if p.Record.Gateway.IsValid() {
			fmt.Fprintf(&b, ", gateway %s", p.Record.Gateway)
		}
		fmt.Fprintf(&b, ", %d neighbours) in %s for ext_net\n", len(p.Record.Neighbours), ExternalNetworkPath)
	}
	renderWarnings(&b, p.Warnings)
	_, err := io.WriteString(w, b.String())
	return err
}

func (p Plan) String() string {
	var b strings.Builder
	_ = p.Render(&b)
	return b.String()
}

func indent(s, pre string) string {
	return pre + strings.ReplaceAll(strings.TrimSuffix(s, "\n"), "\n", "\n"+pre)
}

func renderWarnings(b *strings.Builder, ws []Warning) {
	for _, w := range ws {
		fmt.Fprintf(b, "  ! %s\n", w.Message)
		for _, e := range w.Evidence {
			fmt.Fprintf(b, "      %s\n", e)
		}
		if w.Fix != "" {
			fmt.Fprintf(b, "      fix: %s\n", w.Fix)
		}
	}
}
