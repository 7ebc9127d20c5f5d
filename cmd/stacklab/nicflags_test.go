package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/urfave/cli/v3"
)

// The NICs a command works on: the flags over the configuration file's,
// the file's over detection; a flag naming the other NIC twice is a usage
// error.
func TestNICChoice(t *testing.T) {
	file := filepath.Join(t.TempDir(), "lab.yaml")
	if err := os.WriteFile(file, []byte("network:\n  external_interface: eth2\n  management_interface: eth0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	choose := func(args ...string) (mgmt, ext string, err error) {
		cmd := &cli.Command{
			Name:  "probe",
			Flags: append(nicFlags(), configFlag()),
			Action: func(_ context.Context, c *cli.Command) error {
				mgmt, ext, err = nicChoice(c)
				return nil
			},
		}
		if rerr := cmd.Run(context.Background(), append([]string{"probe"}, args...)); rerr != nil {
			t.Fatal(rerr)
		}
		return mgmt, ext, err
	}
	if m, x, err := choose("--config", file); err != nil || m != "eth0" || x != "eth2" {
		t.Errorf("from the file: %q %q %v, want eth0 eth2", m, x, err)
	}
	if m, x, err := choose("--config", file, "--ext-if", "eth3"); err != nil || m != "eth0" || x != "eth3" {
		t.Errorf("flag over the file: %q %q %v, want eth0 eth3", m, x, err)
	}
	_, _, err := choose("--config", file, "--ext-if", "eth0")
	var u *usageError
	if !errors.As(err, &u) {
		t.Errorf("external = management: %v, want a usage error", err)
	}
}
