package tiny

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
)

// HostPackages are the Debian packages whose programs and files Build uses
// on the host (the installer and CI install them). apt itself is assumed.
var HostPackages = []string{"qemu-utils", "syslinux", "syslinux-common", "mtools", "dosfstools"}

// toolPackage names the Debian package that provides each program Build
// runs, so a missing one is reported with its fix.
var toolPackage = map[string]string{
	"qemu-img":  "qemu-utils",
	"syslinux":  "syslinux",
	"mcopy":     "mtools",
	"mkfs.fat":  "dosfstools",
	"apt-get":   "apt",
	"apt-cache": "apt",
}

// Tools runs the external programs the build needs. It is an interface so
// tests can make any step fail.
type Tools interface {
	// Run runs name with args in dir and returns its combined output; a
	// non-zero exit is an error.
	Run(ctx context.Context, dir, name string, args ...string) ([]byte, error)
	// LookPath reports a program missing before any work is done.
	LookPath(name string) error
}

// MissingToolError says a program is not installed, and which package has it.
type MissingToolError struct {
	Tool, Package string
}

func (e *MissingToolError) Error() string {
	return fmt.Sprintf("%s not found on this host: install the Debian package %s (apt-get install %s)", e.Tool, e.Package, e.Package)
}

// ExecTools runs programs with os/exec.
type ExecTools struct{}

// LookPath implements Tools.
func (ExecTools) LookPath(name string) error {
	if _, err := exec.LookPath(name); err != nil {
		pkg := toolPackage[name]
		if pkg == "" {
			pkg = "providing " + name
		}
		return &MissingToolError{Tool: name, Package: pkg}
	}
	return nil
}

// Run implements Tools.
func (t ExecTools) Run(ctx context.Context, dir, name string, args ...string) ([]byte, error) {
	if err := t.LookPath(name); err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	// apt and friends translate their messages; errors are matched by
	// people reading them, but keep them in one language for reports.
	cmd.Env = append(cmd.Environ(), "LC_ALL=C")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return out.Bytes(), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(out.String()))
		}
		return out.Bytes(), fmt.Errorf("%s: %w", name, err)
	}
	return out.Bytes(), nil
}
