package image

import (
	"fmt"
	"io"
	"strings"

	"github.com/stacklab/stacklab/internal/jsonout"
)

// WriteJSON writes info as the indented JSON of `image inspect --output json`.
func (i Info) WriteJSON(w io.Writer) error {
	return jsonout.Write(w, i)
}

// WriteText renders info for a terminal: one aligned "key: value" line per
// fact that applies, then the problems and notes.
func (i Info) WriteText(w io.Writer) error {
	var b strings.Builder
	line := func(k, v string) {
		if v != "" {
			fmt.Fprintf(&b, "%-14s %s\n", k+":", v)
		}
	}
	line("file", i.Path)
	format := string(i.Format)
	if q := i.QCOW2; q != nil {
		format += fmt.Sprintf(" (version %d, compat %s)", q.Version, q.Compat)
	}
	if v := i.VMDK; v != nil && v.CreateType != "" {
		format += fmt.Sprintf(" (%s)", v.CreateType)
	}
	line("format", format)
	line("virtual size", sizeLine(i.VirtualSize))
	line("file size", sizeLine(i.FileSize))
	if i.ClusterSize > 0 {
		line("cluster size", humanBytes(i.ClusterSize))
	}
	backing := i.BackingFile
	if backing != "" && i.BackingFormat != "" {
		backing += " (format " + i.BackingFormat + ")"
	}
	line("backing file", backing)
	line("encryption", i.Encryption)
	line("compression", i.Compression)
	if q := i.QCOW2; q != nil && len(q.Features) > 0 {
		line("features", strings.Join(q.Features, ", "))
	}
	line("bootable", fmt.Sprintf("%s — %s", i.BootableVerdict, i.BootableReason))
	line("glance", "--disk-format "+DiskFormat(i))
	for _, p := range i.Problems {
		fmt.Fprintf(&b, "✗ %s\n", p)
	}
	for _, n := range i.Notes {
		fmt.Fprintf(&b, "- %s\n", n)
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("write image info: %w", err)
	}
	return nil
}

func sizeLine(n int64) string {
	if n < 1024 {
		return fmt.Sprintf("%d bytes", n)
	}
	return fmt.Sprintf("%s (%d bytes)", humanBytes(n), n)
}

// humanBytes renders n in binary units with at most one decimal, as
// qemu-img does ("10 GiB", "1.5 MiB").
func humanBytes(n int64) string {
	units := []string{"bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"}
	v, u := float64(n), 0
	for v >= 1024 && u < len(units)-1 {
		v /= 1024
		u++
	}
	if u == 0 {
		return fmt.Sprintf("%d bytes", n)
	}
	s := fmt.Sprintf("%.1f", v)
	return strings.TrimSuffix(s, ".0") + " " + units[u]
}
