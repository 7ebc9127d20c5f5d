//go:build linux && amd64

package host

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"runtime"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ioctl numbers from <linux/kvm.h>: _IO(KVMIO=0xAE, nr), and _IOR/_IOW with
// the size of the struct below encoded in bits 16..29.
const (
	kvmGetAPIVersion       = 0xAE00
	kvmCreateVM            = 0xAE01
	kvmGetVCPUMmapSize     = 0xAE04
	kvmCreateVCPU          = 0xAE41
	kvmSetUserMemoryRegion = 0x4020AE46 // _IOW(0xAE, 0x46, 32 bytes)
	kvmRun                 = 0xAE80
	kvmSetRegs             = 0x4090AE82 // _IOW(0xAE, 0x82, 144 bytes)
	kvmGetSregs            = 0x8138AE83 // _IOR(0xAE, 0x83, 312 bytes)
	kvmSetSregs            = 0x4138AE84 // _IOW(0xAE, 0x84, 312 bytes)

	kvmAPIVersion = 12 // the only stable version there has ever been
	kvmExitHLT    = 5
	kvmExitIntr   = 10

	kvmExitFailEntry     = 9
	kvmExitInternalError = 17

	// kvm_run: exit_reason is a __u32 at offset 8; the exit union at 32.
	kvmRunExitReasonOff = 8
	kvmRunExitUnionOff  = 32

	probeGuestAddr = 0x1000
	probePageSize  = 0x1000
	hltOpcode      = 0xf4
)

// struct kvm_userspace_memory_region (32 bytes).
type kvmUserspaceMemoryRegion struct {
	Slot          uint32
	Flags         uint32
	GuestPhysAddr uint64
	MemorySize    uint64
	UserspaceAddr uint64
}

// struct kvm_regs (144 bytes).
type kvmRegs struct {
	RAX, RBX, RCX, RDX, RSI, RDI, RSP, RBP uint64
	R8, R9, R10, R11, R12, R13, R14, R15   uint64
	RIP, RFLAGS                            uint64
}

// struct kvm_segment (24 bytes).
type kvmSegment struct {
	Base                            uint64
	Limit                           uint32
	Selector                        uint16
	Type, Present, DPL, DB, S, L, G uint8
	AVL, Unusable, Padding          uint8
}

// struct kvm_dtable (16 bytes).
type kvmDtable struct {
	Base    uint64
	Limit   uint16
	Padding [3]uint16
}

// struct kvm_sregs (312 bytes); the interrupt bitmap holds KVM_NR_INTERRUPTS
// (256) bits.
type kvmSregs struct {
	CS, DS, ES, FS, GS, SS, TR, LDT kvmSegment
	GDT, IDT                        kvmDtable
	CR0, CR2, CR3, CR4, CR8         uint64
	EFER, APICBase                  uint64
	InterruptBitmap                 [4]uint64
}

func ioctl(fd int, req uintptr, arg uintptr) (uintptr, error) {
	r, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), req, arg)
	if errno != 0 {
		return r, errno
	}
	return r, nil
}

// probeKVM opens dev and runs a one-instruction real-mode guest. The device
// answering ioctls is not enough: on these machines /dev/kvm can exist and
// create VMs yet fail to run a guest, so only a guest reaching HLT counts.
// A KVM_RUN that never returns cannot be interrupted from here; the probe
// then reports ErrKVMTimeout and leaves that goroutine (and its fds) behind.
func probeKVM(dev string, timeout time.Duration) KVMProbe {
	if _, err := os.Stat(dev); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return KVMProbe{}
		}
		return KVMProbe{Err: fmt.Errorf("stat %s: %w", dev, err)}
	}
	ch := make(chan KVMProbe, 1)
	go func() { ch <- runProbeGuest(dev, time.Now().Add(timeout)) }()
	select {
	case p := <-ch:
		return p
	case <-time.After(timeout):
		return KVMProbe{DevicePresent: true, Err: fmt.Errorf("after %s: %w", timeout, ErrKVMTimeout)}
	}
}

func runProbeGuest(dev string, deadline time.Time) KVMProbe {
	// A vCPU is cheapest to run from the thread that created it.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()

	p := KVMProbe{DevicePresent: true}
	fail := func(err error) KVMProbe { p.Err = err; return p }

	kvm, err := unix.Open(dev, unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return fail(fmt.Errorf("open %s: %w", dev, err))
	}
	defer unix.Close(kvm)

	v, err := ioctl(kvm, kvmGetAPIVersion, 0)
	if err != nil {
		return fail(fmt.Errorf("KVM_GET_API_VERSION: %w", err))
	}
	p.APIVersion = int(v)
	if v != kvmAPIVersion {
		return fail(fmt.Errorf("KVM API version %d, want %d", v, kvmAPIVersion))
	}

	vmfd, err := ioctl(kvm, kvmCreateVM, 0)
	if err != nil {
		return fail(fmt.Errorf("KVM_CREATE_VM: %w", err))
	}
	vm := int(vmfd)
	defer unix.Close(vm)

	mem, err := unix.Mmap(-1, 0, probePageSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_ANONYMOUS)
	if err != nil {
		return fail(fmt.Errorf("mmap guest memory: %w", err))
	}
	defer unix.Munmap(mem)
	mem[0] = hltOpcode
	region := kvmUserspaceMemoryRegion{
		GuestPhysAddr: probeGuestAddr,
		MemorySize:    probePageSize,
		UserspaceAddr: uint64(uintptr(unsafe.Pointer(&mem[0]))),
	}
	if _, err := ioctl(vm, kvmSetUserMemoryRegion, uintptr(unsafe.Pointer(&region))); err != nil {
		return fail(fmt.Errorf("KVM_SET_USER_MEMORY_REGION: %w", err))
	}

	cpufd, err := ioctl(vm, kvmCreateVCPU, 0)
	if err != nil {
		return fail(fmt.Errorf("KVM_CREATE_VCPU: %w", err))
	}
	vcpu := int(cpufd)
	defer unix.Close(vcpu)

	size, err := ioctl(kvm, kvmGetVCPUMmapSize, 0)
	if err != nil {
		return fail(fmt.Errorf("KVM_GET_VCPU_MMAP_SIZE: %w", err))
	}
	run, err := unix.Mmap(vcpu, 0, int(size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return fail(fmt.Errorf("mmap kvm_run: %w", err))
	}
	defer unix.Munmap(run)

	// Real mode with CS based at 0, so CS:IP points at the HLT page.
	var sregs kvmSregs
	if _, err := ioctl(vcpu, kvmGetSregs, uintptr(unsafe.Pointer(&sregs))); err != nil {
		return fail(fmt.Errorf("KVM_GET_SREGS: %w", err))
	}
	sregs.CS.Base, sregs.CS.Selector = 0, 0
	if _, err := ioctl(vcpu, kvmSetSregs, uintptr(unsafe.Pointer(&sregs))); err != nil {
		return fail(fmt.Errorf("KVM_SET_SREGS: %w", err))
	}
	regs := kvmRegs{RIP: probeGuestAddr, RFLAGS: 0x2} // bit 1 is reserved, always set
	if _, err := ioctl(vcpu, kvmSetRegs, uintptr(unsafe.Pointer(&regs))); err != nil {
		return fail(fmt.Errorf("KVM_SET_REGS: %w", err))
	}

	for {
		_, err := ioctl(vcpu, kvmRun, 0)
		reason := binary.LittleEndian.Uint32(run[kvmRunExitReasonOff:])
		// The Go runtime preempts threads with signals, which bounce KVM_RUN
		// back with EINTR before the guest has done anything: retry.
		if errors.Is(err, unix.EINTR) || (err == nil && reason == kvmExitIntr) {
			if time.Now().After(deadline) {
				return fail(ErrKVMTimeout)
			}
			continue
		}
		if err != nil {
			return fail(fmt.Errorf("KVM_RUN: %w", err))
		}
		if reason == kvmExitHLT {
			return p
		}
		e := &KVMExitError{Reason: reason}
		switch reason {
		case kvmExitFailEntry: // __u64 hardware_entry_failure_reason
			e.Detail = binary.LittleEndian.Uint64(run[kvmRunExitUnionOff:])
		case kvmExitInternalError: // __u32 suberror
			e.Detail = uint64(binary.LittleEndian.Uint32(run[kvmRunExitUnionOff:]))
		}
		return fail(e)
	}
}
