// Package tiny builds, without internet, the smallest guest image that
// proves a stacklab cloud works end to end (`stacklab image tiny`): a
// Debian cloud kernel and busybox, taken from the Debian mirror the lab
// already uses, in an initramfs on a syslinux-booted FAT disk, as a
// compressed qcow2. There is no cirros download to rely on here.
//
// The guest configures its NIC by DHCP (honouring the MTU and classless
// static routes neutron sends), reads its identity from the metadata
// service, serves a page naming itself on port 80, answers ping, and
// prints one line on its serial console (see UpLineRE and ParseUpLine).
package tiny

import (
	"bytes"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/template"
	"time"

	"github.com/stacklab/stacklab/internal/atomicfile"
)

// DefaultCacheDir keeps downloaded packages so rebuilds need no network.
const DefaultCacheDir = "/var/cache/stacklab/tiny"

// DefaultKernelPackage is Debian's cloud kernel metapackage: the smallest
// Debian kernel with virtio drivers (as modules).
const DefaultKernelPackage = "linux-image-cloud-amd64"

// BusyboxPackage provides the whole userland, statically linked.
const BusyboxPackage = "busybox-static"

// MaxImageSize is what the image may weigh; Build fails beyond it, since a
// "tiny" image that is not tiny means the wrong content went in.
const MaxImageSize = 20 << 20

// bootModules are the drivers the guest loads (with their dependencies):
// Debian 12's cloud kernel has them all as modules; Debian 13's builds
// virtio_pci in (modules.builtin), and those are skipped. vfat and the
// character sets it asks for by default let the guest write to its own
// disk (insmod resolves nothing: the kernel's request for an NLS table
// finds it loaded or fails the mount).
var bootModules = []string{"virtio_pci", "virtio_net", "virtio_blk", "vfat", "nls_cp437", "nls_ascii", "nls_utf8"}

// moduleDirs are where, under lib/modules/VERSION/kernel/, the boot modules
// and their dependencies live; only these are extracted.
var moduleDirs = []string{"drivers/virtio/", "drivers/net/", "drivers/block/", "net/core/", "fs/fat/", "fs/nls/"}

// mbrPaths are where Debian's syslinux packages put the MBR boot code.
var mbrPaths = []string{"/usr/lib/SYSLINUX/mbr.bin", "/usr/lib/syslinux/mbr/mbr.bin"}

//go:embed guest/init.tmpl
var initTemplate string

//go:embed guest/udhcpc.script
var udhcpcScript []byte

// Options say what to build and with what.
type Options struct {
	// Output is the qcow2 file to write (replaced atomically), or the
	// installer ISO with InstallerISO.
	Output string
	// InstallerISO writes, instead of the guest's disk, a bootable CD
	// whose installer writes that disk onto the machine's first virtio
	// disk and powers off.
	InstallerISO bool
	// CacheDir keeps packages between builds; DefaultCacheDir when empty.
	CacheDir string
	// KernelPackage is the kernel (or its metapackage);
	// DefaultKernelPackage when empty.
	KernelPackage string
	// Packages fetches .debs; an AptFetcher in CacheDir when nil.
	Packages Packages
	// Tools runs external programs; ExecTools when nil.
	Tools Tools
	// MBRPaths are tried in order for syslinux's MBR; mbrPaths when nil.
	MBRPaths []string
	// Log receives one line per step; nothing is logged when nil.
	Log func(format string, args ...any)
}

// Step is how long one part of the build took.
type Step struct {
	Name     string
	Duration time.Duration
}

// Result describes the image written.
type Result struct {
	Path          string
	FileSize      int64
	VirtualSize   int64
	KernelVersion string
	Steps         []Step
}

// Build writes the tiny guest image to o.Output. On any error nothing is
// left at o.Output (an earlier file there stays as it was).
func Build(ctx context.Context, o Options) (*Result, error) {
	if o.Output == "" {
		return nil, errors.New("tiny image: no output path")
	}
	if o.CacheDir == "" {
		o.CacheDir = DefaultCacheDir
	}
	if o.KernelPackage == "" {
		o.KernelPackage = DefaultKernelPackage
	}
	if o.Tools == nil {
		o.Tools = ExecTools{}
	}
	if o.Packages == nil {
		o.Packages = NewAptFetcher(o.CacheDir, o.Tools)
	}
	if o.MBRPaths == nil {
		o.MBRPaths = mbrPaths
	}
	if o.Log == nil {
		o.Log = func(string, ...any) {}
	}
	b := &builder{o: o, res: &Result{Path: o.Output}}
	if err := b.run(ctx); err != nil {
		return nil, fmt.Errorf("tiny image %s: %w", o.Output, err)
	}
	return b.res, nil
}

type builder struct {
	o       Options
	res     *Result
	scratch string

	mbrCode []byte
	kernel  []byte
	modules []Module
	koData  map[string][]byte
	busybox []byte
	initrd  []byte
	rawPath string
}

func (b *builder) step(ctx context.Context, name string, f func(context.Context) error) error {
	start := time.Now()
	err := f(ctx)
	d := time.Since(start)
	b.res.Steps = append(b.res.Steps, Step{Name: name, Duration: d})
	if err != nil {
		b.o.Log("✗ %s (%s): %v", name, d.Round(time.Millisecond), err)
		return err
	}
	b.o.Log("✓ %s (%s)", name, d.Round(time.Millisecond))
	return nil
}

func (b *builder) run(ctx context.Context) error {
	scratch, err := os.MkdirTemp("", "stacklab-tiny-")
	if err != nil {
		return fmt.Errorf("scratch directory: %w", err)
	}
	defer func() { _ = os.RemoveAll(scratch) }()
	b.scratch = scratch
	steps := []struct {
		name string
		f    func(context.Context) error
	}{
		{"check host tools", b.preflight},
		{"fetch kernel", b.fetchKernel},
		{"fetch busybox", b.fetchBusybox},
		{"make initramfs", b.makeInitramfs},
		{"make boot disk", b.makeDisk},
		{"write qcow2", b.writeQCOW2},
	}
	if b.o.InstallerISO {
		steps[len(steps)-1] = struct {
			name string
			f    func(context.Context) error
		}{"write installer ISO", b.writeISO}
	}
	for _, s := range steps {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := b.step(ctx, s.name, s.f); err != nil {
			return err
		}
	}
	return nil
}

func (b *builder) preflight(context.Context) error {
	var errs []error
	for _, t := range []string{"qemu-img", "mkfs.fat", "mcopy", "syslinux"} {
		if err := b.o.Tools.LookPath(t); err != nil {
			errs = append(errs, err)
		}
	}
	for _, p := range b.o.MBRPaths {
		if code, err := os.ReadFile(p); err == nil {
			b.mbrCode = code
			break
		}
	}
	if b.mbrCode == nil {
		errs = append(errs, fmt.Errorf("syslinux MBR boot code not found at %s: install the Debian package syslinux-common",
			strings.Join(b.o.MBRPaths, " or ")))
	}
	if b.o.InstallerISO {
		if err := b.isoPreflight(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// fetchKernel follows a metapackage's Depends to the package holding
// /boot/vmlinuz-*, then takes the kernel and the boot modules from it.
func (b *builder) fetchKernel(ctx context.Context) error {
	name := b.o.KernelPackage
	for range 3 {
		deb, err := b.o.Packages.Fetch(ctx, name)
		if err != nil {
			return err
		}
		files, err := debExtract(deb.Path, wantKernelFile)
		if err != nil {
			return fmt.Errorf("kernel package %s: %w", deb.Name, err)
		}
		version, kernel := findKernel(files)
		if kernel == nil {
			next := kernelDependency(deb.Depends)
			if next == "" {
				return fmt.Errorf("package %s holds no /boot/vmlinuz-* and depends on no linux-image-* package", deb.Name)
			}
			name = next
			continue
		}
		b.kernel, b.res.KernelVersion = kernel, version
		return b.pickModules(files, version)
	}
	return fmt.Errorf("package %s: no kernel after following 3 metapackages", b.o.KernelPackage)
}

// modulesRelPath is name relative to /: Debian 13's kernel packages put
// the modules under usr/lib/modules (merged /usr), Debian 12's under
// lib/modules; both become lib/modules/….
func modulesRelPath(name string) (string, bool) {
	name = strings.TrimPrefix(name, "usr/")
	return name, strings.HasPrefix(name, "lib/modules/")
}

func wantKernelFile(name string) bool {
	if strings.HasPrefix(name, "boot/vmlinuz-") {
		return true
	}
	name, ok := modulesRelPath(name)
	if !ok {
		return false
	}
	parts := strings.SplitN(name, "/", 5) // lib modules VERSION kernel rest
	if len(parts) == 4 && parts[3] == "modules.builtin" {
		return true
	}
	if moduleSuffix(name) == "" {
		return false
	}
	if len(parts) < 5 || parts[3] != "kernel" {
		return false
	}
	for _, d := range moduleDirs {
		if strings.HasPrefix(parts[4], d) {
			return true
		}
	}
	return false
}

func findKernel(files map[string][]byte) (string, []byte) {
	for n, data := range files {
		if v, ok := strings.CutPrefix(n, "boot/vmlinuz-"); ok {
			return v, data
		}
	}
	return "", nil
}

// kernelDependency picks, among a metapackage's dependencies, the
// concrete kernel package.
func kernelDependency(deps []string) string {
	for _, d := range deps {
		if strings.HasPrefix(d, "linux-image-") {
			return d
		}
	}
	return ""
}

func (b *builder) pickModules(files map[string][]byte, version string) error {
	avail := map[string]Module{}
	builtin := map[string]bool{}
	b.koData = map[string][]byte{}
	prefix := "lib/modules/" + version + "/"
	for name, data := range files {
		n, ok := modulesRelPath(name)
		if !ok || !strings.HasPrefix(n, prefix) {
			continue
		}
		if n == prefix+"modules.builtin" {
			builtin = parseBuiltin(data)
			continue
		}
		data, err := moduleData(n, data)
		if err != nil {
			return err
		}
		deps, err := modinfoDepends(data)
		if err != nil {
			return fmt.Errorf("module %s: %w", n, err)
		}
		m := Module{Name: moduleName(n), Path: n, Depends: deps}
		avail[m.Name] = m
		b.koData[m.Name] = data
	}
	order, err := loadOrder(avail, builtin, bootModules)
	if err != nil {
		return fmt.Errorf("kernel %s: %w", version, err)
	}
	b.modules = order
	return nil
}

// moduleData is a module file's ELF: the guest's busybox insmod is given
// plain .ko files, so a compressed module is expanded here.
func moduleData(name string, data []byte) ([]byte, error) {
	if moduleSuffix(name) == ".ko" {
		return data, nil
	}
	dec, err := decompressor(name, bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("module %s: %w", name, err)
	}
	defer dec.Close()
	out, err := io.ReadAll(dec)
	if err != nil {
		return nil, fmt.Errorf("module %s: expand: %w", name, err)
	}
	return out, nil
}

func (b *builder) fetchBusybox(ctx context.Context) error {
	deb, err := b.o.Packages.Fetch(ctx, BusyboxPackage)
	if err != nil {
		return err
	}
	// Debian 12's package has bin/busybox, Debian 13's (merged /usr)
	// usr/bin/busybox.
	paths := []string{"bin/busybox", "usr/bin/busybox"}
	files, err := debExtract(deb.Path, func(n string) bool { return slices.Contains(paths, n) })
	if err != nil {
		return fmt.Errorf("busybox package: %w", err)
	}
	for _, p := range paths {
		if b.busybox == nil {
			b.busybox = files[p]
		}
	}
	if b.busybox == nil {
		return fmt.Errorf("package %s holds neither /bin/busybox nor /usr/bin/busybox", deb.Name)
	}
	return nil
}

// initParams fill guest/init.tmpl.
type initParams struct {
	Modules         []string
	NICWaitTenths   int
	DHCPTries       int
	DHCPSeconds     int
	MetadataSeconds int
	DefaultHostname string
}

func renderInit(p initParams) ([]byte, error) { return renderScript("init", initTemplate, p) }

// renderScript fills one of the guest's shell templates; a field the
// template names and p lacks is an error, not an empty string.
func renderScript(name, tmpl string, p any) ([]byte, error) {
	t, err := template.New(name).Option("missingkey=error").Parse(tmpl)
	if err != nil {
		return nil, fmt.Errorf("parse %s template: %w", name, err)
	}
	var buf bytes.Buffer
	if err := t.Execute(&buf, p); err != nil {
		return nil, fmt.Errorf("render %s: %w", name, err)
	}
	return buf.Bytes(), nil
}

// initramfsEntries is the guest's whole root file system.
func initramfsEntries(initScript, busybox []byte, modules []Module, koData map[string][]byte) []entry {
	es := []entry{
		{Path: "init", Mode: 0o755, Data: initScript},
		{Path: "bin/busybox", Mode: 0o755, Data: busybox},
		// The kernel runs /init with #!/bin/sh before busybox installs its
		// applet links.
		{Path: "bin/sh", Mode: fs.ModeSymlink | 0o777, Data: []byte("busybox")},
		{Path: "etc/udhcpc.script", Mode: 0o755, Data: udhcpcScript},
		// The kernel opens /dev/console for /init before anything mounts
		// devtmpfs; without the node, init's output would go nowhere.
		{Path: "dev/console", Mode: fs.ModeDevice | fs.ModeCharDevice | 0o600, Major: 5, Minor: 1},
	}
	for _, d := range []string{"proc", "sys", "tmp", "run", "www", "sbin", "usr/bin", "usr/sbin"} {
		es = append(es, entry{Path: d, Mode: fs.ModeDir | 0o755})
	}
	for _, m := range modules {
		es = append(es, entry{Path: "lib/modules/" + m.Name + ".ko", Mode: 0o644, Data: koData[m.Name]})
	}
	return es
}

func (b *builder) makeInitramfs(context.Context) error {
	names := make([]string, len(b.modules))
	for i, m := range b.modules {
		names[i] = m.Name
	}
	script, err := renderInit(initParams{
		Modules: names, NICWaitTenths: 100, DHCPTries: 30, DHCPSeconds: 60,
		MetadataSeconds: 30, DefaultHostname: "stacklab-tiny",
	})
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := writeInitramfs(&buf, initramfsEntries(script, b.busybox, b.modules, b.koData)); err != nil {
		return err
	}
	b.initrd = buf.Bytes()
	return nil
}

// syslinuxConfig boots straight into the kernel. console=ttyS0 comes last
// so the serial port (nova's console log) is /dev/console.
const syslinuxConfig = `DEFAULT tiny
PROMPT 0
TIMEOUT 0
LABEL tiny
  KERNEL vmlinuz
  INITRD initrd.gz
  APPEND console=tty0 console=ttyS0,115200 ` + kernelArgs + `
`

// kernelArgs are for a kernel that runs under qemu's TCG, where all of
// its boot is on the way from `stacklab run` to a guest that answers, and
// on a busy 2-core lab takes three to four times as long as alone.
// loglevel=4 keeps the kernel's warnings and errors on the console and
// drops its ~370 lines of boot chatter: every byte to the serial port is
// an emulated port write, and they cost ~2 s (/init reached at 2.4 s
// instead of 4.4 s). cryptomgr.notests skips the self-tests the kernel
// runs on each crypto algorithm it registers, which nothing in the guest
// uses: 0.2 s of the 1.45 s the kernel took to reach /init (measured in
// its own log, alone on the machine; 1.23 s without them).
const kernelArgs = "panic=10 loglevel=4 cryptomgr.notests"

// fatSizeKiB leaves room for the files, FAT overhead and a kernel update.
func fatSizeKiB(payload int64) int64 {
	const mib = 1 << 20
	n := (payload+mib-1)/mib + 8
	return max(n, 16) * 1024
}

func (b *builder) makeDisk(ctx context.Context) error {
	t := b.o.Tools
	dir := b.scratch
	for name, data := range map[string][]byte{
		"vmlinuz": b.kernel, "initrd.gz": b.initrd, "syslinux.cfg": []byte(syslinuxConfig),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			return fmt.Errorf("stage %s: %w", name, err)
		}
	}
	fatKiB := fatSizeKiB(int64(len(b.kernel) + len(b.initrd)))
	// Hidden sectors = the partition's start: syslinux's boot sector adds
	// it to find ldlinux.sys on the disk. --invariant fixes the volume id
	// and what else mkfs.fat would randomise (file times still vary).
	if _, err := t.Run(ctx, dir, "mkfs.fat", "-C", "-F", "16", "-h", fmt.Sprint(partStart),
		"-n", "STACKLAB", "-i", "57414e59", "--invariant", "fat.img", fmt.Sprint(fatKiB)); err != nil {
		return fmt.Errorf("make FAT file system: %w", err)
	}
	if _, err := t.Run(ctx, dir, "mcopy", "-i", "fat.img", "vmlinuz", "initrd.gz", "syslinux.cfg", "::/"); err != nil {
		return fmt.Errorf("copy kernel and initramfs: %w", err)
	}
	// The mtools flavour of the installer: no loop device, no mount.
	if _, err := t.Run(ctx, dir, "syslinux", "--install", "fat.img"); err != nil {
		return fmt.Errorf("install syslinux: %w", err)
	}
	fat, err := os.ReadFile(filepath.Join(dir, "fat.img"))
	if err != nil {
		return fmt.Errorf("read FAT image: %w", err)
	}
	sectors := uint32(len(fat) / sectorSize)
	head, err := mbr(b.mbrCode, partStart, sectors, 0x57414e59)
	if err != nil {
		return err
	}
	raw := filepath.Join(dir, "disk.raw")
	f, err := os.Create(raw)
	if err != nil {
		return fmt.Errorf("disk image: %w", err)
	}
	defer f.Close()
	if _, err := f.WriteAt(head, 0); err != nil {
		return fmt.Errorf("write MBR: %w", err)
	}
	if _, err := f.WriteAt(fat, partStart*sectorSize); err != nil {
		return fmt.Errorf("write partition: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("disk image: %w", err)
	}
	b.rawPath = raw
	b.res.VirtualSize = int64(partStart)*sectorSize + int64(len(fat))
	return nil
}

func (b *builder) writeQCOW2(ctx context.Context) error {
	tmp := filepath.Join(b.scratch, "disk.qcow2")
	if _, err := b.o.Tools.Run(ctx, b.scratch, "qemu-img", "convert", "-f", "raw", "-O", "qcow2", "-c", b.rawPath, tmp); err != nil {
		return fmt.Errorf("convert to qcow2: %w", err)
	}
	return b.publish("image", tmp, MaxImageSize)
}

// publish puts the file built at tmp in place at Output, refusing one
// larger than limit: a build that is not small put the wrong content in.
func (b *builder) publish(what, tmp string, limit int) error {
	data, err := os.ReadFile(tmp)
	if err != nil {
		return fmt.Errorf("read the %s: %w", what, err)
	}
	if len(data) > limit {
		return fmt.Errorf("%s is %d bytes, more than the %d allowed", what, len(data), limit)
	}
	if err := atomicfile.Write(b.o.Output, data, atomicfile.Options{Mode: 0o644}); err != nil {
		return err
	}
	b.res.FileSize = int64(len(data))
	return nil
}
