package tiny

import (
	"regexp"
	"testing"
)

func TestParseUpLine(t *testing.T) {
	for _, tc := range []struct {
		line string
		want UpLine
		ok   bool
	}{
		{"stacklab-guest up ip=10.0.0.5 instance=6f9e7d2c-1a2b-4c3d-8e9f-0a1b2c3d4e5f hostname=vm-1 uptime=4.21",
			UpLine{IP: "10.0.0.5", Instance: "6f9e7d2c-1a2b-4c3d-8e9f-0a1b2c3d4e5f", Hostname: "vm-1", Uptime: 4.21}, true},
		{"stacklab-guest up ip=10.0.2.15 instance=unknown hostname=stacklab-tiny uptime=32.72\r",
			UpLine{IP: "10.0.2.15", Instance: "unknown", Hostname: "stacklab-tiny", Uptime: 32.72}, true},
		{"stacklab-guest up hostname=h uptime=1 instance=i ip=1.2.3.4", UpLine{IP: "1.2.3.4", Instance: "i", Hostname: "h", Uptime: 1}, true},
		// A guest booted from a snapshot names the instance that first booted its disk.
		{"stacklab-guest up ip=1.2.3.4 instance=b hostname=h born=a uptime=1", UpLine{IP: "1.2.3.4", Instance: "b", Hostname: "h", Born: "a", Uptime: 1}, true},
		{"stacklab-guest error reason=no-dhcp-lease", UpLine{}, false},
		{"stacklab-guest: metadata", UpLine{}, false},
		{"[ 2.9] stacklab-guest up ip=1.2.3.4 instance=i hostname=h uptime=1", UpLine{}, false},
		{"stacklab-guest up ip=1.2.3.4 instance=i hostname=h", UpLine{}, false},
		{"stacklab-guest up ip=1.2.3.4 instance=i hostname=h uptime=soon", UpLine{}, false},
		{"stacklab-guest up ip= instance=i hostname=h uptime=1", UpLine{}, false},
		{"stacklab-guest up ip=1.2.3.4 junk instance=i hostname=h uptime=1", UpLine{}, false},
	} {
		got, ok := ParseUpLine(tc.line)
		if ok != tc.ok || got != tc.want {
			t.Errorf("ParseUpLine(%q) = %+v, %v; want %+v, %v", tc.line, got, ok, tc.want, tc.ok)
		}
	}
}

func TestLineREs(t *testing.T) {
	up, bad := regexp.MustCompile(UpLineRE), regexp.MustCompile(ErrorLineRE)
	if !up.MatchString("stacklab-guest up ip=1") || up.MatchString("stacklab-guest: up") || up.MatchString("stacklab-guest error reason=x") {
		t.Error("UpLineRE matches the wrong lines")
	}
	if !bad.MatchString("stacklab-guest error reason=no-dhcp-lease") || bad.MatchString("stacklab-guest up ip=1") {
		t.Error("ErrorLineRE matches the wrong lines")
	}
}
