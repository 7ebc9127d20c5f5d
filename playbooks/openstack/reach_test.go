package openstack

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stacklab/stacklab/playbooks"
)

// healthyPath is a floating IP whose every hop is up.
func healthyPath() reachFacts {
	return reachFacts{Name: "lab-vm-fip", Address: "203.0.113.150", FixedIP: "172.16.1.10", FIPStatus: "ACTIVE", RouterID: "r1",
		Server: "lab-vm", ServerStatus: "ACTIVE", PortID: "p1", PortStatus: "ACTIVE", VIFType: "bridge",
		RouterName: "lab-router", RouterStatus: "ACTIVE", RouterGateway: true, GatewayPortStatus: "ACTIVE",
		Groups:      []groupFacts{{Name: "lab", ICMPIn: true}},
		ConsoleWant: "^stacklab-guest up ", ConsoleLines: 12, ConsoleLast: "stacklab-guest up 172.16.1.10", ConsoleMatched: true}
}

func firstFailed(hops []Hop) (Hop, bool) {
	for _, h := range hops {
		if !h.OK {
			return h, true
		}
	}
	return Hop{}, false
}

func TestDiagnoseReach(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*reachFacts)
		hop    string // the first failed hop, "" for none
		want   string // in its evidence or fix
	}{
		{"healthy", func(*reachFacts) {}, "", ""},
		{"server in error, port down too", func(f *reachFacts) {
			f.ServerStatus, f.ServerFault, f.PortStatus = "ERROR", "No valid host was found.", "DOWN"
		}, "server", "No valid host"},
		{"binding failed", func(f *reachFacts) { f.VIFType = "binding_failed" }, "port", "linuxbridge agent"},
		{"port down", func(f *reachFacts) { f.PortStatus = "DOWN" }, "port", "DOWN"},
		{"silent guest", func(f *reachFacts) { f.ConsoleLines, f.ConsoleLast, f.ConsoleMatched = 0, "", false }, "guest console", "wrote nothing"},
		{"guest up without its line", func(f *reachFacts) { f.ConsoleMatched, f.ConsoleLast = false, "udhcpc: no lease" }, "guest console", "udhcpc: no lease"},
		{"console not awaited", func(f *reachFacts) { f.ConsoleWant, f.ConsoleMatched = "", false }, "", ""},
		{"no icmp rule", func(f *reachFacts) { f.Groups = []groupFacts{{Name: "ssh-only"}} }, "security groups", "- protocol: icmp"},
		{"one group of two opens icmp", func(f *reachFacts) { f.Groups = []groupFacts{{Name: "a"}, {Name: "b", ICMPIn: true}} }, "", ""},
		{"port security off", func(f *reachFacts) { f.Groups = nil }, "", ""},
		{"nat not applied", func(f *reachFacts) { f.FIPStatus = "DOWN" }, "floating IP", "neutron-l3-agent"},
		{"no router", func(f *reachFacts) { f.RouterID = "" }, "router", "external_gateway"},
		{"gateway port missing", func(f *reachFacts) { f.GatewayPortStatus = "" }, "router gateway", "missing"},
		{"gateway cleared", func(f *reachFacts) { f.RouterGateway = false }, "router gateway", "no external gateway"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := healthyPath()
			tc.change(&f)
			h, failed := firstFailed(diagnoseReach(f))
			switch {
			case tc.hop == "" && failed:
				t.Fatalf("hop %s failed: %s", h.Name, h.Evidence)
			case tc.hop == "":
				return
			case !failed:
				t.Fatalf("no hop failed, want %s", tc.hop)
			case h.Name != tc.hop:
				t.Fatalf("first failed hop %s (%s), want %s", h.Name, h.Evidence, tc.hop)
			case h.Fix == "":
				t.Errorf("hop %s has no fix", h.Name)
			}
			if !strings.Contains(h.Evidence+" "+h.Fix, tc.want) {
				t.Errorf("hop %s: %q / %q lacks %q", h.Name, h.Evidence, h.Fix, tc.want)
			}
		})
	}
}

func TestICMPIn(t *testing.T) {
	for _, tc := range []struct {
		r    groupRule
		want bool
	}{
		{groupRule{Direction: "ingress", EtherType: "IPv4", Protocol: "icmp"}, true},
		{groupRule{Direction: "ingress", EtherType: "IPv4", Protocol: "icmp", RemoteIPPrefix: "0.0.0.0/0"}, true},
		{groupRule{Direction: "ingress", EtherType: "IPv4"}, true}, // any protocol
		{groupRule{Direction: "ingress", EtherType: "IPv4", Protocol: "1"}, true},
		{groupRule{Direction: "egress", EtherType: "IPv4", Protocol: "icmp"}, false},
		{groupRule{Direction: "ingress", EtherType: "IPv6", Protocol: "icmp"}, false},
		{groupRule{Direction: "ingress", EtherType: "IPv4", Protocol: "tcp"}, false},
		// neutron's default group: members of the group only.
		{groupRule{Direction: "ingress", EtherType: "IPv4", RemoteGroupID: "g1"}, false},
		{groupRule{Direction: "ingress", EtherType: "IPv4", Protocol: "icmp", RemoteIPPrefix: "10.0.0.0/8"}, false},
	} {
		if got := icmpIn(tc.r); got != tc.want {
			t.Errorf("icmpIn(%+v) = %v, want %v", tc.r, got, tc.want)
		}
	}
}

func TestUnreachableErrorText(t *testing.T) {
	f := healthyPath()
	f.Groups = []groupFacts{{Name: "ssh-only"}}
	e := &UnreachableError{FloatingIP: f.Name, Address: f.Address, Ping: "no answer to 40 echo requests in 20s", Hops: diagnoseReach(f)}
	msg := e.Error()
	for _, want := range []string{"203.0.113.150", "no answer to 40", "first failed hop: security groups", "fix: add `- protocol: icmp`", "✓ server", "✗ security groups"} {
		if !strings.Contains(msg, want) {
			t.Errorf("%q lacks %q", msg, want)
		}
	}
	e.Hops = diagnoseReach(healthyPath())
	if msg := e.Error(); !strings.Contains(msg, "lost outside it") {
		t.Errorf("all hops up: %q does not point beyond the cloud", msg)
	}
}

// TestFloatingIPPing drives ping: through the driver on the fake cloud:
// the prober is asked from the router's namespace, a silent address fails
// the apply with the hops, and an unchanged floating IP is not pinged.
func TestFloatingIPPing(t *testing.T) {
	f := newFake(t)
	f.Console = func(string, int) string { return "stacklab-guest up 172.16.1.10\n" }
	var asked []string
	answer := true
	c := f.open(t, Options{Reach: func(ctx context.Context, addr, ns string) error {
		asked = append(asked, addr+" "+ns)
		if answer {
			return nil
		}
		<-ctx.Done()
		return errors.New("no answer to 3 echo requests in 1s")
	}})
	src := strings.Replace(labPlaybookSource(rawImage(t, 1<<20), filepath.Join(t.TempDir(), "lab-key.pem")), "{name: lab-vm-fip, network: ext_net, server: lab-vm}",
		"{name: lab-vm-fip, network: ext_net, server: lab-vm, ping: true, ping_timeout: 1}", 1)
	pb, err := playbooks.LoadBytes("lab.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := playbooks.Apply(ctx, pb, c, playbooks.Options{}); err != nil {
		t.Fatalf("apply: %v", err)
	}
	rt := f.all("routers")[0]
	if want := fipAddress(f) + " qrouter-" + rt["id"].(string); len(asked) != 1 || asked[0] != want {
		t.Fatalf("prober asked %q, want [%q]", asked, want)
	}
	if _, err := playbooks.Apply(ctx, pb, c, playbooks.Options{}); err != nil || len(asked) != 1 {
		t.Fatalf("second apply: %v; prober asked %d times, want once in all", err, len(asked))
	}

	if _, err := playbooks.Destroy(ctx, pb, c, playbooks.Options{}); err != nil {
		t.Fatal(err)
	}
	answer = false
	rep, err := playbooks.Apply(ctx, pb, c, playbooks.Options{})
	if err == nil {
		t.Fatal("apply succeeded with an address that never answers")
	}
	var ue *UnreachableError
	for _, r := range rep.Results {
		if r.Kind == playbooks.KindFloatingIP && errors.As(r.Err, &ue) {
			break
		}
	}
	if ue == nil {
		t.Fatalf("no UnreachableError in the report: %v", err)
	}
	// The fake's router has no gateway port: the path is otherwise whole.
	h, failed := firstFailed(ue.Hops)
	if !failed || h.Name != "router gateway" || !strings.Contains(h.Evidence, "gateway port is missing") {
		t.Errorf("first failed hop %+v, want the missing gateway port; hops %+v", h, ue.Hops)
	}
	if len(ue.Hops) != 6 || !strings.Contains(ue.Ping, "no answer") {
		t.Errorf("hops %+v, ping %q", ue.Hops, ue.Ping)
	}
}

// TestFloatingIPProbeFailure: a prober that cannot send blames no hop.
func TestFloatingIPProbeFailure(t *testing.T) {
	f := newFake(t)
	f.Console = func(string, int) string { return "stacklab-guest up 172.16.1.10\n" }
	c := f.open(t, Options{Reach: func(context.Context, string, string) error {
		return &ProbeError{Err: errors.New("open a raw ICMP socket (run as root): operation not permitted")}
	}})
	src := strings.Replace(labPlaybookSource(rawImage(t, 1<<20), filepath.Join(t.TempDir(), "lab-key.pem")),
		"{name: lab-vm-fip, network: ext_net, server: lab-vm}", "{name: lab-vm-fip, network: ext_net, server: lab-vm, ping: true}", 1)
	pb, err := playbooks.LoadBytes("lab.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	_, err = playbooks.Apply(context.Background(), pb, c, playbooks.Options{})
	var ue *UnreachableError
	if err == nil || errors.As(err, &ue) || !strings.Contains(err.Error(), "cannot ping from here") || !strings.Contains(err.Error(), "run stacklab as root") {
		t.Fatalf("err = %v, want a probe failure naming no hop", err)
	}
}
