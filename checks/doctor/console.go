package doctor

import (
	"cmp"
	"context"
	"encoding/xml"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"path"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"
	"github.com/gophercloud/gophercloud/v2/pagination"

	"github.com/stacklab/stacklab/checks"
	"github.com/stacklab/stacklab/internal/novnc"
)

// IDConsole is the check that an instance's desktop can open from a
// browser.
const IDConsole = "console"

// The check reads the console's two legs without asking nova for a
// console: the noVNC page the browser loads from nova-novncproxy, and the
// running instance's VNC server at the address the proxy connects to
// (libvirt's domdisplay), whose first words must be the RFB greeting.
// Asking nova for a console in a diagnosis was tried and measured: it is
// an RPC to nova-compute that held nova-api's one worker for a minute
// after a reboot (nova-api and the dashboard red from 46 s to 96 s), and
// it writes a token. `stacklab console SERVER --check` opens the whole
// path through the proxy's websocket with a real token.
func (dr *doctor) consoleChecks() []checks.Check {
	return []checks.Check{{
		ID: IDConsole, Title: "an instance's console can open: noVNC's page and the guest's VNC server",
		DependsOn: dr.deps(IDNova, UnitID("nova-novncproxy"), UnitID("libvirtd")),
		Run:       dr.checkConsole,
	}}
}

// powerRunning is nova's OS-EXT-STS:power_state for a running guest.
const powerRunning = 1

// ConsoleFix is the advice for a console probe that stopped at stage.
func ConsoleFix(stage novnc.Stage) string {
	switch stage {
	case novnc.StagePage:
		return "the console URL's address and port are nova.conf's [vnc] novncproxy_base_url; nova-novncproxy listens on [vnc] novncproxy_host:6080 " +
			"(ss -ltnp 'sport = :6080'): set both to the management address in /etc/nova/nova.conf, then systemctl restart nova-novncproxy; " +
			"an HTTP 404 means noVNC's files are missing: apt-get install --reinstall novnc"
	case novnc.StageWebsocket:
		return "journalctl -u nova-novncproxy -n 50 (a browser's Origin must be the URL's host, or be listed in nova.conf's [console] allowed_origins)"
	}
	return "the guest's VNC server does not answer where the proxy connects: nova.conf's [vnc] server_listen and server_proxyclient_address must be the compute host's " +
		"management address (ss -ltnp | grep qemu shows where the guest's VNC listens); after changing them, systemctl restart nova-compute " +
		"and openstack server reboot --hard the instance"
}

func (dr *doctor) checkConsole(ctx context.Context) checks.Result {
	if !dr.cfg.Lab {
		return checks.Skipped("the guest's VNC server is read on the lab host")
	}
	var ev []string
	if u := dr.cfg.ConsoleURL; u != "" {
		code, _, err := dr.get(ctx, u, nil)
		ev = append(ev, "GET "+u)
		switch {
		case err != nil:
			return checks.Failf("the noVNC page "+hungOrDown(err), ConsoleFix(novnc.StagePage), append(ev, err.Error())...)
		case code != http.StatusOK:
			return checks.Failf(fmt.Sprintf("the noVNC page answered HTTP %d", code), ConsoleFix(novnc.StagePage), ev...)
		}
		ev[len(ev)-1] += ": HTTP 200"
	}
	srv, addr, read := dr.runningGuest()
	if !read {
		sc, err := dr.client(ctx, "compute")
		if err != nil {
			return checks.Failf("compute API: no client", "journalctl -u nova-api -n 50", append(ev, err.Error())...)
		}
		if srv, err = firstRunningServer(ctx, sc); err != nil {
			return checks.Failf("nova did not list the instances", "journalctl -u nova-api -n 50", append(ev, err.Error())...)
		}
		if srv.Domain != "" {
			addr, _ = dr.statusVNC(srv.Domain)
		}
	}
	if srv.Domain == "" {
		if dr.cfg.ConsoleURL == "" {
			return checks.Skipped("no running instance, and no console URL to ask for the noVNC page")
		}
		return checks.Pass("the noVNC page answers (no running instance whose VNC server to read)", ev...)
	}
	source := "libvirt's status file"
	if addr == "" {
		source = "virsh domdisplay"
		// The system connection by name: a non-root user's default is its own session.
		out, err := dr.d.Host.Run(ctx, "virsh", "-r", "-c", "qemu:///system", "domdisplay", srv.Domain)
		a, perr := vncAddr(string(out))
		if err != nil || perr != nil {
			return checks.Failf(fmt.Sprintf("libvirt shows no VNC display for %s (%s)", srv.Name, srv.Domain), ConsoleFix(novnc.StageGreeting),
				append(ev, fmt.Sprintf("virsh -r -c qemu:///system domdisplay %s: %s %v %v", srv.Domain, strings.TrimSpace(string(out)), err, perr))...)
		}
		addr = a
	}
	ev = append(ev, fmt.Sprintf("instance %s (%s): VNC on %s (%s)", srv.Name, srv.Domain, addr, source))
	greeting, err := dr.readRFB(ctx, addr)
	if err != nil {
		return checks.Failf(fmt.Sprintf("the VNC server of %s does not greet on %s", srv.Name, addr), ConsoleFix(novnc.StageGreeting), append(ev, err.Error())...)
	}
	return checks.Pass(fmt.Sprintf("the console of %s can open: noVNC's page answers, its VNC server greets with %s", srv.Name, greeting), ev...)
}

// libvirtStatusDir holds the live state of each running guest, the
// domain as started: readable by root, who runs doctor on the lab.
const libvirtStatusDir = "/run/libvirt/qemu"

var domainName = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)

// guestStatus is what the console check reads of libvirt's status file.
type guestStatus struct {
	State  string `xml:"state,attr"`
	Domain struct {
		Name string `xml:"name"`
		// Nova's own name for the instance, in the metadata it gives
		// libvirt: a domain without it is not nova's.
		NovaName string `xml:"metadata>instance>name"`
	} `xml:"domain"`
}

// runningGuest finds nova's first running guest and its VNC address in
// libvirt's status files, as root reads them on the lab host: listing
// the instances through nova (servers/detail) cost 100–200 ms of nova's
// CPU in every doctor run. read is false when the files cannot be read
// (not root): nova is asked then. addr is empty when the guest's file
// names no VNC address to dial (virsh is asked), srv zero when no nova
// guest runs.
func (dr *doctor) runningGuest() (srv runningServer, addr string, read bool) {
	if dr.d.Host == nil {
		return runningServer{}, "", false
	}
	names, err := dr.d.Host.ReadDir(libvirtStatusDir)
	if err != nil {
		return runningServer{}, "", false
	}
	for _, n := range names {
		domain, ok := strings.CutSuffix(n, ".xml")
		if !ok || !domainName.MatchString(domain) {
			continue
		}
		b, err := dr.d.Host.ReadFile(path.Join(libvirtStatusDir, n))
		if err != nil {
			return runningServer{}, "", false
		}
		var st guestStatus
		if xml.Unmarshal(b, &st) != nil || st.State != "running" || st.Domain.NovaName == "" {
			continue
		}
		addr, _ = VNCFromStatus(b)
		return runningServer{Name: st.Domain.NovaName, Domain: cmp.Or(st.Domain.Name, domain), Power: powerRunning}, addr, true
	}
	return runningServer{}, "", true
}

// statusVNC reads a running guest's VNC address from libvirt's status
// file, as `virsh domdisplay` would tell it without starting a process
// (about 80 ms of every doctor run). found is false when the file cannot
// be read or names no concrete address: virsh is then asked.
func (dr *doctor) statusVNC(domain string) (addr string, found bool) {
	if !domainName.MatchString(domain) {
		return "", false
	}
	b, err := dr.d.Host.ReadFile(path.Join(libvirtStatusDir, domain+".xml"))
	if err != nil {
		return "", false
	}
	return VNCFromStatus(b)
}

// VNCFromStatus reads the VNC listener of libvirt's <domstatus> document:
// the address it listens on and its port. An unspecified address
// (0.0.0.0) is no address to connect to.
func VNCFromStatus(b []byte) (string, bool) {
	var st struct {
		Domain struct {
			Graphics []struct {
				Type   string `xml:"type,attr"`
				Port   int    `xml:"port,attr"`
				Listen string `xml:"listen,attr"`
			} `xml:"devices>graphics"`
		} `xml:"domain"`
	}
	if err := xml.Unmarshal(b, &st); err != nil {
		return "", false
	}
	for _, g := range st.Domain.Graphics {
		ip, err := netip.ParseAddr(g.Listen)
		if g.Type == "vnc" && g.Port > 0 && err == nil && !ip.IsUnspecified() {
			return net.JoinHostPort(ip.String(), strconv.Itoa(g.Port)), true
		}
	}
	return "", false
}

// vncAddr reads `virsh domdisplay`'s vnc://HOST:DISPLAY as a TCP address.
func vncAddr(out string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(out))
	if err != nil || u.Scheme != "vnc" || u.Hostname() == "" {
		return "", fmt.Errorf("not a VNC display: %q", strings.TrimSpace(out))
	}
	d, err := strconv.Atoi(cmp.Or(u.Port(), "0"))
	if err != nil || d < 0 {
		return "", fmt.Errorf("not a VNC display: %q", strings.TrimSpace(out))
	}
	return net.JoinHostPort(u.Hostname(), strconv.Itoa(5900+d)), nil
}

// readRFB reads a VNC server's ProtocolVersion message, "RFB 003.008\n",
// and hangs up before any handshake.
func (dr *doctor) readRFB(ctx context.Context, addr string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, dr.cfg.probe())
	defer cancel()
	c, err := dr.d.dial(ctx, addr)
	if err != nil {
		return "", err
	}
	defer func() { _ = c.Close() }()
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	return novnc.ReadGreeting(c)
}

// runningServer is what the console check needs of an instance.
type runningServer struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Domain string `json:"OS-EXT-SRV-ATTR:instance_name"`
	Power  int    `json:"OS-EXT-STS:power_state"`
}

// firstRunningServer reads one page of ACTIVE servers (any project's) and
// returns the first whose guest runs; a zero value when none does.
func firstRunningServer(ctx context.Context, sc *gophercloud.ServiceClient) (runningServer, error) {
	var found runningServer
	start := time.Now()
	err := servers.List(sc, servers.ListOpts{Status: "ACTIVE", Limit: 10, AllTenants: true}).EachPage(ctx,
		func(_ context.Context, p pagination.Page) (bool, error) {
			var list []runningServer
			if err := servers.ExtractServersInto(p, &list); err != nil {
				return false, err
			}
			for _, s := range list {
				if s.Power == powerRunning && s.Domain != "" {
					found = s
					break
				}
			}
			// One page answers the question; the next would be a second request.
			return false, nil
		})
	if err != nil {
		return runningServer{}, fmt.Errorf("nova: list ACTIVE servers (%s): %w", time.Since(start).Round(time.Millisecond), err)
	}
	return found, nil
}
