package doctor

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"path"
	"strings"
	"time"
)

// BundleSource is what a support bundle collects.
type BundleSource struct {
	// Report is the doctor report (JSON and text renderings).
	ReportJSON, ReportText []byte
	Units                  []string
	Journal                func(ctx context.Context, unit string, n int) ([]string, error)
	// Files are configuration files to include, read through ReadFile.
	Files    []string
	ReadFile func(path string) ([]byte, error)
	// Redact removes every secret from text; it is applied to everything
	// but the report, which holds none.
	Redact func(string) string
	Now    time.Time
}

// JournalBundleLines is how much of each unit's journal a bundle holds.
const JournalBundleLines = 300

// WriteBundle writes a gzipped tar for a bug report: the report, each lab
// unit's journal tail and the lab's configuration files, secrets redacted.
// Files that cannot be read are listed in MISSING, not fatal.
func WriteBundle(ctx context.Context, w io.Writer, src BundleSource) error {
	gz := gzip.NewWriter(w)
	tw := tar.NewWriter(gz)
	add := func(name string, data []byte) error {
		hdr := &tar.Header{Name: name, Mode: 0o600, Size: int64(len(data)), ModTime: src.Now, Typeflag: tar.TypeReg}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	redact := src.Redact
	if redact == nil {
		return fmt.Errorf("bundle: no redactor: refusing to write secrets")
	}
	if err := add("report.json", src.ReportJSON); err != nil {
		return err
	}
	if err := add("report.txt", src.ReportText); err != nil {
		return err
	}
	var missing []string
	for _, u := range src.Units {
		if src.Journal == nil {
			break
		}
		lines, err := src.Journal(ctx, u, JournalBundleLines)
		if err != nil {
			missing = append(missing, "journal of "+u+": "+err.Error())
			continue
		}
		if err := add("journal/"+u+".log", []byte(redact(strings.Join(lines, "\n")+"\n"))); err != nil {
			return err
		}
	}
	for _, f := range src.Files {
		b, err := src.ReadFile(f)
		if err != nil {
			missing = append(missing, f+": "+err.Error())
			continue
		}
		if err := add(path.Join("files", f), []byte(redact(string(b)))); err != nil {
			return err
		}
	}
	if len(missing) > 0 {
		if err := add("MISSING", []byte(redact(strings.Join(missing, "\n")+"\n"))); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return gz.Close()
}
