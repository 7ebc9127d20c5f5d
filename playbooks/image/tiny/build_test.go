package tiny

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ulikunitz/xz"
)

// fakePackages serves .debs built in the test.
type fakePackages struct {
	debs map[string]Deb
	err  error
}

func (f *fakePackages) Fetch(_ context.Context, name string) (Deb, error) {
	if f.err != nil {
		return Deb{}, f.err
	}
	d, ok := f.debs[name]
	if !ok {
		return Deb{}, fmt.Errorf("find package %s: E: No packages found", name)
	}
	return d, nil
}

// fakeTools stands for mkfs.fat, mcopy, syslinux and qemu-img with just
// the file effects Build relies on, and fails where told.
type fakeTools struct {
	missing   []string
	fail      string
	qcow2Size int
	calls     []string
}

func (f *fakeTools) LookPath(name string) error {
	if slices.Contains(f.missing, name) {
		return &MissingToolError{Tool: name, Package: toolPackage[name]}
	}
	return nil
}

func (f *fakeTools) Run(_ context.Context, dir, name string, args ...string) ([]byte, error) {
	f.calls = append(f.calls, name+" "+strings.Join(args, " "))
	if name == f.fail {
		return []byte("boom"), fmt.Errorf("%s: exit status 1: boom", name)
	}
	switch name {
	case "mkfs.fat":
		// Last argument is the size in KiB, the one before the file.
		var kib int
		fmt.Sscan(args[len(args)-1], &kib)
		return nil, os.WriteFile(filepath.Join(dir, args[len(args)-2]), make([]byte, kib*1024), 0o644)
	case "qemu-img":
		n := f.qcow2Size
		if n == 0 {
			n = 4096
		}
		return nil, os.WriteFile(args[len(args)-1], bytes.Repeat([]byte("Q"), n), 0o644)
	}
	return nil, nil
}

// fakeKernelRepo builds a metapackage and a kernel package like Debian's,
// with the module graph of the cloud kernel (minus what drop names).
func fakeKernelRepo(t *testing.T, drop ...string) *fakePackages {
	t.Helper()
	dir := t.TempDir()
	const v = "6.1.0-9-cloud-amd64"
	mods := map[string]string{
		"drivers/virtio/virtio.ko":                "",
		"drivers/virtio/virtio_ring.ko":           "virtio",
		"drivers/virtio/virtio_pci_modern_dev.ko": "",
		"drivers/virtio/virtio_pci_legacy_dev.ko": "",
		"drivers/virtio/virtio_pci.ko":            "virtio_pci_modern_dev,virtio_ring,virtio,virtio_pci_legacy_dev",
		"net/core/failover.ko":                    "",
		"drivers/net/net_failover.ko":             "failover",
		"drivers/net/virtio_net.ko":               "net_failover,virtio_ring,virtio",
		"drivers/block/virtio_blk.ko":             "virtio,virtio_ring",
		"fs/fat/fat.ko":                           "",
		"fs/fat/vfat.ko":                          "fat",
		"fs/nls/nls_cp437.ko":                     "",
		"fs/nls/nls_ascii.ko":                     "",
		"fs/nls/nls_utf8.ko":                      "",
		"sound/not_wanted.ko":                     "",
	}
	files := map[string][]byte{"boot/vmlinuz-" + v: []byte("bzImage")}
	for p, deps := range mods {
		if slices.Contains(drop, moduleName(p)) {
			continue
		}
		files["lib/modules/"+v+"/kernel/"+p] = elfWithModinfo("license=GPL", "depends="+deps)
	}
	return &fakePackages{debs: map[string]Deb{
		"linux-image-cloud-amd64": {
			Name: "linux-image-cloud-amd64", Path: writeFile(t, dir, "meta.deb", debBytes(t, "xz", map[string][]byte{"usr/share/doc/x": nil})),
			Depends: []string{"linux-image-" + v},
		},
		"linux-image-" + v: {Name: "linux-image-" + v, Path: writeFile(t, dir, "kernel.deb", debBytes(t, "xz", files))},
		"busybox-static": {Name: "busybox-static", Path: writeFile(t, dir, "bb.deb",
			debBytes(t, "xz", map[string][]byte{"bin/busybox": []byte("busybox binary")}))},
	}}
}

// fakeTrixieKernelRepo is Debian 13's cloud kernel package: modules
// under usr/lib/modules, each compressed with xz, virtio and virtio_pci
// built in (listed in modules.builtin).
func fakeTrixieKernelRepo(t *testing.T) *fakePackages {
	t.Helper()
	dir := t.TempDir()
	const v = "6.12.117+deb13-cloud-amd64"
	mods := map[string]string{
		"drivers/virtio/virtio_ring.ko": "",
		"net/core/failover.ko":          "",
		"drivers/net/net_failover.ko":   "failover",
		"drivers/net/virtio_net.ko":     "net_failover,virtio_ring",
		"drivers/block/virtio_blk.ko":   "virtio_ring",
		"fs/fat/fat.ko":                 "",
		"fs/fat/vfat.ko":                "fat",
		"fs/nls/nls_cp437.ko":           "",
		"fs/nls/nls_ascii.ko":           "",
		"fs/nls/nls_utf8.ko":            "",
	}
	files := map[string][]byte{
		"boot/vmlinuz-" + v:                         []byte("bzImage"),
		"usr/lib/modules/" + v + "/modules.builtin": []byte("kernel/drivers/virtio/virtio.ko\nkernel/drivers/virtio/virtio_pci.ko\n"),
	}
	for p, deps := range mods {
		var buf bytes.Buffer
		w, err := xz.NewWriter(&buf)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(elfWithModinfo("license=GPL", "depends="+deps)); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		files["usr/lib/modules/"+v+"/kernel/"+p+".xz"] = buf.Bytes()
	}
	return &fakePackages{debs: map[string]Deb{
		"linux-image-cloud-amd64": {
			Name: "linux-image-cloud-amd64", Path: writeFile(t, dir, "meta.deb", debBytes(t, "xz", map[string][]byte{"usr/share/doc/x": nil})),
			Depends: []string{"linux-image-" + v},
		},
		"linux-image-" + v: {Name: "linux-image-" + v, Path: writeFile(t, dir, "kernel.deb", debBytes(t, "xz", files))},
		"busybox-static": {Name: "busybox-static", Path: writeFile(t, dir, "bb.deb",
			debBytes(t, "xz", map[string][]byte{"usr/bin/busybox": []byte("busybox binary")}))},
	}}
}

// Debian 13's packages: the guest gets the expanded modules it must load,
// and none of the built-in ones.
func TestPickModulesTrixieKernel(t *testing.T) {
	b := &builder{o: Options{KernelPackage: DefaultKernelPackage, Packages: fakeTrixieKernelRepo(t)}, res: &Result{}}
	if err := b.fetchKernel(context.Background()); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range b.modules {
		names = append(names, m.Name)
		if _, err := modinfoDepends(b.koData[m.Name]); err != nil {
			t.Errorf("module %s is not an expanded ELF: %v", m.Name, err)
		}
	}
	want := []string{"failover", "net_failover", "virtio_ring", "virtio_net", "virtio_blk", "fat", "vfat", "nls_cp437", "nls_ascii", "nls_utf8"}
	if !slices.Equal(names, want) {
		t.Errorf("modules %q, want %q", names, want)
	}
	// Its busybox-static has the binary under /usr (merged /usr).
	if err := b.fetchBusybox(context.Background()); err != nil || string(b.busybox) != "busybox binary" {
		t.Errorf("busybox %q, %v", b.busybox, err)
	}
}

func fakeMBR(t *testing.T) []string {
	return []string{filepath.Join(t.TempDir(), "absent.bin"), writeFile(t, t.TempDir(), "mbr.bin", bytes.Repeat([]byte{0xeb}, 440))}
}

func TestBuildWithFakes(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "tiny.qcow2")
	tools := &fakeTools{}
	var logged []string
	res, err := Build(context.Background(), Options{
		Output: out, Packages: fakeKernelRepo(t), Tools: tools, MBRPaths: fakeMBR(t),
		Log: func(f string, a ...any) { logged = append(logged, fmt.Sprintf(f, a...)) },
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.KernelVersion != "6.1.0-9-cloud-amd64" || res.FileSize != 4096 || res.Path != out {
		t.Errorf("result %+v", res)
	}
	// 1 MiB before the partition plus the 16 MiB minimum FAT.
	if res.VirtualSize != 17<<20 {
		t.Errorf("virtual size %d", res.VirtualSize)
	}
	if len(res.Steps) != 6 || len(logged) != 6 {
		t.Errorf("steps %v, log %q", res.Steps, logged)
	}
	st, err := os.Stat(out)
	if err != nil || st.Size() != 4096 || st.Mode().Perm() != 0o644 {
		t.Errorf("output %v %v", st, err)
	}
	want := []string{
		"mkfs.fat -C -F 16 -h 2048 -n STACKLAB -i 57414e59 --invariant fat.img 16384",
		"mcopy -i fat.img vmlinuz initrd.gz syslinux.cfg ::/",
		"syslinux --install fat.img",
	}
	if !slices.Equal(tools.calls[:3], want) || !strings.HasPrefix(tools.calls[3], "qemu-img convert -f raw -O qcow2 -c ") {
		t.Errorf("calls:\n%s", strings.Join(tools.calls, "\n"))
	}
	if es, _ := os.ReadDir(dir); len(es) != 1 {
		t.Errorf("output directory holds %d entries, want the image only", len(es))
	}
}

func TestBuildFailuresLeaveNothing(t *testing.T) {
	for _, tc := range []struct {
		name     string
		tools    *fakeTools
		packages func(t *testing.T) *fakePackages
		noMBR    bool
		want     []string
		wantType any
	}{
		{name: "mkfs.fat fails", tools: &fakeTools{fail: "mkfs.fat"}, want: []string{"make FAT file system", "boom"}},
		{name: "mcopy fails", tools: &fakeTools{fail: "mcopy"}, want: []string{"copy kernel and initramfs"}},
		{name: "syslinux fails", tools: &fakeTools{fail: "syslinux"}, want: []string{"install syslinux"}},
		{name: "qemu-img fails", tools: &fakeTools{fail: "qemu-img"}, want: []string{"convert to qcow2"}},
		{name: "image too big", tools: &fakeTools{qcow2Size: MaxImageSize + 1}, want: []string{"more than the 20971520 allowed"}},
		{
			name: "tools missing", tools: &fakeTools{missing: []string{"syslinux", "qemu-img"}},
			want:     []string{"syslinux not found", "install the Debian package syslinux", "qemu-img not found", "qemu-utils"},
			wantType: &MissingToolError{},
		},
		{name: "no MBR boot code", tools: &fakeTools{}, noMBR: true, want: []string{"MBR boot code not found", "syslinux-common"}},
		{
			name: "package index unreachable", tools: &fakeTools{},
			packages: func(*testing.T) *fakePackages {
				return &fakePackages{err: errors.New("find package x: E: No packages found")}
			},
			want: []string{"No packages found"},
		},
		{
			name: "module missing from kernel", tools: &fakeTools{},
			packages: func(t *testing.T) *fakePackages { return fakeKernelRepo(t, "net_failover") },
			want:     []string{"net_failover is not in the kernel package", "virtio_net -> net_failover"},
		},
		{
			name: "metapackage without kernel dependency", tools: &fakeTools{},
			packages: func(t *testing.T) *fakePackages {
				p := fakeKernelRepo(t)
				meta := p.debs["linux-image-cloud-amd64"]
				meta.Depends = []string{"initramfs-tools"}
				p.debs["linux-image-cloud-amd64"] = meta
				return p
			},
			want: []string{"holds no /boot/vmlinuz-*"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, existing := range []bool{false, true} {
				dir := t.TempDir()
				out := filepath.Join(dir, "tiny.qcow2")
				if existing {
					writeFile(t, dir, "tiny.qcow2", []byte("previous image"))
				}
				pk := fakeKernelRepo(t)
				if tc.packages != nil {
					pk = tc.packages(t)
				}
				mbrs := fakeMBR(t)
				if tc.noMBR {
					mbrs = mbrs[:1]
				}
				tools := *tc.tools
				_, err := Build(context.Background(), Options{Output: out, Packages: pk, Tools: &tools, MBRPaths: mbrs})
				if err == nil {
					t.Fatal("Build succeeded")
				}
				for _, w := range tc.want {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q lacks %q", err, w)
					}
				}
				if tc.wantType != nil {
					var mt *MissingToolError
					if !errors.As(err, &mt) {
						t.Errorf("error %v is not a *MissingToolError", err)
					}
				}
				b, rerr := os.ReadFile(out)
				switch {
				case existing && string(b) != "previous image":
					t.Errorf("previous image replaced by %d bytes (%v)", len(b), rerr)
				case !existing && !errors.Is(rerr, fs.ErrNotExist):
					t.Errorf("something at the output path: %v", rerr)
				}
				if es, _ := os.ReadDir(dir); len(es) != map[bool]int{false: 0, true: 1}[existing] {
					t.Errorf("output directory holds %d entries", len(es))
				}
			}
		})
	}
}
