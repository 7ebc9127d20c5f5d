package netcfg

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/stacklab/stacklab/internal/atomicfile"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// RefusedError is returned by Apply, before anything is touched, when the
// external NIC is what keeps this machine reachable.
type RefusedError struct{ Reasons []string }

func (e *RefusedError) Error() string {
	return "netcfg: refusing to change the external NIC: " + strings.Join(e.Reasons, "; ")
}

// ErrNotConverged means the kernel, re-read after acting, is not in the
// state the plan asked for (a DHCP client re-adding an address, say).
var ErrNotConverged = errors.New("state not reached")

// ApplyResult is what Apply did and the state it reached.
type ApplyResult struct {
	// Changed is false when everything was already as planned.
	Changed bool     `json:"changed"`
	Done    []Change `json:"done"`
	// Ext is the external NIC as re-read after acting.
	Ext      Link      `json:"ext"`
	Warnings []Warning `json:"warnings"`
}

// Render writes the result for a terminal.
func (r ApplyResult) Render(w io.Writer) error {
	var b strings.Builder
	if !r.Changed {
		b.WriteString("no changes\n")
	}
	for _, c := range r.Done {
		fmt.Fprintf(&b, "  ✓ %s\n", c)
	}
	fmt.Fprintf(&b, "external NIC now: %s\n", r.Ext.Evidence())
	renderWarnings(&b, r.Warnings)
	_, err := io.WriteString(w, b.String())
	return err
}

func (r ApplyResult) String() string {
	var b strings.Builder
	_ = r.Render(&b)
	return b.String()
}

// Apply carries out p. Each change is compared with the state read now, not
// when planning, so applying a plan twice changes nothing the second time;
// "already up" and "already gone" are success. The refusals are evaluated
// again on the fresh state.
func (h Host) Apply(ctx context.Context, p Plan) (ApplyResult, error) {
	res := ApplyResult{Done: []Change{}, Warnings: p.Warnings}
	if p.Refused() {
		return res, &RefusedError{Reasons: p.Refusals}
	}
	// The TCP sessions are read for the SSH guard, which has nothing to
	// guard when there is nothing to change (every re-run): on a lab
	// host the session dump is most of a read's cost.
	read := h.Links
	if len(p.Changes) > 0 {
		read = h.Snapshot
	}
	s, err := read(ctx)
	if err != nil {
		return res, err
	}
	if r, _ := refusals(s, p.Layout, p.Options.SSHConnection); len(r) > 0 {
		return res, &RefusedError{Reasons: r}
	}
	ext, ok := s.Link(p.Layout.Ext)
	if !ok {
		return res, fmt.Errorf("netcfg: apply: %w", &DetectError{Err: ErrNoSuchInterface, Role: "external", Name: p.Layout.Ext, Seen: s.Names()})
	}

	// Before the DHCP client's release or our own removal takes it.
	if err := h.writeRecord(p.Record, ext); err != nil {
		return res, err
	}
	for _, c := range p.Changes {
		if err := ctx.Err(); err != nil {
			return res, fmt.Errorf("netcfg: apply %s: %w", c, err)
		}
		var did bool
		switch c.Action {
		case ActionLinkUp:
			did, err = h.linkUp(c, ext)
		case ActionRouteDel:
			did, err = h.routeDel(c, ext)
		case ActionAddrDel:
			did, err = h.addrDel(c, ext)
		case ActionWriteFile:
			did, err = h.writeFile(c)
		case ActionStopDHCP:
			if did, err = h.stopDHCPNow(ctx, c); did && err == nil {
				// The client's release took the address (ifdown the
				// link too): what follows compares with that state.
				var s Snapshot
				if s, err = h.Links(ctx); err == nil {
					ext, _ = s.Link(p.Layout.Ext)
				}
			}
		case ActionEditFile:
			did, err = h.editFile(c)
		case ActionRemoveFile:
			did, err = h.removeFile(c)
		default:
			err = fmt.Errorf("netcfg: unknown action %q", c.Action)
		}
		if err != nil {
			return res, err
		}
		if did {
			res.Changed = true
			res.Done = append(res.Done, c)
		}
	}

	after, err := h.Links(ctx)
	if err != nil {
		return res, err
	}
	res.Ext, _ = after.Link(p.Layout.Ext)
	var missing []string
	if !res.Ext.Up {
		missing = append(missing, res.Ext.Name+" is not up")
	}
	if p.Options.FlushExternal {
		for _, a := range res.Ext.BlockingAddrs() {
			missing = append(missing, fmt.Sprintf("%s still has %s (a DHCP client or another network manager may be adding it)", res.Ext.Name, a.Prefix))
		}
	}
	if len(missing) > 0 {
		return res, fmt.Errorf("netcfg: apply: %w: %s", ErrNotConverged, strings.Join(missing, "; "))
	}
	return res, nil
}

func (h Host) linkUp(c Change, ext Link) (bool, error) {
	if c.Link != ext.Name {
		return false, fmt.Errorf("netcfg: plan changes %s but the external NIC is %s", c.Link, ext.Name)
	}
	if ext.Up {
		return false, nil
	}
	l, err := h.NL.LinkByName(c.Link)
	if err != nil {
		return false, fmt.Errorf("netcfg: find %s: %w", c.Link, err)
	}
	if err := h.NL.LinkSetUp(l); err != nil {
		return false, fmt.Errorf("netcfg: set %s up: %w", c.Link, err)
	}
	return true, nil
}

func (h Host) addrDel(c Change, ext Link) (bool, error) {
	if c.Link != ext.Name {
		return false, fmt.Errorf("netcfg: plan changes %s but the external NIC is %s", c.Link, ext.Name)
	}
	present := false
	for _, a := range ext.Addrs {
		if a.Prefix == c.Addr {
			present = true
		}
	}
	if !present {
		return false, nil
	}
	l, err := h.NL.LinkByName(c.Link)
	if err != nil {
		return false, fmt.Errorf("netcfg: find %s: %w", c.Link, err)
	}
	ipn := &net.IPNet{IP: net.IP(c.Addr.Addr().AsSlice()), Mask: net.CIDRMask(c.Addr.Bits(), c.Addr.Addr().BitLen())}
	if err := h.NL.AddrDel(l, &netlink.Addr{IPNet: ipn}); err != nil {
		// Gone between our read and the delete: the state we want.
		if errors.Is(err, unix.EADDRNOTAVAIL) {
			return false, nil
		}
		return false, fmt.Errorf("netcfg: remove %s from %s: %w", c.Addr, c.Link, err)
	}
	return true, nil
}

// routeDel removes one planned route; one already gone is success.
func (h Host) routeDel(c Change, ext Link) (bool, error) {
	if c.Link != ext.Name || c.Route == nil {
		return false, fmt.Errorf("netcfg: plan removes a route of %s but the external NIC is %s", c.Link, ext.Name)
	}
	d := c.Route.Dst
	r := &netlink.Route{
		LinkIndex: ext.Index,
		Dst:       &net.IPNet{IP: net.IP(d.Addr().AsSlice()), Mask: net.CIDRMask(d.Bits(), d.Addr().BitLen())},
		Priority:  c.Route.Priority,
		Table:     unix.RT_TABLE_MAIN,
		// NOWHERE matches any scope: a connected route is scope link, a
		// route via a gateway universe.
		Scope: netlink.SCOPE_NOWHERE,
	}
	if c.Route.Gateway.IsValid() {
		r.Gw = net.IP(c.Route.Gateway.AsSlice())
	}
	if err := h.NL.RouteDel(r); err != nil {
		if errors.Is(err, unix.ESRCH) {
			return false, nil
		}
		return false, fmt.Errorf("netcfg: remove route %s: %w", c.Route, err)
	}
	return true, nil
}

// writeFile replaces the file atomically (temp file + rename in the same
// directory) so a crash never leaves a half-written network config behind.
func (h Host) writeFile(c Change) (bool, error) {
	full := h.path(c.Path)
	mode := fs.FileMode(c.Mode)
	if st, err := os.Stat(full); err == nil {
		cur, err := os.ReadFile(full)
		if err != nil {
			return false, fmt.Errorf("netcfg: read %s: %w", c.Path, err)
		}
		if bytes.Equal(cur, []byte(c.Content)) && st.Mode().Perm() == mode {
			return false, nil
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return false, fmt.Errorf("netcfg: stat %s: %w", c.Path, err)
	}
	dir := filepath.Dir(full)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return false, fmt.Errorf("netcfg: create %s: %w", filepath.Dir(c.Path), err)
	}
	if err := atomicfile.Write(full, []byte(c.Content), atomicfile.Options{Mode: mode}); err != nil {
		return false, fmt.Errorf("netcfg: %w", err)
	}
	return true, nil
}

// ErrChangedSinceRead means a user's file changed between planning and
// applying; editing it would overwrite what someone just wrote.
var ErrChangedSinceRead = errors.New("file changed since the plan was made")

// editFile edits a user's file: the original is kept at c.Backup first
// (an older backup is kept: it holds the file as it was before stacklab
// ever edited it), then the new content replaces the file atomically.
func (h Host) editFile(c Change) (bool, error) {
	full := h.path(c.Path)
	st, err := os.Stat(full)
	if err != nil {
		return false, fmt.Errorf("netcfg: edit %s: %w", c.Path, err)
	}
	cur, err := os.ReadFile(full)
	if err != nil {
		return false, fmt.Errorf("netcfg: read %s: %w", c.Path, err)
	}
	if string(cur) == c.Content {
		return false, nil
	}
	if string(cur) != c.Before {
		return false, fmt.Errorf("netcfg: edit %s: %w; run stacklab net plan again", c.Path, ErrChangedSinceRead)
	}
	err = atomicfile.Write(h.path(c.Backup), cur, atomicfile.Options{Mode: st.Mode().Perm(), NoReplace: true})
	if err != nil && !errors.Is(err, fs.ErrExist) {
		return false, fmt.Errorf("netcfg: back up %s: %w", c.Path, err)
	}
	if err := atomicfile.Write(full, []byte(c.Content), atomicfile.Options{Mode: st.Mode().Perm()}); err != nil {
		return false, fmt.Errorf("netcfg: %w", err)
	}
	return true, nil
}

// removeFile removes a file of ours; one already gone is success.
func (h Host) removeFile(c Change) (bool, error) {
	err := os.Remove(h.path(c.Path))
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("netcfg: remove %s: %w", c.Path, err)
	}
	return true, nil
}
