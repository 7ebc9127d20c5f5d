package host

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

func TestParseOSRelease(t *testing.T) {
	tests := []struct {
		name, in string
		want     OSRelease
	}{
		{"debian 12", "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nID=debian\n",
			OSRelease{ID: "debian", VersionID: "12", PrettyName: "Debian GNU/Linux 12 (bookworm)"}},
		{"ubuntu 24.04", "# comment\nID=ubuntu\nVERSION_ID=\"24.04\"\nPRETTY_NAME=\"Ubuntu 24.04.1 LTS\"\n",
			OSRelease{ID: "ubuntu", VersionID: "24.04", PrettyName: "Ubuntu 24.04.1 LTS"}},
		{"single quotes and escapes", "ID='arch'\nPRETTY_NAME=\"A \\\"quoted\\\" \\$name\"\n",
			OSRelease{ID: "arch", PrettyName: "A \"quoted\" $name"}},
		{"debian testing has no VERSION_ID", "ID=debian\nPRETTY_NAME=\"Debian GNU/Linux trixie/sid\"\n",
			OSRelease{ID: "debian", PrettyName: "Debian GNU/Linux trixie/sid"}},
		{"garbage lines ignored", "\n\nnot a pair\nID=fedora\n", OSRelease{ID: "fedora"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseOSRelease(strings.NewReader(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestParseHostsAndEntriesNaming(t *testing.T) {
	in := `127.0.0.1	localhost
127.0.1.1	lab.example.org	lab   # Debian's installer line
10.0.0.5 LAB.example.org
not-an-ip lab
::1     localhost ip6-localhost ip6-loopback
fe80::1%eth0 lab
192.168.1.9 laboratory
`
	all, err := parseHosts(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 6 {
		t.Fatalf("parsed %d entries, want 6 (invalid address skipped): %+v", len(all), all)
	}
	tests := []struct {
		host string
		want []string
	}{
		{"lab.example.org", []string{"127.0.1.1", "10.0.0.5", "fe80::1%eth0"}},
		{"lab", []string{"127.0.1.1", "fe80::1%eth0"}},
		{"nothere", nil},
	}
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			var got []string
			for _, a := range (Hostname{Entries: entriesNaming(all, tt.host)}).Addrs() {
				got = append(got, a.String())
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestParseProcNetTCP(t *testing.T) {
	v4 := `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:0CEA 00000000:0000 0A 00000000:00000000 00:00000000 00000000   106        0 23456 1 0000000000000000 100 0 0 10 0
   1: 00000000:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 777 1 0000000000000000 100 0 0 10 0
   2: 0500000A:D431 0600000A:0016 01 00000000:00000000 02:0000A1B2 00000000     0        0 888 2 0000000000000000 20 4 30 10 -1
`
	v6 := `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000001000000:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 999 1 0000000000000000 100 0 0 10 0
   1: 0000000000000000FFFF00000100007F:2A50 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1000 1 0000000000000000 100 0 0 10 0
   2: B80D0120000000000000000001000000:0016 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1001 1 0000000000000000 100 0 0 10 0
`
	tests := []struct {
		name, in string
		want     []TCPSocket
	}{
		{"ipv4", v4, []TCPSocket{
			{netip.MustParseAddr("127.0.0.1"), 3306, TCPListen, 23456},
			{netip.MustParseAddr("0.0.0.0"), 80, TCPListen, 777},
			{netip.MustParseAddr("10.0.0.5"), 54321, 1, 888},
		}},
		{"ipv6", v6, []TCPSocket{
			{netip.MustParseAddr("::1"), 8080, TCPListen, 999},
			{netip.MustParseAddr("127.0.0.1"), 10832, TCPListen, 1000}, // v4-mapped, unmapped
			{netip.MustParseAddr("2001:db8::1"), 22, TCPListen, 1001},
		}},
		{"header only", "  sl  local_address\n", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseProcNetTCP(strings.NewReader(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
	if _, err := ParseProcNetTCP(strings.NewReader("hdr\n 0: XYZ:0050 0:0 0A a b c d e 12 f\n")); err == nil {
		t.Error("malformed address accepted")
	}
}

func TestSocketInode(t *testing.T) {
	tests := []struct {
		link string
		want uint64
		ok   bool
	}{
		{"socket:[12345]", 12345, true},
		{"pipe:[12345]", 0, false},
		{"/dev/null", 0, false},
		{"socket:[abc]", 0, false},
		{"socket:[12", 0, false},
	}
	for _, tt := range tests {
		got, ok := SocketInode(tt.link)
		if got != tt.want || ok != tt.ok {
			t.Errorf("SocketInode(%q) = %d, %v; want %d, %v", tt.link, got, ok, tt.want, tt.ok)
		}
	}
}

func TestUnitFromCgroup(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"v2 service", "0::/system.slice/nginx.service\n", "nginx.service"},
		{"v2 session", "0::/user.slice/user-0.slice/session-3.scope\n", ""},
		{"v2 nested payload", "0::/system.slice/foo.service/payload\n", "foo.service"},
		{"v1 named hierarchy", "4:memory:/x\n1:name=systemd:/system.slice/apache2.service\n", "apache2.service"},
		{"v1 other controllers ignored", "4:memory:/system.slice/evil.service\n0::/\n", ""},
		{"root", "0::/\n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := unitFromCgroup(tt.in); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestParseMeminfoKB(t *testing.T) {
	in := "MemTotal:       24632104 kB\nMemFree:        1000 kB\nSwapTotal:             0 kB\n"
	got, err := parseMeminfoKB(strings.NewReader(in), "MemTotal")
	if err != nil || got != 24632104*1024 {
		t.Errorf("MemTotal = %d, %v", got, err)
	}
	if _, err := parseMeminfoKB(strings.NewReader(in), "Nope"); err == nil {
		t.Error("missing field accepted")
	}
}
