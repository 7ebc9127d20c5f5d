#!/usr/bin/env bash
# doctor.sh: the fault matrix for `stacklab doctor`, run against an installed,
# healthy lab host that is already up (it never starts or stops the lab host).
# For each fault: inject it, run `doctor --output json` and assert the named
# root cause (the failed check's ID), run `doctor --fix --yes` and assert the
# lab is green again; where it is not, restore by hand and re-converge with
# `stacklab install --yes`. Prints a table fault → root cause → fixed?.
#
#   e2e/doctor.sh [FAULT...]     (default: all; run as root on the e2e machine)
#   STACKLAB=/stacklab/stacklab  the binary inside the lab host
#   STACKLAB_CONFIG=FILE         --config for doctor and install (inside paths)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
LH=(bash "$HERE/labhost")
STACKLAB=${STACKLAB:-/stacklab/stacklab}
MGMT_IP=10.231.0.2
DEAD_IP=10.231.0.99
SETTINGS=/etc/openstack-dashboard/local_settings.py
CFG=()
[[ -n ${STACKLAB_CONFIG:-} ]] && CFG=(--config "$STACKLAB_CONFIG")

in_lab() { "${LH[@]}" exec "$@"; }
sh_lab() { in_lab bash -c "$1"; }
now_ms() { date +%s%3N; }

# fault NAME: inject; restore NAME: undo by hand (used only when --fix did not).
inject() {
	case $1 in
	memcached-stopped) in_lab systemctl stop memcached ;;
	apache-stopped) in_lab systemctl stop apache2 ;;
	keystone-stopped) in_lab systemctl stop keystone ;;
	keystone-hung) in_lab systemctl kill --signal=SIGSTOP keystone ;;
	mariadb-stopped) in_lab systemctl stop mariadb ;;
	rabbitmq-stopped) in_lab systemctl stop rabbitmq-server ;;
	nova-compute-stopped) in_lab systemctl stop nova-compute ;;
	dhcp-agent-stopped) in_lab systemctl stop neutron-dhcp-agent ;;
	allowed-hosts) sh_lab "sed -i \"/^ALLOWED_HOSTS/s/'$MGMT_IP', //; /^ALLOWED_HOSTS/s/\\\"$MGMT_IP\\\", //\" $SETTINGS && grep ^ALLOWED_HOSTS $SETTINGS && systemctl restart apache2" ;;
	memcached-listen) sh_lab "sed -i 's/^-l .*/-l 127.0.0.1/' /etc/memcached.conf && systemctl restart memcached" ;;
	endpoint-dead) sh_lab ". /root/admin-openrc && id=\$(openstack endpoint list --service glance --interface public -f value -c ID) && openstack endpoint set --url http://$DEAD_IP:9292 \$id" ;;
	*)
		echo "unknown fault $1" >&2
		return 2
		;;
	esac
}

restore() {
	case $1 in
	memcached-stopped) in_lab systemctl start memcached ;;
	apache-stopped) in_lab systemctl start apache2 ;;
	keystone-stopped | keystone-hung) in_lab systemctl restart keystone ;;
	mariadb-stopped) in_lab systemctl start mariadb ;;
	rabbitmq-stopped) in_lab systemctl start rabbitmq-server ;;
	nova-compute-stopped) in_lab systemctl start nova-compute ;;
	dhcp-agent-stopped) in_lab systemctl start neutron-dhcp-agent ;;
	*) : ;; # file and catalog faults: install converges them
	esac
	in_lab "$STACKLAB" install --yes "${CFG[@]}" >/dev/null
}

# expected root cause of each fault
expect() {
	case $1 in
	memcached-stopped) echo unit-memcached ;;
	apache-stopped) echo unit-apache2 ;;
	keystone-stopped) echo unit-keystone ;;
	keystone-hung) echo keystone ;;
	mariadb-stopped) echo unit-mariadb ;;
	rabbitmq-stopped) echo unit-rabbitmq-server ;;
	nova-compute-stopped) echo unit-nova-compute ;;
	dhcp-agent-stopped) echo unit-neutron-dhcp-agent ;;
	allowed-hosts) echo dashboard-page ;;
	memcached-listen) echo memcached ;;
	endpoint-dead) echo catalog ;;
	esac
}

ALL=(memcached-stopped apache-stopped keystone-stopped keystone-hung mariadb-stopped rabbitmq-stopped
	nova-compute-stopped dhcp-agent-stopped allowed-hosts memcached-listen endpoint-dead)
FAULTS=("$@")
((${#FAULTS[@]})) || FAULTS=("${ALL[@]}")

[[ $("${LH[@]}" status 2>&1) == "status: up"* ]] || {
	echo "doctor.sh: the lab host is not up" >&2
	exit 1
}

# Another engineer's install/uninstall must not be running: faults would
# land in the middle of it.
if in_lab pgrep -f 'stacklab (install|uninstall)' >/dev/null; then
	echo "doctor.sh: stacklab install/uninstall is running in the lab host; try later" >&2
	exit 1
fi

# The lab must start green, or a fault's root cause means nothing.
if ! in_lab "$STACKLAB" doctor "${CFG[@]}" >/tmp/doctor-e2e-pre.txt 2>&1; then
	cat /tmp/doctor-e2e-pre.txt
	echo "doctor.sh: the lab is not healthy before the first fault" >&2
	exit 1
fi

rows=()
fails=0
for f in "${FAULTS[@]}"; do
	want=$(expect "$f")
	echo "== $f (expect root cause $want)"
	inject "$f" >/dev/null
	t0=$(now_ms)
	json=$(in_lab "$STACKLAB" doctor "${CFG[@]}" --output json 2>/dev/null || true)
	took=$(($(now_ms) - t0))
	roots=$(jq -r '[.checks[] | select(.status == "fail") | .id] | join(",")' <<<"$json")
	[[ $roots == "$want" ]] && rc_ok=yes || rc_ok=NO
	fixed=no
	if in_lab "$STACKLAB" doctor "${CFG[@]}" --fix --yes >"/tmp/doctor-e2e-$f.txt" 2>&1; then
		fixed=yes
	else
		tail -n 30 "/tmp/doctor-e2e-$f.txt"
		echo "-- restoring $f by hand"
		restore "$f" || true
	fi
	# Whatever happened, the lab must be green before the next fault.
	if ! in_lab "$STACKLAB" doctor "${CFG[@]}" >/dev/null 2>&1; then
		restore "$f" || true
	fi
	[[ $rc_ok == yes && $fixed == yes ]] || fails=$((fails + 1))
	rows+=("$(printf '%-22s %-30s %-4s %-7s %s' "$f" "${roots:-none}" "$rc_ok" "$fixed" "$(printf '%d.%03d s' $((took / 1000)) $((took % 1000)))")")
done

echo
printf '%-22s %-30s %-4s %-7s %s\n' FAULT "ROOT CAUSE" "OK?" "FIXED?" "DOCTOR TIME"
printf '%s\n' "${rows[@]}"
t0=$(now_ms)
in_lab "$STACKLAB" doctor "${CFG[@]}" >/dev/null
echo "healthy lab: full doctor in $(($(now_ms) - t0)) ms (including labhost exec)"
((fails == 0)) && echo "doctor.sh: PASS" || echo "doctor.sh: FAIL ($fails fault(s))"
((fails == 0))
