package tiny

import (
	"bytes"
	"encoding/binary"
	"testing"
)

func TestCHS(t *testing.T) {
	for _, tc := range []struct {
		lba  uint32
		want [3]byte
	}{
		{0, [3]byte{0, 1, 0}},
		{2048, [3]byte{0x20, 0x21, 0x00}},         // fdisk's first partition: 0/32/33
		{49151, [3]byte{15, 12, 3}},               // end of a 24 MiB disk
		{512 * 16065, [3]byte{0, 1 | 0x80, 0x00}}, // cylinder 512: bit 9 goes to the sector byte
		{1023*16065 + 16064, [3]byte{254, 63 | 0xc0, 0xff}},
		{1024 * 16065, [3]byte{0xfe, 0xff, 0xff}}, // beyond CHS: the LBA marker
	} {
		if got := chs(tc.lba); got != tc.want {
			t.Errorf("chs(%d) = % x, want % x", tc.lba, got, tc.want)
		}
	}
}

func TestPartitionEntry(t *testing.T) {
	got := partitionEntry(true, fat16LBA, 2048, 47104)
	want := [16]byte{0x80, 0x20, 0x21, 0x00, 0x0e, 15, 12, 3, 0x00, 0x08, 0, 0, 0x00, 0xb8, 0, 0}
	if got != want {
		t.Errorf("entry % x\nwant  % x", got, want)
	}
	if e := partitionEntry(false, 0x83, 1, 1); e[0] != 0 {
		t.Errorf("not bootable, status %#x", e[0])
	}
}

func TestMBR(t *testing.T) {
	code := bytes.Repeat([]byte{0xfa}, 440)
	b, err := mbr(code, 2048, 47104, 0x57414e59)
	if err != nil {
		t.Fatal(err)
	}
	switch {
	case len(b) != 512:
		t.Fatalf("%d bytes", len(b))
	case !bytes.Equal(b[:440], code):
		t.Error("boot code not at the start")
	case binary.LittleEndian.Uint32(b[440:]) != 0x57414e59:
		t.Error("disk signature")
	case b[446] != 0x80 || b[450] != fat16LBA || binary.LittleEndian.Uint32(b[454:]) != 2048 || binary.LittleEndian.Uint32(b[458:]) != 47104:
		t.Errorf("first entry % x", b[446:462])
	case !bytes.Equal(b[462:510], make([]byte, 48)):
		t.Error("other entries not empty")
	case b[510] != 0x55 || b[511] != 0xaa:
		t.Error("no 55AA signature")
	}
	for _, bad := range [][]byte{nil, make([]byte, 441)} {
		if _, err := mbr(bad, 2048, 1, 0); err == nil {
			t.Errorf("%d-byte boot code accepted", len(bad))
		}
	}
}
