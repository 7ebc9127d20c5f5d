#!/usr/bin/env bash
# The lab survives a reboot (run by e2e/install.sh once the default playbook's
# guest is up, its floating IP and id in $RESULTS/server.txt):
#   - a lab unit someone disabled is named by doctor and enabled again by
#     install's re-run;
#   - the lab host is powered off and booted again with new NICs, as a
#     student's VM reboots: every lab unit comes back enabled and active by
#     itself, doctor turns healthy (the time from boot is printed), the
#     dashboard takes twelve logins in a row, eth1 still has no address, and
#     the guest (resumed by nova) answers ping and HTTP on its floating IP
#     from the upstream namespace again.
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=e2e/lib.sh
. e2e/lib.sh
# the lab host's names and addresses (LABHOST_ID picks which)
eval "$("${LH[@]}" env)"
ROOT=$LAB_ROOT
RESULTS=${STACKLAB_E2E_RESULTS:-$LAB_WORK/results}
MGMT=$LAB_MGMT
# An empty STACKLAB_CONFIG: the lab was made without a config file, as the
# README's command makes it.
CONFIG=${STACKLAB_CONFIG-/stacklab/e2e.yaml}
CFG=()
[ -z "$CONFIG" ] || CFG=(--config "$CONFIG")
SL=/stacklab/stacklab
# How long the lab may take to turn healthy after boot before the run fails
# (the goal, printed beside the figure, is 60 s).
HEALTHY_WITHIN=${STACKLAB_E2E_HEALTHY_WITHIN:-600}


trap 'rm -f "$RESULTS/.clouds.yaml"' EXIT

read -r fip id <"$RESULTS/server.txt" || fail "no $RESULTS/server.txt: run e2e/playbook.sh first"

say "a lab unit that would not start at boot: doctor names it, install enables it"
lab systemctl disable --quiet placement-api
lab "$SL" doctor "${CFG[@]}" --output json >"$RESULTS/doctor-disabled.json" || true
jq -e '.checks[] | select(.id == "units-at-boot") | select(.status == "warn") | .summary | test("placement-api")' \
	"$RESULTS/doctor-disabled.json" >/dev/null ||
	fail "doctor does not name placement-api as not starting at boot: $(jq -c '.checks[] | select(.id == "units-at-boot")' "$RESULTS/doctor-disabled.json")"
jq -r '.checks[] | select(.id == "units-at-boot") | "doctor: \(.status): \(.summary)"' "$RESULTS/doctor-disabled.json"
lab "$SL" install --yes "${CFG[@]}" 2>&1 | tee "$RESULTS/install-enable.log"
grep -q 'enable placement-api' "$ROOT/var/lib/stacklab/last-run.json" ||
	fail "install's re-run did not say it enabled placement-api"
[ "$(lab systemctl is-enabled placement-api)" = enabled ] || fail "placement-api is still not enabled"
echo "ok    install enabled placement-api again"

say "reboot the lab host (power off, new NICs, boot)"
t0=$(now)
LABHOST_BOOT_TIMEOUT=$HEALTHY_WITHIN "${LH[@]}" reboot 2>&1 | tee "$RESULTS/reboot.log"
echo "power off + boot until systemd is up: $(elapsed "$t0") s"

say "the lab comes back by itself: doctor healthy"
# Polled inside the lab host; the age of the boot is the lab's own
# (userspace start on the shared monotonic clock), so the figure does not
# include the power-off or entering the lab host.
# shellcheck disable=SC2016 # expanded by the lab's bash
lab bash -c '
	set -u
	booted() { awk -v s="$(systemctl show -p UserspaceTimestampMonotonic --value)" "{ printf \"%.1f\", \$1 - s / 1e6 }" /proc/uptime; }
	deadline=$((SECONDS + $3))
	login=
	while :; do
		ok=0
		"$1" doctor ${2:+--config "$2"} --no-color >/tmp/doctor-boot.txt 2>&1 || ok=$?
		# doctor logs in to the dashboard for real: the first time it
		# does is what a student who opens it after the boot sees.
		if [ -z "$login" ] && grep -qE "^✓ +dashboard-login " /tmp/doctor-boot.txt; then
			login=$(booted)
			echo "dashboard-login $login"
		fi
		if [ "$ok" = 0 ]; then
			echo "healthy $(booted)"
			exit 0
		fi
		echo "t+$(booted) s: failing $(awk "\$1 == \"✗\" { sub(\":\$\", \"\", \$2); if (!seen[\$2]++) printf \"%s \", \$2 }" /tmp/doctor-boot.txt)"
		((SECONDS < deadline)) || { cat /tmp/doctor-boot.txt; exit 1; }
		sleep 2
	done' boot-wait "$SL" "$CONFIG" "$HEALTHY_WITHIN" | tee "$RESULTS/reboot-doctor.txt" ||
	fail "doctor not healthy within ${HEALTHY_WITHIN} s of boot"
healthy_s=$(awk '/^healthy / { print $2 }' "$RESULTS/reboot-doctor.txt")
login_s=$(awk '/^dashboard-login / { print $2 }' "$RESULTS/reboot-doctor.txt")
[ -n "$login_s" ] || fail "doctor went healthy without its dashboard login passing"
echo "reboot: boot → the dashboard logs in after $login_s s (a student waits a minute)"
echo "reboot: boot → doctor healthy in $healthy_s s (goal ≤ 60 s)"

say "every lab unit enabled and active, with no restart"
lab "$SL" --output json services "${CFG[@]}" >"$RESULTS/services-after-boot.json" ||
	fail "services: not every lab unit is active"
bad=$(jq -r '.[] | select(.ActiveState != "active" or (.UnitFileState | IN("enabled", "static") | not)) | "\(.Name) \(.ActiveState) \(.UnitFileState)"' \
	"$RESULTS/services-after-boot.json")
[ -z "$bad" ] || fail "after the reboot: $bad"
# shellcheck disable=SC2016 # expanded by the lab's sh
restarts=$(lab sh -c 'for u in $(systemctl list-units --type=service --state=active --no-legend --plain | cut -d" " -f1); do
	n=$(systemctl show -p NRestarts --value "$u"); [ "${n:-0}" = 0 ] || echo "$u:$n"; done')
echo "ok    $(jq length "$RESULTS/services-after-boot.json") lab units enabled and active; units restarted by systemd since boot: ${restarts:-none}"
if lab ip -4 -o addr show dev eth1 | grep -q inet; then fail "eth1 has an IPv4 address after the reboot"; fi
echo "ok    eth1 has no IPv4 address"

# neutron's agents start their privsep daemons straight through sudo (the
# helper_command install sets, the sudoers line it adds): that helper's
# argv names neutron.conf alone, where neutron-rootwrap's names each
# agent's files.
lab visudo -c >/dev/null || fail "visudo -c: $(lab visudo -c 2>&1)"
helpers=$(lab pgrep -af '^/usr/bin/python3 /(usr/)?bin/privsep-helper .*neutron\.privileged' || true)
[ -n "$helpers" ] || fail "no neutron privsep daemon runs after the reboot"
bad=$(grep -v -- '/privsep-helper --config-file /etc/neutron/neutron\.conf --privsep_context neutron\.privileged\.' <<<"$helpers" || true)
[ -z "$bad" ] || fail "neutron privsep daemons not started by the lab's helper_command: $bad"
echo "ok    sudoers parse; $(wc -l <<<"$helpers") neutron privsep daemons, each started by sudo privsep-helper, none through neutron-rootwrap"

say "the dashboard takes twelve logins in a row"
cp "$ROOT/etc/openstack/clouds.yaml" "$RESULTS/.clouds.yaml"
chmod 600 "$RESULTS/.clouds.yaml"
STACKLAB_E2E_CLOUDS=$RESULTS/.clouds.yaml STACKLAB_E2E_MGMT=$MGMT \
	go test -tags e2e -count=1 -v -run TestDashboardLogin ./e2e/

say "the guest answers its floating IP again (nova resumed it)"
# The guest may have booted before neutron's DHCP agent served again; it
# keeps asking, so give it a few of its rounds.
reach "$fip" "$id" 300

jq -n --argjson healthy "$healthy_s" --argjson login "$login_s" --arg restarts "${restarts:-}" \
	'{reboot_boot_to_healthy_seconds: $healthy, reboot_boot_to_dashboard_login_seconds: $login, reboot_goal_seconds: 60, restarted_units: $restarts}' \
	>"$RESULTS/reboot.json"
