package playbooks

import (
	"errors"
	"fmt"
)

// ErrStoreFull is the cause when the images an apply would upload do not
// fit in glance's store.
var ErrStoreFull = errors.New("glance's store is too small")

// Uploads is the images an apply of plan sends data for: new ones, and
// those only a new upload can change.
func Uploads(pb *Playbook, plan *Plan) []Image {
	var out []Image
	for _, st := range plan.Steps {
		if st.Kind != KindImage || st.Action == Unchanged || st.Action == Delete {
			continue
		}
		upload := st.Action == Create
		for _, c := range st.Changes {
			switch c.Field {
			case "disk_format", "container_format", "status":
				upload = true
			}
		}
		if img, ok := findImage(pb, st.Name); ok && upload {
			out = append(out, img)
		}
	}
	return out
}

// CheckStoreSpace refuses, at each image's file, the uploads of plan that
// would not fit in the avail bytes free in glance's store at dir: glance
// would take most of the upload and then fail it, and a full store also
// stops the next snapshot.
func CheckStoreSpace(pb *Playbook, plan *Plan, dir string, avail int64) error {
	var errs []*Error
	var need int64
	for _, img := range Uploads(pb, plan) {
		need += img.UploadSize
		if need <= avail {
			continue
		}
		p := img.pos("file")
		errs = append(errs, &Error{File: pb.File, Line: p.Line, Col: p.Col, Err: ErrStoreFull,
			Msg: fmt.Sprintf("image %s: %s to upload (%s with the images before it), but glance's store %s has %s free",
				img.Name, mibs(img.UploadSize), mibs(need), dir, mibs(avail)),
			Hint: "free space there (delete images no longer used: openstack image list; openstack image delete NAME) or grow the lab's disk"})
	}
	return joinErrors(errs)
}

// mibs never rounds: "2 MiB needed, 2 MiB free" would read as fitting.
func mibs(n int64) string {
	if n%(1<<20) == 0 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%.2f MiB", float64(n)/(1<<20))
}
