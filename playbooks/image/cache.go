package image

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"

	"github.com/stacklab/stacklab/internal/safefile"
)

// Cache keeps qcow2 conversions of a playbook's disks so that a re-run
// does not convert a multi-GiB disk again. An entry is named after the
// source's absolute path, size and modification time: a disk the student
// changed (its guest booted once more in VirtualBox) is converted anew.
type Cache struct {
	Dir string
	// Convert is Convert's options; Progress is usually nil here.
	Options ConvertOptions
}

// QCOW2 returns the path of src converted to qcow2, converting it only
// when no entry for this very file is there.
func (c Cache) QCOW2(ctx context.Context, src string) (path string, converted bool, err error) {
	f, err := safefile.OpenRegular(src)
	if err != nil {
		return "", false, fmt.Errorf("convert cache: %w", err)
	}
	st, err := f.Stat()
	_ = f.Close()
	if err != nil {
		return "", false, fmt.Errorf("convert cache: %w", err)
	}
	abs, err := filepath.Abs(src)
	if err != nil {
		return "", false, fmt.Errorf("convert cache: %w", err)
	}
	path = filepath.Join(c.Dir, cacheKey(abs, st.Size(), st.ModTime().UnixNano())+".qcow2")
	if ok, err := usableEntry(path); err != nil || ok {
		return path, false, err
	}
	if err := os.MkdirAll(c.Dir, 0o755); err != nil {
		return "", false, fmt.Errorf("convert cache: %w", err)
	}
	if _, err := Convert(ctx, src, path, c.Options); err != nil {
		// Two images of one playbook may name the same disk and convert
		// it at once: the one that lost the race uses the winner's copy.
		if errors.Is(err, fs.ErrExist) {
			if ok, uerr := usableEntry(path); uerr == nil && ok {
				return path, false, nil
			}
		}
		return "", false, err
	}
	return path, true, nil
}

func cacheKey(abs string, size, mtime int64) string {
	h := sha256.Sum256([]byte(abs + "\x00" + strconv.FormatInt(size, 10) + "\x00" + strconv.FormatInt(mtime, 10)))
	return hex.EncodeToString(h[:12])
}

// usableEntry tells whether the entry at path is a sound qcow2; one that
// is not (damaged since, or not a regular file) is removed so Convert can
// write it again. Convert only ever links complete results there.
func usableEntry(path string) (bool, error) {
	info, err := InspectRegularFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err == nil && info.Format == QCOW2 && len(info.Problems) == 0 {
		return true, nil
	}
	if rerr := os.Remove(path); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
		return false, fmt.Errorf("convert cache: remove the unusable entry %s: %w", path, rerr)
	}
	return false, nil
}
