package openstack

import "net/http"

// snapshotReads is how many reads a fake snapshot stays "saving", so the
// driver's wait is exercised.
const snapshotReads = 2

// createImage is nova's createImage: a glance image whose properties are
// the request's metadata, saving for a few reads, then active.
func (f *fakeOpenStack) createImage(w http.ResponseWriter, s obj, in obj) {
	img := obj{"name": in["name"], "status": "saving", "disk_format": "qcow2", "container_format": "bare",
		"visibility": "private", "min_disk": 1, "min_ram": 0, "size": int64(16 << 20), "snapshot_of": s["id"], "reads": 0}
	if md, ok := in["metadata"].(obj); ok {
		for k, v := range md {
			img[k] = v
		}
	}
	id := f.add("images", img)
	// 2.45+ answer with the id in the body; the version says which.
	w.Header().Set("X-OpenStack-Nova-API-Version", "2.55")
	reply(w, 202, obj{"image_id": id})
}

func (f *fakeOpenStack) advanceSnapshot(o obj) {
	if o["snapshot_of"] == nil || o["status"] != "saving" {
		return
	}
	o["reads"] = o["reads"].(int) + 1
	if o["reads"].(int) >= snapshotReads {
		o["status"] = "active"
	}
}

// asList reads a JSON array however it was stored.
func asList(v any) []any {
	switch l := v.(type) {
	case []any:
		return l
	case []obj:
		out := make([]any, len(l))
		for i, o := range l {
			out[i] = o
		}
		return out
	}
	return nil
}
