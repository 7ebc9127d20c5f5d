package image

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestDiskFormat(t *testing.T) {
	for _, f := range []Format{QCOW2, Raw, ISO, VMDK, VDI, VHD, VHDX} {
		if got := DiskFormat(Info{Format: f}); got != string(f) || !slices.Contains(glanceFormats(), got) {
			t.Errorf("DiskFormat(%s) = %q", f, got)
		}
	}
	if got := DiskFormat(Info{}); got != "raw" {
		t.Errorf("DiskFormat of nothing = %q, want raw", got)
	}
}

func TestCheckUpload(t *testing.T) {
	qcow := Info{Format: QCOW2, VirtualSize: 10 << 30, QCOW2: &QCOW2Info{Version: 3}}
	with := func(f func(*Info)) Info {
		i := qcow
		f(&i)
		return i
	}
	cases := []struct {
		name     string
		info     Info
		declared string
		flavor   int
		codes    []string
		reason   string // substring of one reason
		fix      string // substring of one fix
	}{
		{name: "clean qcow2 as qcow2", info: qcow, declared: "qcow2", flavor: 10},
		{name: "declared in capitals, no flavor limit", info: qcow, declared: " QCOW2 ", flavor: 0},
		{name: "nothing declared takes the detected format", info: qcow, flavor: 20},
		{name: "iso declared as qcow2", info: Info{Format: ISO, VirtualSize: 700 << 20}, declared: "qcow2", flavor: 10,
			codes: []string{RefuseMismatch}, reason: "the file is an ISO 9660 CD image", fix: "--disk-format iso"},
		{name: "qcow2 declared as raw", info: qcow, declared: "raw", flavor: 10,
			codes: []string{RefuseMismatch}, reason: "but the file is qcow2", fix: "qemu-img convert -f qcow2 -O raw FILE OUT"},
		{name: "vhd declared as vhdx", info: Info{Format: VHD}, declared: "vhdx",
			codes: []string{RefuseMismatch}, fix: "-f vpc -O vhdx"},
		{name: "img is not a disk format", info: Info{Format: Raw}, declared: "img",
			codes: []string{RefuseUnknownFormat}, reason: `"img" is not a glance disk_format`, fix: "--disk-format raw"},
		{name: "backing file", info: with(func(i *Info) { i.BackingFile = "base.qcow2" }), declared: "qcow2", flavor: 10,
			codes: []string{RefuseBacking}, reason: "base.qcow2", fix: "qemu-img convert -O qcow2 FILE OUT"},
		{name: "encrypted", info: with(func(i *Info) { i.Encryption = "luks" }), declared: "qcow2",
			codes: []string{RefuseEncrypted}, reason: "encrypted (luks)", fix: "encrypt.key-secret"},
		{name: "damaged", info: with(func(i *Info) { i.Problems = []string{"truncated: x", "marked corrupt"} }),
			codes: []string{RefuseDamaged}, reason: "truncated: x; marked corrupt", fix: "qemu-img check -r all"},
		{name: "too large for the flavor", info: with(func(i *Info) { i.VirtualSize = 10<<30 + 1 }), declared: "qcow2", flavor: 10,
			codes: []string{RefuseTooLarge}, reason: "larger than the flavor's 10 GiB", fix: "at least 11 GiB"},
		{name: "every reason at once", info: Info{Format: ISO, VirtualSize: 5 << 30, BackingFile: "b", Problems: []string{"p"}}, declared: "qcow2", flavor: 1,
			codes: []string{RefuseMismatch, RefuseBacking, RefuseDamaged, RefuseTooLarge}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckUpload(tc.info, tc.declared, tc.flavor)
			refs := Refusals(err)
			var codes []string
			for _, r := range refs {
				codes = append(codes, r.Code)
				if r.Reason == "" || r.Fix == "" {
					t.Errorf("refusal %+v lacks a reason or a fix", r)
				}
			}
			if !slices.Equal(codes, tc.codes) {
				t.Fatalf("codes %v, want %v (err %v)", codes, tc.codes, err)
			}
			if len(tc.codes) == 0 {
				return
			}
			var first *Refusal
			if !errors.As(err, &first) || first.Code != tc.codes[0] {
				t.Errorf("errors.As finds %+v, want code %s", first, tc.codes[0])
			}
			if !strings.Contains(err.Error(), tc.reason) || !strings.Contains(err.Error(), tc.fix) {
				t.Errorf("error %q lacks %q or %q", err, tc.reason, tc.fix)
			}
		})
	}
}
