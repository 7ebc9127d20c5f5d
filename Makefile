# stacklab — build, test and prove the lab.
# `sudo make ci` is what .ci/run runs on a clean clone: it installs what the
# tests need, then lints, runs every test (root-only integration tests included)
# and the end-to-end lab.

GO            ?= go
BIN           ?= bin/stacklab
GOLANGCI_LINT ?= github.com/golangci/golangci-lint/v2/cmd/golangci-lint@v2.15.0
# Host packages the tests use: netns/veth tooling, Open vSwitch (the bridge
# convergence test runs private daemons of its own; these machines'
# policy-rc.d keeps the package's service from starting), a bootable
# systemd, qemu-img for image tests, and what the e2e lab host needs.
TEST_DEBS     ?= iproute2 util-linux openvswitch-switch systemd dbus qemu-utils systemd-container debootstrap nftables zstd shellcheck jq curl iputils-ping qemu-system-x86 syslinux syslinux-common mtools dosfstools dnsmasq-base xorriso isolinux

.PHONY: all build test unit lint fmt vet e2e deps ci clean

all: build

# A static binary: it is copied into the e2e lab host and onto lab VMs.
build:
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN) ./cmd/stacklab

vet:
	$(GO) vet ./...
	$(GO) vet -tags e2e ./e2e/ ./playbooks/openstack/

fmt:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

# Unit tests and the root-only integration tests (network namespaces, a real
# systemd) — the latter skip with a reason when not run as root.
test: fmt vet
	$(GO) test -race -count=1 ./...

lint:
	$(GO) run $(GOLANGCI_LINT) run ./...
	$(GO) run $(GOLANGCI_LINT) run --build-tags e2e ./e2e/... ./playbooks/openstack/...
	shellcheck e2e/labhost e2e/*.sh .ci/run

# The end-to-end proof in freshly built lab hosts (root), each a debootstrap'd
# Debian booted by systemd-nspawn in its own network namespace: the Debian 12
# main e2e (install.sh) and, side by side with it, a Debian 13 VM made as a
# student's is (stock.sh; its own ID and subnet, so its state never meets
# the Debian 12 one's). e2e/releases.sh runs both.
e2e: build
	bash e2e/labhost deps
	bash e2e/labhost rootfs
	bash e2e/smoke.sh
	bash e2e/releases.sh

deps:
	@missing=$$(for p in $(TEST_DEBS); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; fi

ci: deps lint test e2e

clean:
	rm -rf bin
