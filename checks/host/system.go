package host

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/shirou/gopsutil/v4/cpu"
	"github.com/shirou/gopsutil/v4/disk"
	"github.com/shirou/gopsutil/v4/mem"
	"golang.org/x/sys/unix"
)

// DefaultKVMTimeout bounds the KVM probe guest. A working KVM runs it in
// well under a millisecond; anything slower is broken.
const DefaultKVMTimeout = 2 * time.Second

// System reads the real machine. The zero value is not usable; call NewSystem.
type System struct {
	procDir    string
	sysDir     string
	etcDir     string
	kvmDevice  string
	kvmTimeout time.Duration
}

// NewSystem returns Readings of this machine.
func NewSystem() *System {
	return &System{
		procDir:    "/proc",
		sysDir:     "/sys",
		etcDir:     "/etc",
		kvmDevice:  "/dev/kvm",
		kvmTimeout: DefaultKVMTimeout,
	}
}

var _ Readings = (*System)(nil)

// CPU counts logical processors and reads the flags of the first one (they
// are the same on every processor of a VM).
func (s *System) CPU() (CPU, error) {
	n, err := cpu.Counts(true)
	if err != nil {
		return CPU{}, fmt.Errorf("count CPUs: %w", err)
	}
	info, err := cpu.Info()
	if err != nil {
		return CPU{}, fmt.Errorf("read CPU info: %w", err)
	}
	c := CPU{Count: n}
	if len(info) > 0 {
		c.Flags = info[0].Flags
		c.Model = info[0].ModelName
	}
	c.Platform = s.platform()
	return c, nil
}

// platform reads DMI; absent files (containers, some clouds) leave it empty.
func (s *System) platform() string {
	var parts []string
	for _, f := range []string{"sys_vendor", "product_name"} {
		b, err := os.ReadFile(filepath.Join(s.sysDir, "class/dmi/id", f))
		if err == nil {
			if v := strings.TrimSpace(string(b)); v != "" {
				parts = append(parts, v)
			}
		}
	}
	return strings.Join(parts, " ")
}

// KVM runs the probe guest.
func (s *System) KVM() KVMProbe { return probeKVM(s.kvmDevice, s.kvmTimeout) }

// Memory reads /proc/meminfo through gopsutil.
func (s *System) Memory() (Memory, error) {
	vm, err := mem.VirtualMemory()
	if err != nil {
		return Memory{}, fmt.Errorf("read memory: %w", err)
	}
	sw, err := mem.SwapMemory()
	if err != nil {
		return Memory{}, fmt.Errorf("read swap: %w", err)
	}
	return Memory{Total: vm.Total, SwapTotal: sw.Total}, nil
}

// Disk statfs()es path or its nearest existing ancestor.
func (s *System) Disk(path string) (Disk, error) {
	p := filepath.Clean(path)
	for {
		if _, err := os.Stat(p); err == nil || p == "/" || p == "." {
			break
		}
		p = filepath.Dir(p)
	}
	u, err := disk.Usage(p)
	if err != nil {
		return Disk{}, fmt.Errorf("statfs %s: %w", p, err)
	}
	return Disk{Path: p, Fstype: u.Fstype, Free: u.Free, Total: u.Total}, nil
}

// OS reads /etc/os-release, falling back to /usr/lib/os-release as
// os-release(5) prescribes.
func (s *System) OS() (OSRelease, error) {
	var firstErr error
	for _, p := range []string{filepath.Join(s.etcDir, "os-release"), "/usr/lib/os-release"} {
		f, err := os.Open(p)
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		defer f.Close()
		return parseOSRelease(f)
	}
	return OSRelease{}, fmt.Errorf("read os-release: %w", firstErr)
}

// Hostname reads the kernel hostname and the /etc/hosts lines naming it.
func (s *System) Hostname() (Hostname, error) {
	var uts unix.Utsname
	if err := unix.Uname(&uts); err != nil {
		return Hostname{}, fmt.Errorf("uname: %w", err)
	}
	h := Hostname{Name: unix.ByteSliceToString(uts.Nodename[:])}
	f, err := os.Open(filepath.Join(s.etcDir, "hosts"))
	if errors.Is(err, os.ErrNotExist) {
		return h, nil
	}
	if err != nil {
		return Hostname{}, fmt.Errorf("open hosts: %w", err)
	}
	defer f.Close()
	all, err := parseHosts(f)
	if err != nil {
		return Hostname{}, err
	}
	h.Entries = entriesNaming(all, h.Name)
	return h, nil
}

// Clock asks the kernel (adjtimex with modes 0 only reads) whether an NTP
// client disciplines the clock; no packet is sent.
func (s *System) Clock() (Clock, error) {
	var tx unix.Timex
	state, err := unix.Adjtimex(&tx)
	if err != nil {
		return Clock{}, fmt.Errorf("adjtimex: %w", err)
	}
	return Clock{State: state, Status: tx.Status, MaxErrorMicros: tx.Maxerror}, nil
}

// Listeners parses /proc/net/tcp{,6} of this network namespace and, only if
// something listens on a wanted port, walks /proc/*/fd to find the owners.
func (s *System) Listeners(ports []uint16) ([]Listener, error) {
	var out []Listener
	for _, name := range []string{"net/tcp", "net/tcp6"} {
		f, err := os.Open(filepath.Join(s.procDir, name))
		if errors.Is(err, os.ErrNotExist) && name == "net/tcp6" {
			continue // IPv6 disabled
		}
		if err != nil {
			return nil, fmt.Errorf("open %s: %w", name, err)
		}
		socks, err := ParseProcNetTCP(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("parse %s: %w", name, err)
		}
		for _, so := range socks {
			if so.State == TCPListen && slices.Contains(ports, so.Port) {
				out = append(out, Listener{Addr: so.Addr, Port: so.Port, Inode: so.Inode})
			}
		}
	}
	if len(out) == 0 {
		return nil, nil
	}
	owners := s.socketOwners(out)
	for i := range out {
		pid, ok := owners[out[i].Inode]
		if !ok {
			continue
		}
		out[i].PID = pid
		out[i].Comm, out[i].Cmdline, out[i].Unit = s.describe(pid)
	}
	return out, nil
}

// socketOwners maps each wanted inode to the lowest PID holding it: forked
// workers share their parent's listening socket, and the parent is the one
// to name. Processes vanishing or denying access mid-walk are skipped.
func (s *System) socketOwners(ls []Listener) map[uint64]int {
	want := make(map[uint64]bool, len(ls))
	for _, l := range ls {
		want[l.Inode] = true
	}
	owners := map[uint64]int{}
	procs, err := os.ReadDir(s.procDir)
	if err != nil {
		return owners
	}
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil {
			continue
		}
		fdDir := filepath.Join(s.procDir, p.Name(), "fd")
		fds, err := os.ReadDir(fdDir)
		if err != nil {
			continue
		}
		for _, fd := range fds {
			link, err := os.Readlink(filepath.Join(fdDir, fd.Name()))
			if err != nil {
				continue
			}
			ino, ok := SocketInode(link)
			if !ok || !want[ino] {
				continue
			}
			if cur, seen := owners[ino]; !seen || pid < cur {
				owners[ino] = pid
			}
		}
	}
	return owners
}

func (s *System) describe(pid int) (comm string, cmdline []string, unit string) {
	dir := filepath.Join(s.procDir, strconv.Itoa(pid))
	if b, err := os.ReadFile(filepath.Join(dir, "comm")); err == nil {
		comm = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile(filepath.Join(dir, "cmdline")); err == nil {
		for _, a := range bytes.Split(bytes.TrimRight(b, "\x00"), []byte{0}) {
			if len(a) > 0 {
				cmdline = append(cmdline, string(a))
			}
		}
	}
	if b, err := os.ReadFile(filepath.Join(dir, "cgroup")); err == nil {
		unit = unitFromCgroup(string(b))
	}
	return comm, cmdline, unit
}
