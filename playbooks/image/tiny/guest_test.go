package tiny

import (
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// runDHCPScript runs guest/udhcpc.script as udhcpc would, with an `ip` on
// PATH that records its arguments, and returns the calls.
func runDHCPScript(t *testing.T, shell, event string, env map[string]string) ([]string, string) {
	t.Helper()
	dir := t.TempDir()
	script := writeFile(t, dir, "udhcpc.script", udhcpcScript)
	bin := filepath.Join(dir, "bin")
	if err := os.Mkdir(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	log := filepath.Join(dir, "ip.log")
	fakeIP := "#!/bin/sh\necho \"$*\" >>" + log + "\n"
	if err := os.WriteFile(filepath.Join(bin, "ip"), []byte(fakeIP), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(shell, script, event)
	cmd.Env = []string{"PATH=" + bin + ":/usr/bin:/bin", "STACKLAB_RUN=" + dir}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s udhcpc.script %s: %v\n%s", shell, event, err, out)
	}
	calls, _ := os.ReadFile(log)
	ip, _ := os.ReadFile(filepath.Join(dir, "stacklab-ip"))
	return strings.Split(strings.TrimSpace(string(calls)), "\n"), strings.TrimSpace(string(ip))
}

func TestDHCPScript(t *testing.T) {
	base := map[string]string{"interface": "eth0", "ip": "10.0.0.5", "mask": "24"}
	with := func(kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	for _, tc := range []struct {
		name, event string
		env         map[string]string
		want        []string
		wantIP      string
	}{
		{
			name: "router only", event: "bound", env: with("router", "10.0.0.1 10.0.0.254"),
			want: []string{
				"addr flush dev eth0", "addr add 10.0.0.5/24 dev eth0",
				"route replace default via 10.0.0.1 dev eth0",
			},
			wantIP: "10.0.0.5",
		},
		{
			name: "MTU from option 26", event: "bound", env: with("router", "10.0.0.1", "mtu", "1450"),
			want: []string{
				"link set dev eth0 mtu 1450", "addr flush dev eth0", "addr add 10.0.0.5/24 dev eth0",
				"route replace default via 10.0.0.1 dev eth0",
			},
			wantIP: "10.0.0.5",
		},
		{
			// Neutron on an isolated network: the metadata route via the
			// DHCP port, plus a default route; the router option is ignored.
			name: "classless static routes win over router", event: "bound",
			env: with("router", "10.0.0.99", "staticroutes", "169.254.169.254/32 10.0.0.2 0.0.0.0/0 10.0.0.1"),
			want: []string{
				"addr flush dev eth0", "addr add 10.0.0.5/24 dev eth0",
				"route replace 169.254.169.254/32 via 10.0.0.2 dev eth0",
				"route replace 0.0.0.0/0 via 10.0.0.1 dev eth0",
			},
			wantIP: "10.0.0.5",
		},
		{
			name: "on-link static route", event: "renew", env: with("staticroutes", "10.1.0.0/16 0.0.0.0"),
			want: []string{
				"addr flush dev eth0", "addr add 10.0.0.5/24 dev eth0",
				"route replace 10.1.0.0/16 dev eth0",
			},
			wantIP: "10.0.0.5",
		},
		{
			name: "no mask given", event: "bound", env: map[string]string{"interface": "eth1", "ip": "192.168.1.7"},
			want:   []string{"addr flush dev eth1", "addr add 192.168.1.7/24 dev eth1"},
			wantIP: "192.168.1.7",
		},
		{
			name: "deconfig", event: "deconfig", env: base,
			want: []string{"addr flush dev eth0", "link set dev eth0 up"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			calls, ip := runDHCPScript(t, "sh", tc.event, tc.env)
			if !reflect.DeepEqual(calls, tc.want) {
				t.Errorf("ip calls:\n%s\nwant:\n%s", strings.Join(calls, "\n"), strings.Join(tc.want, "\n"))
			}
			if ip != tc.wantIP {
				t.Errorf("recorded address %q, want %q", ip, tc.wantIP)
			}
		})
	}
}

func TestRenderInit(t *testing.T) {
	script, err := renderInit(initParams{
		Modules: []string{"virtio", "virtio_ring", "virtio_net"}, NICWaitTenths: 100,
		DHCPTries: 30, DHCPSeconds: 60, MetadataSeconds: 30, DefaultHostname: "stacklab-tiny",
	})
	if err != nil {
		t.Fatal(err)
	}
	s := string(script)
	a, b, c := strings.Index(s, "insmod /lib/modules/virtio.ko"), strings.Index(s, "insmod /lib/modules/virtio_ring.ko"), strings.Index(s, "insmod /lib/modules/virtio_net.ko")
	if a < 0 || b < a || c < b {
		t.Errorf("modules not loaded in the given order:\n%s", s)
	}
	for _, want := range []string{"-t 30 -T 2", "-ge 30 ]", "name=stacklab-tiny", `emit "stacklab-guest up ip=$ip instance=$uuid hostname=$name born=$born uptime=$up"`} {
		if !strings.Contains(s, want) {
			t.Errorf("init lacks %q", want)
		}
	}
	// The script must at least parse; the boot test runs it for real.
	p := writeFile(t, t.TempDir(), "init", script)
	if out, err := exec.Command("sh", "-n", p).CombinedOutput(); err != nil {
		t.Errorf("sh -n init: %v\n%s", err, out)
	}
}

// TestGuestShellcheck lints the rendered /init and the udhcpc script as
// the POSIX sh busybox runs.
func TestGuestShellcheck(t *testing.T) {
	if _, err := exec.LookPath("shellcheck"); err != nil {
		t.Skip("shellcheck not installed: apt-get install shellcheck (CI does)")
	}
	script, err := renderInit(initParams{Modules: []string{"virtio"}, NICWaitTenths: 1, DHCPTries: 1, DHCPSeconds: 2, MetadataSeconds: 1, DefaultHostname: "h"})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for name, data := range map[string][]byte{"init": script, "udhcpc.script": udhcpcScript} {
		p := writeFile(t, dir, name, data)
		if out, err := exec.Command("shellcheck", "-s", "sh", p).CombinedOutput(); err != nil {
			t.Errorf("shellcheck %s: %v\n%s", name, err, out)
		}
	}
}

func TestRenderInstaller(t *testing.T) {
	b, err := renderInstaller(installerParams{Modules: []string{"virtio", "virtio_blk"}, PayloadBytes: 25165824})
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	// The disk must be checked before it is written, flushed after, and
	// the power-off is what ends image install.
	order := []string{"insmod /lib/modules/virtio.ko", "insmod /lib/modules/virtio_blk.ko", "need=25165824", `[ "$have" -ge "$need" ]`,
		"dd of=\"$disk\" bs=1M conv=fsync", `sync "$disk"`, "poweroff -f"}
	at := -1
	for _, w := range order {
		i := strings.Index(s, w)
		if i <= at {
			t.Fatalf("installer lacks %q after the previous step:\n%s", w, s)
		}
		at = i
	}
}
