package openstack

import (
	"slices"
	"testing"
)

// Install's verify and doctor judge agents by this one rule (install once
// accepted a live agent set admin down, which doctor calls red).
func TestAgentsNotReady(t *testing.T) {
	l3 := func(alive, up bool) Agent { return Agent{Type: "L3 agent", Host: "lab", Alive: alive, AdminUp: up} }
	for _, tt := range []struct {
		name string
		list []Agent
		want []string
	}{
		{"none listed", nil, nil},
		{"alive", []Agent{l3(true, true)}, nil},
		{"one of two dead", []Agent{l3(true, true), l3(false, true)}, []string{"L3 agent on lab"}},
		{"admin down", []Agent{l3(true, false)}, []string{"L3 agent on lab (admin down)"}},
		{"dead and down", []Agent{l3(false, false)}, []string{"L3 agent on lab", "L3 agent on lab (admin down)"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := AgentsNotReady(tt.list); !slices.Equal(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}
