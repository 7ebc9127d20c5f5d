package host

import (
	"context"
	"fmt"
	"net/netip"
	"path"
	"slices"
	"strings"

	"github.com/stacklab/stacklab/checks"
)

const gib = 1 << 30

// Thresholds. An all-in-one lab tuned to 2 cores holds about 6 GiB resident
// (measured); packages, images and instance disks fill /var/lib.
const (
	MinCPUs         = 2
	RecommendedCPUs = 4

	MinMemory         = 6 * gib
	RecommendedMemory = 8 * gib

	MinDiskFree         = 20 * gib
	RecommendedDiskFree = 40 * gib
	// DataPath is where packages' state, Glance images and nova's instance
	// disks live.
	DataPath = "/var/lib"

	// SwapWantedBelow: under this much RAM a lab without swap gets OOM-killed
	// during package configuration and restart storms.
	SwapWantedBelow = 8 * gib
)

// Check IDs, stable: they are accepted by --skip.
const (
	IDCPUCount = "cpu-count"
	IDCPUVirt  = "cpu-virt"
	IDMemory   = "memory"
	IDDisk     = "disk"
	IDSwap     = "swap"
	IDOS       = "os"
	IDHostname = "hostname"
	IDTimeSync = "time-sync"
	IDPorts    = "ports"
)

// SupportedOS lists the releases the lab installs on.
func SupportedOS() []OSRelease {
	return []OSRelease{
		{ID: "debian", VersionID: "12", PrettyName: "Debian 12 (bookworm)"},
		{ID: "debian", VersionID: "13", PrettyName: "Debian 13 (trixie)"},
	}
}

// RefusedFamilies are distributions preflight refuses whatever their
// release, with the reason: the installer asks for what only Debian ships.
func RefusedFamilies() map[string]string {
	return map[string]string{
		// Ubuntu was accepted once, and no test ever installed on it.
		"ubuntu": "the installer uses Debian's OpenStack packaging (packages such as nova-consoleproxy, " +
			"openstack-dashboard-apache and neutron-api, Debian's uwsgi configuration), which Ubuntu does not ship, " +
			"and CI proves no Ubuntu path",
	}
}

// PendingOS lists releases the installer is being made ready for but CI
// has not yet proven end to end: preflight refuses them, saying why. The
// project claims no release CI has not proven; once the e2e lab host runs
// a release green, move its entry to SupportedOS — the one place to flip.
func PendingOS() []PendingRelease {
	// Debian 13 left this list once its stock-VM e2e (OpenStack 2025.1,
	// neutron on Open vSwitch) ran green on a fresh trixie lab host.
	return nil
}

// PendingRelease is a release preflight refuses until CI proves it.
type PendingRelease struct {
	OSRelease
	Why string
}

// ServicePort is a TCP port the lab listens on.
type ServicePort struct {
	Port    uint16
	Service string
}

// DefaultLabProcesses are path.Match patterns for the process names of the
// lab's own services, matched against the kernel's comm (15 characters at
// most) and the program name in argv.
func DefaultLabProcesses() []string {
	return []string{
		// Debian's uwsgi binary is uwsgi_python311 (keystone, placement, nova-api, neutron-api).
		"mysqld", "mariadbd", "beam.smp", "epmd", "memcached", "apache2", "uwsgi*",
		"mariadb", "rabbitmq-server",
		"keystone*", "glance-*", "placement-*", "nova-*", "neutron-*",
	}
}

// Options carries what the host checks cannot read themselves.
type Options struct {
	// ManagementIP is the address of the management NIC; the hostname check
	// is skipped while it is unknown.
	ManagementIP netip.Addr
	// LabProcesses are patterns for processes allowed on the service ports;
	// nil means DefaultLabProcesses.
	LabProcesses []string
	// Ports are the lab's ports (lab.Model.Ports): the model owns the
	// list, so this package never holds a second one.
	Ports []ServicePort
}

// Checks returns the host checks in report order.
func Checks(r Readings, opts Options) []checks.Check {
	lab := opts.LabProcesses
	if lab == nil {
		lab = DefaultLabProcesses()
	}
	ports := opts.Ports
	return []checks.Check{
		{ID: IDCPUCount, Title: "CPU count", Run: func(context.Context) checks.Result {
			c, err := r.CPU()
			return checkCPUCount(c, err)
		}},
		{ID: IDCPUVirt, Title: "Hardware virtualization", Timeout: DefaultKVMTimeout + DefaultKVMTimeout/2,
			Run: func(context.Context) checks.Result {
				c, err := r.CPU()
				return checkCPUVirt(c, err, r.KVM())
			}},
		{ID: IDMemory, Title: "Memory", Run: func(context.Context) checks.Result {
			m, err := r.Memory()
			c, _ := r.CPU()
			return checkMemory(m, err, c.Platform)
		}},
		{ID: IDDisk, Title: "Free disk space under " + DataPath, Run: func(context.Context) checks.Result {
			d, err := r.Disk(DataPath)
			return checkDisk(d, err)
		}},
		{ID: IDSwap, Title: "Swap", Run: func(context.Context) checks.Result {
			m, err := r.Memory()
			return checkSwap(m, err)
		}},
		{ID: IDOS, Title: "Operating system", Run: func(context.Context) checks.Result {
			o, err := r.OS()
			return checkOS(o, err)
		}},
		{ID: IDHostname, Title: "Hostname resolves to the management address", Run: func(context.Context) checks.Result {
			if !opts.ManagementIP.IsValid() {
				return checks.Skipped("no management address known")
			}
			h, err := r.Hostname()
			return checkHostname(h, err, opts.ManagementIP)
		}},
		{ID: IDTimeSync, Title: "Clock synchronization", Run: func(context.Context) checks.Result {
			c, err := r.Clock()
			return checkTimeSync(c, err)
		}},
		{ID: IDPorts, Title: "Service ports free", Run: func(context.Context) checks.Result {
			if len(ports) == 0 {
				return checks.Skipped("no lab ports given to check")
			}
			nums := make([]uint16, len(ports))
			for i, p := range ports {
				nums[i] = p.Port
			}
			ls, err := r.Listeners(nums)
			return checkPorts(ls, err, ports, lab)
		}},
	}
}

func fmtGiB(b uint64) string { return fmt.Sprintf("%.1f GiB", float64(b)/gib) }

func checkCPUCount(c CPU, err error) checks.Result {
	if err != nil {
		return checks.Warnf("could not count CPUs", "check that /proc is mounted: cat /proc/cpuinfo", err.Error())
	}
	ev := fmt.Sprintf("%d logical CPUs (%s)", c.Count, c.Model)
	switch {
	case c.Count < MinCPUs:
		return checks.Failf(fmt.Sprintf("%d CPU(s): the lab needs at least %d", c.Count, MinCPUs),
			resizeFix(c.Platform, "cpus", RecommendedCPUs), ev)
	case c.Count < RecommendedCPUs:
		return checks.Warnf(fmt.Sprintf("%d CPUs: works, but %d or more keep restarts fast", c.Count, RecommendedCPUs),
			resizeFix(c.Platform, "cpus", RecommendedCPUs), ev)
	}
	return checks.Pass(fmt.Sprintf("%d CPUs", c.Count), ev)
}

func checkCPUVirt(c CPU, cpuErr error, p KVMProbe) checks.Result {
	virt, reason := decideVirt(c, cpuErr, p)
	flags := "CPU virtualization flags: none (no vmx, no svm)"
	if f := c.VirtFlags(); len(f) > 0 {
		flags = "CPU virtualization flags: " + strings.Join(f, " ")
	}
	dev := "/dev/kvm: absent"
	if p.DevicePresent {
		dev = "/dev/kvm: present"
	}
	ev := []string{flags, dev, p.String(), "decision: " + reason}
	if c.Platform != "" {
		ev = append(ev, "platform: "+c.Platform)
	}
	if virt == VirtKVM {
		return checks.Pass("nova will use kvm", ev...)
	}
	var fix string
	switch {
	case cpuErr != nil || len(c.VirtFlags()) == 0:
		fix = nestedVirtFix(c.Platform)
	case !p.DevicePresent:
		fix = "modprobe kvm_intel   # kvm_amd on AMD; then: dmesg | grep -i kvm"
	default:
		fix = "dmesg | grep -i kvm   # find why the kernel refused the guest; or accept qemu emulation"
	}
	return checks.Warnf("nova will use qemu software emulation (slow)", fix, ev...)
}

func checkMemory(m Memory, err error, platform string) checks.Result {
	if err != nil {
		return checks.Warnf("could not read memory size", "check that /proc is mounted: cat /proc/meminfo", err.Error())
	}
	ev := "MemTotal " + fmtGiB(m.Total)
	switch {
	case m.Total < MinMemory:
		return checks.Failf(fmt.Sprintf("%s RAM: the lab needs %s (it holds about 6 GiB resident)", fmtGiB(m.Total), fmtGiB(MinMemory)),
			resizeFix(platform, "memory", RecommendedMemory/gib), ev)
	case m.Total < RecommendedMemory:
		return checks.Warnf(fmt.Sprintf("%s RAM: tight, %s leaves room for instances", fmtGiB(m.Total), fmtGiB(RecommendedMemory)),
			resizeFix(platform, "memory", RecommendedMemory/gib), ev)
	}
	return checks.Pass(fmtGiB(m.Total)+" RAM", ev)
}

func checkDisk(d Disk, err error) checks.Result {
	if err != nil {
		return checks.Warnf("could not measure free space under "+DataPath, "df -h "+DataPath, err.Error())
	}
	ev := fmt.Sprintf("%s (%s): %s free of %s", d.Path, d.Fstype, fmtGiB(d.Free), fmtGiB(d.Total))
	fix := fmt.Sprintf("apt-get clean && df -h %s   # still short of %s free: grow the VM's disk, then its partition and filesystem (growpart, resize2fs)", d.Path, fmtGiB(RecommendedDiskFree))
	switch {
	case d.Free < MinDiskFree:
		return checks.Failf(fmt.Sprintf("%s free under %s: the lab needs %s", fmtGiB(d.Free), d.Path, fmtGiB(MinDiskFree)), fix, ev)
	case d.Free < RecommendedDiskFree:
		return checks.Warnf(fmt.Sprintf("%s free under %s: enough to install, little room for images and instances", fmtGiB(d.Free), d.Path), fix, ev)
	}
	return checks.Pass(fmt.Sprintf("%s free under %s", fmtGiB(d.Free), d.Path), ev)
}

func checkSwap(m Memory, err error) checks.Result {
	if err != nil {
		return checks.Warnf("could not read swap", "swapon --show", err.Error())
	}
	ev := fmt.Sprintf("SwapTotal %s, MemTotal %s", fmtGiB(m.SwapTotal), fmtGiB(m.Total))
	if m.SwapTotal == 0 {
		if m.Total < SwapWantedBelow {
			return checks.Warnf(fmt.Sprintf("no swap and only %s RAM: package configuration may be OOM-killed", fmtGiB(m.Total)),
				"fallocate -l 4G /swapfile && chmod 600 /swapfile && mkswap /swapfile && swapon /swapfile && echo '/swapfile none swap sw 0 0' >> /etc/fstab", ev)
		}
		return checks.Pass("no swap (enough RAM without it)", ev)
	}
	return checks.Pass(fmtGiB(m.SwapTotal)+" swap", ev)
}

func checkOS(o OSRelease, err error) checks.Result {
	return checkOSAgainst(o, err, SupportedOS(), PendingOS(), RefusedFamilies())
}

// checkOSAgainst judges o against the supported and pending releases (its
// own function so that the pending path stays tested while no release is
// pending).
func checkOSAgainst(o OSRelease, err error, supported []OSRelease, pending []PendingRelease, refused map[string]string) checks.Result {
	var names []string
	for _, s := range supported {
		names = append(names, s.PrettyName)
	}
	fix := "install one of: " + strings.Join(names, ", ")
	if err != nil {
		return checks.Failf("could not identify the operating system", fix, err.Error())
	}
	ev := fmt.Sprintf("os-release: ID=%s VERSION_ID=%s PRETTY_NAME=%q", o.ID, o.VersionID, o.PrettyName)
	for _, s := range supported {
		if o.ID == s.ID && o.VersionID == s.VersionID {
			return checks.Pass(o.PrettyName, ev)
		}
	}
	for _, s := range pending {
		if o.ID == s.ID && o.VersionID == s.VersionID {
			return checks.Failf(s.PrettyName+" is not supported yet: "+s.Why+" (supported: "+strings.Join(names, ", ")+")", fix, ev)
		}
	}
	name := o.PrettyName
	if name == "" {
		name = strings.TrimSpace(o.ID + " " + o.VersionID)
	}
	if why, ok := refused[o.ID]; ok {
		return checks.Failf(name+" is not supported: "+why+" (supported: "+strings.Join(names, ", ")+")", fix, ev)
	}
	return checks.Failf(name+" is not supported (supported: "+strings.Join(names, ", ")+")", fix, ev)
}

func checkHostname(h Hostname, err error, mgmt netip.Addr) checks.Result {
	if err != nil {
		return checks.Warnf("could not read the hostname or /etc/hosts", "hostnamectl; cat /etc/hosts", err.Error())
	}
	want := mgmt.String() + " " + h.Name
	if short, _, ok := strings.Cut(h.Name, "."); ok {
		want += " " + short
	}
	var ev []string
	for _, e := range h.Entries {
		ev = append(ev, "/etc/hosts: "+e.Addr.String()+" "+strings.Join(e.Names, " "))
	}
	if len(h.Entries) == 0 {
		return checks.Warnf(fmt.Sprintf("hostname %s is not in /etc/hosts: its address would come from DNS", h.Name),
			fmt.Sprintf("stacklab net apply   (adds the line, keeping /etc/hosts.stacklab-bak)\nor by hand: echo '%s' >> /etc/hosts", want), "no /etc/hosts line names "+h.Name)
	}
	var bad []HostsEntry
	for _, e := range h.Entries {
		// A non-loopback IPv6 address beside the right IPv4 one is harmless:
		// services bind the IPv4 management address.
		if e.Addr == mgmt || (e.Addr.Is6() && !e.Addr.IsLoopback()) {
			continue
		}
		bad = append(bad, e)
	}
	hasMgmt := slices.Contains(h.Addrs(), mgmt)
	if len(bad) == 0 && hasMgmt {
		return checks.Pass(fmt.Sprintf("%s resolves to %s", h.Name, mgmt), ev...)
	}
	var got []string
	for _, a := range h.Addrs() {
		got = append(got, a.String())
	}
	summary := fmt.Sprintf("%s resolves to %s, not only to the management address %s", h.Name, strings.Join(got, ", "), mgmt)
	for _, e := range bad {
		if e.Addr.IsLoopback() {
			summary = fmt.Sprintf("%s resolves to %s (loopback), not to the management address %s", h.Name, e.Addr, mgmt)
			break
		}
	}
	return checks.Failf(summary, hostsFix(bad, h.Name, want, hasMgmt), ev...)
}

// hostsFix spells out the /etc/hosts edit: each offending line rewritten
// without the host's names (or removed when nothing else is left on it), and
// the management line added.
func hostsFix(bad []HostsEntry, host, want string, hasMgmt bool) string {
	short, _, _ := strings.Cut(host, ".")
	var b strings.Builder
	b.WriteString("stacklab net apply   (makes this edit, keeping /etc/hosts.stacklab-bak)\nor by hand, edit /etc/hosts:")
	for _, e := range bad {
		var keep []string
		for _, n := range e.Names {
			if !strings.EqualFold(n, host) && !strings.EqualFold(n, short) {
				keep = append(keep, n)
			}
		}
		old := e.Addr.String() + " " + strings.Join(e.Names, " ")
		if len(keep) == 0 {
			fmt.Fprintf(&b, "\n  delete the line: %s", old)
		} else {
			fmt.Fprintf(&b, "\n  change the line: %s\n  to:              %s", old, e.Addr.String()+" "+strings.Join(keep, " "))
		}
	}
	if !hasMgmt {
		fmt.Fprintf(&b, "\n  add the line:    %s", want)
	}
	return b.String()
}

func checkTimeSync(c Clock, err error) checks.Result {
	fix := "timedatectl set-ntp true   # systemd-timesyncd\nor: apt-get install -y chrony && systemctl enable --now chrony"
	if err != nil {
		return checks.Warnf("could not read the clock state", fix, err.Error())
	}
	unsync := "clear"
	if c.Status&staUnsync != 0 {
		unsync = "set"
	}
	ev := []string{
		fmt.Sprintf("adjtimex state %s, STA_UNSYNC %s", clockStateName(c.State), unsync),
		fmt.Sprintf("kernel max error estimate %.3f s", float64(c.MaxErrorMicros)/1e6),
	}
	if !c.Synced() {
		return checks.Warnf("the clock is not synchronized: tokens and RabbitMQ heartbeats misbehave when it drifts", fix, ev...)
	}
	return checks.Pass("the clock is synchronized", ev...)
}

func clockStateName(s int) string {
	switch s {
	case 0:
		return "TIME_OK"
	case 1:
		return "TIME_INS"
	case 2:
		return "TIME_DEL"
	case 3:
		return "TIME_OOP"
	case 4:
		return "TIME_WAIT"
	case 5:
		return "TIME_ERROR"
	}
	return fmt.Sprintf("%d", s)
}

// processNames are the names a listener's process goes by: the kernel comm,
// its systemd unit (which names the service even when the process is a
// generic uwsgi), argv[0]'s program (first word, since setproctitle rewrites
// it into a sentence) and, for an interpreter, the script in argv[1].
func processNames(l Listener) []string {
	names := []string{l.Comm, strings.TrimSuffix(l.Unit, ".service")}
	if len(l.Cmdline) > 0 {
		if f := strings.Fields(l.Cmdline[0]); len(f) > 0 {
			prog := path.Base(f[0])
			names = append(names, prog)
			if strings.HasPrefix(prog, "python") && len(l.Cmdline) > 1 {
				names = append(names, path.Base(l.Cmdline[1]))
			}
		}
	}
	return names
}

func isLab(l Listener, patterns []string) bool {
	for _, n := range processNames(l) {
		if n == "" {
			continue
		}
		for _, p := range patterns {
			if ok, err := path.Match(p, n); ok || (err != nil && p == n) {
				return true
			}
		}
	}
	return false
}

func checkPorts(ls []Listener, err error, ports []ServicePort, lab []string) checks.Result {
	if err != nil {
		return checks.Warnf("could not list listening TCP sockets", "ss -ltnp", err.Error())
	}
	var ev, problems, fixes []string
	held := 0
	fixed := map[int]bool{}
	for _, sp := range ports {
		seen := map[int]bool{}
		portHeld := false
		for _, l := range ls {
			if l.Port != sp.Port || (l.PID != 0 && seen[l.PID]) {
				continue
			}
			seen[l.PID] = true
			portHeld = true
			who := "an unidentified process"
			if l.PID != 0 {
				who = fmt.Sprintf("%s (PID %d)", l.Comm, l.PID)
			}
			if l.PID != 0 && isLab(l, lab) {
				ev = append(ev, fmt.Sprintf("port %d (%s): %s on %s, a lab service", sp.Port, sp.Service, who, l.Addr))
				continue
			}
			// systemd itself listening is socket activation: a .socket
			// unit starts the port's service on the first connection
			// (Debian's mariadb.socket holds 3306 after a reboot). It is
			// the service's port, and PID 1 is never to be killed.
			if l.PID == 1 && l.Comm == "systemd" {
				ev = append(ev, fmt.Sprintf("port %d (%s): systemd on %s, socket activation (systemctl list-sockets names the unit)", sp.Port, sp.Service, l.Addr))
				continue
			}
			ev = append(ev, fmt.Sprintf("port %d (%s): %s on %s, not a lab service", sp.Port, sp.Service, who, l.Addr))
			problems = append(problems, fmt.Sprintf("port %d (%s) is held by %s", sp.Port, sp.Service, who))
			switch {
			case l.PID == 0:
				fixes = append(fixes, fmt.Sprintf("ss -ltnp 'sport = :%d'   # find the owner, then stop it", sp.Port))
			case fixed[l.PID]:
			case l.Unit != "":
				fixes = append(fixes, fmt.Sprintf("systemctl disable --now %s   # PID %d %s", l.Unit, l.PID, l.Comm))
			default:
				fixes = append(fixes, fmt.Sprintf("kill %d   # %s", l.PID, l.Comm))
			}
			fixed[l.PID] = true
		}
		if portHeld {
			held++
		}
	}
	if len(problems) > 0 {
		return checks.Failf(strings.Join(problems, "; "), strings.Join(fixes, "\n"), ev...)
	}
	if held == 0 {
		return checks.Pass(fmt.Sprintf("all %d service ports are free", len(ports)))
	}
	return checks.Pass(fmt.Sprintf("%d service ports free, %d held by the lab's own services", len(ports)-held, held), ev...)
}
