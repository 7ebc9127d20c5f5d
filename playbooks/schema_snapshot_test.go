package playbooks_test

import (
	"slices"
	"testing"

	"github.com/stacklab/stacklab/playbooks"
)

func TestLoadFromServer(t *testing.T) {
	const head = "name: t\nnetworks: [{name: n}]\nflavors: [{name: f, vcpus: 1, ram: 64}]\n"
	for _, tc := range []struct {
		name, yaml string
		want       []string
	}{
		{"a file too", head + "images:\n  - {name: s, from_server: a, file: x.img}\nservers:\n  - {name: a, flavor: f, image: cirros, networks: [n]}\n",
			[]string{`p.yaml:5:37: image s: file and from_server exclude each other (a snapshot's data and format come from nova); drop file, or drop from_server to upload a file`}},
		{"boots from its own snapshot", head + "images:\n  - {name: s, from_server: a}\nservers:\n  - {name: a, flavor: f, image: s, networks: [n]}\n",
			[]string{`p.yaml:7:33: server a boots from image s, a snapshot of server a itself; boot it from another image; a snapshot needs its server first`}},
		{"through another snapshot", head + "images:\n  - {name: s1, from_server: a}\n  - {name: s2, from_server: b}\nservers:\n  - {name: a, flavor: f, image: s2, networks: [n]}\n  - {name: b, flavor: f, image: s1, networks: [n]}\n",
			[]string{
				`p.yaml:8:33: server a boots from image s2, a snapshot of server a itself; boot it from another image; a snapshot needs its server first`,
				`p.yaml:9:33: server b boots from image s1, a snapshot of server b itself; boot it from another image; a snapshot needs its server first`,
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := playbooks.LoadBytes("p.yaml", []byte(tc.yaml))
			if got := errorLines(err); !slices.Equal(got, tc.want) {
				t.Fatalf("errors:\n%q\nwant:\n%q", got, tc.want)
			}
		})
	}
}

// TestFromServerOrder: the snapshot comes after its server and before
// the server that boots from it, though images are declared first.
func TestFromServerOrder(t *testing.T) {
	pb, err := playbooks.LoadBytes("p.yaml", []byte(`name: t
networks: [{name: n}]
flavors: [{name: f, vcpus: 1, ram: 64}]
images:
  - {name: s, from_server: a}
servers:
  - {name: b, flavor: f, image: s, networks: [n]}
  - {name: a, flavor: f, image: cirros, networks: [n]}
`))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range pb.Resources() {
		got = append(got, r.ID())
	}
	a, s, b := slices.Index(got, "server a"), slices.Index(got, "image s"), slices.Index(got, "server b")
	if a < 0 || a > s || s > b {
		t.Fatalf("order %v: want server a, then image s, then server b", got)
	}
}
