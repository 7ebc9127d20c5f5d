package openstack

import (
	"path"
	"strings"
)

// BootTimeout is how long an OpenStack unit may take to start at boot.
// Debian's 90 s are enough for one service alone but not for a tier of
// them importing Python on 2 cores next to each other; a unit killed for
// its start timeout restarts and takes the CPU from the rest (the restart
// storm in the notes).
const BootTimeout = "300"

// bootOrderFile is the drop-in that carries a unit's boot order.
const bootOrderFile = "stacklab-boot-order.conf"

// BootOrderPath is the drop-in of unit that orders it at boot.
func BootOrderPath(unit string) string {
	return path.Join("/etc/systemd/system", unit+".service.d", bootOrderFile)
}

// bootOrderFiles returns a systemd drop-in per unit of every tier that
// waits for others at boot: After= the units of those tiers, so systemd
// starts the lab at boot in the order install brings it up. Ordering
// alone pulls nothing in; install enables each unit.
func bootOrderFiles(tiers []Tier) []File {
	units := map[string][]string{}
	for _, t := range tiers {
		units[t.Name] = t.Units
	}
	var files []File
	for _, t := range tiers {
		if len(t.After) == 0 {
			continue
		}
		var after []string
		for _, a := range t.After {
			for _, u := range units[a] {
				after = append(after, u+".service")
			}
		}
		content := "# Managed by stacklab: at boot the lab's services start tier by tier, as\n" +
			"# stacklab install brings them up, so that a small VM does not start them all\n" +
			"# at once. Removing this file changes only the order at boot.\n" +
			"[Unit]\nAfter=" + strings.Join(after, " ") + "\n\n" +
			"[Service]\nTimeoutStartSec=" + BootTimeout + "\n"
		for _, u := range t.Units {
			files = append(files, File{
				Path: BootOrderPath(u), Kind: Text, Content: content,
				Mode: 0o644, Owner: "root", Group: "root", SystemdUnit: true,
			})
		}
	}
	return files
}
