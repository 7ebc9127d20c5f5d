package doctor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/stacklab/stacklab/checks"
	"github.com/stacklab/stacklab/internal/nettest"
)

// consoleCounts counts what the console check asked of nova: the console
// tokens (a diagnosis asks for none) and the instance listings (none where
// libvirt's status files answer).
type consoleCounts struct{ tokens, lists int }

// consoleWorld is the healthy API world with one ACTIVE instance, whose
// guest runs (power) with its VNC server on vncAddr, as libvirt's status
// file (root's view on the lab) and its domdisplay say.
func consoleWorld(t *testing.T, power int, vncAddr string) (*world, *consoleCounts) {
	t.Helper()
	var n consoleCounts
	w, _, _ := apiWorldWith(t, map[string]http.HandlerFunc{
		"GET /compute/v2.1/servers/detail": func(rw http.ResponseWriter, r *http.Request) {
			n.lists++
			if r.URL.Query().Get("status") != "ACTIVE" {
				t.Errorf("servers listed with %q, want ACTIVE ones", r.URL.RawQuery)
			}
			rw.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(rw, `{"servers":[{"id":"s1","name":"lab-vm","status":"ACTIVE","OS-EXT-SRV-ATTR:instance_name":"instance-00000001","OS-EXT-STS:power_state":%d}]}`, power)
		},
		"POST /compute/v2.1/servers/s1/remote-consoles": func(rw http.ResponseWriter, r *http.Request) {
			n.tokens++
			rw.WriteHeader(http.StatusInternalServerError)
		},
	})
	files := w.deps.Host.(fakeHost).files
	if power == powerRunning {
		host, port, _ := net.SplitHostPort(vncAddr)
		p, _ := strconv.Atoi(port)
		files[libvirtStatusDir+"/instance-00000001.xml"] = statusXML(host, p)
	}
	run := w.deps.Host.(fakeHost).run
	w.deps.Host = fakeHost{files: files, run: func(name string, args ...string) ([]byte, error) {
		if name == "virsh" {
			if strings.Join(args, " ") != "-r -c qemu:///system domdisplay instance-00000001" {
				t.Errorf("virsh %v", args)
			}
			host, port, _ := net.SplitHostPort(vncAddr)
			p, _ := strconv.Atoi(port)
			return fmt.Appendf(nil, "vnc://%s:%d\n", host, p-5900), nil
		}
		return run(name, args...)
	}}
	return w, &n
}

func vncServer(t *testing.T, greeting string) string {
	return nettest.Serve(t, func(c net.Conn) {
		_, _ = io.WriteString(c, greeting)
	})
}

func TestConsoleReadsThePageAndTheGuestsVNCServer(t *testing.T) {
	w, n := consoleWorld(t, powerRunning, vncServer(t, "RFB 003.008\n"))
	rep := w.runAll(t)
	e, _ := rep.Get(IDConsole)
	if e.Status != checks.OK || !strings.Contains(e.Summary, "lab-vm") || !strings.Contains(e.Summary, "RFB 003.008") ||
		!strings.Contains(strings.Join(e.Evidence, " "), "vnc_auto.html: HTTP 200") {
		t.Errorf("console = %s %q %v", e.Status, e.Summary, e.Evidence)
	}
	if n.tokens != 0 || n.lists != 0 {
		t.Errorf("doctor asked nova for %d console tokens and %d instance lists, want none: libvirt's status file answers", n.tokens, n.lists)
	}
}

func TestConsoleFailures(t *testing.T) {
	closed := nettest.Serve(t, func(net.Conn) {})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := ln.Addr().String()
	_ = ln.Close()
	for _, tc := range []struct {
		name, vnc, want, fix string
	}{
		{"VNC server not listening", refused, "does not greet", "server_proxyclient_address"},
		{"not VNC", vncServer(t, "SSH-2.0-OpenSSH_9\n"), "does not greet", "server_proxyclient_address"},
		{"hangs up", closed, "does not greet", "server_proxyclient_address"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, _ := consoleWorld(t, powerRunning, tc.vnc)
			rep, err := checks.Run(context.Background(), Checks(w.cfg, w.deps), checks.Options{})
			if err != nil {
				t.Fatal(err)
			}
			e, _ := rep.Get(IDConsole)
			if e.Status != checks.Fail || !strings.Contains(e.Summary, tc.want) || !strings.Contains(e.Fix, tc.fix) {
				t.Errorf("console = %s %q fix %q %v", e.Status, e.Summary, e.Fix, e.Evidence)
			}
			if roots := rep.RootCauses(); len(roots) != 1 || roots[0] != IDConsole {
				t.Errorf("root causes %v, want only the console", roots)
			}
		})
	}
	t.Run("noVNC page gone", func(t *testing.T) {
		w, _ := consoleWorld(t, powerRunning, vncServer(t, "RFB 003.008\n"))
		w.cfg.ConsoleURL = strings.Replace(w.cfg.ConsoleURL, "vnc_auto.html", "missing.html", 1)
		dr := &doctor{cfg: w.cfg, d: w.deps}
		if r := dr.checkConsole(context.Background()); r.Status != checks.Fail || !strings.Contains(r.Fix, "novncproxy_host") {
			t.Errorf("console with no page = %s %q fix %q", r.Status, r.Summary, r.Fix)
		}
	})
}

// An instance nova calls ACTIVE whose guest is not running (after a reboot,
// before nova resumes it) has no VNC server to read: only the page is.
func TestConsoleSkipsAGuestNotRunning(t *testing.T) {
	w, _ := consoleWorld(t, 4, vncServer(t, "RFB 003.008\n"))
	w.deps.Host = fakeHost{files: w.deps.Host.(fakeHost).files, run: func(name string, args ...string) ([]byte, error) {
		if name == "virsh" {
			return nil, errors.New("virsh asked about a guest that is not running")
		}
		return []byte("Syntax OK\n"), nil
	}}
	dr := &doctor{cfg: w.cfg, d: w.deps}
	if r := dr.checkConsole(context.Background()); r.Status != checks.OK || !strings.Contains(r.Summary, "no running instance") {
		t.Errorf("console = %s %q %v", r.Status, r.Summary, r.Evidence)
	}
}

func TestVNCAddr(t *testing.T) {
	for in, want := range map[string]string{"vnc://10.0.0.2:0\n": "10.0.0.2:5900", "vnc://127.0.0.1:3": "127.0.0.1:5903", "vnc://[::1]:1": "[::1]:5901"} {
		if got, err := vncAddr(in); err != nil || got != want {
			t.Errorf("vncAddr(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "spice://10.0.0.2:0", "error: domain is not running"} {
		if got, err := vncAddr(bad); err == nil {
			t.Errorf("vncAddr(%q) = %q, want an error", bad, got)
		}
	}
}

// statusXML is libvirt's /run/libvirt/qemu/NAME.xml for a running guest,
// cut to what matters, with its VNC server listening on listen:port.
func statusXML(listen string, port int) string {
	return fmt.Sprintf(`<!--
WARNING: THIS IS AN AUTO-GENERATED FILE. CHANGES TO IT ARE LIKELY TO BE
OVERWRITTEN AND LOST.
-->
<domstatus state='running' reason='booted' pid='4242'>
  <monitor path='/var/lib/libvirt/qemu/domain-1-instance-00000001/monitor.sock' type='unix'/>
  <domain type='qemu' id='1'>
    <name>instance-00000001</name>
    <metadata>
      <nova:instance xmlns:nova="http://openstack.org/xmlns/libvirt/nova/1.1">
        <nova:name>lab-vm</nova:name>
      </nova:instance>
    </metadata>
    <devices>
      <serial type='pty'><target port='0'/></serial>
      <graphics type='vnc' port='%d' autoport='yes' listen='%s'>
        <listen type='address' address='%s'/>
      </graphics>
    </devices>
  </domain>
</domstatus>`, port, listen, listen)
}

func TestVNCFromStatus(t *testing.T) {
	for _, tc := range []struct {
		name, doc, want string
		ok              bool
	}{
		{"the lab's guest", statusXML("10.0.0.2", 5901), "10.0.0.2:5901", true},
		{"listening everywhere: no address to dial", statusXML("0.0.0.0", 5900), "", false},
		{"not yet given a port", statusXML("10.0.0.2", -1), "", false},
		{"no graphics", `<domstatus><domain><devices/></domain></domstatus>`, "", false},
		{"not XML", `vnc://10.0.0.2:0`, "", false},
	} {
		got, ok := VNCFromStatus([]byte(tc.doc))
		if got != tc.want || ok != tc.ok {
			t.Errorf("%s: %q %v, want %q %v", tc.name, got, ok, tc.want, tc.ok)
		}
	}
}

// Where libvirt's status files cannot be read (doctor not run as root),
// nova lists the running instance and virsh names its display.
func TestConsoleAsksNovaWhereStatusFilesAreUnreadable(t *testing.T) {
	vnc := vncServer(t, "RFB 003.008\n")
	w, n := consoleWorld(t, powerRunning, vnc)
	fh := w.deps.Host.(fakeHost)
	fh.denied = map[string]bool{libvirtStatusDir + "/instance-00000001.xml": true}
	w.deps.Host = fh
	e, _ := w.runAll(t).Get(IDConsole)
	if e.Status != checks.OK || !strings.Contains(strings.Join(e.Evidence, " "), "VNC on "+vnc+" (virsh domdisplay)") {
		t.Errorf("console = %s %q %v", e.Status, e.Summary, e.Evidence)
	}
	if n.lists != 1 {
		t.Errorf("nova listed the instances %d times, want once", n.lists)
	}
}

// A running domain that is not nova's (no nova metadata in its status)
// is no instance whose console a user opens.
func TestConsoleIgnoresDomainsNotNovas(t *testing.T) {
	w, _ := consoleWorld(t, 4, vncServer(t, "RFB 003.008\n"))
	w.deps.Host.(fakeHost).files[libvirtStatusDir+"/other.xml"] = `<domstatus state='running'><domain><name>other</name><devices><graphics type='vnc' port='5905' listen='127.0.0.1'/></devices></domain></domstatus>`
	dr := &doctor{cfg: w.cfg, d: w.deps}
	if r := dr.checkConsole(context.Background()); r.Status != checks.OK || !strings.Contains(r.Summary, "no running instance") {
		t.Errorf("console = %s %q %v", r.Status, r.Summary, r.Evidence)
	}
}
