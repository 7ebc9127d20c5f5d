package main

import (
	"strings"
	"testing"
)

func TestLaptopAdvice(t *testing.T) {
	tests := []struct {
		name, mgmt, gw, root string
		want                 []string // substrings of the whole message; nil = no message
	}{
		{"VirtualBox NAT", "10.0.2.15", "10.0.2.2", "/horizon", []string{
			"10.0.2.15 is VirtualBox NAT's address",
			`VBoxManage controlvm VM natpf1 "horizon,tcp,,8080,,80"`,
			`VBoxManage controlvm VM natpf1 "novnc,tcp,,6080,,6080"`,
			"http://localhost:8080/horizon",
			"host-only adapter the management NIC",
		}},
		// horizon.web_root moves the dashboard, and the forwarded URL with it.
		{"VirtualBox NAT, another web root", "10.0.2.15", "10.0.2.2", "/dashboard", []string{"http://localhost:8080/dashboard "}},
		{"host-only management address", "192.168.56.10", "", "/horizon", nil},
		{"NAT network (10.0.2.0/24 elsewhere)", "10.0.2.15", "10.0.2.1", "/horizon", nil},
		{"a bridged VM", "192.168.1.23", "192.168.1.1", "/horizon", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := laptopAdvice(tt.mgmt, tt.gw, tt.root)
			if (got == nil) != (tt.want == nil) {
				t.Fatalf("advice = %q", got)
			}
			all := strings.Join(got, "\n")
			for _, w := range tt.want {
				if !strings.Contains(all, w) {
					t.Errorf("advice lacks %q:\n%s", w, all)
				}
			}
		})
	}
}
