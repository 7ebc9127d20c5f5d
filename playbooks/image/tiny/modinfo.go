package tiny

import (
	"bytes"
	"debug/elf"
	"fmt"
	"path"
	"sort"
	"strings"
)

// Module is a kernel module to put in the initramfs.
type Module struct {
	// Name as the kernel knows it (file name without .ko, dashes kept).
	Name string
	// Path inside the kernel package, e.g. lib/modules/V/kernel/…/virtio.ko.
	Path string
	// Depends are the module names listed in its .modinfo "depends=".
	Depends []string
}

// modinfoDepends reads the "depends=" entry of a module's .modinfo section.
// Debian's kernel .deb ships no modules.dep (depmod runs at install time),
// so the order must come from the modules themselves.
func modinfoDepends(ko []byte) ([]string, error) {
	f, err := elf.NewFile(bytes.NewReader(ko))
	if err != nil {
		return nil, fmt.Errorf("read module ELF: %w", err)
	}
	sec := f.Section(".modinfo")
	if sec == nil {
		return nil, fmt.Errorf("module has no .modinfo section")
	}
	data, err := sec.Data()
	if err != nil {
		return nil, fmt.Errorf("read .modinfo: %w", err)
	}
	return parseModinfoDepends(data), nil
}

// parseModinfoDepends takes the NUL-separated key=value strings of .modinfo.
func parseModinfoDepends(data []byte) []string {
	var deps []string
	for _, kv := range bytes.Split(data, []byte{0}) {
		v, ok := bytes.CutPrefix(kv, []byte("depends="))
		if !ok {
			continue
		}
		for _, d := range strings.Split(string(v), ",") {
			if d = strings.TrimSpace(d); d != "" {
				deps = append(deps, d)
			}
		}
	}
	return deps
}

// moduleSuffixes are a module file's endings: Debian 12's kernels ship
// plain .ko files, Debian 13's compress every module with xz
// (CONFIG_MODULE_COMPRESS_XZ), and zstd/gzip are the kernel's other
// choices.
var moduleSuffixes = []string{".ko", ".ko.xz", ".ko.zst", ".ko.gz"}

// moduleSuffix returns the module ending of p, or "" when p is no module.
func moduleSuffix(p string) string {
	for _, s := range moduleSuffixes {
		if strings.HasSuffix(p, s) {
			return s
		}
	}
	return ""
}

// moduleName is the kernel's name for a module file: modules named with a
// dash are referred to with an underscore in depends= and by the kernel.
func moduleName(p string) string {
	base := path.Base(p)
	return strings.ReplaceAll(strings.TrimSuffix(base, moduleSuffix(base)), "-", "_")
}

// parseBuiltin reads modules.builtin (one kernel/…/NAME.ko a line): the
// modules compiled into the kernel, which need no loading. Debian 13's
// cloud kernel has virtio and virtio_pci built in, Debian 12's as modules.
func parseBuiltin(data []byte) map[string]bool {
	out := map[string]bool{}
	for _, l := range strings.Split(string(data), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out[moduleName(l)] = true
		}
	}
	return out
}

// loadOrder returns the modules needed for roots (and everything they
// depend on, transitively) so that each comes after its dependencies, as
// insmod needs: it resolves nothing by itself. A module in builtin is in
// the kernel already and is neither loaded nor followed. A dependency not
// in avail, or a cycle, is an error naming the chain.
func loadOrder(avail map[string]Module, builtin map[string]bool, roots []string) ([]Module, error) {
	const (
		visiting = 1
		done     = 2
	)
	state := map[string]int{}
	var order []Module
	var visit func(name string, chain []string) error
	visit = func(name string, chain []string) error {
		chain = append(chain, name)
		switch state[name] {
		case done:
			return nil
		case visiting:
			return fmt.Errorf("kernel module dependency cycle: %s", strings.Join(chain, " -> "))
		}
		if builtin[name] {
			return nil
		}
		m, ok := avail[name]
		if !ok {
			return fmt.Errorf("kernel module %s is not in the kernel package (wanted via %s)", name, strings.Join(chain, " -> "))
		}
		state[name] = visiting
		deps := append([]string(nil), m.Depends...)
		sort.Strings(deps) // deterministic output whatever .modinfo's order
		for _, d := range deps {
			if err := visit(d, chain); err != nil {
				return err
			}
		}
		state[name] = done
		order = append(order, m)
		return nil
	}
	for _, r := range roots {
		if err := visit(r, nil); err != nil {
			return nil, err
		}
	}
	return order, nil
}
