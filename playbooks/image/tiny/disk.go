package tiny

import (
	"encoding/binary"
	"fmt"
)

const (
	sectorSize = 512
	// partStart is where the FAT partition begins, in sectors: 1 MiB, the
	// alignment every partitioning tool uses since 2010.
	partStart = 2048
	// fat16LBA is the MBR type of a FAT16 partition addressed by LBA.
	fat16LBA = 0x0e
	// mbrCodeSize is how much of mbr.bin is boot code; the rest of the
	// sector (disk signature, table, 0x55AA) is ours to write.
	mbrCodeSize = 440
)

// chs encodes an LBA as the 3-byte cylinder/head/sector of a partition
// entry, for the conventional 255 heads × 63 sectors geometry; addresses
// past cylinder 1023 get the "use LBA" marker (1023/254/63), as fdisk does.
func chs(lba uint32) [3]byte {
	const heads, sectors = 255, 63
	c := lba / (heads * sectors)
	h := (lba / sectors) % heads
	s := lba%sectors + 1
	if c > 1023 {
		return [3]byte{0xfe, 0xff, 0xff}
	}
	return [3]byte{byte(h), byte(s) | byte((c>>2)&0xc0), byte(c)}
}

// partitionEntry is one 16-byte MBR partition table entry.
func partitionEntry(bootable bool, typ byte, start, sectors uint32) [16]byte {
	var e [16]byte
	if bootable {
		e[0] = 0x80
	}
	first, last := chs(start), chs(start+sectors-1)
	copy(e[1:4], first[:])
	e[4] = typ
	copy(e[5:8], last[:])
	binary.LittleEndian.PutUint32(e[8:12], start)
	binary.LittleEndian.PutUint32(e[12:16], sectors)
	return e
}

// mbr builds the first sector: syslinux's boot code (which loads the
// active partition's boot sector), a fixed disk signature so builds are
// reproducible, one bootable partition and the 0x55AA signature.
func mbr(bootCode []byte, start, sectors uint32, sig uint32) ([]byte, error) {
	if len(bootCode) == 0 || len(bootCode) > mbrCodeSize {
		return nil, fmt.Errorf("MBR boot code is %d bytes, want 1..%d", len(bootCode), mbrCodeSize)
	}
	b := make([]byte, sectorSize)
	copy(b, bootCode)
	binary.LittleEndian.PutUint32(b[440:444], sig)
	e := partitionEntry(true, fat16LBA, start, sectors)
	copy(b[446:462], e[:])
	b[510], b[511] = 0x55, 0xaa
	return b, nil
}
