//go:build linux && amd64

package host

import (
	"testing"
	"unsafe"
)

// The ioctl numbers encode these sizes; a layout mistake would make the kernel
// read or write past our structs.
func TestKVMStructLayouts(t *testing.T) {
	tests := []struct {
		name string
		got  uintptr
		want uintptr
	}{
		{"kvm_userspace_memory_region", unsafe.Sizeof(kvmUserspaceMemoryRegion{}), 32},
		{"kvm_regs", unsafe.Sizeof(kvmRegs{}), 144},
		{"kvm_segment", unsafe.Sizeof(kvmSegment{}), 24},
		{"kvm_dtable", unsafe.Sizeof(kvmDtable{}), 16},
		{"kvm_sregs", unsafe.Sizeof(kvmSregs{}), 312},
		{"kvm_sregs.gdt offset", unsafe.Offsetof(kvmSregs{}.GDT), 192},
		{"kvm_sregs.cr0 offset", unsafe.Offsetof(kvmSregs{}.CR0), 224},
		{"kvm_sregs.interrupt_bitmap offset", unsafe.Offsetof(kvmSregs{}.InterruptBitmap), 280},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: %d bytes, want %d", tt.name, tt.got, tt.want)
		}
	}
	// The size field (bits 16..29) of each _IOR/_IOW request must match.
	reqs := []struct {
		name string
		req  uintptr
		size uintptr
	}{
		{"KVM_SET_USER_MEMORY_REGION", kvmSetUserMemoryRegion, unsafe.Sizeof(kvmUserspaceMemoryRegion{})},
		{"KVM_SET_REGS", kvmSetRegs, unsafe.Sizeof(kvmRegs{})},
		{"KVM_GET_SREGS", kvmGetSregs, unsafe.Sizeof(kvmSregs{})},
		{"KVM_SET_SREGS", kvmSetSregs, unsafe.Sizeof(kvmSregs{})},
	}
	for _, r := range reqs {
		if got := (r.req >> 16) & 0x3fff; got != r.size {
			t.Errorf("%s encodes size %d, struct is %d", r.name, got, r.size)
		}
	}
}
