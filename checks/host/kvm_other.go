//go:build !(linux && amd64)

package host

import (
	"errors"
	"os"
	"time"
)

// probeKVM has no guest image for this architecture; the device's presence is
// still reported so the evidence says what exists.
func probeKVM(dev string, _ time.Duration) KVMProbe {
	if _, err := os.Stat(dev); errors.Is(err, os.ErrNotExist) {
		return KVMProbe{}
	}
	return KVMProbe{DevicePresent: true, Err: ErrKVMUnsupportedArch}
}
