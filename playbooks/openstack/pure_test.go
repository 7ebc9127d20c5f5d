package openstack

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/gophercloud/gophercloud/v2/openstack/image/v2/images"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/security/rules"

	"github.com/stacklab/stacklab/playbooks"
)

func TestFIPDescription(t *testing.T) {
	for _, tc := range []struct {
		desc, owner, name string
	}{
		{fipDescription("lab", "lab-vm-fip"), "lab", "lab-vm-fip"},
		{"managed-by: stacklab playbook lab; name: a; name: b", "lab; name: a", "b"},
		{"managed-by: stacklab playbook lab", "", ""},
		{"made by hand; name: x", "", ""},
		{"", "", ""},
	} {
		owner, name := parseFIPDescription(tc.desc)
		if owner != tc.owner || name != tc.name {
			t.Errorf("parseFIPDescription(%q) = %q, %q; want %q, %q", tc.desc, owner, name, tc.owner, tc.name)
		}
	}
}

func TestPublicKeyComment(t *testing.T) {
	for _, tc := range []struct {
		line, key, comment, owner string
	}{
		{"ssh-ed25519 AAAA managed-by: stacklab playbook lab", "ssh-ed25519 AAAA", "managed-by: stacklab playbook lab", "lab"},
		{"ssh-rsa BBBB user@host", "ssh-rsa BBBB", "user@host", ""},
		{"ssh-rsa BBBB", "ssh-rsa BBBB", "", ""},
		{"  ssh-ed25519   CCCC   two words  ", "ssh-ed25519 CCCC", "two words", ""},
		{"", "", "", ""},
	} {
		key, comment := splitPublicKey(tc.line)
		if key != tc.key || comment != tc.comment || keyOwner(tc.line) != tc.owner {
			t.Errorf("%q: key %q comment %q owner %q", tc.line, key, comment, keyOwner(tc.line))
		}
	}
	if got := markedPublicKey("ssh-ed25519 AAAA me@laptop", "lab"); got != "ssh-ed25519 AAAA managed-by: stacklab playbook lab" {
		t.Errorf("markedPublicKey = %q", got)
	}
}

func TestKeypairDiffIgnoresComment(t *testing.T) {
	d := &keypairDriver{}
	cur := playbooks.Current{Spec: playbooks.Keypair{Name: "k", PublicKey: "ssh-ed25519 AAAA"}}
	for _, tc := range []struct {
		want    playbooks.Keypair
		changed bool
	}{
		{playbooks.Keypair{Name: "k", PublicKey: "ssh-ed25519 AAAA me@laptop"}, false},
		{playbooks.Keypair{Name: "k", PublicKey: "ssh-ed25519 BBBB me@laptop"}, true},
		{playbooks.Keypair{Name: "k", Generate: true}, false},
	} {
		got := d.Diff(playbooks.Resource{Spec: tc.want}, cur)
		if (len(got) > 0) != tc.changed {
			t.Errorf("%+v: diff %v, want changed=%v", tc.want, got, tc.changed)
		}
	}
}

func TestRules(t *testing.T) {
	egress4 := rules.SecGroupRule{ID: "e4", Direction: "egress", EtherType: "IPv4"}
	egress6 := rules.SecGroupRule{ID: "e6", Direction: "egress", EtherType: "IPv6"}
	icmp := rules.SecGroupRule{ID: "i", Direction: "ingress", EtherType: "IPv4", Protocol: "icmp", RemoteIPPrefix: "0.0.0.0/0"}
	ssh := rules.SecGroupRule{ID: "s", Direction: "ingress", EtherType: "IPv4", Protocol: "tcp", PortRangeMin: 22, PortRangeMax: 22}
	web := rules.SecGroupRule{ID: "w", Direction: "ingress", EtherType: "IPv6", Protocol: "tcp", PortRangeMin: 80, PortRangeMax: 443}
	group := rules.SecGroupRule{ID: "g", Direction: "ingress", EtherType: "IPv4", RemoteGroupID: "sg1"}
	for _, tc := range []struct {
		name    string
		want    []playbooks.Rule
		have    []rules.SecGroupRule
		add     []string
		del     []string
		current []string
	}{
		{"new group: only the defaults", []playbooks.Rule{{Protocol: "icmp"}, {Protocol: "tcp", Port: 22}},
			[]rules.SecGroupRule{egress4, egress6}, []string{"ingress icmp from 0.0.0.0/0", "ingress tcp 22-22 from 0.0.0.0/0"}, nil, nil},
		{"converged", []playbooks.Rule{{Protocol: "icmp"}, {Protocol: "tcp", Port: 22, RemoteIP: "0.0.0.0/0"}},
			[]rules.SecGroupRule{egress4, icmp, egress6, ssh}, nil, nil,
			[]string{"ingress icmp from 0.0.0.0/0", "ingress tcp 22-22 from 0.0.0.0/0"}},
		{"extra and unrepresentable rules go", []playbooks.Rule{{Protocol: "tcp", Port: 80, PortMax: 443, RemoteIP: "::/0"}},
			[]rules.SecGroupRule{egress4, ssh, web, group}, nil, []string{"s", "g"},
			[]string{"ingress tcp 22-22 from 0.0.0.0/0", "ingress tcp 80-443 from ::/0", "ingress any from group:sg1"}},
		{"duplicate declarations add once", []playbooks.Rule{{Protocol: "icmp"}, {Protocol: "icmp", Direction: "ingress"}},
			nil, []string{"ingress icmp from 0.0.0.0/0"}, nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			add, del := ruleChanges(tc.want, tc.have)
			var addS []string
			for _, r := range add {
				addS = append(addS, r.String())
			}
			if !slices.Equal(addS, tc.add) || !slices.Equal(del, tc.del) {
				t.Errorf("add %v del %v; want add %v del %v", addS, del, tc.add, tc.del)
			}
			cur, _ := currentRules(tc.have)
			var curS []string
			for _, r := range cur {
				curS = append(curS, r.String())
			}
			if tc.current != nil && !slices.Equal(curS, tc.current) {
				t.Errorf("current %v, want %v", curS, tc.current)
			}
		})
	}
}

func TestRuleCreateOpts(t *testing.T) {
	for _, tc := range []struct {
		rule        playbooks.Rule
		ether       rules.RuleEtherType
		min, max    int
		dir, remote string
	}{
		{playbooks.Rule{Protocol: "icmp"}, rules.EtherType4, 0, 0, "ingress", "0.0.0.0/0"},
		{playbooks.Rule{Protocol: "tcp", Port: 22}, rules.EtherType4, 22, 22, "ingress", "0.0.0.0/0"},
		{playbooks.Rule{Protocol: "udp", Port: 1000, PortMax: 2000, Direction: "egress", RemoteIP: "2001:db8::/32"}, rules.EtherType6, 1000, 2000, "egress", "2001:db8::/32"},
	} {
		o := ruleCreateOpts("g", tc.rule)
		if o.EtherType != tc.ether || o.PortRangeMin != tc.min || o.PortRangeMax != tc.max || string(o.Direction) != tc.dir || o.RemoteIPPrefix != tc.remote {
			t.Errorf("%v: %+v", tc.rule, o)
		}
	}
}

func TestFaultCause(t *testing.T) {
	for _, tc := range []struct{ fault, want string }{
		{"No valid host was found. There are not enough hosts available.", "RAM"},
		{"Build of instance x aborted: Failed to allocate the network(s), PortBindingFailed: Binding failed for port y", "neutron agent"},
		{"binding failed for port", "physical network"},
		{"FlavorDiskTooSmall: Flavor's disk is too small for requested image.", "min_disk"},
		{"Flavor's disk is too small for requested image", "larger disk"},
		{"Exceeded maximum number of retries.", ""},
		{"", ""},
	} {
		got := faultCause(tc.fault)
		if tc.want == "" && got != "" || !strings.Contains(got, tc.want) {
			t.Errorf("faultCause(%q) = %q, want it to mention %q", tc.fault, got, tc.want)
		}
	}
}

func TestConsoleCause(t *testing.T) {
	for _, tc := range []struct {
		out  string
		dhcp bool
	}{
		{"stacklab-guest: DHCP on eth0\nstacklab-guest error reason=no-dhcp-lease (still trying)\n", true},
		{"Sending discover...\nUsage: /sbin/cirros-dhcpc <up|down>\nNo lease, failing\n", true},
		{"No DHCPOFFERS received.\nNo working leases in persistent database - sleeping.\n", true},
		{"eth0: DHCP lease acquisition failed\n", true},
		{"[    1.0] Linux version 6.1\nlogin: ", false},
		{"", false},
	} {
		got := consoleCause(tc.out)
		if tc.dhcp != strings.Contains(got, "no DHCP lease") {
			t.Errorf("consoleCause(%q) = %q, want DHCP named: %v", tc.out, got, tc.dhcp)
		}
	}
}

func TestServerErrorMessage(t *testing.T) {
	for _, tc := range []struct {
		e    ServerError
		want []string
	}{
		{ServerError{Server: "vm", Status: "ERROR", Fault: "No valid host", Cause: "too small"}, []string{"vm is ERROR", "nova says: No valid host", "likely cause: too small"}},
		{ServerError{Server: "vm", Status: "BUILD", TaskState: "spawning", Timeout: true, Waited: "5m0s"}, []string{"not ACTIVE within 5m0s", "task spawning", "power none"}},
		{ServerError{Server: "vm", Status: "ACTIVE", PowerState: "RUNNING", Timeout: true, Waited: "1s", Console: "^up", ConsoleTail: []string{"a", "b"}}, []string{`matched "^up"`, "\n  a\n  b"}},
		{ServerError{Server: "vm", Status: "ACTIVE", PowerState: "RUNNING", Timeout: true, Waited: "1s", Console: "^up"}, []string{`matched "^up"`, "the console is empty", "console=ttyS0"}},
	} {
		msg := tc.e.Error()
		for _, w := range tc.want {
			if !strings.Contains(msg, w) {
				t.Errorf("%q lacks %q", msg, w)
			}
		}
	}
}

func TestLastLinesAndFirstMatch(t *testing.T) {
	out := "a\r\n\nb\nc\n  \nstacklab-guest up 1\nd\n"
	if got := lastLines(out, 3); !slices.Equal(got, []string{"c", "stacklab-guest up 1", "d"}) {
		t.Errorf("lastLines = %q", got)
	}
	// A carriage return starts the line over, as on a terminal.
	if got := lastLines("x\r\n 12% |**   |]\rstacklab-guest up ip=1\r\nprogress\r\r\n", 2); !slices.Equal(got, []string{"stacklab-guest up ip=1", "progress"}) {
		t.Errorf("lastLines with carriage returns = %q", got)
	}
	if got := lastLines("", 3); got != nil {
		t.Errorf("lastLines(\"\") = %q", got)
	}
	if l, ok := firstMatch(regexp.MustCompile(`^stacklab-guest up `), out); !ok || l != "stacklab-guest up 1" {
		t.Errorf("firstMatch = %q %v", l, ok)
	}
	if _, ok := firstMatch(regexp.MustCompile(`^login:`), out); ok {
		t.Error("firstMatch found a line that is not there")
	}
}

func TestClassifyStatus(t *testing.T) {
	for status, want := range map[string]readiness{"ACTIVE": ready, "BUILD": notYet, "": notYet, "ERROR": failed, "SHUTOFF": failed} {
		if got := classifyStatus(status); got != want {
			t.Errorf("classifyStatus(%q) = %v, want %v", status, got, want)
		}
	}
}

func TestSubnetComparable(t *testing.T) {
	yes := true
	cur := playbooks.Subnet{Name: "s", Network: "n", CIDR: "10.0.0.0/24", Gateway: "10.0.0.1", DHCP: &yes,
		AllocationPools: []playbooks.Pool{{Start: "10.0.0.2", End: "10.0.0.254"}}}
	for _, tc := range []struct {
		name string
		want playbooks.Subnet
		diff []string
	}{
		{"defaults left to neutron", playbooks.Subnet{Name: "s", Network: "n", CIDR: "10.0.0.0/24"}, nil},
		{"declared gateway differs", playbooks.Subnet{Name: "s", Network: "n", CIDR: "10.0.0.0/24", Gateway: "10.0.0.254"}, []string{"gateway"}},
		{"declared pools differ", playbooks.Subnet{Name: "s", Network: "n", CIDR: "10.0.0.0/24",
			AllocationPools: []playbooks.Pool{{Start: "10.0.0.100", End: "10.0.0.200"}}}, []string{"allocation_pools"}},
		{"dhcp off", playbooks.Subnet{Name: "s", Network: "n", CIDR: "10.0.0.0/24", DHCP: new(bool)}, []string{"dhcp"}},
	} {
		got := (&subnetDriver{}).Diff(playbooks.Resource{Spec: tc.want}, playbooks.Current{Spec: cur})
		var fields []string
		for _, c := range got {
			fields = append(fields, c.Field)
		}
		if !slices.Equal(fields, tc.diff) {
			t.Errorf("%s: diff %v, want fields %v", tc.name, got, tc.diff)
		}
	}
}

func TestServerDiff(t *testing.T) {
	cur := playbooks.Server{Name: "vm", Flavor: "m1", Image: "img", Networks: []string{"a", "b"}, Keypair: "k", SecurityGroups: []string{"x", "y"}}
	same := cur
	for _, tc := range []struct {
		name     string
		want     playbooks.Server
		status   string
		fields   []string
		recreate bool
	}{
		{"in ERROR: recreate", same, "ERROR", []string{"status"}, true},
		{"stopped: left alone", same, "SHUTOFF", nil, false},
		{"same, networks in another order", playbooks.Server{Name: "vm", Flavor: "m1", Image: "img", Networks: []string{"b", "a"}, Keypair: "k", SecurityGroups: []string{"y", "x"}}, "ACTIVE", nil, false},
		{"groups only: live", playbooks.Server{Name: "vm", Flavor: "m1", Image: "img", Networks: []string{"a", "b"}, Keypair: "k", SecurityGroups: []string{"x"}}, "ACTIVE", []string{"security_groups"}, false},
		{"flavor: recreate", playbooks.Server{Name: "vm", Flavor: "m2", Image: "img", Networks: []string{"a", "b"}, Keypair: "k", SecurityGroups: []string{"x", "y"}}, "ACTIVE", []string{"flavor"}, true},
		{"network gone: recreate", playbooks.Server{Name: "vm", Flavor: "m1", Image: "img", Networks: []string{"a"}, Keypair: "k", SecurityGroups: []string{"x", "y"}}, "ACTIVE", []string{"networks"}, true},
	} {
		got := (&serverDriver{}).Diff(playbooks.Resource{Spec: tc.want}, playbooks.Current{Spec: cur, Info: map[string]string{"status": tc.status}})
		var fields []string
		for _, c := range got {
			fields = append(fields, c.Field)
		}
		if !slices.Equal(fields, tc.fields) || serverNeedsRecreate(got) != tc.recreate {
			t.Errorf("%s: diff %v recreate %v; want fields %v recreate %v", tc.name, got, serverNeedsRecreate(got), tc.fields, tc.recreate)
		}
	}
}

func TestImageDiff(t *testing.T) {
	have := playbooks.Image{Name: "i", DiskFormat: "raw", DetectedFormat: "raw", ContainerFormat: "bare", Visibility: "private", MinDisk: 1}
	for _, tc := range []struct {
		name   string
		want   playbooks.Image
		status string
		fields []string
		upload bool
	}{
		{"same", playbooks.Image{Name: "i", DetectedFormat: "raw", MinDisk: 1}, "active", nil, false},
		{"interrupted upload", playbooks.Image{Name: "i", DetectedFormat: "raw", MinDisk: 1}, "queued", []string{"status"}, true},
		{"properties only", playbooks.Image{Name: "i", DetectedFormat: "raw", MinDisk: 2, Visibility: "public"}, "active", []string{"min_disk", "visibility"}, false},
		{"format changed", playbooks.Image{Name: "i", DetectedFormat: "qcow2", MinDisk: 1}, "active", []string{"disk_format"}, true},
	} {
		got := imageDiff(tc.want, have, tc.status)
		var fields []string
		for _, c := range got {
			fields = append(fields, c.Field)
		}
		if !slices.Equal(fields, tc.fields) || needsUpload(got) != tc.upload {
			t.Errorf("%s: diff %v upload %v; want %v %v", tc.name, got, needsUpload(got), tc.fields, tc.upload)
		}
	}
}

func TestInterfaceChanges(t *testing.T) {
	add, remove := interfaceChanges([]string{"a", "b", "b"}, []string{"b", "c"})
	if !slices.Equal(add, []string{"a"}) || !slices.Equal(remove, []string{"c"}) {
		t.Errorf("add %v remove %v", add, remove)
	}
}

func TestImmutableChanges(t *testing.T) {
	changes := []playbooks.FieldChange{{Field: "shared", From: "false", To: "true"}, {Field: "type", From: "vxlan", To: "flat"}}
	err := immutableChanges(playbooks.KindNetwork, "n", changes, "type", "physical_network")
	if err == nil || !strings.Contains(err.Error(), `type "vxlan" -> "flat"`) || !strings.Contains(err.Error(), "destroy") {
		t.Errorf("err = %v", err)
	}
	if err := immutableChanges(playbooks.KindNetwork, "n", changes[:1], "type"); err != nil {
		t.Errorf("shared alone: %v", err)
	}
}

func TestPickOne(t *testing.T) {
	type item struct{ name, id string }
	items := []item{{"a", "1"}, {"b", "2"}, {"b", "3"}}
	name := func(i item) string { return i.name }
	id := func(i item) string { return i.id }
	if got, ok, err := pickOne(playbooks.KindNetwork, "a", items, name, id); !ok || err != nil || got.id != "1" {
		t.Errorf("a: %v %v %v", got, ok, err)
	}
	if _, ok, err := pickOne(playbooks.KindNetwork, "z", items, name, id); ok || err != nil {
		t.Errorf("z: %v %v", ok, err)
	}
	_, _, err := pickOne(playbooks.KindNetwork, "b", items, name, id)
	if err == nil || !strings.Contains(err.Error(), "[2 3]") {
		t.Errorf("b: %v, want a duplicate error naming 2 and 3", err)
	}
}

func TestVerifyUpload(t *testing.T) {
	img := func(status, algo, value, md5 string) images.Image {
		return images.Image{Status: images.ImageStatus(status), Checksum: md5, Properties: map[string]any{"os_hash_algo": algo, "os_hash_value": value}}
	}
	for _, tc := range []struct {
		name string
		img  images.Image
		ok   bool
	}{
		{"both match", img("active", "sha512", "AB", "cd"), true},
		{"sha512 differs", img("active", "sha512", "00", "cd"), false},
		{"md5 differs", img("active", "sha512", "ab", "00"), false},
		{"other algo: md5 only", img("active", "sha256", "zz", "cd"), true},
		{"not active", img("saving", "sha512", "ab", "cd"), false},
		{"nothing to verify", img("active", "", "", ""), false},
	} {
		err := verifyUpload("i", tc.img, "ab", "cd")
		if (err == nil) != tc.ok {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}
