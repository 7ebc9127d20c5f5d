package host

import (
	"fmt"
	"strings"
)

// Virt types nova's [libvirt] virt_type accepts that we choose between.
const (
	VirtKVM  = "kvm"
	VirtQEMU = "qemu"
)

// VirtType decides nova's libvirt virt_type. The installer reuses it so the
// preflight verdict and the deployed config cannot disagree. kvm requires all
// three: the CPU advertises vmx or svm, /dev/kvm opens, and a test guest runs.
func VirtType(r Readings) (virtType string, reason string) {
	c, err := r.CPU()
	return decideVirt(c, err, r.KVM())
}

func decideVirt(c CPU, cpuErr error, p KVMProbe) (string, string) {
	flags := c.VirtFlags()
	switch {
	case cpuErr != nil:
		return VirtQEMU, fmt.Sprintf("could not read the CPU flags (%v)", cpuErr)
	case len(flags) == 0:
		return VirtQEMU, "the CPU does not advertise vmx or svm: hardware virtualization is not available to this machine"
	case !p.DevicePresent:
		return VirtQEMU, fmt.Sprintf("the CPU has %s but /dev/kvm does not exist (kvm module not loaded)", flags[0])
	case p.Err != nil:
		return VirtQEMU, fmt.Sprintf("the CPU has %s and /dev/kvm exists, but a test guest did not run: %v", flags[0], p.Err)
	default:
		return VirtKVM, fmt.Sprintf("the CPU has %s and a test guest ran under /dev/kvm", flags[0])
	}
}

// Hypervisors we know how to give instructions for.
const (
	hvVirtualBox = "virtualbox"
	hvVMware     = "vmware"
	hvKVM        = "kvm"
	hvUnknown    = ""
)

// hypervisorOf classifies the DMI vendor/product string.
func hypervisorOf(platform string) string {
	p := strings.ToLower(platform)
	switch {
	case strings.Contains(p, "virtualbox") || strings.Contains(p, "innotek"):
		return hvVirtualBox
	case strings.Contains(p, "vmware"):
		return hvVMware
	case strings.Contains(p, "qemu") || strings.Contains(p, "kvm") || strings.Contains(p, "standard pc"):
		return hvKVM
	}
	return hvUnknown
}

// nestedVirtFix tells the user how to pass hardware virtualization through,
// for the hypervisor this machine runs on, or for each we know when unsure.
func nestedVirtFix(platform string) string {
	vbox := "VirtualBox (on the host, VM powered off): VBoxManage modifyvm VM --nested-hw-virt on"
	vmware := "VMware: VM settings > Processors > enable \"Virtualize Intel VT-x/EPT or AMD-V/RVI\" (vhv.enable = \"TRUE\" in the .vmx)"
	kvm := "KVM/libvirt (on the host): echo 'options kvm_intel nested=1' > /etc/modprobe.d/kvm-nested.conf (kvm_amd on AMD), reload the module, then virsh edit VM and set <cpu mode='host-passthrough'/>"
	switch hypervisorOf(platform) {
	case hvVirtualBox:
		return vbox
	case hvVMware:
		return vmware
	case hvKVM:
		return kvm
	}
	return "Enable nested virtualization for this VM, then reboot it:\n" + vbox + "\n" + vmware + "\n" + kvm +
		"\nOr accept qemu: instances work, only slower."
}

// resizeFix says how to give the VM more of a resource on its hypervisor.
func resizeFix(platform, what string, gib int) string {
	switch hypervisorOf(platform) {
	case hvVirtualBox:
		if what == "cpus" {
			return fmt.Sprintf("VBoxManage modifyvm VM --cpus %d   # on the host, VM powered off", gib)
		}
		return fmt.Sprintf("VBoxManage modifyvm VM --memory %d   # on the host, VM powered off", gib*1024)
	case hvKVM:
		if what == "cpus" {
			return fmt.Sprintf("virsh setvcpus VM %d --config --maximum && virsh setvcpus VM %d --config   # on the host, then restart the VM", gib, gib)
		}
		return fmt.Sprintf("virsh setmaxmem VM %dG --config && virsh setmem VM %dG --config   # on the host, then restart the VM", gib, gib)
	case hvVMware:
		if what == "cpus" {
			return fmt.Sprintf("set numvcpus = \"%d\" in the VM's .vmx (VM powered off)", gib)
		}
		return fmt.Sprintf("set memsize = \"%d\" in the VM's .vmx (VM powered off)", gib*1024)
	}
	if what == "cpus" {
		return fmt.Sprintf("power the VM off and give it %d or more vCPUs", gib)
	}
	return fmt.Sprintf("power the VM off and give it %d GiB or more of RAM", gib)
}
