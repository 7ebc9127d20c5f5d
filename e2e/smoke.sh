#!/usr/bin/env bash
# smoke.sh: boot a fresh lab host, assert it looks like the VM stacklab expects, tear it down.
# Exit status is non-zero when any assertion fails or when down leaves something behind.
# Run as root:  e2e/smoke.sh      (LABHOST_KEEP=1 keeps the lab host up afterwards)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
LH=(bash "$HERE/labhost") # works without the exec bit
CACHE=${LABHOST_CACHE:-/var/cache/stacklab-e2e}
STATE=${LABHOST_STATE:-/var/lib/stacklab-e2e}
PROBE_PKG=hello # small, not in the root file system

fails=0
checks=0
check() { # NAME CMD...: run CMD quietly, print ok/FAIL (with its output on failure)
	local name=$1 out rc=0
	shift
	checks=$((checks + 1))
	out=$("$@" 2>&1) || rc=$?
	if ((rc == 0)); then
		printf 'ok    %s\n' "$name"
	else
		printf 'FAIL  %s (rc=%d)\n' "$name" "$rc"
		[[ -n $out ]] && printf '%s\n' "$out" | tail -n 20 | sed 's/^/      /'
		fails=$((fails + 1))
	fi
}
in_lab() { "${LH[@]}" exec "$@"; }

finish() {
	local rc=$?
	if [[ ${LABHOST_KEEP:-0} == 1 ]]; then
		echo "smoke: LABHOST_KEEP=1, leaving the lab host up"
	else
		"${LH[@]}" down || {
			echo "FAIL  down left something behind"
			rc=1
		}
		check "down puts what the lab host downloaded into the shared cache" ls -l "$CACHE/apt-archives/${PROBE_PKG}"_*.deb
	fi
	((rc == 0 && fails == 0)) && echo "smoke: PASS ($checks checks)" || echo "smoke: FAIL ($fails of $checks checks failed, rc=$rc)"
	((fails == 0)) || rc=1
	exit "$rc"
}
trap finish EXIT

# --- assertions, each one a small function so that check prints its output on failure
systemd_ok() {
	local s
	s=$(in_lab systemctl is-system-running) || true
	echo "state: $s"
	[[ $s == running || $s == degraded ]]
}
eth0_addr() { in_lab ip -br addr show eth0 | tee /dev/stderr | grep -q " 10\.231\.0\.2/24"; }
eth0_mtu() {
	local host lab dev
	dev=$(ip -4 route show default | awk '{for (i = 1; i < NF; i++) if ($i == "dev") { print $(i + 1); exit }}')
	host=$(cat "/sys/class/net/${dev:-eth0}/mtu")
	lab=$(in_lab cat /sys/class/net/eth0/mtu)
	echo "host ${dev:-eth0} $host, lab eth0 $lab"
	[[ $host == "$lab" ]]
}
default_route() { in_lab ip route show default | tee /dev/stderr | grep -q "via 10\.231\.0\.1 dev eth0"; }
eth1_up_no_addr() {
	local link v4 v6
	link=$(in_lab ip -br link show eth1)
	v4=$(in_lab ip -4 -o addr show dev eth1)
	v6=$(in_lab ip -6 -o addr show dev eth1 scope global)
	echo "link: $link"
	echo "v4: $v4"
	echo "v6 global: $v6"
	[[ $link == *UP* && -z $v4 && -z $v6 ]]
}
hostname_lab() {
	local h a
	h=$(in_lab hostname)
	a=$(in_lab getent hosts lab)
	echo "hostname $h, lab -> $a"
	[[ $h == lab && $a == 10.231.0.2* ]]
}
no_policy_rcd() { in_lab test ! -e /usr/sbin/policy-rc.d; }
proc_sys_net_rw() { in_lab sysctl -w net.ipv4.conf.all.forwarding=1; }
exit_code_kept() {
	local rc=0
	in_lab sh -c 'exit 7' || rc=$?
	echo "rc $rc"
	((rc == 7))
}
stdin_passthrough() { [[ $(echo hello-stdin | in_lab cat) == hello-stdin ]]; }
# check runs each function under ||, where set -e does not apply: a function
# is only as strict as its own returns, so each step that can fail returns.
share_bind() {
	local f=smoke-$$ got=""
	in_lab sh -c "echo ok >/stacklab/$f" || return
	got=$(cat "$STATE/share/$f") || got=""
	rm -f "$STATE/share/$f"
	echo "written inside as /stacklab/$f; $STATE/share/$f holds: ${got:-nothing}"
	[[ $got == ok ]]
}
apt_update() { in_lab apt-get update; }
# The lab host's apt works in its own copy of the shared cache
# ($STATE/apt-archives); down publishes what it downloaded (checked in
# finish).
apt_download_to_cache() {
	rm -f "$CACHE/apt-archives/${PROBE_PKG}"_*.deb "$STATE/apt-archives/${PROBE_PKG}"_*.deb
	in_lab apt-get install -y --download-only "$PROBE_PKG"
	ls -l "$STATE/apt-archives/${PROBE_PKG}"_*.deb
}
apt_install_keeps_deb() {
	local version
	in_lab apt-get install -y "$PROBE_PKG" || return
	version=$(in_lab "$PROBE_PKG" --version) || return
	echo "${version%%$'\n'*}"
	ls -l "$STATE/apt-archives/${PROBE_PKG}"_*.deb
}
tap_from_unit() { # run-bg: a unit started by the lab's systemd may create a tap (CAP_NET_ADMIN + /dev/net/tun)
	"${LH[@]}" run-bg smoke-tap ip tuntap add dev tap-smoke mode tap

	for _ in $(seq 20); do
		in_lab ip link show tap-smoke >/dev/null 2>&1 && return 0
		sleep 0.5
	done
	in_lab journalctl -u smoke-tap --no-pager | tail -n 5
	return 1
}
upstream_addr() { "${LH[@]}" upstream ip -br addr | tee /dev/stderr | grep -q "^upstream0@.* UP .*203\.0\.113\.1/24"; }
netns_isolated() { ! ip link show upstream0 >/dev/null 2>&1 && ! ip link show tap-smoke >/dev/null 2>&1; }

t0=$SECONDS
"${LH[@]}" deps
"${LH[@]}" up
echo "smoke: lab host up in $((SECONDS - t0))s"

check "systemd running or degraded" systemd_ok
check "eth0 has 10.231.0.2/24" eth0_addr
check "eth0 MTU equals the host's" eth0_mtu
check "default route via 10.231.0.1" default_route
check "eth1 UP without IPv4/global address" eth1_up_no_addr
check "hostname lab, /etc/hosts lab -> 10.231.0.2" hostname_lab
check "no policy-rc.d" no_policy_rcd
check "/proc/sys/net writable" proc_sys_net_rw
check "exec keeps the exit code" exit_code_kept
check "exec passes stdin through" stdin_passthrough
check "/stacklab bound to $STATE/share" share_bind
check "apt-get update through the NAT" apt_update
check "download-only lands in the lab host's archive cache" apt_download_to_cache
check "install keeps the .deb in the cache" apt_install_keeps_deb
check "run-bg unit creates a tap" tap_from_unit
check "upstream0 has 203.0.113.1/24" upstream_addr
check "lab links not in the host namespace" netns_isolated
echo "smoke: checks done in $((SECONDS - t0))s"
