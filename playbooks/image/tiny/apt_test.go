package tiny

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

const showKernelMeta = `Package: linux-image-cloud-amd64
Source: linux-signed-amd64 (6.1.192+2)
Version: 6.1.192-2
Installed-Size: 13
Maintainer: Debian Kernel Team <debian-kernel@lists.debian.org>
Architecture: amd64
Depends: linux-image-6.1.0-56-cloud-amd64 (= 6.1.192-2)
Description-en: Linux for x86-64 cloud (meta-package)
 This package depends on the latest Linux kernel and modules for use on
 cloud platforms.
Filename: pool/updates/main/l/linux-signed-amd64/linux-image-cloud-amd64_6.1.192-2_amd64.deb
Size: 1504
SHA256: 00be21c0c17f08ddf26e82d3b53fe7a41efa4a288938da6bb69e89c4b25c281d

`

func TestParseAptShow(t *testing.T) {
	c, err := parseAptShow([]byte(showKernelMeta + "Package: second-stanza-ignored\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := candidate{
		Deb:  Deb{Name: "linux-image-cloud-amd64", Version: "6.1.192-2", Arch: "amd64", Depends: []string{"linux-image-6.1.0-56-cloud-amd64"}},
		Size: 1504, SHA256: "00be21c0c17f08ddf26e82d3b53fe7a41efa4a288938da6bb69e89c4b25c281d",
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("got %+v\nwant %+v", c, want)
	}
	for _, bad := range []string{"", "N: Unable to locate package x\n", "Package: x\nVersion: 1\n", "Package: x\nVersion: 1\nArchitecture: all\nSize: big\n"} {
		if _, err := parseAptShow([]byte(bad)); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}

func TestParseDepends(t *testing.T) {
	for in, want := range map[string][]string{
		"linux-image-6.1.0-56-cloud-amd64 (= 6.1.192-2)": {"linux-image-6.1.0-56-cloud-amd64"},
		"a (>= 1), b | c, d:any":                         {"a", "b", "d"},
		"":                                               nil,
	} {
		if got := parseDepends(in); !reflect.DeepEqual(got, want) {
			t.Errorf("parseDepends(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestDebFileName(t *testing.T) {
	if got := debFileName("busybox-static", "1:1.35.0-4+deb12u1+b1", "amd64"); got != "busybox-static_1%3a1.35.0-4+deb12u1+b1_amd64.deb" {
		t.Errorf("got %s", got)
	}
}

// aptTools answers apt-cache show with a stanza for content and, for
// apt-get download, writes download (or nothing) into the directory.
type aptTools struct {
	content, download []byte
	calls             []string
}

func (a *aptTools) LookPath(string) error { return nil }

func (a *aptTools) Run(_ context.Context, dir, name string, args ...string) ([]byte, error) {
	a.calls = append(a.calls, name+" "+strings.Join(args, " "))
	sum := sha256.Sum256(a.content)
	switch name {
	case "apt-cache":
		return fmt.Appendf(nil, "Package: busybox-static\nVersion: 1:1.35\nArchitecture: amd64\nSize: %d\nSHA256: %s\n",
			len(a.content), hex.EncodeToString(sum[:])), nil
	case "apt-get":
		if a.download == nil {
			return nil, fmt.Errorf("apt-get download: exit status 100: E: Failed to fetch")
		}
		return nil, os.WriteFile(filepath.Join(dir, "busybox-static_1%3a1.35_amd64.deb"), a.download, 0o644)
	}
	return nil, fmt.Errorf("unexpected %s", name)
}

func TestAptFetcherCache(t *testing.T) {
	good := []byte("the real package")
	const file = "busybox-static_1%3a1.35_amd64.deb"
	for _, tc := range []struct {
		name        string
		inCache     []byte // content already in Dir
		inArchives  []byte // content already in apt's cache
		download    []byte // what apt-get download writes (nil: it fails)
		wantDir     string // "cache" or "archives" for where Path points
		wantApt     bool   // apt-get download was run
		wantErrPart string
	}{
		{name: "cache hit", inCache: good, wantDir: "cache"},
		{name: "apt's archive hit", inArchives: good, wantDir: "archives"},
		{name: "stale cache is downloaded again", inCache: []byte("old version!...."), download: good, wantDir: "cache", wantApt: true},
		{name: "miss downloads", download: good, wantDir: "cache", wantApt: true},
		{name: "download fails", wantApt: true, wantErrPart: "Failed to fetch; run apt-get update, or check that a Debian mirror is reachable"},
		{name: "download corrupt", download: []byte("the fake package"), wantApt: true, wantErrPart: "does not match the size and SHA256"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cache, archives := filepath.Join(t.TempDir(), "cache"), t.TempDir()
			if tc.inCache != nil {
				if err := os.MkdirAll(cache, 0o755); err != nil {
					t.Fatal(err)
				}
				writeFile(t, cache, file, tc.inCache)
			}
			if tc.inArchives != nil {
				writeFile(t, archives, file, tc.inArchives)
			}
			tools := &aptTools{content: good, download: tc.download}
			a := &AptFetcher{Dir: cache, Archives: []string{archives}, Tools: tools}
			deb, err := a.Fetch(context.Background(), "busybox-static")
			if tc.wantErrPart != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErrPart) {
					t.Fatalf("error %v, want %q", err, tc.wantErrPart)
				}
				if _, serr := os.Stat(filepath.Join(cache, file)); serr == nil {
					t.Error("a bad download was left in the cache")
				}
			} else {
				if err != nil {
					t.Fatal(err)
				}
				want := filepath.Join(map[string]string{"cache": cache, "archives": archives}[tc.wantDir], file)
				if deb.Path != want || deb.Version != "1:1.35" {
					t.Errorf("deb %+v, want path %s", deb, want)
				}
			}
			ranApt := strings.Contains(strings.Join(tools.calls, "\n"), "apt-get download busybox-static=1:1.35")
			if ranApt != tc.wantApt {
				t.Errorf("apt-get download run: %v, want %v (calls %q)", ranApt, tc.wantApt, tools.calls)
			}
		})
	}
}
