#!/usr/bin/env bash
# The student's VM, end to end (issue 14): a lab host made as Debian's
# installer and VirtualBox leave a VM, not shaped to pass (e2e/labhost,
# LABHOST_SHAPE=stock): ifupdown with DHCP on eth0 from a "NAT" network,
# eth1 added on a host-only network with `iface eth1 inet dhcp` (the trap),
# `127.0.1.1 lab` in /etc/hosts, and on the far end of eth1 a "laptop"
# namespace with VirtualBox's DHCP server. Then the README's one command,
# with no config file and no hand on the keyboard:
#   - before: the traps are really there (eth1 has a lease, the hostname
#     resolves to 127.0.1.1);
#   - `sudo ./bin/stacklab up --yes`, as the student, reaches a working lab: /etc/hosts fixed, eth1's
#     DHCP client stopped and its stanza changed, ext_net on the host-only
#     network with its floating IPs outside the DHCP pool;
#   - the laptop pings the instance's floating IP and fetches its page with
#     no route added by hand; a minute later eth1 still has no address;
#   - after a reboot (e2e/reboot.sh): eth1 unaddressed, doctor healthy (time
#     printed), twelve dashboard logins, the instance answers the laptop;
#   - then the release's proof: API assertions, a re-run that changes
#     nothing, doctor's fault matrix, an uninstall that leaves nothing.
# The lab host runs beside the default one (its own names and subnet). Its
# apt starts from an empty package cache, as a fresh VM's does, so up's
# packages step is a cold-cache install (issue 16: ≤ 8 min); what it
# downloads goes to the shared cache.
set -euo pipefail
cd "$(dirname "$0")/.."

export LABHOST_ID=${LABHOST_ID:-stock} LABHOST_SHAPE=stock LABHOST_SUITE=${LABHOST_SUITE:-bookworm} LABHOST_APT_CACHE=${LABHOST_APT_CACHE:-cold}
# shellcheck source=e2e/lib.sh
. e2e/lib.sh
eval "$("${LH[@]}" env)"
RESULTS=${STACKLAB_E2E_RESULTS:-$LAB_WORK/results}
LAPTOP_NET=192.168.56.0/24

eth1_inet() { lab ip -4 -o addr show dev eth1 | awk '{ print $4 }'; }

collect() {
	mkdir -p "$RESULTS"
	cp -f "$LAB_CONSOLE" "$RESULTS/" 2>/dev/null || true
	cp -f "$LAB_WORK"/dnsmasq/*.log "$RESULTS/" 2>/dev/null || true
	lab_state "$LAB_ROOT" "$RESULTS"
}
cleanup() {
	rc=$?
	rm -f "$RESULTS/.clouds.yaml"
	collect
	((rc == 0)) || service_logs "$LAB_ROOT" "$RESULTS"
	"${LH[@]}" down || rc=1
	exit "$rc"
}

rm -rf "$RESULTS" && mkdir -p "$RESULTS"
t_all=$(now)
"${LH[@]}" deps
"${LH[@]}" rootfs
trap cleanup EXIT
"${LH[@]}" up
install -m 0755 bin/stacklab "$LAB_SHARE/stacklab"

say "the VM as the student made it ($LAB_SUITE)"
lease=$(eth1_inet)
[ -n "$lease" ] || fail "eth1 got no lease from the laptop network's DHCP server: the lab host is not the student's VM"
echo "eth1 has $lease from the host-only network's DHCP server (the trap)"
resolved=$(lab getent ahostsv4 lab | awk 'NR == 1 { print $1 }')
[ "$resolved" = 127.0.1.1 ] || fail "the hostname resolves to '$resolved', not Debian's 127.0.1.1"
echo "the hostname resolves to 127.0.1.1 (Debian's installer)"
lab grep -qx 'iface eth1 inet dhcp' /etc/network/interfaces || fail "no 'iface eth1 inet dhcp' stanza"

say "the README's build, inside the VM, as the student"
# As the README says: Go and make from Debian (Debian 12's own Go is too
# old to read go.mod: backports'), then make build as the student in their
# home, which fetches the Go toolchain go.mod names through the module
# proxy; every stacklab command then runs through sudo, as the README's.
t0=$(now)
SRC=/home/$LAB_USER/stacklab
rm -rf "${LAB_ROOT:?}$SRC" && mkdir -p "$LAB_ROOT$SRC"
git archive HEAD | tar -x -C "$LAB_ROOT$SRC"
lab chown -R "$LAB_USER:" "$SRC"
# shellcheck disable=SC2016 # expanded by the lab's sh
lab sh -ec '
	mirror=$(awk "/^URIs:/ { print \$2; exit }" /etc/apt/sources.list.d/debian.sources)
	if [ "$1" = bookworm ]; then
		echo "deb $mirror bookworm-backports main" >/etc/apt/sources.list.d/backports.list
		apt-get update -q >/dev/null
		apt-get install -y -q -t bookworm-backports golang-go make >/dev/null
	else
		apt-get install -y -q golang-go make >/dev/null
	fi
	go version' go-from-debian "$LAB_SUITE"
# (The toolchain's checksum is verified through the module proxy's sumdb
# endpoint: sum.golang.org itself need not be reachable.)
lab runuser -l "$LAB_USER" -c 'cd stacklab && make build >/dev/null && ./bin/stacklab --version'
SL=$SRC/bin/stacklab
build_s=$(elapsed "$t0")
echo "ok    built inside the VM the README's way, as $LAB_USER, in $build_s s"

# sudo_sl ARGS...: `sudo ./bin/stacklab ARGS` as the student, who types
# their password (sudo reads it from its standard input, never from a
# command line): sudo resets the environment, SSH_CONNECTION included.
sudo_sl() {
	printf '%s\n' "$LAB_USER" | lab runuser -u "$LAB_USER" -- sudo -S -p '' "$SL" "$@"
}
lab runuser -u "$LAB_USER" -- id | grep -q '(sudo)' || fail "$LAB_USER is not in group sudo"
sudo_sl --version >/dev/null || fail "sudo as $LAB_USER does not run stacklab"

say "a session from the laptop on eth1: up refuses to cut it"
# An sshd stand-in (perl is in every Debian) on eth1's leased address, and
# a session to it from the laptop, as a student who SSHes in over the
# host-only network has.
addr=${lease%/*}
# shellcheck disable=SC2016 # perl's variables
"${LH[@]}" run-bg e2e-fake-sshd perl -MIO::Socket::INET -e '
	my $l = IO::Socket::INET->new(LocalAddr => $ARGV[0], LocalPort => 2222, Listen => 1, ReuseAddr => 1) or die "listen: $!";
	while (my $c = $l->accept) { push @keep, $c; }' "$addr"
for _ in $(seq 50); do lab ss -Hltn "src $addr:2222" | grep -q . && break; sleep 0.2; done
# shellcheck disable=SC2016 # expanded by the laptop's bash
"${LH[@]}" upstream bash -c 'exec 3<>"/dev/tcp/$1/2222"; sleep 300' session "$addr" &
session=$!
for _ in $(seq 50); do lab ss -Htn state established "src $addr:2222" | grep -q . && break; sleep 0.2; done
lab ss -Htn state established "src $addr:2222" | grep -q . || fail "the laptop's session to $addr:2222 never came up"
if sudo_sl up --yes >"$RESULTS/up-refused.log" 2>&1; then
	cat "$RESULTS/up-refused.log"
	fail "up went on while a session from the laptop used eth1's address"
fi
cat "$RESULTS/up-refused.log"
grep -q "carries established TCP sessions" "$RESULTS/up-refused.log" || fail "up's refusal does not name the session"
grep -q "Connect through the management NIC" "$RESULTS/up-refused.log" || fail "up's refusal does not give the layout that works"
[ "$(eth1_inet)" = "$lease" ] || fail "eth1 lost $lease although up refused"
lab ss -Htn state established "src $addr:2222" | grep -q . || fail "the laptop's session did not survive"
echo "ok    up refused, named the session and the layout that works; eth1 kept $lease and the session lives"
kill "$session" 2>/dev/null || true
wait "$session" 2>/dev/null || true
lab systemctl stop e2e-fake-sshd

say "the README's command: sudo ./bin/stacklab up --yes (no config file)"
# shellcheck disable=SC2016 # dpkg-query's format, not the shell's
installed() { lab dpkg-query -W -f '${Status}\n' | grep -c '^install ok installed$'; }
debs() { find "$LAB_WORK/apt-archives" -maxdepth 1 -name '*.deb' | wc -l; }
pkgs0=$(installed)
debs0=$(debs)
t0=$(now)
sudo_sl up --yes 2>&1 | tee "$RESULTS/up.log"
up_s=$(elapsed "$t0")
grep -q '^The lab is up' "$RESULTS/up.log" || fail "up did not say the lab is up"
echo "up took $up_s s on the stock VM"

say "figures ($LAB_SUITE)"
# up's steps as it printed them ("✓ packages  3m44.4s  ..."), in seconds.
steps=$(awk '/^✓ [a-z]+ +[0-9]/ && $2 != "+" {
	d = $3; s = 0
	if (d ~ /ms$/) { sub(/ms$/, "", d); s = d / 1000 }
	else { if (d ~ /m/) { split(d, a, "m"); s = a[1] * 60; d = a[2] } sub(/s$/, "", d); s += d }
	printf "%s%s=%.1f", (n++ ? "," : ""), $2, s }' "$RESULTS/up.log")
# The lab's own memory: every process but the guests' (machine-*.scope),
# whose size their flavor sets; the guests are printed apart.
memory_by_process >"$RESULTS/memory.txt"
lab_mem() { awk -v col="$1" '$2 !~ /^machine-/ { s += $col } END { printf "%.0f", s / 1024 }' "$RESULTS/memory.txt"; }
rss_mib=$(lab_mem 1)
pss_mib=$(lab_mem 4)
guest_mib=$(awk '$2 ~ /^machine-/ { s += $1 } END { printf "%.0f", s / 1024 }' "$RESULTS/memory.txt")
pkgs=$(($(installed) - pkgs0))
downloaded=$(($(debs) - debs0))
# Where the packages step's time went, as the install log splits each apt run.
lab grep -h ': download\|: unpack' /var/log/stacklab/apt.log | sed 's/^=== [^ ]* /apt: /' || echo "apt: no time split in /var/log/stacklab/apt.log"
cache=$([ "$downloaded" -gt 50 ] && echo cold || echo warm)
echo "up: ${up_s} s (${steps//,/, }); packages installed: $pkgs (downloaded: $downloaded, so the apt cache was $cache); lab resident memory: RSS $rss_mib MiB, PSS $pss_mib MiB (goal ≤ 4096 MiB), the guests $guest_mib MiB beside it"
# The install alone: up's steps but doctor and the playbook that follow it.
install_s=$(tr ',' '\n' <<<"$steps" | awk -F= '$1 != "doctor" && $1 != "playbook" { s += $2 } END { printf "%.1f", s }')
echo "fresh install ($cache apt cache, preflight to verify): $install_s s (goal ≤ 480 s with a cold cache): $(awk -v s="$install_s" -v c="$cache" 'BEGIN { print c != "cold" ? "not graded (warm cache)" : (s <= 480 ? "PASS" : "MISS") }')"
echo "memory by unit, RSS and PSS:"
awk '{ u = ($2 == "-" || $2 == "") ? "other" : $2; sub(/\.service$/, "", u); r[u] += $1; p[u] += $4 }
	END { for (u in r) printf "%8.0f MiB %6.0f MiB  %s\n", r[u] / 1024, p[u] / 1024, u }' "$RESULTS/memory.txt" | sort -rn | awk 'NR <= 20'
jq -n --arg steps "$steps" --argjson pkgs "$pkgs" --argjson dl "$downloaded" --argjson rss "$rss_mib" --argjson pss "$pss_mib" --argjson guest "$guest_mib" --argjson install "$install_s" --arg cache "$cache" \
	'{up_step_seconds: ($steps | split(",") | map(split("=") | {(.[0]): (.[1] | tonumber)}) | add),
	  packages_installed: $pkgs, packages_downloaded: $dl, apt_cache: $cache, install_seconds: $install, rss_mib_total: $rss, pss_mib_total: $pss, guests_rss_mib: $guest}' >"$RESULTS/up-figures.json"

say "what up changed on the VM"
resolved=$(lab getent ahostsv4 lab | awk 'NR == 1 { print $1 }')
[ "$resolved" = "$LAB_MGMT" ] || fail "the hostname resolves to '$resolved', not the management address $LAB_MGMT"
echo "ok    the hostname resolves to $LAB_MGMT"
lab test -e /etc/hosts.stacklab-bak || fail "no backup of /etc/hosts (/etc/hosts.stacklab-bak)"
if lab grep -qx 'iface eth1 inet dhcp' /etc/network/interfaces; then fail "the stanza still asks for an address"; fi
echo "ok    /etc/network/interfaces no longer asks eth1 for an address"

say "from the laptop: the instance's floating IP, no route added by hand"
cp "$LAB_ROOT/etc/openstack/clouds.yaml" "$RESULTS/.clouds.yaml"
chmod 600 "$RESULTS/.clouds.yaml"
STACKLAB_E2E_CLOUDS=$RESULTS/.clouds.yaml STACKLAB_E2E_MGMT=$LAB_MGMT STACKLAB_E2E_SERVER_OUT=$RESULTS/server.txt \
	go test -tags e2e -count=1 -v -run TestLabServerIsARealGuest ./e2e/
rm -f "$RESULTS/.clouds.yaml"
read -r fip id <"$RESULTS/server.txt"
case $fip in 192.168.56.*) ;; *) fail "floating IP $fip is not on the laptop's network $LAPTOP_NET" ;; esac
last=${fip##*.}
((last < 100 || last > 254)) || fail "floating IP $fip is inside the DHCP server's pool (.100-.254)"
echo "ok    floating IP $fip is on the laptop's network, outside VirtualBox's DHCP pool"
routes=$("${LH[@]}" upstream ip -4 route show)
echo "laptop's routes: $routes"
grep -qv "proto kernel" <<<"$routes" && fail "the laptop has a route that is not its own network's: $routes"
reach "$fip" "$id" 120

say "the instance's desktop: stacklab console, opened from the machine that runs the VM"
# The host's namespace owns the "NAT" network, as the laptop running
# VirtualBox does (where a port forward would carry it).
grep -qE '^  Console:      http://[^ ]+:6080/' "$RESULTS/up.log" || fail "up's last lines give no console URL"
console_url=$(sudo_sl --output json console lab-vm | jq -r .url)
cp "$LAB_ROOT/etc/openstack/clouds.yaml" "$RESULTS/.clouds.yaml"
chmod 600 "$RESULTS/.clouds.yaml"
STACKLAB_E2E_CLOUDS=$RESULTS/.clouds.yaml STACKLAB_E2E_MGMT=$LAB_MGMT STACKLAB_E2E_CONSOLE_URL=$console_url \
	go test -tags e2e -count=1 -v -run TestLabConsoleFromTheLaptop ./e2e/
rm -f "$RESULTS/.clouds.yaml"

say "a minute later eth1 still has no address"
for _ in $(seq 12); do
	a=$(eth1_inet)
	[ -z "$a" ] || fail "eth1 has $a again: its DHCP client put it back"
	sleep 5
done
if lab pgrep -af 'dhclient.*eth1|dhcpcd.*eth1' >/dev/null; then fail "a DHCP client for eth1 still runs"; fi
echo "ok    eth1 unaddressed for 60 s; no DHCP client for it"

say "reboot"
STACKLAB_E2E_RESULTS=$RESULTS STACKLAB_CONFIG='' quiet bash e2e/reboot.sh 2>&1 | tee "$RESULTS/reboot.txt"

# The rest proves the release as the main e2e does (issue 13 on Debian 13):
# the cloud through its real APIs, a re-run that changes nothing, doctor's
# fault matrix (with Open vSwitch's faults on a lab on OVS), uninstall.
say "assertions through the real APIs"
l2_agent="Linux bridge agent"
lab ovs-vsctl br-exists br-ex 2>/dev/null && l2_agent="Open vSwitch agent"
cp "$LAB_ROOT/etc/openstack/clouds.yaml" "$RESULTS/.clouds.yaml"
chmod 600 "$RESULTS/.clouds.yaml"
STACKLAB_E2E_CLOUDS=$RESULTS/.clouds.yaml STACKLAB_E2E_MGMT=$LAB_MGMT STACKLAB_E2E_L2_AGENT=$l2_agent \
	go test -tags e2e -count=1 -v -run 'Test(Token|Compute|Network|Dashboard)' ./e2e/
rm -f "$RESULTS/.clouds.yaml"

say "re-run: sudo ./bin/stacklab install --yes changes nothing"
t0=$(now)
sudo_sl install --yes 2>&1 | tee "$RESULTS/rerun.log"
cp "$LAB_ROOT/var/lib/stacklab/last-run.json" "$RESULTS/rerun.json"
echo "re-run took $(elapsed "$t0") s"
STACKLAB_E2E_RERUN=$RESULTS/rerun.json go test -tags e2e -count=1 -v -run TestRerunChangedNothing ./e2e/

say "doctor: fault matrix (inject, name the root cause, repair)"
STACKLAB_CONFIG='' bash e2e/doctor.sh 2>&1 | tee "$RESULTS/doctor-matrix.txt"

say "uninstall (returns the VM to before install)"
uninstall_leaves_nothing "$RESULTS" "$SL"

jq -n --arg suite "$LAB_SUITE" --argjson up "$up_s" --argjson build "$build_s" --argjson all "$(elapsed "$t_all")" \
	--slurpfile reboot "$RESULTS/reboot.json" --slurpfile figures "$RESULTS/up-figures.json" \
	'{suite: $suite, stock_build_seconds: $build, stock_up_seconds: $up, stock_total_seconds: $all, up: $figures[0], reboot: $reboot[0]}' | tee "$RESULTS/stock.json"
echo "stock VM e2e: passed in $(elapsed "$t_all") s"
