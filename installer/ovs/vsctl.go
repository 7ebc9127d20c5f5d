package ovs

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"slices"
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
	// One ovs-vsctl run for the bridges and every port's name: a
	// list-ports per bridge cost doctor an ovs-vsctl start each (about
	// 15 ms of CPU on 2 cores) on every run.
	out, err := v.Run(ctx, "--format=json", "--columns=name,datapath_type,ports", "list", "Bridge",
		"--", "--columns=_uuid,name", "list", "Port")
	if err != nil {
		return nil, err
	}
	return parseBridgesJSON(out)
}

// ovsTable is ovs-vsctl's --format=json answer to a list: one row of
// values per record, in the order of the --columns asked.
type ovsTable struct {
	Data [][]json.RawMessage `json:"data"`
}

// parseBridgesJSON reads the two tables Bridges asks for. A bridge's ports
// column holds its ports' UUIDs (["uuid", U] for one, ["set", [...]] for
// any other number); like list-ports, the answer leaves out the bridge's
// own internal port and sorts the names.
func parseBridgesJSON(out []byte) ([]BridgeState, error) {
	dec := json.NewDecoder(bytes.NewReader(out))
	var bridgeRows, portRows ovsTable
	if err := dec.Decode(&bridgeRows); err != nil {
		return nil, fmt.Errorf("ovs-vsctl list Bridge: %w", err)
	}
	if err := dec.Decode(&portRows); err != nil {
		return nil, fmt.Errorf("ovs-vsctl list Port: %w", err)
	}
	names := map[string]string{}
	for _, row := range portRows.Data {
		var id []string
		var name string
		if len(row) != 2 || json.Unmarshal(row[0], &id) != nil || len(id) != 2 || json.Unmarshal(row[1], &name) != nil {
			return nil, fmt.Errorf("ovs-vsctl list Port: unexpected row %s", row)
		}
		names[id[1]] = name
	}
	var bridges []BridgeState
	for _, row := range bridgeRows.Data {
		var b BridgeState
		if len(row) != 3 || json.Unmarshal(row[0], &b.Name) != nil || json.Unmarshal(row[1], &b.Datapath) != nil {
			return nil, fmt.Errorf("ovs-vsctl list Bridge: unexpected row %s", row)
		}
		ids, err := ovsUUIDs(row[2])
		if err != nil {
			return nil, fmt.Errorf("ovs-vsctl list Bridge: ports of %s: %w", b.Name, err)
		}
		for _, id := range ids {
			if n, ok := names[id]; ok && n != b.Name {
				b.Ports = append(b.Ports, n)
			}
		}
		slices.Sort(b.Ports)
		bridges = append(bridges, b)
	}
	return bridges, nil
}

// ovsUUIDs reads an OVSDB set of UUIDs in its JSON form.
func ovsUUIDs(raw json.RawMessage) ([]string, error) {
	var pair [2]json.RawMessage
	if err := json.Unmarshal(raw, &pair); err != nil {
		return nil, err
	}
	var tag string
	if err := json.Unmarshal(pair[0], &tag); err != nil {
		return nil, err
	}
	switch tag {
	case "uuid":
		var id string
		err := json.Unmarshal(pair[1], &id)
		return []string{id}, err
	case "set":
		var members [][2]string
		if err := json.Unmarshal(pair[1], &members); err != nil {
			return nil, err
		}
		ids := make([]string, 0, len(members))
		for _, m := range members {
			if m[0] != "uuid" {
				return nil, fmt.Errorf("a set member of type %q", m[0])
			}
			ids = append(ids, m[1])
		}
		return ids, nil
	}
	return nil, fmt.Errorf("an OVSDB value of type %q", tag)
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
