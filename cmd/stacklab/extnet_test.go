package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The built-in lab follows the recorded network of the external NIC; a
// tiny one is refused with the fix, no record leaves the default alone.
func TestLoadDefaultPlacesExtNet(t *testing.T) {
	ext := func(dir string) string {
		pb, err := loadPlaybook("", dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range pb.Subnets {
			if s.Network == "ext_net" {
				return s.CIDR + " " + s.AllocationPools[0].Start + "-" + s.AllocationPools[len(s.AllocationPools)-1].End
			}
		}
		return ""
	}
	dir := t.TempDir()
	if got := ext(dir); got != "203.0.113.0/24 203.0.113.100-203.0.113.200" {
		t.Errorf("without a record: %s", got)
	}
	write := func(s string) {
		if err := os.WriteFile(filepath.Join(dir, "external-network.json"), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(`{"interface":"eth1","address":"192.168.56.101/24","neighbours":["192.168.56.1","192.168.56.100"]}`)
	if got := ext(dir); got != "192.168.56.0/24 192.168.56.20-192.168.56.99" {
		t.Errorf("host-only record: %s", got)
	}
	write(`{"interface":"eth1","address":"192.0.2.1/30"}`)
	if _, err := loadPlaybook("", dir); err == nil || !strings.Contains(err.Error(), "stacklab run --show-default > lab.yaml") {
		t.Errorf("tiny network: %v", err)
	}
}
