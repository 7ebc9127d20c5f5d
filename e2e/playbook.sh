#!/usr/bin/env bash
# Playbooks on the real lab (run by e2e/install.sh once the lab is installed):
#   - `stacklab up` from start to finish: preflight, net, install (nothing to
#     do), doctor, then the default playbook with the tiny image it builds;
#   - the guest is real: ACTIVE on libvirt, its console line names the fixed
#     IP and the instance id from metadata, and from the upstream namespace
#     (ext_net's gateway) its floating IP answers ping and HTTP;
#   - `stacklab console` and up's last lines give the guest's noVNC URL; from
#     the host (the laptop's side of the management network) it answers and
#     its websocket brings the guest's RFB greeting;
#   - a second run changes nothing; --destroy leaves no qemu, tap or port;
#     applying again brings a new guest up the same way;
#   - a .vdi converted, booted, snapshotted, and a second server from the
#     snapshot shows what the first wrote to its disk;
#   - an installer ISO built offline, installed unattended by image install
#     (bad input refused first, Ctrl-C leaves nothing, its screen on VNC),
#     the disk booted and reached on its floating IP;
#   - bad playbooks fail before any change; a server that goes to ERROR and
#     one that never prints its line are reported with the cause.
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=e2e/lib.sh
. e2e/lib.sh
WORK=/var/lib/stacklab-e2e
SHARE=$WORK/share
ROOT=$WORK/lab
RESULTS=${STACKLAB_E2E_RESULTS:-$WORK/results}
MGMT=10.231.0.2
CONFIG=${STACKLAB_CONFIG:-/stacklab/e2e.yaml}
SL=/stacklab/stacklab


# The clouds.yaml copy holds the admin password: never left behind.
trap 'rm -f "$RESULTS/.clouds.yaml"' EXIT
clouds() {
	cp "$ROOT/etc/openstack/clouds.yaml" "$RESULTS/.clouds.yaml"
	chmod 600 "$RESULTS/.clouds.yaml"
}
gotest() {
	STACKLAB_E2E_CLOUDS=$RESULTS/.clouds.yaml STACKLAB_E2E_MGMT=$MGMT \
		go test -tags e2e -count=1 -v "$@" ./e2e/
}


say "up: the whole lab in one command"
t0=$(now)
lab "$SL" up --yes --config "$CONFIG" 2>&1 | tee "$RESULTS/up.log"
up_s=$(elapsed "$t0")
echo "up took $up_s s (install converged, tiny image built, playbook applied)"
grep -q '^The lab is up' "$RESULTS/up.log" || fail "up did not say the lab is up"

say "the guest is real and reachable on its floating IP"
clouds
STACKLAB_E2E_SERVER_OUT=$RESULTS/server.txt gotest -run TestLabServerIsARealGuest
read -r fip id <"$RESULTS/server.txt"
reach "$fip" "$id"
# The running guest's cost, beside the lab's other figures.
lab ps -eo rss=,comm= | awk '
	$2 ~ /^qemu-system/ { q += $1 } $2 == "libvirtd" { l += $1 } $2 == "virtlogd" { v += $1 }
	END { printf "memory: qemu (the guest) %.0f MiB, libvirtd %.0f MiB, virtlogd %.0f MiB RSS\n", q / 1024, l / 1024, v / 1024 }' |
	tee "$RESULTS/guest-memory.txt"
grep -qE 'qemu \(the guest\) [1-9]' "$RESULTS/guest-memory.txt" || fail "no qemu process runs the guest"
lab qemu-img info /var/lib/stacklab/images/lab-image.img | tee "$RESULTS/tiny-qemu-img.txt"
lab "$SL" image inspect /var/lib/stacklab/images/lab-image.img | tee "$RESULTS/tiny-inspect.txt"

say "the guest's desktop from the laptop: stacklab console, then noVNC through nova's proxy"
grep -qE '^  Console:      http://[^ ]+:6080/' "$RESULTS/up.log" || fail "up's last lines give no console URL"
# The URL opens from the host (the laptop on the management network).
console_url=$(lab "$SL" --output json console lab-vm | jq -r .url)
[[ $console_url == http://$MGMT:6080/* ]] || fail "stacklab console printed no URL on the management address"
STACKLAB_E2E_CONSOLE_URL=$console_url gotest -run TestLabConsoleFromTheLaptop
lab "$SL" console lab-vm --check | sed -E 's/token(%3D|=)[^ &"]+/token\1…/g' | tee "$RESULTS/console.txt"
grep -q 'greets with RFB 003\.' "$RESULTS/console.txt" || fail "console --check read no VNC greeting"

say "run again: every resource unchanged"
t1=$(now)
lab "$SL" --output json run >"$RESULTS/rerun.json"
noop_s=$(elapsed "$t1")
bad=$(jq -r '.results[] | select(.action != "unchanged" or .error) | "\(.kind) \(.name) \(.action) \(.error // "")"' "$RESULTS/rerun.json")
[ -z "$bad" ] || fail "not unchanged on the second run: $bad"
echo "ok    $(jq '.results | length' "$RESULTS/rerun.json") resources unchanged"
echo "no-op run took $noop_s s (target ≤ 1 s; includes entering the lab host)"

say "destroy: nothing of the playbook's is left (no qemu, no tap, no port)"
lab "$SL" run --destroy --yes 2>&1 | tee "$RESULTS/destroy.log"
# A guest's qemu (libvirt names it guest=instance-…). CI51 found a
# qemu-system process 7 s after libvirt had logged the guest's qemu
# "shutting down, reason=destroyed", in the first of about fifty runs: not
# the guest, most likely libvirt probing qemu's capabilities (it runs one
# with -machine none). Any other qemu is printed, to name it next time.
if guest=$(lab pgrep -af 'qemu-system.*guest=instance-'); then fail "a guest's qemu is left: ${guest:0:160}"; fi
if other=$(lab pgrep -af qemu-system); then echo "note  a qemu that is no guest: ${other:0:200}"; fi
if lab sh -c 'ip -o link show | grep -E ": tap"'; then fail "a tap device is left"; fi
gotest -run TestDestroyLeftNoPort

say "apply again: a new guest comes up the same way"
t2=$(now)
lab "$SL" run 2>&1 | tee "$RESULTS/reapply.log"
STACKLAB_E2E_SERVER_OUT=$RESULTS/server.txt gotest -run TestLabServerIsARealGuest
read -r fip2 id2 <"$RESULTS/server.txt"
[ "$id2" != "$id" ] || fail "the re-applied server has the old id $id"
reach "$fip2" "$id2"
echo "from run start to the new guest answering on $fip2: $(elapsed "$t2") s (target ≤ 20 s)"

say "a student's VirtualBox disk → qcow2 → instance, customised and snapshotted"
# The .vdi is made from the tiny image, as a student's disk would come
# from VirtualBox; the playbook converts it, boots it, snapshots the
# instance once its first boot wrote its id to its disk, and boots a
# second server from the snapshot.
lab qemu-img convert -O vdi /var/lib/stacklab/images/lab-image.img /stacklab/student.vdi
lab "$SL" image inspect /stacklab/student.vdi | tee "$RESULTS/student-vdi.txt"
grep -q '^format: *vdi' "$RESULTS/student-vdi.txt" || fail "image inspect does not call the .vdi a VDI"
cat >"$SHARE/snapshot.yaml" <<'EOF'
name: e2e-snapshot
images:
  - name: e2e-student
    file: student.vdi
    convert: qcow2
  - name: e2e-student-snap
    from_server: e2e-first
servers:
  - name: e2e-first
    flavor: m1.lab
    image: e2e-student
    networks: [selfservice]
    security_groups: [lab]
    console: '^stacklab-guest up .* born=[0-9a-f-]{36} '
  - name: e2e-second
    flavor: m1.lab
    image: e2e-student-snap
    networks: [selfservice]
    security_groups: [lab]
    console: '^stacklab-guest up '
floating_ips:
  - {name: e2e-second-fip, network: ext_net, server: e2e-second, ping: true}
EOF
t4=$(now)
lab "$SL" run /stacklab/snapshot.yaml 2>&1 | tee "$RESULTS/snapshot.log"
echo "convert, upload, boot, snapshot and boot again: $(elapsed "$t4") s"
STACKLAB_E2E_SERVER_OUT=$RESULTS/snapshot.txt gotest -run TestSnapshotCarriesTheGuestsChange
read -r fip3 second_id first_id <"$RESULTS/snapshot.txt"
reach "$fip3" "born=$first_id"
echo "ok    e2e-second ($second_id) serves what e2e-first ($first_id) wrote to its disk before the snapshot"
say "refused before any change: a snapshot of a stopped server, a flavor below the image's min_ram"
lab openstack --os-cloud stacklab server stop e2e-second
for _ in $(seq 60); do
	[[ $(lab openstack --os-cloud stacklab server show e2e-second -f value -c status) == SHUTOFF ]] && break
	sleep 1
done
cat >"$SHARE/refused.yaml" <<'EOF'
name: e2e-refused
networks:
  - name: e2e-refused-net
images:
  - name: e2e-snap-of-stopped
    from_server: e2e-second
EOF
cat >"$SHARE/small-flavor.yaml" <<'EOF'
name: e2e-refused
flavors:
  - {name: e2e-small, vcpus: 1, ram: 64, disk: 1}
networks:
  - name: e2e-refused-net
images:
  - {name: e2e-needs-ram, file: student.vdi, min_ram: 512}
servers:
  - {name: e2e-small-vm, flavor: e2e-small, image: e2e-needs-ram, networks: [e2e-refused-net]}
EOF
for f in "refused|server e2e-second is SHUTOFF|openstack server start e2e-second" \
	"small-flavor|asks for min_ram 512 MiB|declare a flavor with ram: 512"; do
	name=${f%%|*} rest=${f#*|}
	want=${rest%|*} fix=${rest#*|}
	if lab "$SL" run "/stacklab/$name.yaml" >"$RESULTS/$name.out" 2>&1; then fail "$name.yaml was applied"; fi
	if ! grep -qF "$want" "$RESULTS/$name.out" || ! grep -qF "$fix" "$RESULTS/$name.out" ||
		! grep -qE "/stacklab/$name.yaml:[0-9]+:[0-9]+: " "$RESULTS/$name.out"; then
		cat "$RESULTS/$name.out"
		fail "$name.yaml: not refused with '$want', file:line and '$fix'"
	fi
done
if lab openstack --os-cloud stacklab network show e2e-refused-net >/dev/null 2>&1; then fail "a refused playbook created its network"; fi
if lab openstack --os-cloud stacklab flavor show e2e-small >/dev/null 2>&1; then fail "a refused playbook created its flavor"; fi
echo "ok    both refused with file:line and the fix; nothing of theirs was created"
lab "$SL" run --destroy --yes /stacklab/snapshot.yaml >"$RESULTS/snapshot-destroy.log" 2>&1 ||
	{ cat "$RESULTS/snapshot-destroy.log"; fail "could not destroy the snapshot playbook"; }
for img in e2e-student e2e-student-snap; do
	if lab openstack --os-cloud stacklab image show "$img" >/dev/null 2>&1; then fail "image $img is left after --destroy"; fi
done
echo "ok    --destroy removed both servers, the snapshot and the uploaded disk"

say "an OS from its ISO: installed unattended onto a qcow2, booted, reached"
# The installer ISO is built here from the mirror's packages, as image tiny
# builds the guest; inside the lab host, image install boots it with qemu,
# and its screen is read over VNC from this side of the management network.
t5=$(now)
# The share outlives a run: a disk an earlier run installed is not this one's.
rm -f "$SHARE/installed.qcow2" "$SHARE"/.installed.qcow2.*
bin/stacklab image tiny --installer-iso "$SHARE/installer.iso" 2>&1 | tail -n 1
lab "$SL" image inspect /stacklab/installer.iso | tee "$RESULTS/installer-iso.txt"
grep -q '^format: *iso' "$RESULTS/installer-iso.txt" || fail "the installer ISO is not an ISO"
# Refused before any change, each with its fix; nothing left behind.
lab touch /root/taken.qcow2
for bad in "--iso /stacklab/student.vdi --size 64M /root/x.qcow2|not an installer ISO" \
	"--iso /stacklab/installer.iso --size 64M /root/taken.qcow2|already exists" \
	"--iso /stacklab/installer.iso --size 1M /root/x.qcow2|below the ISO's own" \
	"--iso /stacklab/installer.iso --size 100T /root/x.qcow2|not enough free space"; do
	args=${bad%|*} want=${bad#*|}
	# shellcheck disable=SC2086 # the flags split as written
	if lab "$SL" image install $args >"$RESULTS/iso-bad.out" 2>&1; then fail "image install $args succeeded"; fi
	grep -qF "$want" "$RESULTS/iso-bad.out" || { cat "$RESULTS/iso-bad.out"; fail "image install $args: no '$want'"; }
	grep -q '^  fix: ' "$RESULTS/iso-bad.out" || fail "image install $args: no fix on a line of its own"
done
if lab sh -c 'ls /root/x.qcow2 /root/.x.qcow2.* 2>/dev/null | grep -q .'; then fail "a refused install left a file"; fi
echo "ok    a non-ISO, an existing OUT, a size below the ISO's and too little disk: refused before any change"
# Ctrl-C while qemu runs: no qemu, no disk left. --foreground: one INT to
# stacklab alone; without it timeout sends a second to the whole group, and
# on a loaded host that one could land after stacklab's first-signal
# handler had handed the signal back to its default (a second Ctrl-C ends
# the process at once, by design), killing it before it said anything.
lab bash -c 'timeout --foreground -s INT 3 /stacklab/stacklab image install --iso /stacklab/installer.iso --size 64M /root/ctrlc.qcow2' >"$RESULTS/iso-ctrlc.out" 2>&1 || true
grep -q 'interrupted after' "$RESULTS/iso-ctrlc.out" || { cat "$RESULTS/iso-ctrlc.out"; fail "Ctrl-C did not interrupt image install"; }
if lab pgrep -f 'qemu-system.*ctrlc' >/dev/null; then fail "Ctrl-C left qemu running"; fi
if lab sh -c 'ls /root/ctrlc.qcow2 /root/.ctrlc.qcow2.* 2>/dev/null | grep -q .'; then fail "Ctrl-C left a file"; fi
echo "ok    Ctrl-C during the install: no qemu, no half-written disk"
lab "$SL" image install --iso /stacklab/installer.iso --size 64M --vnc "$MGMT:42" /stacklab/installed.qcow2 >"$RESULTS/iso-install.log" 2>&1 &
installing=$!
greeting=""
for _ in $(seq 300); do
	greeting=$(timeout 2 bash -c "exec 3<>/dev/tcp/$MGMT/5942 && head -c 12 <&3" 2>/dev/null || true)
	[[ $greeting == RFB* ]] && break
	sleep 0.1
done
wait "$installing" || { cat "$RESULTS/iso-install.log"; fail "image install failed"; }
cat "$RESULTS/iso-install.log"
[[ $greeting == RFB* ]] || fail "the installer's screen did not answer on VNC $MGMT:5942"
echo "ok    the installer's screen answered on VNC $MGMT:5942 ($greeting) while it installed"
cat >"$SHARE/iso.yaml" <<'EOF'
name: e2e-iso
images:
  - name: e2e-installed
    file: installed.qcow2
servers:
  - name: e2e-from-iso
    flavor: m1.lab
    image: e2e-installed
    networks: [selfservice]
    security_groups: [lab]
    console: '^stacklab-guest up '
floating_ips:
  - {name: e2e-from-iso-fip, network: ext_net, server: e2e-from-iso, ping: true}
EOF
lab "$SL" run /stacklab/iso.yaml 2>&1 | tee "$RESULTS/iso-run.log"
iso_id=$(sed -n 's/.* server  *e2e-from-iso .* id=\([0-9a-f-]*\) .*/\1/p' "$RESULTS/iso-run.log")
iso_fip=$(sed -n 's/.* floating_ip  *e2e-from-iso-fip .* address=\([0-9.]*\) .*/\1/p' "$RESULTS/iso-run.log")
[[ -n $iso_id && -n $iso_fip ]] || fail "no server id or floating IP in the run's report"
reach "$iso_fip" "$iso_id"
echo "ISO → installed qcow2 → instance answering on its floating IP: $(elapsed "$t5") s"
lab "$SL" run --destroy --yes /stacklab/iso.yaml >"$RESULTS/iso-destroy.log" 2>&1 ||
	{ cat "$RESULTS/iso-destroy.log"; fail "could not destroy the ISO playbook"; }

say "bad playbooks fail before any change, with file:line"
cat >"$SHARE/bad-key.yaml" <<'EOF'
name: e2e-bad
networks:
  - name: bad-net
    tpye: vxlan
EOF
# An ISO 9660 file (the "CD001" signature at sector 16) declared as qcow2.
head -c 1048576 /dev/zero >"$SHARE/fake.iso"
printf '\001CD001\001' | dd of="$SHARE/fake.iso" bs=1 seek=32768 conv=notrunc status=none
cat >"$SHARE/bad-iso.yaml" <<'EOF'
name: e2e-bad
networks:
  - name: bad-net
images:
  - name: bad-image
    file: fake.iso
    disk_format: qcow2
EOF
for f in bad-key bad-iso; do
	if lab "$SL" run "/stacklab/$f.yaml" >"$RESULTS/$f.out" 2>&1; then fail "$f.yaml was applied"; fi
	cat "$RESULTS/$f.out"
	grep -qE "/stacklab/$f.yaml:[0-9]+:[0-9]+: " "$RESULTS/$f.out" || fail "$f.yaml: no file:line in the error"
done
if lab openstack --os-cloud stacklab network show bad-net >/dev/null 2>&1; then fail "bad-net was created"; fi
echo "ok    both refused before any change; bad-net does not exist"

say "servers that fail are reported with the cause, within a bounded wait"
head -c 1048576 /dev/zero >"$SHARE/noboot.raw"
cat >"$SHARE/errors.yaml" <<'EOF'
name: e2e-errors
flavors:
  # More RAM than the host has (24 GiB, ×1.5 overcommit), within the
  # default quota (50 GiB): placement finds no host.
  - name: e2e-huge
    vcpus: 1
    ram: 49152
    disk: 1
images:
  - name: e2e-noboot
    file: noboot.raw
# A network whose subnet serves no DHCP: the guest boots and never gets an
# address, and the report must say so rather than leave the console to read.
networks:
  - name: e2e-nodhcp
    type: vxlan
subnets:
  - name: e2e-nodhcp-subnet
    network: e2e-nodhcp
    cidr: 172.16.9.0/24
    dhcp: false
servers:
  - name: e2e-no-valid-host
    flavor: e2e-huge
    image: e2e-noboot
    networks: [selfservice]
    timeout: 90
  # Its timeout covers ACTIVE and the console line: nova builds four
  # servers here at once, and beside the other lane's fault matrix one
  # was still spawning at 45 s (CI44), before any console was asked for.
  - name: e2e-silent
    flavor: m1.lab
    image: e2e-noboot
    networks: [selfservice]
    console: '^stacklab-guest up '
    timeout: 90
  # The tiny guest asks DHCP for about 60 s before it says it has no lease.
  - name: e2e-no-dhcp
    flavor: m1.lab
    image: lab-image
    networks: [e2e-nodhcp]
    console: '^stacklab-guest up '
    timeout: 150
  # Boots and comes up, but its only group lets no ICMP in: the floating
  # IP never answers, and the report must name the security group hop.
  - name: e2e-no-icmp
    flavor: m1.lab
    image: lab-image
    networks: [selfservice]
    security_groups: [e2e-ssh-only]
    console: '^stacklab-guest up '
security_groups:
  - name: e2e-ssh-only
    rules: [{protocol: tcp, port: 22}]
floating_ips:
  - {name: e2e-no-icmp-fip, network: ext_net, server: e2e-no-icmp, ping: true, ping_timeout: 20}
EOF
t3=$(now)
if lab "$SL" --output json run /stacklab/errors.yaml >"$RESULTS/errors.json" 2>"$RESULTS/errors.err"; then
	fail "a playbook with failing servers exited 0"
fi
echo "failed as it should after $(elapsed "$t3") s"
jq -r '.results[] | select(.error) | "\(.kind) \(.name): \(.error)"' "$RESULTS/errors.json"
jq -e '.results[] | select(.name == "e2e-no-valid-host") | .error | test("No valid host")' "$RESULTS/errors.json" >/dev/null ||
	fail "e2e-no-valid-host: nova's fault is not reported"
jq -e '.results[] | select(.name == "e2e-silent") | .error | test("console")' "$RESULTS/errors.json" >/dev/null ||
	fail "e2e-silent: the missing console line is not reported"
jq -e '.results[] | select(.name == "e2e-no-dhcp") | .error | test("likely cause: the guest got no DHCP lease")' "$RESULTS/errors.json" >/dev/null ||
	fail "e2e-no-dhcp: the guest without a DHCP lease is not named"
jq -e '.results[] | select(.name == "e2e-no-icmp-fip") | .error | test("first failed hop: security groups")' "$RESULTS/errors.json" >/dev/null ||
	fail "e2e-no-icmp-fip: the unreachable floating IP does not name the security group hop"
lab "$SL" run --destroy --yes /stacklab/errors.yaml >"$RESULTS/errors-destroy.log" 2>&1 ||
	{ cat "$RESULTS/errors-destroy.log"; fail "could not destroy the error playbook"; }
echo "ok    all four causes named (nova's fault, the silent console, no DHCP lease, the hop that drops ping); their resources destroyed"
