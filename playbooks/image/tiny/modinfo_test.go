package tiny

import (
	"reflect"
	"strings"
	"testing"
)

func TestModinfoDepends(t *testing.T) {
	for _, tc := range []struct {
		name    string
		modinfo []string
		want    []string
	}{
		{"two deps", []string{"license=GPL", "depends=virtio,virtio_ring", "name=virtio_net"}, []string{"virtio", "virtio_ring"}},
		{"no deps (empty value)", []string{"depends=", "name=virtio"}, nil},
		{"no depends key", []string{"license=GPL"}, nil},
		{"similar key ignored", []string{"xdepends=foo", "depends=failover"}, []string{"failover"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := modinfoDepends(elfWithModinfo(tc.modinfo...))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("depends %q, want %q", got, tc.want)
			}
		})
	}
	if _, err := modinfoDepends([]byte("not an ELF")); err == nil {
		t.Error("a non-ELF module was accepted")
	}
}

func TestLoadOrder(t *testing.T) {
	// The cloud kernel's real graph (6.1): virtio_pci needs its two
	// transport helpers, virtio_net needs net_failover, which needs failover.
	real := map[string]Module{
		"virtio":                 {Name: "virtio"},
		"virtio_ring":            {Name: "virtio_ring", Depends: []string{"virtio"}},
		"virtio_pci_modern_dev":  {Name: "virtio_pci_modern_dev"},
		"virtio_pci_legacy_dev":  {Name: "virtio_pci_legacy_dev"},
		"virtio_pci":             {Name: "virtio_pci", Depends: []string{"virtio_pci_modern_dev", "virtio_ring", "virtio", "virtio_pci_legacy_dev"}},
		"failover":               {Name: "failover"},
		"net_failover":           {Name: "net_failover", Depends: []string{"failover"}},
		"virtio_net":             {Name: "virtio_net", Depends: []string{"net_failover", "virtio_ring", "virtio"}},
		"virtio_blk":             {Name: "virtio_blk", Depends: []string{"virtio", "virtio_ring"}},
		"fat":                    {Name: "fat"},
		"vfat":                   {Name: "vfat", Depends: []string{"fat"}},
		"nls_cp437":              {Name: "nls_cp437"},
		"nls_ascii":              {Name: "nls_ascii"},
		"nls_utf8":               {Name: "nls_utf8"},
		"unrelated_not_included": {Name: "unrelated_not_included"},
	}
	for _, tc := range []struct {
		name    string
		avail   map[string]Module
		builtin map[string]bool
		roots   []string
		want    []string
		wantErr string
	}{
		{
			name: "cloud kernel", avail: real, roots: bootModules,
			want: []string{"virtio", "virtio_pci_legacy_dev", "virtio_pci_modern_dev", "virtio_ring", "virtio_pci",
				"failover", "net_failover", "virtio_net", "virtio_blk", "fat", "vfat", "nls_cp437", "nls_ascii", "nls_utf8"},
		},
		{
			// Debian 13's cloud kernel (6.12): virtio and virtio_pci
			// with its helpers built in, the rest modules.
			name: "trixie cloud kernel", avail: real, roots: bootModules,
			builtin: map[string]bool{"virtio": true, "virtio_pci": true, "virtio_pci_modern_dev": true, "virtio_pci_legacy_dev": true},
			want:    []string{"failover", "net_failover", "virtio_ring", "virtio_net", "virtio_blk", "fat", "vfat", "nls_cp437", "nls_ascii", "nls_utf8"},
		},
		{name: "no roots", avail: real, roots: nil, want: nil},
		{name: "shared dependency loaded once", avail: real, roots: []string{"virtio_ring", "virtio_blk"},
			want: []string{"virtio", "virtio_ring", "virtio_blk"}},
		{
			name: "cycle",
			avail: map[string]Module{
				"a": {Name: "a", Depends: []string{"b"}},
				"b": {Name: "b", Depends: []string{"c"}},
				"c": {Name: "c", Depends: []string{"a"}},
			},
			roots: []string{"a"}, wantErr: "dependency cycle: a -> b -> c -> a",
		},
		{
			name:    "missing dependency",
			avail:   map[string]Module{"virtio_net": {Name: "virtio_net", Depends: []string{"net_failover"}}},
			roots:   []string{"virtio_net"},
			wantErr: "net_failover is not in the kernel package (wanted via virtio_net -> net_failover)",
		},
		{name: "missing root", avail: real, roots: []string{"e1000"}, wantErr: "e1000 is not in the kernel package"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := loadOrder(tc.avail, tc.builtin, tc.roots)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, m := range got {
				names = append(names, m.Name)
			}
			if !reflect.DeepEqual(names, tc.want) {
				t.Errorf("order %q, want %q", names, tc.want)
			}
		})
	}
}

func TestModuleName(t *testing.T) {
	for in, want := range map[string]string{
		"lib/modules/6.1/kernel/drivers/virtio/virtio_pci.ko":      "virtio_pci",
		"drivers/char/hw_random/virtio-rng.ko":                     "virtio_rng",
		"usr/lib/modules/6.12/kernel/drivers/net/virtio_net.ko.xz": "virtio_net",
		"kernel/drivers/virtio/virtio_pci.ko.zst":                  "virtio_pci",
	} {
		if got := moduleName(in); got != want {
			t.Errorf("moduleName(%q) = %q, want %q", in, got, want)
		}
	}
}
