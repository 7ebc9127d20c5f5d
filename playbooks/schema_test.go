package playbooks_test

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stacklab/stacklab/playbooks"
)

// isoFile writes a minimal ISO 9660 image (system area, primary volume
// descriptor, set terminator) and returns its path.
func isoFile(t *testing.T) string {
	t.Helper()
	const sector = 2048
	b := make([]byte, 16*sector)
	desc := func(typ byte) []byte {
		d := make([]byte, sector)
		d[0] = typ
		copy(d[1:], "CD001")
		d[6] = 1
		return d
	}
	pvd := desc(1)
	binary.LittleEndian.PutUint32(pvd[80:], 20)
	binary.BigEndian.PutUint32(pvd[84:], 20)
	binary.LittleEndian.PutUint16(pvd[128:], sector)
	binary.BigEndian.PutUint16(pvd[130:], sector)
	b = append(b, pvd...)
	b = append(b, desc(255)...)
	b = append(b, make([]byte, 20*sector-len(b))...)
	path := filepath.Join(t.TempDir(), "cd.iso")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// rawFile writes a small raw disk image and returns its path.
func rawFile(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "disk.img")
	if err := os.WriteFile(path, bytes.Repeat([]byte{0}, 1<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func errorLines(err error) []string {
	var out []string
	for _, e := range playbooks.Errors(err) {
		out = append(out, e.Error())
	}
	return out
}

func TestLoadErrors(t *testing.T) {
	iso := isoFile(t)
	tests := []struct {
		name string
		yaml string
		want []string
	}{
		{
			name: "unknown key with suggestion",
			yaml: `name: t
subnets:
  - name: s
    network: n
    cidrr: 10.0.0.0/24
`,
			want: []string{
				`p.yaml:5:5: playbook.subnets[0]: unknown key "cidrr"; did you mean "cidr"?`,
				`p.yaml:3:5: subnet s needs a cidr; e.g. cidr: 172.16.1.0/24`,
			},
		},
		{
			name: "ping without a server, negative timeout",
			yaml: `name: t
networks:
  - {name: ext_net, type: flat, physical_network: provider, external: true}
floating_ips:
  - {name: f, network: ext_net, ping: true, ping_timeout: -1}
`,
			want: []string{
				`p.yaml:5:39: floating IP f: ping needs a server behind the address; attach it to a server (server: NAME) or drop ping`,
				`p.yaml:5:59: floating IP f: ping_timeout must be a number of seconds ≥ 0`,
			},
		},
		{
			name: "not YAML",
			yaml: "name: t\nnetworks: [\n",
			want: []string{`p.yaml: yaml: line 2: did not find expected node content; fix the YAML syntax first`},
		},
		{
			name: "unknown top-level key",
			yaml: "name: t\nnetwork:\n  - name: n\n",
			want: []string{`p.yaml:2:1: playbook: unknown key "network"; did you mean "networks"?`},
		},
		{
			name: "wrong types",
			yaml: `name: t
flavors:
  - name: f
    vcpus: two
    ram: 512
networks: selfservice
`,
			want: []string{
				`p.yaml:4:12: playbook.flavors[0].vcpus: want a whole number, got the string "two"`,
				`p.yaml:6:11: playbook.networks: want a list, got the string "selfservice"; write it as a YAML list (- item)`,
			},
		},
		{
			name: "bad CIDR, gateway outside, bad DNS, all at once",
			yaml: `name: t
networks:
  - name: n
subnets:
  - name: a
    network: n
    cidr: 10.0.0.300/24
  - name: b
    network: n
    cidr: 10.0.0.0/24
    gateway: 10.0.1.1
    dns: [8.8.8]
`,
			want: []string{
				`p.yaml:7:11: subnet a: bad cidr "10.0.0.300/24"; write it as ADDRESS/BITS, e.g. 172.16.1.0/24`,
				`p.yaml:11:14: subnet b: gateway 10.0.1.1 is outside 10.0.0.0/24; use an address inside 10.0.0.0/24`,
				`p.yaml:12:10: subnet b: dns[0] "8.8.8" is not an IP address`,
			},
		},
		{
			name: "pool outside and reversed",
			yaml: `name: t
subnets:
  - name: a
    network: n
    cidr: 10.0.0.0/24
    allocation_pools:
      - start: 10.0.0.200
        end: 10.0.0.100
      - start: 10.0.0.10
        end: 10.0.9.1
`,
			want: []string{
				`p.yaml:7:9: subnet a: pool 10.0.0.200-10.0.0.100 ends before it starts; swap start and end`,
				`p.yaml:10:14: subnet a: pool end 10.0.9.1 is outside 10.0.0.0/24; use an address inside 10.0.0.0/24`,
			},
		},
		{
			name: "missing image file",
			yaml: `name: t
images:
  - name: i
    file: /nonexistent/disk.img
`,
			want: []string{`p.yaml:4:11: image i: inspect image: open /nonexistent/disk.img: no such file or directory`},
		},
		{
			name: "ISO declared as qcow2",
			yaml: "name: t\nimages:\n  - name: i\n    file: " + iso + "\n    disk_format: qcow2\n",
			want: []string{`p.yaml:5:18: image i: declared disk_format qcow2, but the file is an ISO 9660 CD image; fix: openstack image create --disk-format iso --container-format bare --file FILE NAME (nova attaches an iso as a CD-ROM and takes the root disk from the flavor)`},
		},
		{
			name: "keypairs",
			yaml: `name: t
keypairs:
  - name: both
    public_key: ssh-ed25519 AAAA me@host
    generate: true
    private_key_file: k.pem
  - name: private
    public_key: -----BEGIN OPENSSH PRIVATE KEY-----
  - name: nowhere
    generate: true
`,
			want: []string{
				`p.yaml:3:5: keypair both: give one of public_key, public_key_file or generate: true; set exactly one`,
				`p.yaml:8:17: keypair private: not an OpenSSH public key; give the .pub file, one line such as ssh-ed25519 AAAA... user@host`,
				`p.yaml:10:15: keypair nowhere: a generated key needs private_key_file to be written to; add private_key_file: PATH`,
			},
		},
		{
			name: "router gateway on a network that is not external",
			yaml: `name: t
networks:
  - name: n
routers:
  - name: r
    external_gateway: n
`,
			want: []string{`p.yaml:6:23: router r: network n is not external; set external: true on it`},
		},
		{
			name: "duplicate names and no playbook name",
			yaml: `networks:
  - name: n
  - name: n
    type: vxlen
`,
			want: []string{
				`p.yaml:1:1: the playbook has no name; add name: NAME at the top; it marks what this playbook owns`,
				`p.yaml:3:5: network "n" declared twice; give it another name`,
				`p.yaml:4:11: network n: unknown type "vxlen" (vxlan, flat or vlan); did you mean "vxlan"?`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pb, err := playbooks.LoadBytes("p.yaml", []byte(tt.yaml))
			if pb != nil {
				t.Errorf("got a playbook despite errors")
			}
			got := errorLines(err)
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

func TestDefaultPlaybook(t *testing.T) {
	pb, err := playbooks.LoadDefault(t.TempDir())
	if err != nil {
		t.Fatalf("default playbook: %v", err)
	}
	shipped, err := os.ReadFile("lab.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(shipped, playbooks.Default()) {
		t.Error("embedded playbook differs from playbooks/lab.yaml")
	}
	var ids []string
	for _, r := range pb.Resources() {
		ids = append(ids, r.ID())
	}
	want := "flavor m1.lab, network selfservice, network ext_net, subnet selfservice-subnet, subnet ext_net-subnet, " +
		"router lab-router, security_group lab, keypair lab-key, image lab-image, server lab-vm, floating_ip lab-vm-fip"
	if got := strings.Join(ids, ", "); got != want {
		t.Errorf("resources:\n%s\nwant:\n%s", got, want)
	}
	ext := pb.Subnets[1]
	if ext.Gateway != "203.0.113.1" || ext.DHCPEnabled() || ext.AllocationPools[0].Start != "203.0.113.100" {
		t.Errorf("ext_net subnet: %+v", ext)
	}
	if !pb.Networks[1].External || pb.Networks[1].PhysicalNetwork != "provider" {
		t.Errorf("ext_net: %+v", pb.Networks[1])
	}
}

func TestLoadDetectsImageFormat(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "lab.yaml")
	data := "name: t\nimages:\n  - name: cd\n    file: " + filepath.Base(isoFileIn(t, dir)) + "\n"
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	pb, err := playbooks.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := pb.Images[0].DetectedFormat; got != "iso" {
		t.Errorf("detected %q, want iso (relative to the playbook's directory)", got)
	}
}

func isoFileIn(t *testing.T, dir string) string {
	t.Helper()
	data, err := os.ReadFile(isoFile(t))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "cd.iso")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
