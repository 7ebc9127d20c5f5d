package netcfg

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"iter"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// System is the host's network configuration system, the one that will set
// the external NIC up at the next boot.
type System string

const (
	SystemNetworkd System = "systemd-networkd"
	SystemNetplan  System = "netplan"
	SystemIfupdown System = "ifupdown"
	SystemNone     System = "none"
)

// Paths of our own files: one per system, never one of the user's.
const (
	NetworkdPath = "/etc/systemd/network/10-stacklab-external.network"
	NetplanPath  = "/etc/netplan/60-stacklab-external.yaml"
	IfupdownPath = "/etc/network/interfaces.d/stacklab-external"

	networkdDir     = "/etc/systemd/network"
	netplanDir      = "/etc/netplan"
	ifupdownMain    = "/etc/network/interfaces"
	ifupdownDir     = "/etc/network/interfaces.d"
	networkdWantsMU = "/etc/systemd/system/multi-user.target.wants/systemd-networkd.service"
	networkdWantsSK = "/etc/systemd/system/sockets.target.wants/systemd-networkd.socket"
)

// ConfigFile is a file read from (or to be written to) the host, with its
// absolute path as seen on the host, not under the test root.
type ConfigFile struct {
	Path    string      `json:"path"`
	Content string      `json:"-"`
	Mode    fs.FileMode `json:"mode"`
}

// HostConfig is what ReadConfig found: the system in charge, why we think
// so, the user's own network files (read, never written) and ours.
type HostConfig struct {
	System System       `json:"system"`
	Why    []string     `json:"why"`
	Files  []ConfigFile `json:"files"`
	Own    []ConfigFile `json:"own"`
}

func (hc HostConfig) own(p string) (ConfigFile, bool) {
	for _, f := range hc.Own {
		if f.Path == p {
			return f, true
		}
	}
	return ConfigFile{}, false
}

func (hc HostConfig) file(p string) (ConfigFile, bool) {
	for _, f := range hc.Files {
		if f.Path == p {
			return f, true
		}
	}
	return ConfigFile{}, false
}

// ReadConfig finds the network configuration system. netplan wins over
// networkd because netplan renders into networkd (its files are the ones to
// write); networkd wins over ifupdown because Debian keeps
// /etc/network/interfaces around (with only lo) even where networkd runs.
func (h Host) ReadConfig() (HostConfig, error) {
	var hc HostConfig
	add := func(p string, own bool) error {
		full := h.path(p)
		st, err := os.Stat(full)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("netcfg: stat %s: %w", p, err)
		}
		if !st.Mode().IsRegular() {
			return nil
		}
		b, err := os.ReadFile(full)
		if err != nil {
			return fmt.Errorf("netcfg: read %s: %w", p, err)
		}
		f := ConfigFile{Path: p, Content: string(b), Mode: st.Mode().Perm()}
		if own {
			hc.Own = append(hc.Own, f)
		} else {
			hc.Files = append(hc.Files, f)
		}
		return nil
	}
	glob := func(dir, pattern, ours string) (user []string, own bool, err error) {
		m, err := filepath.Glob(filepath.Join(h.path(dir), pattern))
		if err != nil {
			return nil, false, fmt.Errorf("netcfg: list %s: %w", dir, err)
		}
		sort.Strings(m)
		for _, full := range m {
			p := path.Join(dir, filepath.Base(full))
			if p == ours {
				own = true
				if err := add(p, true); err != nil {
					return nil, false, err
				}
				continue
			}
			if err := add(p, false); err != nil {
				return nil, false, err
			}
			user = append(user, p)
		}
		return user, own, nil
	}

	netplanUser, netplanOwn, err := glob(netplanDir, "*.yaml", NetplanPath)
	if err != nil {
		return HostConfig{}, err
	}
	networkdUser, networkdOwn, err := glob(networkdDir, "*.network", NetworkdPath)
	if err != nil {
		return HostConfig{}, err
	}
	if err := add(ifupdownMain, false); err != nil {
		return HostConfig{}, err
	}
	_, ifupdownOwn, err := glob(ifupdownDir, "*", IfupdownPath)
	if err != nil {
		return HostConfig{}, err
	}
	var networkdEnabled []string
	for _, p := range []string{networkdWantsMU, networkdWantsSK} {
		if _, err := os.Lstat(h.path(p)); err == nil {
			networkdEnabled = append(networkdEnabled, p)
		}
	}
	_, mainErr := os.Stat(h.path(ifupdownMain))

	switch {
	case len(netplanUser) > 0 || netplanOwn:
		hc.System = SystemNetplan
		hc.Why = presentFiles(netplanUser, netplanOwn, NetplanPath)
	case len(networkdUser) > 0 || networkdOwn || len(networkdEnabled) > 0:
		hc.System = SystemNetworkd
		hc.Why = append(presentFiles(networkdUser, networkdOwn, NetworkdPath), enabledFiles(networkdEnabled)...)
	case mainErr == nil || ifupdownOwn:
		hc.System = SystemIfupdown
		if mainErr == nil {
			hc.Why = []string{ifupdownMain + " present"}
		} else {
			hc.Why = []string{IfupdownPath + " present (ours)"}
		}
	default:
		hc.System = SystemNone
		hc.Why = []string{"none of " + netplanDir + "/*.yaml, " + networkdDir + "/*.network, an enabled systemd-networkd, " + ifupdownMain + " found"}
	}
	return hc, nil
}

func presentFiles(user []string, own bool, ownPath string) []string {
	var out []string
	for _, p := range user {
		out = append(out, p+" present")
	}
	if own {
		out = append(out, ownPath+" present (ours)")
	}
	return out
}

func enabledFiles(ps []string) []string {
	out := make([]string, 0, len(ps))
	for _, p := range ps {
		out = append(out, p+" exists (systemd-networkd enabled)")
	}
	return out
}

func (h Host) path(p string) string {
	root := h.Root
	if root == "" {
		root = "/"
	}
	return filepath.Join(root, filepath.FromSlash(p))
}

// Render returns our persistence file for sys. ok is false for SystemNone.
func Render(sys System, ext string) (f ConfigFile, ok bool) {
	switch sys {
	case SystemNetworkd:
		// LinkLocalAddressing=no rather than ipv6: the NIC becomes a
		// linuxbridge port, where an address of its own is never used and
		// only adds IPv6 chatter on the provider network; the same goes for
		// router advertisements, which could give it a global address.
		return ConfigFile{Path: NetworkdPath, Mode: 0o644, Content: fmt.Sprintf(`# Written by stacklab: the external (provider) NIC comes up at boot with no
# address, for neutron's linuxbridge agent to bridge. Remove this file to
# hand %[1]s back to your own configuration.
[Match]
Name=%[1]s

[Link]
RequiredForOnline=no
ActivationPolicy=up

[Network]
DHCP=no
LinkLocalAddressing=no
IPv6AcceptRA=no
`, ext)}, true
	case SystemNetplan:
		// 0600: netplan warns about world-readable configuration.
		return ConfigFile{Path: NetplanPath, Mode: 0o600, Content: fmt.Sprintf(`# Written by stacklab: the external (provider) NIC comes up at boot with no
# address, for neutron's linuxbridge agent to bridge. Remove this file to
# hand %[1]s back to your own configuration.
network:
  version: 2
  ethernets:
    %[1]s:
      dhcp4: false
      dhcp6: false
      accept-ra: false
      link-local: []
      optional: true
`, ext)}, true
	case SystemIfupdown:
		// accept_ra=0 keeps router advertisements on the provider network
		// from giving the NIC a global IPv6 address; "|| true" because the
		// file is absent when IPv6 is disabled, and then nothing is needed.
		return ConfigFile{Path: IfupdownPath, Mode: 0o644, Content: fmt.Sprintf(`# Written by stacklab: the external (provider) NIC comes up at boot with no
# address, for neutron's linuxbridge agent to bridge. Remove this file to
# hand %[1]s back to your own configuration.
auto %[1]s
iface %[1]s inet manual
    pre-up echo 0 > /proc/sys/net/ipv6/conf/%[1]s/accept_ra || true
    up ip link set dev %[1]s up
    down ip link set dev %[1]s down
`, ext)}, true
	}
	return ConfigFile{}, false
}

// persistChanges is the one place that decides where the external NIC's
// next-boot state lives. Where the user's ifupdown files already have a
// stanza for it, that stanza is the place (a second stanza of ours beside
// it would only compete with it): with --flush-external a stanza that gives
// the NIC an address is edited to bring it up without one, and a file of
// ours from an earlier run goes. Everywhere else our own file is the
// place, and the user's settings that would fight it are reported.
func persistChanges(hc HostConfig, ours ConfigFile, ext string, flush bool) ([]Change, []Warning) {
	var out []Change
	if user := ifupdownStanzas(hc, ext); hc.System == SystemIfupdown && len(user) > 0 {
		var warn []Warning
		for _, f := range user {
			edited, ok := ifupdownEdit(f.Content, ext)
			switch {
			case ok && flush:
				out = append(out, Change{Action: ActionEditFile, Path: f.Path, Mode: uint32(f.Mode),
					Content: edited, Before: f.Content, Backup: backupPath(f.Path), Diff: unifiedDiff(f.Path, f.Content, edited)})
			case ok:
				warn = append(warn, Warning{
					Message:  fmt.Sprintf("%s gives %s an address; its DHCP client or the next boot brings the address back", f.Path, ext),
					Evidence: []string{unifiedDiff(f.Path, f.Content, edited)},
					Fix:      "stacklab net apply --flush-external   (stops the DHCP client, then makes this edit, keeping a backup)",
				})
			}
		}
		if _, ok := hc.own(ours.Path); ok {
			out = append(out, Change{Action: ActionRemoveFile, Path: ours.Path,
				Reason: fmt.Sprintf("ours; the stanza for %s in %s is the one place for it", ext, user[0].Path)})
		}
		return out, warn
	}
	if cur, ok := hc.own(ours.Path); !ok || cur.Content != ours.Content || cur.Mode != ours.Mode {
		out = append(out, Change{Action: ActionWriteFile, Path: ours.Path, Mode: uint32(ours.Mode), Content: ours.Content})
	}
	return out, configWarnings(hc, ext)
}

// configWarnings reads the user's files for settings that would give ext an
// address at the next boot, or keep our file from taking effect. It reports;
// it never edits a user's file.
func configWarnings(hc HostConfig, ext string) []Warning {
	switch hc.System {
	case SystemNetworkd:
		return networkdWarnings(hc, ext)
	case SystemNetplan:
		return netplanWarnings(hc, ext)
	case SystemIfupdown:
		return ifupdownWarnings(hc, ext)
	}
	return nil
}

// networkdWarnings: networkd applies the first .network file, in file name
// order, that matches a link. A user's file sorting before ours that matches
// ext wins over ours; one sorting after is never applied to ext.
func networkdWarnings(hc HostConfig, ext string) []Warning {
	var out []Warning
	ours := path.Base(NetworkdPath)
	for _, f := range hc.Files {
		if path.Dir(f.Path) != networkdDir || path.Ext(f.Path) != ".network" || path.Base(f.Path) >= ours {
			continue
		}
		var matchLine string
		var addrLines []string
		section := ""
		for n, line := range lines(f.Content) {
			loc := fmt.Sprintf("%s:%d: %s", f.Path, n, line)
			if strings.HasPrefix(line, "[") {
				section = line
				continue
			}
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				continue
			}
			k, v = strings.TrimSpace(k), strings.TrimSpace(v)
			switch {
			case section == "[Match]" && k == "Name" && globAny(v, ext):
				matchLine = loc
			case section == "[Network]" && k == "DHCP" && isTrueish(v, "ipv4", "ipv6"):
				addrLines = append(addrLines, loc)
			case (section == "[Network]" || section == "[Address]") && k == "Address":
				addrLines = append(addrLines, loc)
			}
		}
		if matchLine == "" {
			continue
		}
		w := Warning{
			Message:  fmt.Sprintf("%s matches %s and sorts before %s, so systemd-networkd applies it instead of ours", f.Path, ext, ours),
			Evidence: append([]string{matchLine}, addrLines...),
			Fix:      fmt.Sprintf("exclude %s from the Name= pattern in %s, or rename it so it sorts after %s", ext, f.Path, ours),
		}
		if len(addrLines) > 0 {
			w.Message += fmt.Sprintf(" and %s would get an address again at the next boot", ext)
			w.Fix = fmt.Sprintf("in %s set DHCP=no and remove its Address= settings (or exclude %s from Name=), then: networkctl reload && networkctl reconfigure %s", f.Path, ext, ext)
			w.readds = true
		}
		out = append(out, w)
	}
	return out
}

func netplanWarnings(hc HostConfig, ext string) []Warning {
	var out []Warning
	for _, f := range hc.Files {
		if path.Dir(f.Path) != netplanDir {
			continue
		}
		var doc yaml.Node
		if err := yaml.Unmarshal([]byte(f.Content), &doc); err != nil {
			out = append(out, Warning{
				Message:  fmt.Sprintf("%s is not valid YAML; could not check it for %s", f.Path, ext),
				Evidence: []string{err.Error()},
				Fix:      fmt.Sprintf("fix the YAML in %s (netplan generate shows where it breaks)", f.Path),
			})
			continue
		}
		eths := yamlPath(&doc, "network", "ethernets")
		if eths == nil || eths.Kind != yaml.MappingNode {
			continue
		}
		for i := 0; i+1 < len(eths.Content); i += 2 {
			id, body := eths.Content[i], eths.Content[i+1]
			name := id.Value
			if m := yamlPath(body, "match", "name"); m != nil {
				name = m.Value
			}
			if !globAny(name, ext) {
				continue
			}
			var ev []string
			for _, key := range []string{"dhcp4", "dhcp6"} {
				if v := yamlPath(body, key); v != nil && isTrueish(v.Value) {
					ev = append(ev, fmt.Sprintf("%s:%d: %s: %s", f.Path, v.Line, key, v.Value))
				}
			}
			if v := yamlPath(body, "addresses"); v != nil && len(v.Content) > 0 {
				ev = append(ev, fmt.Sprintf("%s:%d: addresses (%d)", f.Path, v.Line, len(v.Content)))
			}
			if len(ev) == 0 {
				continue
			}
			out = append(out, Warning{
				Message:  fmt.Sprintf("%s gives %s an address (netplan id %q); it would come back at the next boot", f.Path, ext, id.Value),
				Evidence: ev,
				Fix:      fmt.Sprintf("remove the %s entry (or its dhcp4/dhcp6/addresses) from %s, then run: netplan apply", id.Value, f.Path),
				readds:   true,
			})
		}
	}
	return out
}

func ifupdownWarnings(hc HostConfig, ext string) []Warning {
	var out []Warning
	for _, f := range hc.Files {
		for n, line := range lines(f.Content) {
			fields := strings.Fields(line)
			if len(fields) < 4 || fields[0] != "iface" || fields[1] != ext {
				continue
			}
			loc := fmt.Sprintf("%s:%d: %s", f.Path, n, line)
			switch method := fields[3]; method {
			case "dhcp", "static", "auto", "bootp", "ppp":
				out = append(out, Warning{
					Message:  fmt.Sprintf("%s configures %s with method %s; it would get an address again at the next boot", f.Path, ext, method),
					Evidence: []string{loc},
					Fix:      "stacklab net apply --flush-external   (stops its DHCP client and edits the stanza to `inet manual`, keeping a backup)",
				})
			default:
				out = append(out, Warning{
					Message:  fmt.Sprintf("%s already defines iface %s; with ours ifupdown sees it twice", f.Path, ext),
					Evidence: []string{loc},
					Fix:      fmt.Sprintf("remove the iface %s stanza from %s", ext, f.Path),
				})
			}
		}
	}
	main, ok := hc.file(ifupdownMain)
	if !ok {
		return out
	}
	for _, line := range lines(main.Content) {
		fields := strings.Fields(line)
		if len(fields) < 2 {
			continue
		}
		pat := fields[1]
		if !path.IsAbs(pat) {
			pat = path.Join(path.Dir(ifupdownMain), pat)
		}
		switch fields[0] {
		case "source":
			if ok, _ := path.Match(pat, IfupdownPath); ok {
				return out
			}
		case "source-directory":
			if path.Clean(pat) == ifupdownDir {
				return out
			}
		}
	}
	return append(out, Warning{
		Message:  fmt.Sprintf("%s does not source %s, so %s is ignored at boot", ifupdownMain, ifupdownDir, IfupdownPath),
		Evidence: []string{ifupdownMain + ": no source/source-directory line covering " + ifupdownDir},
		Fix:      fmt.Sprintf("echo 'source %s/*' >> %s", ifupdownDir, ifupdownMain),
	})
}

// lines yields each non-blank, non-comment line, trimmed, with its 1-based
// number, so a warning can point at the exact line.
func lines(s string) iter.Seq2[int, string] {
	return func(yield func(int, string) bool) {
		sc := bufio.NewScanner(strings.NewReader(s))
		for n := 1; sc.Scan(); n++ {
			l := strings.TrimSpace(sc.Text())
			if l == "" || strings.HasPrefix(l, "#") || strings.HasPrefix(l, ";") {
				continue
			}
			if !yield(n, l) {
				return
			}
		}
	}
}

func globAny(patterns, name string) bool {
	for _, p := range strings.Fields(patterns) {
		if ok, _ := path.Match(p, name); ok {
			return true
		}
	}
	return false
}

func isTrueish(v string, extra ...string) bool {
	switch strings.ToLower(v) {
	case "yes", "true", "on", "1", "both":
		return true
	}
	for _, e := range extra {
		if strings.EqualFold(v, e) {
			return true
		}
	}
	return false
}

func yamlPath(n *yaml.Node, keys ...string) *yaml.Node {
	if n != nil && n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	for _, k := range keys {
		if n == nil || n.Kind != yaml.MappingNode {
			return nil
		}
		var next *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == k {
				next = n.Content[i+1]
				break
			}
		}
		n = next
	}
	return n
}
