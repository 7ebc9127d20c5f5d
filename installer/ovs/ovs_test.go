package ovs

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/stacklab/stacklab/installer/openstack"
)

// memDB is an OVS database in memory, counting writes.
type memDB struct {
	bridges []BridgeState
	writes  int
	failAdd error
}

func (m *memDB) Bridges(context.Context) ([]BridgeState, error) {
	out := make([]BridgeState, len(m.bridges))
	for i, b := range m.bridges {
		b.Ports = slices.Clone(b.Ports)
		out[i] = b
	}
	return out, nil
}

func (m *memDB) idx(name string) int {
	return slices.IndexFunc(m.bridges, func(b BridgeState) bool { return b.Name == name })
}

func (m *memDB) AddBridge(_ context.Context, name, dp string) error {
	m.writes++
	if m.failAdd != nil {
		return m.failAdd
	}
	if m.idx(name) < 0 {
		m.bridges = append(m.bridges, BridgeState{Name: name, Datapath: dp})
	}
	return nil
}

func (m *memDB) SetDatapath(_ context.Context, br, dp string) error {
	m.writes++
	m.bridges[m.idx(br)].Datapath = dp
	return nil
}

func (m *memDB) AddPort(_ context.Context, br, port string) error {
	m.writes++
	b := &m.bridges[m.idx(br)]
	b.Ports = append(b.Ports, port)
	return nil
}

func (m *memDB) DelPort(_ context.Context, br, port string) error {
	m.writes++
	b := &m.bridges[m.idx(br)]
	b.Ports = slices.DeleteFunc(b.Ports, func(p string) bool { return p == port })
	return nil
}

func (m *memDB) DelBridge(_ context.Context, name string) error {
	m.writes++
	if i := m.idx(name); i >= 0 {
		m.bridges = slices.Delete(m.bridges, i, i+1)
	}
	return nil
}

var lab = []openstack.Bridge{
	{Name: "br-int", Datapath: "netdev"},
	{Name: "br-ex", Datapath: "netdev", Ports: []string{"eth1"}},
}

func TestConverge(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name  string
		start []BridgeState
		want  []string
	}{
		{"empty", nil, []string{"add bridge br-int (datapath netdev)", "add bridge br-ex (datapath netdev)", "add port eth1 to bridge br-ex"}},
		{"done", []BridgeState{{Name: "br-int", Datapath: "netdev"}, {Name: "br-ex", Datapath: "netdev", Ports: []string{"eth1"}}}, nil},
		// The agent's patch ports and routers' ports are not ours.
		{"foreign ports kept", []BridgeState{{Name: "br-int", Datapath: "netdev", Ports: []string{"int-br-ex", "qr-1"}}, {Name: "br-ex", Datapath: "netdev", Ports: []string{"phy-br-ex", "eth1"}}}, nil},
		{"kernel datapath left by a previous run", []BridgeState{{Name: "br-int"}, {Name: "br-ex", Ports: []string{"eth1"}}},
			[]string{"set bridge br-int datapath netdev (was system)", "set bridge br-ex datapath netdev (was system)"}},
		{"NIC on another bridge", []BridgeState{{Name: "br-int", Datapath: "netdev"}, {Name: "br-old", Ports: []string{"eth1"}}},
			[]string{"add bridge br-ex (datapath netdev)", "remove port eth1 from bridge br-old", "add port eth1 to bridge br-ex"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := &memDB{bridges: tt.start}
			dry, err := Converge(ctx, db, lab, true)
			if err != nil || db.writes != 0 || !slices.Equal(dry, tt.want) {
				t.Fatalf("dry run = %q, %v, %d writes; want %q and none", dry, err, db.writes, tt.want)
			}
			got, err := Converge(ctx, db, lab, false)
			if err != nil || !slices.Equal(got, tt.want) {
				t.Fatalf("Converge = %q, %v; want %q", got, err, tt.want)
			}
			writes := db.writes
			again, err := Converge(ctx, db, lab, false)
			if err != nil || len(again) != 0 || db.writes != writes {
				t.Fatalf("second Converge = %q, %v, %d more writes; want nothing", again, err, db.writes-writes)
			}
		})
	}
}

func TestConvergeFailureNamesTheStep(t *testing.T) {
	db := &memDB{failAdd: errors.New("database connection failed")}
	_, err := Converge(context.Background(), db, lab, false)
	if err == nil || err.Error() != "add bridge br-int (datapath netdev): database connection failed" {
		t.Fatalf("err = %v", err)
	}
}

func TestRemove(t *testing.T) {
	db := &memDB{bridges: []BridgeState{{Name: "br-int"}, {Name: "br-ex", Ports: []string{"eth1"}}, {Name: "br-other"}}}
	got, err := Remove(context.Background(), db, []string{"br-int", "br-ex", "br-gone"}, false)
	if err != nil || !slices.Equal(got, []string{"delete bridge br-int", "delete bridge br-ex"}) {
		t.Fatalf("Remove = %q, %v", got, err)
	}
	if len(db.bridges) != 1 || db.bridges[0].Name != "br-other" {
		t.Fatalf("left %+v", db.bridges)
	}
	if again, _ := Remove(context.Background(), db, []string{"br-int", "br-ex"}, false); len(again) != 0 {
		t.Fatalf("second Remove = %q", again)
	}
}

func TestParseBridgesJSON(t *testing.T) {
	// ovs-vsctl 3.5's answer: one port as a bare UUID, several as a set,
	// none as an empty set; the bridge's own internal port is left out.
	out := `{"data":[["br-ex","netdev",["set",[["uuid","u1"],["uuid","u2"],["uuid","u3"]]]],["br-int","",["uuid","u4"]],["br-sys","system",["set",[]]]],"headings":["name","datapath_type","ports"]}
{"data":[[["uuid","u1"],"phy-br-ex"],[["uuid","u2"],"br-ex"],[["uuid","u3"],"eth1"],[["uuid","u4"],"br-int"]],"headings":["_uuid","name"]}
`
	got, err := parseBridgesJSON([]byte(out))
	if err != nil {
		t.Fatal(err)
	}
	want := []BridgeState{
		{Name: "br-ex", Datapath: "netdev", Ports: []string{"eth1", "phy-br-ex"}},
		{Name: "br-int"},
		{Name: "br-sys", Datapath: "system"},
	}
	if len(got) != len(want) {
		t.Fatalf("parseBridgesJSON = %+v", got)
	}
	for i := range want {
		if got[i].Name != want[i].Name || got[i].Datapath != want[i].Datapath || !slices.Equal(got[i].Ports, want[i].Ports) {
			t.Errorf("[%d] = %+v, want %+v", i, got[i], want[i])
		}
	}
	for _, bad := range []string{``, `{"data":[]}`, `{"data":[["br","",["map",[]]]]}` + "\n" + `{"data":[]}`} {
		if _, err := parseBridgesJSON([]byte(bad)); err == nil {
			t.Errorf("parseBridgesJSON(%q) gave no error", bad)
		}
	}
}
