package main

import "fmt"

// VirtualBox NAT gives every VM the same address and gateway; neither is
// reachable from the laptop without a port forward.
const (
	vboxNATAddr    = "10.0.2.15"
	vboxNATGateway = "10.0.2.2"
)

// laptopAdvice is what up's summary adds when the dashboard URL cannot be
// opened from the laptop: the management address is VirtualBox NAT's. It
// gives the exact port forwards (Horizon and the noVNC console) and the
// other way, a host-only adapter as the management NIC. Empty otherwise.
func laptopAdvice(mgmtIP, gateway, webRoot string) []string {
	if mgmtIP != vboxNATAddr || gateway != vboxNATGateway {
		return nil
	}
	return []string{
		fmt.Sprintf("Note:         %s is VirtualBox NAT's address: your laptop cannot open the dashboard URL above.", vboxNATAddr),
		"              On the laptop, forward ports to the VM (VM = its name in `VBoxManage list vms`):",
		`                VBoxManage controlvm VM natpf1 "horizon,tcp,,8080,,80"`,
		`                VBoxManage controlvm VM natpf1 "novnc,tcp,,6080,,6080"`,
		fmt.Sprintf("              then open http://localhost:8080%s (in a console link, replace %s:6080 by localhost:6080).", webRoot, vboxNATAddr),
		"              Or make a host-only adapter the management NIC (see README, The NIC model) and run stacklab up again.",
	}
}
