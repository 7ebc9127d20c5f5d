package playbooks_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/stacklab/stacklab/playbooks"
)

func TestOwnerOf(t *testing.T) {
	tests := []struct{ desc, want string }{
		{playbooks.Marker("lab"), "lab"},
		{"  managed-by: stacklab playbook my lab \n", "my lab"},
		{"made by alice", ""},
		{"", ""},
	}
	for _, tt := range tests {
		if got := playbooks.OwnerOf(tt.desc); got != tt.want {
			t.Errorf("OwnerOf(%q) = %q, want %q", tt.desc, got, tt.want)
		}
	}
}

func TestDiffFields(t *testing.T) {
	tests := []struct {
		name             string
		desired, current any
		want             []playbooks.FieldChange
	}{
		{"same", playbooks.Flavor{VCPUs: 1, RAM: 512}, playbooks.Flavor{VCPUs: 1, RAM: 512}, nil},
		{"two fields sorted", playbooks.Flavor{VCPUs: 2, RAM: 512, Disk: 1}, playbooks.Flavor{VCPUs: 1, RAM: 512},
			[]playbooks.FieldChange{{Field: "disk", From: "0", To: "1"}, {Field: "vcpus", From: "1", To: "2"}}},
		{"default network type is vxlan", playbooks.Network{}, playbooks.Network{Type: "vxlan"}, nil},
		{"rule order does not matter",
			playbooks.SecurityGroup{Rules: []playbooks.Rule{{Protocol: "icmp"}, {Protocol: "tcp", Port: 22}}},
			playbooks.SecurityGroup{Rules: []playbooks.Rule{{Protocol: "tcp", Port: 22, PortMax: 22, Direction: "ingress"}, {Protocol: "icmp", RemoteIP: "0.0.0.0/0"}}},
			nil},
		{"dhcp defaults on", playbooks.Subnet{}, playbooks.Subnet{DHCP: new(true)}, nil},
		{"generated keypair has nothing to compare", playbooks.Keypair{Generate: true}, playbooks.Keypair{PublicKey: "ssh-ed25519 AAA"}, nil},
		{"image visibility", playbooks.Image{DetectedFormat: "qcow2", Visibility: "public"}, playbooks.Image{DiskFormat: "qcow2"},
			[]playbooks.FieldChange{{Field: "visibility", From: "private", To: "public"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := playbooks.DiffFields(playbooks.Fields(tt.desired), playbooks.Fields(tt.current))
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestWritePrivateKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lab-key.pem")
	k := playbooks.Keypair{Name: "lab-key", PrivateKeyPath: path}
	if err := playbooks.WritePrivateKey(k, []byte("KEY")); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", st.Mode().Perm())
	}
	if err := playbooks.WritePrivateKey(k, []byte("OTHER")); !errors.Is(err, fs.ErrExist) {
		t.Errorf("second write: %v, want fs.ErrExist", err)
	}
	if data, _ := os.ReadFile(path); string(data) != "KEY" {
		t.Errorf("existing key replaced: %q", data)
	}
}
