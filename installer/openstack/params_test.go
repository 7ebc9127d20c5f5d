package openstack

import (
	"slices"
	"strings"
	"testing"
)

// sampleParams is the lab the golden files render: a 2-core host, MTU 1400
// underlay, test passwords that say what they are.
func sampleParams() Params {
	return Params{
		Hostname:       "lab1",
		MgmtIP:         "192.0.2.10",
		ExtIf:          "eth1",
		Region:         DefaultRegion,
		ComputeDriver:  ComputeLibvirt,
		VirtType:       VirtQEMU,
		ProviderNet:    DefaultProviderNet,
		MTU:            1400,
		Workers:        WorkersFor(2),
		HorizonWebRoot: DefaultWebRoot,
		TimeZone:       "UTC",
		AdminUser:      DefaultAdminUser,
		AdminProject:   DefaultProject,
		Secrets: Secrets{
			AdminPassword:    "test-admin-pw",
			KeystoneDB:       "test-keystone-db-pw",
			GlanceDB:         "test-glance-db-pw",
			GlanceUser:       "test-glance-user-pw",
			PlacementDB:      "test-placement-db-pw",
			PlacementUser:    "test-placement-user-pw",
			NovaDB:           "test-nova-db-pw",
			NovaUser:         "test-nova-user-pw",
			NeutronDB:        "test-neutron-db-pw",
			NeutronUser:      "test-neutron-user-pw",
			Rabbit:           "test-rabbit-pw",
			MetadataSecret:   "test-metadata-secret",
			HorizonSecretKey: "test-horizon-secret-key",
		},
	}
}

func TestValidate(t *testing.T) {
	if err := sampleParams().Validate(); err != nil {
		t.Fatalf("sample params: %v", err)
	}
	tests := []struct {
		name   string
		mutate func(*Params)
		want   string
	}{
		{"ipv6 mgmt", func(p *Params) { p.MgmtIP = "2001:db8::1" }, "management IP"},
		{"no mgmt", func(p *Params) { p.MgmtIP = "" }, "management IP"},
		{"driver", func(p *Params) { p.ComputeDriver = "xen" }, "compute driver"},
		{"virt", func(p *Params) { p.VirtType = "lxc" }, "virt type"},
		{"backend", func(p *Params) { p.NeutronBackend = "ovn" }, `neutron backend "ovn": want one of linuxbridge, openvswitch`},
		{"ovs without datapath", func(p *Params) { p.NeutronBackend = "openvswitch" }, "OVS datapath"},
		{"release", func(p *Params) { p.Release = "11" }, `debian release "11"`},
		{"linuxbridge on 13", func(p *Params) { p.Release, p.NeutronBackend = "13", "linuxbridge" },
			"Debian 13 (trixie): neutron 2025.1 in Debian 13 ships no linuxbridge driver"},
		{"mtu", func(p *Params) { p.MTU = 1300 }, "MTU"},
		{"workers", func(p *Params) { p.Workers = 0 }, "workers"},
		{"webroot slash", func(p *Params) { p.HorizonWebRoot = "/horizon/" }, "web root"},
		{"webroot root", func(p *Params) { p.HorizonWebRoot = "/" }, "web root"},
		{"tz", func(p *Params) { p.TimeZone = "UTC'" }, "time zone"},
		{"region", func(p *Params) { p.Region = "" }, "region"},
		{"ext if", func(p *Params) { p.ExtIf = "a-very-long-interface-name" }, "external interface"},
		{"dollar in secret", func(p *Params) { p.NovaUser = "abc$defgh" }, "secret NovaUser"},
		{"short secret", func(p *Params) { p.Rabbit = "short" }, "secret Rabbit"},
		{"quote in secret", func(p *Params) { p.HorizonSecretKey = "abcdefgh'" }, "secret HorizonSecretKey"},
		{"url in secret", func(p *Params) { p.KeystoneDB = "abc@defgh" }, "secret KeystoneDB"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := sampleParams()
			tt.mutate(&p)
			err := p.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate() = %v, want an error mentioning %q", err, tt.want)
			}
		})
	}
	// Every problem is reported, not only the first.
	p := sampleParams()
	p.MTU, p.Workers = 0, 0
	if err := p.Validate(); err == nil || !strings.Contains(err.Error(), "MTU") || !strings.Contains(err.Error(), "workers") {
		t.Fatalf("Validate() = %v, want both MTU and workers", err)
	}
}

func TestWorkersFor(t *testing.T) {
	for cpus, want := range map[int]int{0: 1, 1: 1, 2: 1, 3: 1, 4: 2, 6: 3, 8: 4, 16: 4} {
		if got := WorkersFor(cpus); got != want {
			t.Errorf("WorkersFor(%d) = %d, want %d", cpus, got, want)
		}
	}
}

func TestSecretsValues(t *testing.T) {
	p := sampleParams()
	if got := len(p.Values()); got != 13 {
		t.Fatalf("Values() has %d secrets, want 13", got)
	}
	p.Rabbit = ""
	if got := len(p.Values()); got != 12 {
		t.Fatalf("Values() with one empty has %d, want 12", got)
	}
}

func TestPackages(t *testing.T) {
	tests := []struct {
		driver, virt string
		client       bool
		want, not    []string
	}{
		// kvm's hypervisor package for TCG too: qemu's pulls in the
		// emulators of every architecture.
		{ComputeLibvirt, VirtQEMU, false, []string{"nova-compute-kvm", "qemu-utils", "neutron-linuxbridge-agent"}, []string{"nova-compute-qemu", "python3-openstackclient", "openvswitch-switch"}},
		{ComputeLibvirt, VirtKVM, true, []string{"nova-compute-kvm", "python3-openstackclient"}, []string{"nova-compute-qemu"}},
		// nova-compute still needs a hypervisor package with the fake
		// driver.
		{ComputeFake, VirtKVM, false, []string{"nova-compute-kvm"}, []string{"nova-compute-qemu"}},
	}
	for _, tt := range tests {
		p := sampleParams()
		p.ComputeDriver, p.VirtType, p.WithClient = tt.driver, tt.virt, tt.client
		got := map[string]int{}
		for _, pkg := range Packages(p) {
			got[pkg]++
			if got[pkg] > 1 {
				t.Errorf("%s/%s: %s listed twice", tt.driver, tt.virt, pkg)
			}
		}
		for _, w := range tt.want {
			if got[w] == 0 {
				t.Errorf("%s/%s: missing %s", tt.driver, tt.virt, w)
			}
		}
		for _, n := range tt.not {
			if got[n] > 0 {
				t.Errorf("%s/%s: unexpected %s", tt.driver, tt.virt, n)
			}
		}
	}
	if ex := ExcludedPackages(sampleParams()); len(ex) != 1 || ex[0] != "openvswitch-switch" {
		t.Errorf("ExcludedPackages = %v", ex)
	}
}

// A lab installed when the hypervisor package was nova-compute-qemu keeps
// it: every stand-in's package is one the lab names.
func TestStandIns(t *testing.T) {
	p := sampleParams()
	got := StandIns(p)
	if alts := got["nova-compute-kvm"]; !slices.Equal(alts, []string{"nova-compute-qemu"}) {
		t.Errorf("StandIns[nova-compute-kvm] = %v, want [nova-compute-qemu]", alts)
	}
	for pkg := range got {
		if !slices.Contains(Packages(p), pkg) {
			t.Errorf("stand-ins for %s, which the lab does not install", pkg)
		}
	}
}
