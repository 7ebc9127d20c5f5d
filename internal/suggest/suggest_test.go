package suggest

import "testing"

func TestDistance(t *testing.T) {
	for _, tt := range []struct {
		a, b string
		want int
	}{
		{"", "", 0}, {"mtu", "mtu", 0}, {"mtuu", "mtu", 1}, {"netwrok", "network", 2}, //nolint:misspell // typos are the input
		{"kitten", "sitting", 3}, {"", "abc", 3},
	} {
		if got := Distance(tt.a, tt.b); got != tt.want {
			t.Errorf("Distance(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestClosest(t *testing.T) {
	keys := []string{"network", "openstack", "compute", "subnets", "servers"}
	for _, tt := range []struct{ in, want string }{
		{"netwrok", "network"}, //nolint:misspell // a typo is the input
		{"Compute", "compute"},
		{"subnet", "subnets"},
		{"xyz", ""},
		{"routers", ""},
	} {
		if got := Closest(tt.in, keys); got != tt.want {
			t.Errorf("Closest(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
