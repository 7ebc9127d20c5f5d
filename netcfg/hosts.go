package netcfg

import (
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"strings"
)

// HostsPath is the resolver's hosts(5) file.
const HostsPath = "/etc/hosts"

// hostsEdit makes host resolve to mgmt through /etc/hosts and nothing
// else: Debian's installer maps the hostname to 127.0.1.1, so RabbitMQ,
// nova and the APIs that look their own name up bind or advertise
// loopback instead of the management address.
//
// A line naming only the host (`127.0.1.1 lab.example lab`) gets mgmt as
// its address, keeping its names, spacing and comment; the host's names
// are taken off a line that also names others (`127.0.0.1 localhost lab`);
// a line for mgmt is added when none names the host. Global IPv6 lines
// stay: services bind the IPv4 management address. ok is false when the
// file is already right.
func hostsEdit(content, host string, mgmt netip.Addr) (edited string, ok bool) {
	short, _, _ := strings.Cut(host, ".")
	// lab.example.org on a host named lab is the same host (Debian's
	// installer writes both names on the 127.0.1.1 line).
	isHost := func(n string) bool {
		first, _, _ := strings.Cut(n, ".")
		return strings.EqualFold(n, host) || strings.EqualFold(first, short)
	}
	type entry struct {
		addr         netip.Addr
		names        []string
		body, remark string
	}
	parse := func(line string) (entry, bool) {
		body, remark, found := strings.Cut(line, "#")
		if found {
			remark = "#" + remark
		}
		f := strings.Fields(body)
		if len(f) < 2 {
			return entry{}, false
		}
		a, err := netip.ParseAddr(f[0])
		if err != nil {
			return entry{}, false
		}
		return entry{addr: a, names: f[1:], body: body, remark: remark}, true
	}
	names := func(e entry) bool {
		for _, n := range e.names {
			if isHost(n) {
				return true
			}
		}
		return false
	}

	in := strings.SplitAfter(content, "\n")
	hasMgmt := false
	for _, l := range in {
		if e, ok := parse(strings.TrimRight(l, "\r\n")); ok && e.addr == mgmt && names(e) {
			hasMgmt = true
		}
	}
	var out strings.Builder
	for _, raw := range in {
		line := strings.TrimRight(raw, "\r\n")
		nl := raw[len(line):]
		e, parsed := parse(line)
		if !parsed || !names(e) || e.addr == mgmt || (e.addr.Is6() && !e.addr.IsLoopback()) {
			out.WriteString(raw)
			continue
		}
		ok = true
		var keep []string
		for _, n := range e.names {
			if !isHost(n) {
				keep = append(keep, n)
			}
		}
		switch {
		case len(keep) > 0:
			out.WriteString(e.addr.String() + "\t" + strings.Join(keep, " "))
			if e.remark != "" {
				out.WriteString(" " + e.remark)
			}
			out.WriteString(nl)
		case !hasMgmt:
			// The address is the first field: replacing just it keeps the
			// line as the user (or the installer) laid it out.
			first := strings.Fields(e.body)[0]
			i := strings.Index(line, first)
			out.WriteString(line[:i] + mgmt.String() + line[i+len(first):] + nl)
			hasMgmt = true
		}
		// A line naming only the host beside an existing mgmt line goes.
	}
	if !hasMgmt {
		ok = true
		s := out.String()
		if s != "" && !strings.HasSuffix(s, "\n") {
			out.WriteString("\n")
		}
		line := mgmt.String() + "\t" + host
		if short != host {
			line += " " + short
		}
		out.WriteString(line + "\n")
	}
	if !ok {
		return content, false
	}
	return out.String(), true
}

// hostsChange plans the /etc/hosts edit for opts.Hostname on the
// management NIC's address, shown as a diff with its backup.
func hostsChange(s Snapshot, lay Layout, opts Options) (*Change, *Warning) {
	if opts.Hostname == "" {
		return nil, nil
	}
	mgmt, ok := s.Link(lay.Mgmt)
	var pfx netip.Prefix
	if ok {
		pfx, ok = mgmt.PrimaryIPv4()
	}
	if !ok {
		return nil, &Warning{
			Message: fmt.Sprintf("the management NIC %s has no IPv4 address; %s is left alone, and %s may not resolve to the address services bind", lay.Mgmt, HostsPath, opts.Hostname),
			Fix:     fmt.Sprintf("give %s its address, then run stacklab net apply again", lay.Mgmt),
		}
	}
	if opts.Hosts.Mode == 0 {
		// No file at all: one with only our line would lose localhost on
		// a system that relies on it; the user writes it.
		return nil, &Warning{
			Message: fmt.Sprintf("there is no %s; %s may not resolve to the management address %s", HostsPath, opts.Hostname, pfx.Addr()),
			Fix:     fmt.Sprintf(`printf '127.0.0.1\tlocalhost\n%s\t%s\n' > %s`, pfx.Addr(), opts.Hostname, HostsPath),
		}
	}
	edited, ok := hostsEdit(opts.Hosts.Content, opts.Hostname, pfx.Addr())
	if !ok {
		return nil, nil
	}
	return &Change{Action: ActionEditFile, Path: HostsPath, Mode: uint32(opts.Hosts.Mode), Content: edited, Before: opts.Hosts.Content,
		Backup: HostsPath + BackupSuffix, Diff: unifiedDiff(HostsPath, opts.Hosts.Content, edited)}, nil
}

// readFile reads p under the root; a missing file reads as empty, with
// Mode 0.
func (h Host) readFile(p string) (ConfigFile, error) {
	f := ConfigFile{Path: p}
	st, err := os.Stat(h.path(p))
	if errors.Is(err, fs.ErrNotExist) {
		return f, nil
	}
	if err != nil {
		return f, fmt.Errorf("netcfg: stat %s: %w", p, err)
	}
	b, err := os.ReadFile(h.path(p))
	if err != nil {
		return f, fmt.Errorf("netcfg: read %s: %w", p, err)
	}
	f.Content, f.Mode = string(b), st.Mode().Perm()
	return f, nil
}
