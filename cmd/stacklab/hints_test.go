package main

import (
	"regexp"
	"slices"
	"testing"

	"github.com/urfave/cli/v3"

	"github.com/stacklab/stacklab/internal/cloud"
)

// A hint that names a flag the commands do not have sends the user to a
// usage error: every --flag in the no-clouds.yaml hint must exist on each
// command that opens a cloud.
func TestNoCloudsHintNamesRealFlags(t *testing.T) {
	msg := (&cloud.NoCloudsFileError{Searched: []string{"/etc/openstack/clouds.yaml"}}).Error()
	named := regexp.MustCompile(`--[a-z][a-z-]*`).FindAllString(msg, -1)
	if len(named) == 0 {
		t.Fatalf("hint %q names no flag; this test checks nothing", msg)
	}
	app := newApp(defaultEnv(nil, nil, nil))
	for _, cmdName := range []string{"run", "doctor"} {
		var cmd *cli.Command
		for _, c := range app.Commands {
			if c.Name == cmdName {
				cmd = c
			}
		}
		if cmd == nil {
			t.Fatalf("no %s command", cmdName)
		}
		var flags []string
		for _, f := range cmd.Flags {
			for _, n := range f.Names() {
				flags = append(flags, "--"+n)
			}
		}
		for _, f := range named {
			if !slices.Contains(flags, f) {
				t.Errorf("the hint %q names %s, which stacklab %s does not have", msg, f, cmdName)
			}
		}
	}
}
