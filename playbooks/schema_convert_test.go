package playbooks_test

import (
	"slices"
	"testing"

	"github.com/stacklab/stacklab/playbooks"
)

func TestLoadConvert(t *testing.T) {
	raw, iso := rawFile(t), isoFile(t)
	for _, tc := range []struct {
		name, yaml string
		want       []string
	}{
		{"unknown target", "name: t\nimages:\n  - name: i\n    file: " + raw + "\n    convert: vdi\n",
			[]string{`p.yaml:5:14: image i: convert: "vdi" is not a format stacklab converts to (qcow2); write convert: qcow2`}},
		{"disk_format contradicts", "name: t\nimages:\n  - name: i\n    file: " + raw + "\n    convert: qcow2\n    disk_format: raw\n",
			[]string{`p.yaml:6:18: image i: disk_format raw, but convert: qcow2 uploads a qcow2; drop disk_format, or make it qcow2`}},
		{"an ISO", "name: t\nimages:\n  - name: i\n    file: " + iso + "\n    convert: qcow2\n",
			[]string{`p.yaml:5:14: image i: ` + iso + ` is an ISO installer CD, not a disk to convert; drop convert and upload it as disk_format: iso`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := playbooks.LoadBytes("p.yaml", []byte(tc.yaml))
			if got := errorLines(err); !slices.Equal(got, tc.want) {
				t.Fatalf("errors:\n%q\nwant:\n%q", got, tc.want)
			}
		})
	}
	pb, err := playbooks.LoadBytes("p.yaml", []byte("name: t\nimages:\n  - name: i\n    file: "+raw+"\n    convert: qcow2\n"))
	if err != nil {
		t.Fatal(err)
	}
	// Plan compares what glance holds with what it will receive.
	if img := pb.Images[0]; img.DetectedFormat != "qcow2" || img.SourceFormat != "raw" {
		t.Fatalf("detected %q from %q; want qcow2 from raw", img.DetectedFormat, img.SourceFormat)
	}
}
