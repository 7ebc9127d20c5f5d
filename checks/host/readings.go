// Package host holds the hardware and operating-system preflight checks: CPU,
// hardware virtualization, memory, disk, swap, OS release, hostname
// resolution, clock synchronization and the service ports. Every check reads
// the machine through the Readings interface, so thresholds are tested with
// fake readings and System is tested once against the real host.
package host

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
)

// Readings is everything the host checks measure. System reads the real
// machine; tests substitute fixed values.
type Readings interface {
	CPU() (CPU, error)
	// KVM probes /dev/kvm by running a tiny guest. It never returns an error:
	// a failed probe is a finding, recorded in KVMProbe.Err.
	KVM() KVMProbe
	Memory() (Memory, error)
	// Disk measures the filesystem holding path (or its nearest existing
	// ancestor, so a machine without /var/lib yet is still measured).
	Disk(path string) (Disk, error)
	OS() (OSRelease, error)
	Hostname() (Hostname, error)
	Clock() (Clock, error)
	// Listeners returns the listening TCP sockets (IPv4 and IPv6) on the
	// given ports and the process holding each.
	Listeners(ports []uint16) ([]Listener, error)
}

// CPU describes the processors and the platform they run on.
type CPU struct {
	Count int
	// Flags are the feature flags of the first processor in /proc/cpuinfo.
	Flags []string
	Model string
	// Platform is the DMI system vendor and product name ("innotek GmbH
	// VirtualBox", "QEMU Standard PC (Q35 + ICH9, 2009)"), empty where the
	// firmware does not say. It picks the hypervisor-specific fix.
	Platform string
}

// VirtFlags returns the hardware-virtualization flags present (vmx, svm).
func (c CPU) VirtFlags() []string {
	var out []string
	for _, f := range []string{"vmx", "svm"} {
		if slices.Contains(c.Flags, f) {
			out = append(out, f)
		}
	}
	return out
}

// KVMProbe is the outcome of running a minimal guest under /dev/kvm.
type KVMProbe struct {
	DevicePresent bool
	// Err is nil when the guest ran to its HLT instruction.
	Err error
	// APIVersion is what KVM_GET_API_VERSION answered, 0 if it was not reached.
	APIVersion int
}

// OK reports whether a guest really ran.
func (p KVMProbe) OK() bool { return p.DevicePresent && p.Err == nil }

// String renders the probe for evidence lines.
func (p KVMProbe) String() string {
	switch {
	case !p.DevicePresent:
		return "KVM probe: /dev/kvm absent"
	case p.Err != nil:
		return "KVM probe failed: " + p.Err.Error()
	default:
		return fmt.Sprintf("KVM probe: test guest ran to HLT (API version %d)", p.APIVersion)
	}
}

// ErrKVMTimeout means the probe guest did not reach HLT in time.
var ErrKVMTimeout = errors.New("test guest did not exit in time")

// ErrKVMUnsupportedArch means this build has no probe for the architecture.
var ErrKVMUnsupportedArch = errors.New("no KVM probe for this architecture")

// KVMExitError reports a guest that stopped for a reason other than HLT.
type KVMExitError struct {
	Reason uint32
	// Detail is the reason-specific word (internal-error suberror, hardware
	// entry failure reason), 0 when the reason has none.
	Detail uint64
}

func (e *KVMExitError) Error() string {
	name := kvmExitName(e.Reason)
	if e.Detail != 0 {
		return fmt.Sprintf("guest exited with %s (0x%x) instead of KVM_EXIT_HLT", name, e.Detail)
	}
	return fmt.Sprintf("guest exited with %s instead of KVM_EXIT_HLT", name)
}

func kvmExitName(r uint32) string {
	switch r {
	case 0:
		return "KVM_EXIT_UNKNOWN"
	case 1:
		return "KVM_EXIT_EXCEPTION"
	case 2:
		return "KVM_EXIT_IO"
	case 5:
		return "KVM_EXIT_HLT"
	case 6:
		return "KVM_EXIT_MMIO"
	case 8:
		return "KVM_EXIT_SHUTDOWN"
	case 9:
		return "KVM_EXIT_FAIL_ENTRY"
	case 10:
		return "KVM_EXIT_INTR"
	case 17:
		return "KVM_EXIT_INTERNAL_ERROR"
	}
	return fmt.Sprintf("exit reason %d", r)
}

// Memory is RAM and swap in bytes.
type Memory struct {
	Total     uint64
	SwapTotal uint64
}

// Disk is the space of one filesystem in bytes. Free is what an unprivileged
// writer may use (statfs f_bavail), which is what the packages and images get.
type Disk struct {
	Path   string // the path actually measured
	Fstype string
	Free   uint64
	Total  uint64
}

// OSRelease is the part of os-release(5) the checks use.
type OSRelease struct {
	ID         string
	VersionID  string
	PrettyName string
}

// Hostname is the kernel hostname and what /etc/hosts maps it to. DNS is not
// consulted: preflight sends no traffic, and the lab's services resolve their
// own hostname through /etc/hosts first (nsswitch "files dns").
type Hostname struct {
	Name string
	// Entries are the /etc/hosts lines naming the host, in file order.
	Entries []HostsEntry
}

// Addrs returns the addresses the hostname resolves to, in file order.
func (h Hostname) Addrs() []netip.Addr {
	var out []netip.Addr
	for _, e := range h.Entries {
		if !slices.Contains(out, e.Addr) {
			out = append(out, e.Addr)
		}
	}
	return out
}

// HostsEntry is one /etc/hosts line.
type HostsEntry struct {
	Addr  netip.Addr
	Names []string
}

// Clock is the kernel's NTP discipline state from adjtimex(2).
type Clock struct {
	// State is adjtimex's return value; 5 (TIME_ERROR) means unsynchronized.
	State int
	// Status is the timex status word; bit 0x40 (STA_UNSYNC) means unsynchronized.
	Status int32
	// MaxErrorMicros is the kernel's maximum error estimate.
	MaxErrorMicros int64
}

const (
	timeError = 5
	staUnsync = 0x40
)

// Synced reports whether something (chrony, systemd-timesyncd, ntpd) is
// disciplining the clock.
func (c Clock) Synced() bool { return c.State != timeError && c.Status&staUnsync == 0 }

// Listener is one listening TCP socket and its owner. PID is 0 when no
// process could be found holding the socket.
type Listener struct {
	Addr  netip.Addr
	Port  uint16
	Inode uint64
	PID   int
	Comm  string
	// Cmdline is argv; interpreters put the program in argv[1].
	Cmdline []string
	// Unit is the systemd service owning the process, from its cgroup.
	Unit string
}
