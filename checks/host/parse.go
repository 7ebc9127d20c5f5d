package host

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
)

// parseOSRelease reads os-release(5): KEY=VALUE lines, values optionally
// quoted with shell quoting rules (only the escapes the spec allows).
func parseOSRelease(r io.Reader) (OSRelease, error) {
	var out OSRelease
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		v = unquoteOSRelease(v)
		switch k {
		case "ID":
			out.ID = v
		case "VERSION_ID":
			out.VersionID = v
		case "PRETTY_NAME":
			out.PrettyName = v
		}
	}
	if err := sc.Err(); err != nil {
		return OSRelease{}, fmt.Errorf("read os-release: %w", err)
	}
	return out, nil
}

func unquoteOSRelease(v string) string {
	if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
		q := v[0]
		v = v[1 : len(v)-1]
		if q == '\'' {
			return v
		}
		var b strings.Builder
		for i := 0; i < len(v); i++ {
			if v[i] == '\\' && i+1 < len(v) && strings.IndexByte("\"\\$`", v[i+1]) >= 0 {
				i++
			}
			b.WriteByte(v[i])
		}
		return b.String()
	}
	return v
}

// parseHosts reads hosts(5). Lines whose address does not parse are skipped,
// as the resolver does.
func parseHosts(r io.Reader) ([]HostsEntry, error) {
	var out []HostsEntry
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "#")
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		a, err := netip.ParseAddr(f[0])
		if err != nil {
			continue
		}
		out = append(out, HostsEntry{Addr: a, Names: f[1:]})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read hosts: %w", err)
	}
	return out, nil
}

// entriesNaming keeps the entries that name host or, for a fully qualified
// host, its short name: RabbitMQ's node name and nova's host both use the
// short form. hosts(5) names compare case-insensitively.
func entriesNaming(all []HostsEntry, host string) []HostsEntry {
	short, _, _ := strings.Cut(host, ".")
	var out []HostsEntry
	for _, e := range all {
		for _, n := range e.Names {
			if strings.EqualFold(n, host) || strings.EqualFold(n, short) {
				out = append(out, e)
				break
			}
		}
	}
	return out
}

// TCPSocket is one row of /proc/net/tcp{,6}.
type TCPSocket struct {
	Addr  netip.Addr
	Port  uint16
	State uint8
	Inode uint64
}

// TCPListen is the st column of a listening socket.
const TCPListen = 0x0A

// ParseProcNetTCP reads /proc/net/tcp or /proc/net/tcp6. Addresses are hex
// of the kernel's in-memory words: each 32-bit group is in host (little
// endian on every architecture we ship) order.
func ParseProcNetTCP(r io.Reader) ([]TCPSocket, error) {
	var out []TCPSocket
	sc := bufio.NewScanner(r)
	first := true
	for sc.Scan() {
		if first { // header
			first = false
			continue
		}
		f := strings.Fields(sc.Text())
		if len(f) < 10 {
			continue
		}
		addr, port, err := parseHexAddrPort(f[1])
		if err != nil {
			return nil, fmt.Errorf("local address %q: %w", f[1], err)
		}
		st, err := strconv.ParseUint(f[3], 16, 8)
		if err != nil {
			return nil, fmt.Errorf("state %q: %w", f[3], err)
		}
		inode, err := strconv.ParseUint(f[9], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("inode %q: %w", f[9], err)
		}
		out = append(out, TCPSocket{Addr: addr, Port: port, State: uint8(st), Inode: inode})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read tcp table: %w", err)
	}
	return out, nil
}

func parseHexAddrPort(s string) (netip.Addr, uint16, error) {
	h, p, ok := strings.Cut(s, ":")
	if !ok {
		return netip.Addr{}, 0, fmt.Errorf("no port separator")
	}
	port, err := strconv.ParseUint(p, 16, 16)
	if err != nil {
		return netip.Addr{}, 0, fmt.Errorf("port: %w", err)
	}
	raw, err := hex.DecodeString(h)
	if err != nil {
		return netip.Addr{}, 0, fmt.Errorf("address: %w", err)
	}
	if len(raw) != 4 && len(raw) != 16 {
		return netip.Addr{}, 0, fmt.Errorf("address has %d bytes", len(raw))
	}
	// Each 32-bit word was printed as a number: reverse its bytes.
	for i := 0; i < len(raw); i += 4 {
		binary.BigEndian.PutUint32(raw[i:], binary.LittleEndian.Uint32(raw[i:]))
	}
	a, _ := netip.AddrFromSlice(raw)
	return a.Unmap(), uint16(port), nil
}

// SocketInode extracts N from a /proc/PID/fd link "socket:[N]".
func SocketInode(link string) (uint64, bool) {
	s, ok := strings.CutPrefix(link, "socket:[")
	if !ok {
		return 0, false
	}
	s, ok = strings.CutSuffix(s, "]")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseUint(s, 10, 64)
	return n, err == nil
}

// unitFromCgroup finds the systemd service in /proc/PID/cgroup (v2 "0::"
// line or v1 "name=systemd" line): the last path element ending ".service".
func unitFromCgroup(content string) string {
	var unit string
	for _, line := range strings.Split(content, "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		if !(parts[0] == "0" && parts[1] == "") && parts[1] != "name=systemd" {
			continue
		}
		for _, el := range strings.Split(parts[2], "/") {
			if strings.HasSuffix(el, ".service") {
				unit = el
			}
		}
		if unit != "" {
			return unit
		}
	}
	return unit
}

// parseMeminfoKB returns one field of /proc/meminfo in bytes.
func parseMeminfoKB(r io.Reader, field string) (uint64, error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || k != field {
			continue
		}
		kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("meminfo %s: %w", field, err)
		}
		return kb * 1024, nil
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("read meminfo: %w", err)
	}
	return 0, fmt.Errorf("meminfo has no %s", field)
}
