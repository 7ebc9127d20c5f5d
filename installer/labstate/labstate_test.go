package labstate_test

import (
	"errors"
	"testing"

	"github.com/stacklab/stacklab/installer/labstate"
)

func TestRoundTrip(t *testing.T) {
	s := labstate.State{MgmtIP: "192.0.2.10"}
	b := s.Encode()
	if string(b) != "{\n  \"mgmt_ip\": \"192.0.2.10\"\n}\n" {
		t.Errorf("Encode = %q", b)
	}
	got, err := labstate.Decode(b)
	if err != nil || got != s {
		t.Errorf("Decode(Encode(s)) = %+v, %v; want %+v", got, err, s)
	}
}

func TestDecode(t *testing.T) {
	tests := []struct {
		name, in string
		want     string // MgmtIP; "" means an error
		noAddr   bool
	}{
		{"recorded", `{"mgmt_ip":"10.0.0.2"}`, "10.0.0.2", false},
		{"unknown fields are ignored", `{"mgmt_ip":"10.0.0.2","later":1}`, "10.0.0.2", false},
		{"empty object", `{}`, "", true},
		{"empty address", `{"mgmt_ip":""}`, "", true},
		{"not JSON", `mgmt_ip: 10.0.0.2`, "", false},
		{"torn", `{"mgmt_ip":"10.0`, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := labstate.Decode([]byte(tt.in))
			if got.MgmtIP != tt.want || (err == nil) != (tt.want != "") {
				t.Fatalf("Decode = %+v, %v; want %q", got, err, tt.want)
			}
			if errors.Is(err, labstate.ErrNoAddress) != tt.noAddr {
				t.Errorf("errors.Is(%v, ErrNoAddress) = %v, want %v", err, !tt.noAddr, tt.noAddr)
			}
		})
	}
}
