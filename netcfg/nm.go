package netcfg

import (
	"fmt"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// nmRefusal refuses --flush-external while NetworkManager may own ext:
// its DHCP client is internal (no dhcpcd or dhclient process to stop) and
// its default "Wired connection" re-adds the address, so removing it is
// never safe until the user hands the NIC over. Debian's NetworkManager
// leaves alone the NICs ifupdown configures, and the ones its
// configuration lists as unmanaged. confs are NetworkManager.conf and the
// conf.d files as read.
func nmRefusal(procs []Process, confs []ConfigFile, hc HostConfig, ext string) string {
	running := false
	for _, p := range procs {
		if path.Base(p.Argv[0]) == "NetworkManager" {
			running = true
		}
	}
	if !running || len(ifupdownStanzas(hc, ext)) > 0 {
		return ""
	}
	for _, f := range confs {
		for _, l := range lines(f.Content) {
			k, v, ok := strings.Cut(l, "=")
			if !ok || !strings.HasPrefix(strings.TrimSpace(strings.TrimSuffix(k, "+")), "unmanaged-devices") {
				continue
			}
			for _, spec := range strings.FieldsFunc(v, func(r rune) bool { return r == ';' || r == ',' }) {
				if spec = strings.TrimSpace(spec); spec == "interface-name:"+ext || spec == "*" {
					return ""
				}
			}
		}
	}
	conf := "/etc/NetworkManager/conf.d/90-stacklab-" + ext + ".conf"
	return fmt.Sprintf("NetworkManager runs and may manage %[1]s with its own DHCP client, which would put the address back. "+
		"Hand %[1]s over first: printf '[keyfile]\\nunmanaged-devices+=interface-name:%[1]s\\n' > %[2]s && nmcli general reload conf && nmcli device set %[1]s managed no; "+
		"then run stacklab net apply --flush-external again", ext, conf)
}

// readNMConf reads NetworkManager's configuration files under the root.
func (h Host) readNMConf() ([]ConfigFile, error) {
	m, err := filepath.Glob(h.path("/etc/NetworkManager/conf.d/*.conf"))
	if err != nil {
		return nil, fmt.Errorf("netcfg: list NetworkManager configuration: %w", err)
	}
	sort.Strings(m)
	ps := []string{"/etc/NetworkManager/NetworkManager.conf"}
	for _, full := range m {
		ps = append(ps, path.Join("/etc/NetworkManager/conf.d", filepath.Base(full)))
	}
	var out []ConfigFile
	for _, p := range ps {
		f, err := h.readFile(p)
		if err != nil {
			return nil, err
		}
		if f.Content != "" {
			out = append(out, f)
		}
	}
	return out, nil
}
