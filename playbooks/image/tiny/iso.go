package tiny

import (
	"bytes"
	"compress/gzip"
	"context"
	_ "embed"
	"fmt"
	"os"
	"path/filepath"
)

// The installer ISO (Options.InstallerISO) rehearses the route a student
// takes with a real OS's ISO, offline: it boots from a CD (isolinux), and
// its installer writes the tiny guest's disk onto the machine's first
// virtio disk and powers off.

//go:embed guest/installer.tmpl
var installerTemplate string

// isolinuxPaths are where Debian's isolinux and syslinux-common packages
// put the CD boot loader and the module it loads.
var (
	isolinuxBin = []string{"/usr/lib/ISOLINUX/isolinux.bin"}
	ldlinuxC32  = []string{"/usr/lib/syslinux/modules/bios/ldlinux.c32"}
)

// MaxISOSize bounds the installer ISO: the kernel, the installer's
// initramfs and the guest's compressed disk in it.
const MaxISOSize = 48 << 20

// isolinuxConfig boots the installer; the screen (VNC) shows it, and the
// serial port logs it (the same kernel arguments: kernelArgs).
const isolinuxConfig = `DEFAULT install
PROMPT 0
TIMEOUT 0
LABEL install
  KERNEL /vmlinuz
  INITRD /install.gz
  APPEND console=ttyS0,115200 console=tty0 ` + kernelArgs + `
`

type installerParams struct {
	Modules      []string
	PayloadBytes int64
}

func renderInstaller(p installerParams) ([]byte, error) {
	return renderScript("installer", installerTemplate, p)
}

func firstExisting(paths []string) (string, bool) {
	for _, p := range paths {
		if _, err := os.Stat(p); err == nil {
			return p, true
		}
	}
	return "", false
}

func (b *builder) isoPreflight() error {
	if err := b.o.Tools.LookPath("xorriso"); err != nil {
		return fmt.Errorf("%w (the installer ISO is written with it: apt-get install xorriso)", err)
	}
	for _, set := range []struct {
		paths []string
		pkg   string
	}{{isolinuxBin, "isolinux"}, {ldlinuxC32, "syslinux-common"}} {
		if _, ok := firstExisting(set.paths); !ok {
			return fmt.Errorf("%s not found: install the Debian package %s", set.paths[0], set.pkg)
		}
	}
	return nil
}

// writeISO puts the guest's raw disk, compressed, in an installer's
// initramfs with the same busybox and modules, and writes the bootable CD.
func (b *builder) writeISO(ctx context.Context) error {
	raw, err := os.ReadFile(b.rawPath)
	if err != nil {
		return fmt.Errorf("read the disk image: %w", err)
	}
	var payload bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&payload, gzip.BestCompression)
	if _, err := zw.Write(raw); err != nil {
		return fmt.Errorf("compress the disk image: %w", err)
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("compress the disk image: %w", err)
	}
	names := make([]string, len(b.modules))
	for i, m := range b.modules {
		names[i] = m.Name
	}
	script, err := renderInstaller(installerParams{Modules: names, PayloadBytes: int64(len(raw))})
	if err != nil {
		return err
	}
	es := append(initramfsEntries(script, b.busybox, b.modules, b.koData),
		entry{Path: "payload.gz", Mode: 0o644, Data: payload.Bytes()})
	var initrd bytes.Buffer
	if err := writeInitramfs(&initrd, es); err != nil {
		return err
	}
	root := filepath.Join(b.scratch, "iso")
	isolinux, _ := firstExisting(isolinuxBin)
	ldlinux, _ := firstExisting(ldlinuxC32)
	files := map[string][]byte{"vmlinuz": b.kernel, "install.gz": initrd.Bytes(), "isolinux/isolinux.cfg": []byte(isolinuxConfig)}
	for dst, src := range map[string]string{"isolinux/isolinux.bin": isolinux, "isolinux/ldlinux.c32": ldlinux} {
		data, err := os.ReadFile(src)
		if err != nil {
			return fmt.Errorf("read %s: %w", src, err)
		}
		files[dst] = data
	}
	for name, data := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return fmt.Errorf("stage %s: %w", name, err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			return fmt.Errorf("stage %s: %w", name, err)
		}
	}
	out := filepath.Join(b.scratch, "installer.iso")
	// El Torito, no emulation, with the boot info table isolinux reads.
	if _, err := b.o.Tools.Run(ctx, b.scratch, "xorriso", "-as", "mkisofs", "-quiet", "-o", out, "-V", "STACKLAB_INSTALL",
		"-b", "isolinux/isolinux.bin", "-c", "isolinux/boot.cat", "-no-emul-boot", "-boot-load-size", "4", "-boot-info-table",
		"-r", root); err != nil {
		return fmt.Errorf("write the ISO: %w", err)
	}
	return b.publish("installer ISO", out, MaxISOSize)
}
