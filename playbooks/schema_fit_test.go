package playbooks_test

import (
	"slices"
	"testing"

	"github.com/stacklab/stacklab/playbooks"
)

// TestLoadFlavorFitsImage: a flavor below the image's min_ram or
// min_disk is refused at the server's flavor, naming the smallest
// declared flavor that fits, or the flavor to declare.
func TestLoadFlavorFitsImage(t *testing.T) {
	raw := rawFile(t)
	const flavors = `flavors:
  - {name: tiny, vcpus: 1, ram: 256, disk: 1}
  - {name: big, vcpus: 2, ram: 2048, disk: 20}
  - {name: medium, vcpus: 1, ram: 1024, disk: 10}
`
	server := "servers:\n  - {name: vm, flavor: tiny, image: img, networks: [n]}\n"
	for _, tc := range []struct {
		name, image string
		flavors     string
		want        []string
	}{
		{"fits", "{name: img, file: " + raw + ", min_ram: 128, min_disk: 1}", flavors, nil},
		{"min_ram", "{name: img, file: " + raw + ", min_ram: 512}", flavors,
			[]string{`p.yaml:10:24: server vm: flavor tiny has 256 MiB of RAM, image img asks for min_ram 512 MiB: nova refuses to boot it (FlavorMemoryTooSmall); use flavor: medium (1024 MiB, 10 GiB), the smallest in this playbook that fits`}},
		{"min_disk", "{name: img, file: " + raw + ", min_disk: 5}", flavors,
			[]string{`p.yaml:10:24: server vm: flavor tiny has a 1 GiB root disk, image img asks for min_disk 5 GiB: nova refuses to boot it (FlavorDiskSmallerThanImage); use flavor: medium (1024 MiB, 10 GiB), the smallest in this playbook that fits`}},
		{"nothing declared fits", "{name: img, file: " + raw + ", min_ram: 4096, min_disk: 30}", flavors,
			[]string{`p.yaml:10:24: server vm: flavor tiny has 256 MiB of RAM, image img asks for min_ram 4096 MiB: nova refuses to boot it (FlavorMemoryTooSmall); declare a flavor with ram: 4096 or more and disk: 30 or more`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			y := "name: t\nnetworks: [{name: n}]\n" + tc.flavors + "images:\n  - " + tc.image + "\n" + server
			_, err := playbooks.LoadBytes("p.yaml", []byte(y))
			if got := errorLines(err); !slices.Equal(got, tc.want) {
				t.Fatalf("errors:\n%q\nwant:\n%q", got, tc.want)
			}
		})
	}
}
