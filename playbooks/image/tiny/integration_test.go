package tiny

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/stacklab/stacklab/playbooks/image"
)

// needHost skips, naming the packages to install, when the host lacks what
// a real build and boot use. CI installs them (Makefile TEST_DEBS).
func needHost(t *testing.T, tools ...string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: network namespaces and apt-get download into " + DefaultCacheDir + " (CI runs as root)")
	}
	pkgs := map[string]string{"qemu-system-x86_64": "qemu-system-x86"}
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			p := pkgs[tool]
			if p == "" {
				p = toolPackage[tool]
			}
			t.Skipf("%s not installed: apt-get install %s (CI installs it)", tool, p)
		}
	}
}

var buildTools = []string{"apt-get", "apt-cache", "qemu-img", "mkfs.fat", "mcopy", "syslinux"}

// TestIntegrationBuildAndBoot builds the image from the Debian mirror (the
// cache survives between runs), checks it as glance's uploader will, and
// boots it under TCG in a throwaway network namespace where the test plays
// the metadata service at 169.254.169.254.
func TestIntegrationBuildAndBoot(t *testing.T) {
	needHost(t, append(buildTools, "qemu-system-x86_64")...)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	out := filepath.Join(t.TempDir(), "tiny.qcow2")
	start := time.Now()
	res, err := Build(ctx, Options{Output: out, Log: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("built %s: %d bytes, virtual %d, kernel %s, in %s", res.Path, res.FileSize, res.VirtualSize, res.KernelVersion, time.Since(start).Round(time.Millisecond))
	if res.FileSize > MaxImageSize || !strings.HasSuffix(res.KernelVersion, "-cloud-amd64") {
		t.Errorf("result %+v", res)
	}

	var qi struct {
		Format      string `json:"format"`
		VirtualSize int64  `json:"virtual-size"`
	}
	q, err := exec.CommandContext(ctx, "qemu-img", "info", "--output", "json", out).Output()
	if err != nil {
		t.Fatalf("qemu-img info: %v", err)
	}
	if err := json.Unmarshal(q, &qi); err != nil {
		t.Fatalf("qemu-img info: %v\n%s", err, q)
	}
	st, err := os.Stat(out)
	if err != nil {
		t.Fatal(err)
	}
	if qi.Format != "qcow2" || qi.VirtualSize != res.VirtualSize || st.Size() != res.FileSize || st.Size() > MaxImageSize {
		t.Errorf("qemu-img says %+v, file is %d bytes; result %+v", qi, st.Size(), res)
	}
	info, err := image.InspectFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if info.Format != image.QCOW2 || info.VirtualSize != qi.VirtualSize || len(info.Problems) != 0 ||
		info.BootableVerdict == image.No || image.CheckUpload(info, "qcow2", 1) != nil {
		t.Errorf("image.InspectFile disagrees with qemu-img or refuses the upload: %+v (upload: %v)", info, image.CheckUpload(info, "qcow2", 1))
	}
	t.Logf("image.InspectFile: format %s, bootable %s (%s), compression %q", info.Format, info.BootableVerdict, info.BootableReason, info.Compression)

	t.Run("boot", func(t *testing.T) {
		up := boot(t, ctx, out, fakeUUID)
		if up.Born != "none" {
			t.Errorf("born=%s from a read-only disk, want none", up.Born)
		}
	})
	// What nova does: each instance boots a copy-on-write overlay of the
	// image, and a snapshot is that overlay made an image. The first boot
	// writes its identity to the disk; the next boot of the same disk, as
	// another instance, still shows it.
	t.Run("what the guest writes to its disk survives", func(t *testing.T) {
		disk := filepath.Join(t.TempDir(), "instance.qcow2")
		if b, err := exec.CommandContext(ctx, "qemu-img", "create", "-q", "-f", "qcow2", "-b", out, "-F", "qcow2", disk).CombinedOutput(); err != nil {
			t.Fatalf("qemu-img create: %v: %s", err, b)
		}
		// Each boot in a subtest of its own: its qemu is gone (and the
		// disk's lock with it) before the next starts.
		first := t.Run("first instance", func(t *testing.T) {
			if up := boot(t, ctx, disk+",readonly=off", fakeUUID); up.Born != fakeUUID {
				t.Fatalf("born=%s, want the instance's own id %s", up.Born, fakeUUID)
			}
		})
		if !first {
			t.FailNow()
		}
		t.Run("second instance", func(t *testing.T) {
			if up := boot(t, ctx, disk+",readonly=off", otherUUID); up.Instance != otherUUID || up.Born != fakeUUID {
				t.Fatalf("instance=%s born=%s, want born=%s (the first instance)", up.Instance, up.Born, fakeUUID)
			}
		})
	})
	t.Run("boot without a NIC reports an error", func(t *testing.T) {
		serial, qout := startQEMU(t, newNetNS(t), out, "-nic", "none")
		_, err := waitForLine(ctx, serial, 120*time.Second)
		log, _ := os.ReadFile(serial)
		if err == nil || !strings.Contains(err.Error(), "stacklab-guest error reason=no-nic") {
			t.Fatalf("want the no-nic error line, got %v\nqemu: %s\nserial console:\n%s", err, qout, log)
		}
		if n := strings.Count(string(log), "stacklab-guest error "); n != 1 || strings.Contains(string(log), "Kernel panic") {
			t.Errorf("error line %d times (want 1), or init died:\n%s", n, log)
		}
	})
}

// startQEMU boots disk under TCG in ns with the given network arguments;
// the serial console goes to the returned file. The disk is read-only
// unless disk ends in ",readonly=off".
func startQEMU(t *testing.T, ns netns.NsHandle, disk string, net ...string) (string, *bytes.Buffer) {
	t.Helper()
	serial := filepath.Join(t.TempDir(), "serial.log")
	qout := &bytes.Buffer{}
	args := append([]string{"-accel", "tcg", "-m", "256", "-nographic", "-no-reboot",
		"-monitor", "none", "-serial", "file:" + serial,
		"-drive", "file=" + disk + ",format=qcow2,if=virtio"}, net...)
	if !strings.HasSuffix(disk, ",readonly=off") {
		args[len(args)-len(net)-1] += ",readonly=on"
	}
	cmd := exec.Command("qemu-system-x86_64", args...)
	cmd.Stdout, cmd.Stderr = qout, qout
	// Started from a thread in the namespace, qemu lives there.
	inNS(t, ns, cmd.Start)
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return serial, qout
}

const (
	fakeUUID  = "0b6f4c5e-7d1a-4e2b-9c3d-5a6b7c8d9e0f"
	otherUUID = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"
)

// boot runs the image as instance uuid and checks the up line and the
// page; it returns the up line.
func boot(t *testing.T, ctx context.Context, disk, uuid string) UpLine {
	t.Helper()
	ns := newNetNS(t)
	var (
		mu     sync.Mutex
		mdHits []string
	)
	mdSrv := &http.Server{
		ReadHeaderTimeout: 5 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			mdHits = append(mdHits, r.URL.Path)
			mu.Unlock()
			if r.URL.Path != "/openstack/latest/meta_data.json" {
				http.NotFound(w, r)
				return
			}
			// Nova's shape, with its ", " separators and nested objects.
			fmt.Fprintf(w, `{"uuid": %q, "meta": {"role": "test"}, "hostname": "tiny-test.novalocal", "name": "tiny-test", "launch_index": 0, "availability_zone": "nova", "project_id": "p"}`, uuid)
		}),
	}
	var mdL, probe net.Listener
	inNS(t, ns, func() error {
		var err error
		// slirp connects from the host side of this namespace to whatever
		// address the guest asks for: with 169.254.169.254 on lo here, the
		// guest reaches the test through its default route, as it reaches
		// nova's metadata through a router.
		lo, err := netlink.LinkByName("lo")
		if err != nil {
			return err
		}
		if err := netlink.LinkSetUp(lo); err != nil {
			return err
		}
		addr, _ := netlink.ParseAddr("169.254.169.254/32")
		if err := netlink.AddrAdd(lo, addr); err != nil {
			return err
		}
		if mdL, err = net.Listen("tcp", "169.254.169.254:80"); err != nil {
			return err
		}
		probe, err = net.Listen("tcp", "127.0.0.1:0")
		return err
	})
	go func() { _ = mdSrv.Serve(mdL) }()
	t.Cleanup(func() { _ = mdSrv.Close() })
	port := probe.Addr().(*net.TCPAddr).Port
	_ = probe.Close()

	started := time.Now()
	serial, qout := startQEMU(t, ns, disk, "-netdev", fmt.Sprintf("user,id=n0,hostfwd=tcp:127.0.0.1:%d-:80", port),
		"-device", "virtio-net-pci,netdev=n0")
	line, err := waitForLine(ctx, serial, 120*time.Second)
	bootTime := time.Since(started)
	if err != nil {
		log, _ := os.ReadFile(serial)
		t.Fatalf("%v\nqemu: %s\nserial console:\n%s", err, qout, log)
	}
	up, ok := ParseUpLine(line)
	if !ok {
		t.Fatalf("unparsable line %q", line)
	}
	t.Logf("up after %s (guest uptime %.2fs): %s", bootTime.Round(time.Millisecond), up.Uptime, line)
	if up.IP != "10.0.2.15" || up.Instance != uuid || up.Hostname != "tiny-test.novalocal" {
		t.Errorf("up line %+v: want slirp's 10.0.2.15 and the served identity", up)
	}
	log, _ := os.ReadFile(serial)
	if n := strings.Count(string(log), "stacklab-guest up "); n != 1 {
		t.Errorf("the up line appears %d times on the serial console", n)
	}

	var page string
	// net/http dials from a goroutine of its own, outside the namespace:
	// dial here, on the namespace's thread, and speak HTTP over that.
	inNS(t, ns, func() error {
		conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 10*time.Second)
		if err != nil {
			return err
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.WriteString(conn, "GET / HTTP/1.0\r\nHost: tiny\r\n\r\n"); err != nil {
			return err
		}
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET /: %s", resp.Status)
		}
		b, err := io.ReadAll(resp.Body)
		page = string(b)
		return err
	})
	for _, want := range []string{"ip=" + up.IP, "instance=" + uuid, "hostname=tiny-test.novalocal", "born=" + up.Born} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q:\n%s", want, page)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(mdHits) == 0 {
		t.Error("the guest never asked the metadata service")
	}
	return up
}

// waitForLine polls the serial log for the up or error line.
func waitForLine(ctx context.Context, path string, limit time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		if f, err := os.Open(path); err == nil {
			sc := bufio.NewScanner(f)
			for sc.Scan() {
				l := strings.TrimSpace(sc.Text())
				if strings.HasPrefix(l, "stacklab-guest up ") {
					f.Close()
					return l, nil
				}
				if strings.HasPrefix(l, "stacklab-guest error ") {
					f.Close()
					return "", fmt.Errorf("guest failed: %s", l)
				}
			}
			f.Close()
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("no stacklab-guest line on the serial console within %s", limit)
		case <-tick.C:
		}
	}
}

// newNetNS makes an anonymous network namespace (gone when its handle is
// closed and qemu has exited) without moving the test's thread.
func newNetNS(t *testing.T) netns.NsHandle {
	t.Helper()
	var ns netns.NsHandle
	err := onThread(func() error {
		orig, err := netns.Get()
		if err != nil {
			return err
		}
		defer orig.Close()
		if ns, err = netns.New(); err != nil {
			return err
		}
		return netns.Set(orig)
	})
	if err != nil {
		t.Fatalf("network namespace: %v", err)
	}
	t.Cleanup(func() { ns.Close() })
	return ns
}

// inNS runs f on a thread inside ns; sockets and processes it creates live
// there.
func inNS(t *testing.T, ns netns.NsHandle, f func() error) {
	t.Helper()
	err := onThread(func() error {
		orig, err := netns.Get()
		if err != nil {
			return err
		}
		defer orig.Close()
		if err := netns.Set(ns); err != nil {
			return err
		}
		ferr := f()
		if err := netns.Set(orig); err != nil {
			return errors.Join(ferr, err)
		}
		return ferr
	})
	if err != nil {
		t.Fatalf("in test namespace: %v", err)
	}
}

// onThread runs f on a locked OS thread; if f fails to restore the
// namespace the thread stays locked and dies with its goroutine instead of
// being reused elsewhere in the wrong namespace.
func onThread(f func() error) error {
	ch := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		err := f()
		if err == nil {
			runtime.UnlockOSThread()
		}
		ch <- err
	}()
	return <-ch
}

// TestIntegrationFetchFailures runs the real apt against a package that
// does not exist, an empty package index and an unreachable mirror (a
// proxy on a closed loopback port): each must fail with what is missing
// and the fix, and leave nothing at the output path.
func TestIntegrationFetchFailures(t *testing.T) {
	needHost(t, buildTools...)
	for _, tc := range []struct {
		name   string
		kernel string
		opts   func(dir string) []string
		want   []string
	}{
		{
			name: "unknown package", kernel: "linux-image-stacklab-no-such-kernel",
			want: []string{"find package linux-image-stacklab-no-such-kernel", "E: No packages found", "run apt-get update"},
		},
		{
			name: "no package index",
			opts: func(dir string) []string {
				return []string{"-o", "Dir::State::Lists=" + dir, "-o", "Dir::Cache::pkgcache=", "-o", "Dir::Cache::srcpkgcache="}
			},
			want: []string{"find package linux-image-cloud-amd64", "No packages found", "check that a Debian mirror is reachable"},
		},
		{
			name: "mirror unreachable",
			opts: func(string) []string {
				return []string{"-o", "Acquire::http::Proxy=http://127.0.0.1:1", "-o", "Acquire::https::Proxy=http://127.0.0.1:1", "-o", "Acquire::Retries=0"}
			},
			want: []string{"download package linux-image-cloud-amd64", "Failed to fetch", "check that a Debian mirror is reachable"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			out := filepath.Join(dir, "out", "tiny.qcow2")
			if err := os.Mkdir(filepath.Dir(out), 0o755); err != nil {
				t.Fatal(err)
			}
			lists := filepath.Join(dir, "lists")
			if err := os.MkdirAll(filepath.Join(lists, "partial"), 0o755); err != nil {
				t.Fatal(err)
			}
			// An empty cache and no apt archive: the package must be fetched.
			f := &AptFetcher{Dir: filepath.Join(dir, "cache"), Tools: ExecTools{}}
			if tc.opts != nil {
				f.AptOptions = tc.opts(lists)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			_, err := Build(ctx, Options{Output: out, KernelPackage: tc.kernel, Packages: f})
			if err == nil {
				t.Fatal("Build succeeded")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
			if _, serr := os.Stat(out); !errors.Is(serr, fs.ErrNotExist) {
				t.Errorf("something at the output path: %v", serr)
			}
			if es, _ := os.ReadDir(filepath.Dir(out)); len(es) != 0 {
				t.Errorf("output directory holds %d entries", len(es))
			}
		})
	}
}

// TestIntegrationInstallerISO is the ISO route with real qemu: the
// installer ISO built from the mirror's packages, `image install` onto a
// new disk with its screen on VNC (read while it installs: the RFB
// greeting), and the installed disk booting as the tiny guest. Then an
// install interrupted as Ctrl-C does: no qemu and no file left.
func TestIntegrationInstallerISO(t *testing.T) {
	needHost(t, append(buildTools, "qemu-system-x86_64", "xorriso")...)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	dir := t.TempDir()
	iso := filepath.Join(dir, "installer.iso")
	res, err := Build(ctx, Options{Output: iso, InstallerISO: true, Log: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	info, err := image.InspectFile(iso)
	if err != nil || info.Format != image.ISO || info.BootableVerdict != image.Likely || res.FileSize > MaxISOSize {
		t.Fatalf("installer ISO: %+v (%v), %d bytes", info, err, res.FileSize)
	}

	out := filepath.Join(t.TempDir(), "installed.qcow2")
	const vnc = "127.0.0.1:47" // port 5947
	greeting := make(chan string, 1)
	go func() { greeting <- readRFB(ctx, "127.0.0.1:5947") }()
	ir, err := image.Install(ctx, image.InstallOptions{ISO: iso, Output: out, Size: 64 << 20, VNC: vnc, Accel: "tcg", MemoryMiB: 256,
		Timeout: 3 * time.Minute, Progress: func(s string) { t.Log(s) }})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("installed in %.1f s: %s, boot %s (%s)", ir.Seconds, ir.Info.Format, ir.Info.BootableVerdict, ir.Info.BootableReason)
	if g := <-greeting; !strings.HasPrefix(g, "RFB 003.") {
		t.Errorf("the installer's screen on VNC %s answered %q, want an RFB greeting", vnc, g)
	}
	if up := boot(t, ctx, out, fakeUUID); up.Instance != fakeUUID {
		t.Errorf("the installed disk booted as %+v", up)
	}

	t.Run("interrupted", func(t *testing.T) {
		dir := t.TempDir()
		out := filepath.Join(dir, "never.qcow2")
		ictx, stop := context.WithCancel(ctx)
		defer stop()
		go func() {
			// Ctrl-C once qemu runs: its VNC server answers.
			if g := readRFB(ictx, "127.0.0.1:5948"); strings.HasPrefix(g, "RFB ") {
				stop()
			}
		}()
		_, err := image.Install(ictx, image.InstallOptions{ISO: iso, Output: out, Size: 64 << 20, VNC: "127.0.0.1:48", Accel: "tcg", MemoryMiB: 256})
		if err == nil || !strings.Contains(err.Error(), "interrupted") {
			t.Fatalf("err %v, want the interruption", err)
		}
		if b, _ := exec.Command("pgrep", "-f", "qemu-system-x86_64.*"+dir).Output(); len(b) > 0 {
			t.Errorf("qemu still runs: pid %s", b)
		}
		if es, _ := os.ReadDir(dir); len(es) != 0 {
			t.Errorf("%d files left in %s", len(es), dir)
		}
	})
}

// readRFB connects to a VNC server as soon as it listens and returns its
// greeting ("" when ctx ends first).
func readRFB(ctx context.Context, addr string) string {
	for ctx.Err() == nil {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			time.Sleep(50 * time.Millisecond)
			continue
		}
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		b := make([]byte, 12)
		_, err = io.ReadFull(c, b)
		c.Close()
		if err == nil {
			return string(b)
		}
	}
	return ""
}
