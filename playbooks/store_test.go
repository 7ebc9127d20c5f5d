package playbooks_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/stacklab/stacklab/playbooks"
)

func TestCheckStoreSpace(t *testing.T) {
	raw := rawFile(t) // 1 MiB
	pb, err := playbooks.LoadBytes("p.yaml", []byte("name: t\nimages:\n  - {name: a, file: "+raw+"}\n  - {name: b, file: "+raw+"}\n"))
	if err != nil {
		t.Fatal(err)
	}
	step := func(name string, a playbooks.Action, changes ...string) playbooks.Step {
		s := playbooks.Step{Kind: playbooks.KindImage, Name: name, Action: a}
		for _, c := range changes {
			s.Changes = append(s.Changes, playbooks.FieldChange{Field: c})
		}
		return s
	}
	for _, tc := range []struct {
		name  string
		steps []playbooks.Step
		avail int64
		want  []string
	}{
		{"fits", []playbooks.Step{step("a", playbooks.Create), step("b", playbooks.Create)}, 2 << 20, nil},
		{"the second does not fit", []playbooks.Step{step("a", playbooks.Create), step("b", playbooks.Create)}, 3 << 19,
			[]string{`p.yaml:4:21: image b: 1 MiB to upload (2 MiB with the images before it), but glance's store /var/lib/glance/images has 1.50 MiB free; free space there (delete images no longer used: openstack image list; openstack image delete NAME) or grow the lab's disk`}},
		{"unchanged uploads nothing", []playbooks.Step{step("a", playbooks.Unchanged)}, 0, nil},
		{"a property update uploads nothing", []playbooks.Step{step("a", playbooks.Update, "min_ram")}, 0, nil},
		{"a stuck image is uploaded again", []playbooks.Step{step("a", playbooks.Update, "status")}, 1 << 19,
			[]string{`p.yaml:3:21: image a: 1 MiB to upload (1 MiB with the images before it), but glance's store /var/lib/glance/images has 0.50 MiB free; free space there (delete images no longer used: openstack image list; openstack image delete NAME) or grow the lab's disk`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := playbooks.CheckStoreSpace(pb, &playbooks.Plan{Steps: tc.steps}, "/var/lib/glance/images", tc.avail)
			var got []string
			for _, e := range playbooks.Errors(err) {
				got = append(got, e.Error())
				if !errors.Is(e, playbooks.ErrStoreFull) {
					t.Errorf("%v does not match ErrStoreFull", e)
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("errors:\n%q\nwant:\n%q", got, tc.want)
			}
		})
	}
}
