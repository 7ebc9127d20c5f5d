package host

import (
	"context"
	"errors"
	"strings"
	"testing"
)

type fakeModules struct {
	loaded  bool
	loadErr error
	loads   bool // Load makes it loaded
	tried   int
}

func (f *fakeModules) Loaded(string) bool { return f.loaded }

func (f *fakeModules) Load(context.Context, string) error {
	f.tried++
	if f.loadErr == nil && f.loads {
		f.loaded = true
	}
	return f.loadErr
}

func TestOVSDatapath(t *testing.T) {
	tests := []struct {
		name       string
		m          fakeModules
		want, says string
		tries      int
	}{
		{"loaded", fakeModules{loaded: true}, DatapathSystem, "is loaded", 0},
		{"loadable", fakeModules{loads: true}, DatapathSystem, "module loaded", 1},
		// These machines: no CONFIG_OPENVSWITCH.
		{"absent", fakeModules{loadErr: errors.New("exit status 1: modprobe: FATAL: Module openvswitch not found")}, DatapathNetdev, "not found", 1},
		{"loads nothing", fakeModules{}, DatapathNetdev, "not in the kernel", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, why := OVSDatapath(context.Background(), &tt.m)
			if got != tt.want || !strings.Contains(why, tt.says) || tt.m.tried != tt.tries {
				t.Errorf("= %s, %q after %d loads; want %s mentioning %q after %d", got, why, tt.m.tried, tt.want, tt.says, tt.tries)
			}
		})
	}
}
