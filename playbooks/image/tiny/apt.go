package tiny

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Packages gets Debian packages for the build.
type Packages interface {
	// Fetch returns the .deb of the candidate version of name, from a cache
	// when it holds that exact file, else downloaded.
	Fetch(ctx context.Context, name string) (Deb, error)
}

// Deb is a package file on disk and what its index entry says.
type Deb struct {
	Name, Version, Arch string
	Path                string
	// Depends holds the package names of the Depends field (versions and
	// alternatives beyond the first dropped): a metapackage is resolved
	// through it.
	Depends []string
}

// AptFetcher fetches with the host's apt: `apt-cache show` tells the
// candidate version, its file name, size and SHA256, so a cached file is
// reused only when it is exactly that package; otherwise `apt-get download`
// fetches it into Dir. No root-owned apt state is changed.
type AptFetcher struct {
	// Dir keeps downloaded packages between builds.
	Dir string
	// Archives are other directories searched first (apt's own cache).
	Archives []string
	// AptOptions are passed to apt-cache and apt-get ("-o", "Dir::…=…"),
	// e.g. to point them at other package lists.
	AptOptions []string
	Tools      Tools
}

// NewAptFetcher keeps packages in dir and also looks in apt's own cache.
func NewAptFetcher(dir string, tools Tools) *AptFetcher {
	return &AptFetcher{Dir: dir, Archives: []string{"/var/cache/apt/archives"}, Tools: tools}
}

// aptFix is the advice attached to every apt failure: they all come down
// to the package lists or the mirror.
const aptFix = "run apt-get update, or check that a Debian mirror is reachable (/etc/apt/sources.list)"

// candidate is the index entry apt-cache show prints for the candidate.
type candidate struct {
	Deb
	Size   int64
	SHA256 string
}

// Fetch implements Packages.
func (a *AptFetcher) Fetch(ctx context.Context, name string) (Deb, error) {
	args := append(append([]string{}, a.AptOptions...), "show", "--no-all-versions", name)
	out, err := a.Tools.Run(ctx, "", "apt-cache", args...)
	if err != nil {
		return Deb{}, fmt.Errorf("find package %s: %w; %s", name, err, aptFix)
	}
	c, err := parseAptShow(out)
	if err != nil {
		return Deb{}, fmt.Errorf("find package %s: apt-cache show: %w; %s", name, err, aptFix)
	}
	file := debFileName(c.Name, c.Version, c.Arch)
	for _, dir := range append([]string{a.Dir}, a.Archives...) {
		p := filepath.Join(dir, file)
		if ok, _ := fileMatches(p, c.Size, c.SHA256); ok {
			c.Path = p
			return c.Deb, nil
		}
	}
	if err := os.MkdirAll(a.Dir, 0o755); err != nil {
		return Deb{}, fmt.Errorf("package cache: %w", err)
	}
	p := filepath.Join(a.Dir, file)
	// A torn earlier download would make apt-get think it has the file.
	_ = os.Remove(p)
	dl := append(append([]string{}, a.AptOptions...), "download", c.Name+"="+c.Version)
	if _, err := a.Tools.Run(ctx, a.Dir, "apt-get", dl...); err != nil {
		return Deb{}, fmt.Errorf("download package %s: %w; %s", name, err, aptFix)
	}
	ok, err := fileMatches(p, c.Size, c.SHA256)
	if err != nil {
		return Deb{}, fmt.Errorf("download package %s: %w", name, err)
	}
	if !ok {
		_ = os.Remove(p)
		return Deb{}, fmt.Errorf("download package %s: %s does not match the size and SHA256 in the package index; %s", name, p, aptFix)
	}
	c.Path = p
	return c.Deb, nil
}

// debFileName is the name apt gives a downloaded package: the epoch's
// colon is URL-escaped.
func debFileName(name, version, arch string) string {
	return name + "_" + strings.ReplaceAll(version, ":", "%3a") + "_" + arch + ".deb"
}

func fileMatches(path string, size int64, sum string) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return false, err
	}
	if st.Size() != size {
		return false, nil
	}
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return false, fmt.Errorf("hash %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)) == strings.ToLower(sum), nil
}

// parseAptShow reads the first stanza of `apt-cache show` output.
func parseAptShow(out []byte) (candidate, error) {
	var c candidate
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			if c.Name != "" {
				break
			}
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok || strings.HasPrefix(line, " ") {
			continue // continuation of a multi-line field (Description)
		}
		v = strings.TrimSpace(v)
		switch k {
		case "Package":
			c.Name = v
		case "Version":
			c.Version = v
		case "Architecture":
			c.Arch = v
		case "Size":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return candidate{}, fmt.Errorf("bad Size %q", v)
			}
			c.Size = n
		case "SHA256":
			c.SHA256 = v
		case "Depends", "Pre-Depends":
			c.Depends = append(c.Depends, parseDepends(v)...)
		}
	}
	if err := sc.Err(); err != nil {
		return candidate{}, err
	}
	switch {
	case c.Name == "":
		return candidate{}, errors.New("no package in the output")
	case c.Version == "" || c.Arch == "" || c.Size == 0 || c.SHA256 == "":
		return candidate{}, fmt.Errorf("entry of %s lacks Version, Architecture, Size or SHA256", c.Name)
	}
	return c, nil
}

// parseDepends keeps the first alternative's package name of each clause:
// "a (>= 1), b | c, d:any" → a, b, d.
func parseDepends(v string) []string {
	var out []string
	for _, clause := range strings.Split(v, ",") {
		alt, _, _ := strings.Cut(clause, "|")
		name := strings.Fields(alt)
		if len(name) == 0 {
			continue
		}
		n, _, _ := strings.Cut(name[0], ":")
		out = append(out, n)
	}
	return out
}
