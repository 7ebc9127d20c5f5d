package host

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
)

// Open vSwitch datapaths, as the Bridge table's datapath_type names them.
const (
	DatapathSystem = "system"
	DatapathNetdev = "netdev"
)

// Modules is the kernel's module loader, as the datapath choice sees it.
type Modules interface {
	// Loaded reports whether the module is in the running kernel
	// (built in or loaded).
	Loaded(name string) bool
	// Load asks modprobe for it and returns modprobe's complaint.
	Load(ctx context.Context, name string) error
}

// OVSDatapath decides the datapath of the lab's OVS bridges by what the
// kernel really does, the way VirtType decides kvm: the openvswitch module
// loaded, or loadable now, gives the kernel datapath; anything else the
// userspace one (netdev), which needs no module. The installer and doctor
// share it so that their verdicts cannot disagree.
func OVSDatapath(ctx context.Context, m Modules) (datapath, reason string) {
	const mod = "openvswitch"
	if m.Loaded(mod) {
		return DatapathSystem, "the kernel's openvswitch module is loaded: bridges use the kernel datapath"
	}
	err := m.Load(ctx, mod)
	switch {
	case err != nil:
		return DatapathNetdev, fmt.Sprintf("the kernel has no usable openvswitch module (modprobe: %v): bridges use Open vSwitch's userspace datapath (netdev), slower but complete for a lab", err)
	case !m.Loaded(mod):
		return DatapathNetdev, "modprobe openvswitch succeeded but the module is not in the kernel: bridges use the userspace datapath (netdev)"
	}
	return DatapathSystem, "the kernel's openvswitch module loaded: bridges use the kernel datapath"
}

// SystemModules reads /sys/module and runs modprobe.
type SystemModules struct{}

func (SystemModules) Loaded(name string) bool {
	_, err := os.Stat("/sys/module/" + name)
	return err == nil
}

func (SystemModules) Load(ctx context.Context, name string) error {
	out, err := exec.CommandContext(ctx, "modprobe", name).CombinedOutput()
	if err != nil {
		if msg := strings.TrimSpace(string(out)); msg != "" {
			return fmt.Errorf("%w: %s", err, msg)
		}
		return err
	}
	return nil
}
