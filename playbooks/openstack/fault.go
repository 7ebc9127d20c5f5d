package openstack

import (
	"fmt"
	"strings"
)

// ServerError is why a server did not become ready: nova put it in ERROR
// (Fault is nova's fault.message, Cause our reading of it), or the wait ran
// out (Status, TaskState and PowerState say what it was still doing, and
// ConsoleTail the last console lines when the console was awaited). It
// marshals to JSON for the CLI.
type ServerError struct {
	Server      string   `json:"server"`
	ID          string   `json:"id,omitempty"`
	Status      string   `json:"status"`
	TaskState   string   `json:"task_state,omitempty"`
	PowerState  string   `json:"power_state,omitempty"`
	Fault       string   `json:"fault,omitempty"`
	Cause       string   `json:"cause,omitempty"`
	Timeout     bool     `json:"timeout,omitempty"`
	Waited      string   `json:"waited,omitempty"`
	Console     string   `json:"console_pattern,omitempty"`
	ConsoleTail []string `json:"console_tail,omitempty"`
}

func (e *ServerError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "server %s", e.Server)
	switch {
	case e.Timeout && e.Console != "":
		fmt.Fprintf(&b, ": no console line matched %q within %s (status %s, power %s)", e.Console, e.Waited, e.Status, orNone(e.PowerState))
	case e.Timeout:
		fmt.Fprintf(&b, ": not ACTIVE within %s: status %s, task %s, power %s", e.Waited, e.Status, orNone(e.TaskState), orNone(e.PowerState))
	default:
		fmt.Fprintf(&b, " is %s", e.Status)
	}
	if e.Fault != "" {
		fmt.Fprintf(&b, ": nova says: %s", e.Fault)
	}
	if e.Cause != "" {
		fmt.Fprintf(&b, "; likely cause: %s", e.Cause)
	}
	switch {
	case len(e.ConsoleTail) > 0:
		fmt.Fprintf(&b, "; last console lines:\n  %s", strings.Join(e.ConsoleTail, "\n  "))
	case e.Timeout && e.Console != "":
		b.WriteString("; the console is empty: the guest never wrote to its serial port (an image that does not boot, or one that logs only to the screen: add console=ttyS0 to its kernel command line)")
	}
	return b.String()
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// faultCause reads nova's fault message for what the user can act on; ""
// when the message is all there is to say.
func faultCause(msg string) string {
	m := strings.ToLower(msg)
	switch {
	case strings.Contains(m, "no valid host"):
		return "the scheduler found no compute node with enough free RAM, disk and vcpus for the flavor, or the nova-compute service is down: check `openstack compute service list` and `openstack hypervisor stats show`, or use a smaller flavor"
	case strings.Contains(m, "portbindingfailed") || strings.Contains(m, "binding failed"):
		return "neutron could not bind the port on the compute host: the neutron agent there is down, or the physical network mapping (bridge_mappings) lacks the network's physical_network: check `openstack network agent list`"
	case strings.Contains(m, "flavordisktoosmall") || strings.Contains(m, "flavor's disk is too small") || strings.Contains(m, "flavordisksmallerthanimage") || strings.Contains(m, "flavordisksmallerthanmindisk"):
		return "the flavor's root disk is smaller than the image's min_disk or virtual size: use a flavor with a larger disk"
	case strings.Contains(m, "flavormemorytoosmall"):
		return "the flavor's RAM is below the image's min_ram: use a flavor with more RAM"
	}
	return ""
}

// consoleCause reads a console that never showed the awaited line for what
// the user can act on; "" when it says nothing we recognise. A guest that
// got no DHCP lease is the common case: without an address it reaches
// neither metadata nor anyone on its floating IP.
func consoleCause(out string) string {
	for _, sign := range []string{
		"reason=no-dhcp-lease",          // stacklab's tiny guest
		"No lease, failing",             // CirrOS's udhcpc
		"No DHCPOFFERS received",        // dhclient (Debian's ifupdown)
		"DHCP lease acquisition failed", // systemd-networkd
	} {
		if strings.Contains(out, sign) {
			return "the guest got no DHCP lease, so it has no address: neutron's DHCP agent did not answer for its port. " +
				"Check that the server's subnet has DHCP on (`openstack subnet show SUBNET -c enable_dhcp`) and that the DHCP agent is alive (`openstack network agent list`, `stacklab doctor`); " +
				"right after the lab's host boots, the agent can take minutes on 2 cores before it serves again, and a guest that keeps asking then gets its address"
		}
	}
	return ""
}

// lastLines is the last n non-empty lines of console output, each as a
// terminal shows it: a carriage return inside a line starts it over, so the
// text after the last one is what counts. Deleting the CRs instead glued a
// progress line's tail to the guest's own: CI saw "]stacklab-guest up …",
// which '^stacklab-guest up ' did not match.
func lastLines(out string, n int) []string {
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		l = strings.TrimRight(l, "\r")
		if i := strings.LastIndex(l, "\r"); i >= 0 {
			l = l[i+1:]
		}
		if strings.TrimSpace(l) != "" {
			lines = append(lines, l)
		}
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return lines
}
