package ovs

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
)

// Runner runs ovs-vsctl with args and returns its standard output.
type Runner func(ctx context.Context, args ...string) ([]byte, error)

// VsctlDB is the database through ovs-vsctl.
type VsctlDB struct {
	Run Runner
}

// NewVsctl talks to the database at socket (openstack.OVSDBSock on the
// lab), giving up on a daemon that does not answer within timeoutSec.
func NewVsctl(socket string, timeoutSec int) VsctlDB {
	base := []string{"--db=unix:" + socket, fmt.Sprintf("--timeout=%d", timeoutSec)}
	return VsctlDB{Run: func(ctx context.Context, args ...string) ([]byte, error) {
		cmd := exec.CommandContext(ctx, "ovs-vsctl", append(base, args...)...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return out, fmt.Errorf("ovs-vsctl %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
		}
		return out, nil
	}}
}

func (v VsctlDB) Bridges(ctx context.Context) ([]BridgeState, error) {
	out, err := v.Run(ctx, "--bare", "--columns=name,datapath_type", "list", "Bridge")
	if err != nil {
		return nil, err
	}
	bridges := parseBare(string(out))
	for i := range bridges {
		ports, err := v.Run(ctx, "list-ports", bridges[i].Name)
		if err != nil {
			return nil, err
		}
		bridges[i].Ports = strings.Fields(string(ports))
	}
	return bridges, nil
}

// parseBare reads `--bare --columns=name,datapath_type list Bridge`: per
// record one line per column (an empty datapath_type is an empty line),
// then a blank line. Counting lines, not splitting on blank ones, keeps an
// empty column from being read as the end of a record.
func parseBare(out string) []BridgeState {
	lines := strings.Split(out, "\n")
	var bridges []BridgeState
	for i := 0; i+1 < len(lines); i += 3 {
		name := strings.TrimSpace(lines[i])
		if name == "" {
			break
		}
		bridges = append(bridges, BridgeState{Name: name, Datapath: strings.TrimSpace(lines[i+1])})
	}
	return bridges
}

func (v VsctlDB) AddBridge(ctx context.Context, name, datapath string) error {
	// One transaction: the bridge never exists with the wrong datapath.
	_, err := v.Run(ctx, "--may-exist", "add-br", name, "--", "set", "Bridge", name, "datapath_type="+datapath)
	return err
}

func (v VsctlDB) SetDatapath(ctx context.Context, bridge, datapath string) error {
	_, err := v.Run(ctx, "set", "Bridge", bridge, "datapath_type="+datapath)
	return err
}

func (v VsctlDB) AddPort(ctx context.Context, bridge, port string) error {
	_, err := v.Run(ctx, "--may-exist", "add-port", bridge, port)
	return err
}

func (v VsctlDB) DelPort(ctx context.Context, bridge, port string) error {
	_, err := v.Run(ctx, "--if-exists", "del-port", bridge, port)
	return err
}

func (v VsctlDB) DelBridge(ctx context.Context, name string) error {
	_, err := v.Run(ctx, "--if-exists", "del-br", name)
	return err
}
