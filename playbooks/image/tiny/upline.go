package tiny

import (
	"regexp"
	"strconv"
	"strings"
)

// UpLineRE matches the one line the guest prints to its serial console once
// it is up (the line `openstack console log show` is searched for).
const UpLineRE = `^stacklab-guest up `

// ErrorLineRE matches the line the guest prints instead when it gives up.
const ErrorLineRE = `^stacklab-guest error `

// UpLine is the parsed "stacklab-guest up" line.
type UpLine struct {
	IP string
	// Instance is the nova instance UUID, or "unknown" when the metadata
	// service did not answer.
	Instance string
	Hostname string
	// Born is the instance that first booted the guest's disk ("none"
	// when the disk could not be written; "" from an older guest): on a
	// server booted from a snapshot, the snapshot's server.
	Born string
	// Uptime is the guest's /proc/uptime at the moment it was up, seconds.
	Uptime float64
}

var upLineRE = regexp.MustCompile(UpLineRE)

// ParseUpLine parses a line of console output. It accepts the line with
// the console's trailing "\r" and surrounding spaces, and reports false for
// any other line or when a field is missing or malformed.
func ParseUpLine(line string) (UpLine, bool) {
	line = strings.TrimSpace(line)
	if !upLineRE.MatchString(line) {
		return UpLine{}, false
	}
	fields := map[string]string{}
	for _, f := range strings.Fields(strings.TrimPrefix(line, "stacklab-guest up ")) {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			return UpLine{}, false
		}
		fields[k] = v
	}
	var u UpLine
	u.IP, u.Instance, u.Hostname, u.Born = fields["ip"], fields["instance"], fields["hostname"], fields["born"]
	up, err := strconv.ParseFloat(fields["uptime"], 64)
	if err != nil || u.IP == "" || u.Instance == "" || u.Hostname == "" || up < 0 {
		return UpLine{}, false
	}
	u.Uptime = up
	return u, true
}
