# shellcheck shell=bash
# Sourced by the e2e scripts: the lab host command, their step headers,
# timing, failure, and proving a guest is reachable.

LH=(bash e2e/labhost)
say() { printf '\n== %s\n' "$*"; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
fail() {
	echo "FAIL: $*"
	exit 1
}
lab() { "${LH[@]}" exec "$@"; }

# lab_state ROOT RESULTS: what every lane keeps from a running lab host,
# failed or not: its failed units and warnings, apache2's whole journal,
# stacklab's own logs.
lab_state() {
	local root=$1 dst=$2
	"${LH[@]}" status >/dev/null 2>&1 || return 0
	lab sh -c 'systemctl --no-pager --failed; journalctl --no-pager -n 300 -p warning' \
		>"$dst/lab-journal.txt" 2>&1 || true
	# Every apache2 job at full priority: stops that ran into the unit's
	# 90 s timeout were seen in CI and never on a dev lab.
	lab journalctl --no-pager -o short-precise -u apache2 \
		>"$dst/apache2-journal.txt" 2>&1 || true
	cp -f "$root/var/log/stacklab/"*.log "$dst/" 2>/dev/null || true
}

# service_logs ROOT RESULTS: after a failure, the OpenStack services' own
# logs from the lab host's root into RESULTS/logs, and their last errors
# printed: the journal holds warnings only, and a CI log may show only its
# tail (a guest without a DHCP lease left nothing of neutron's side).
service_logs() {
	local root=$1 dst=$2/logs d
	mkdir -p "$dst"
	for d in neutron nova glance keystone placement libvirt/qemu openvswitch apache2; do
		[[ -d $root/var/log/$d ]] || continue
		mkdir -p "$dst/$d"
		cp -f "$root/var/log/$d/"*.log "$dst/$d/" 2>/dev/null || true
	done
	# What each guest printed on its serial console: whether it booted and
	# got its address, when its floating IP does not answer.
	for d in "$root"/var/lib/nova/instances/*/; do
		[[ -f $d/console.log ]] || continue
		mkdir -p "$dst/guests"
		cp -f "$d/console.log" "$dst/guests/$(basename "$d").log" 2>/dev/null || true
	done
	echo "== the services' last errors (all their logs in $dst)"
	grep -h -E ' (ERROR|CRITICAL) ' "$dst"/*/*.log 2>/dev/null | sort -s -k1,2 | tail -n 25 || true
}

# memory_by_process: one line per process of the lab host, "RSS_KiB UNIT
# COMM PSS_KiB". RSS counts a shared page (the Python interpreter, its
# libraries) once in every process that maps it; PSS shares it out among
# them, so the PSS sum is what the processes take together.
memory_by_process() {
	# shellcheck disable=SC2016 # the lab's shell expands these
	lab sh -c 'ps -eo pid=,rss=,unit=,comm= | while read -r pid rss unit comm; do
		pss=$(awk "/^Pss:/ { print \$2 }" "/proc/$pid/smaps_rollup" 2>/dev/null)
		echo "$rss $unit $comm ${pss:-0}"
	done'
}

# The machine-wide lock of the e2e's timing-sensitive steps. Here two lab
# hosts share two cores (a student's VM has its own): one booting its whole
# OpenStack saturates both for a minute, and a fault matrix row run
# meanwhile found the dashboard login over its budget (CI19: Debian 13's
# endpoint-dead row while Debian 12 rebooted). A reboot holds it from power
# off to its last check (quiet); each matrix row holds it from inject to
# green again (quiet_lock/quiet_unlock in doctor.sh), so a reboot waits one
# row at most and a matrix pauses while the other host boots. Debian 12's
# playbooks and benchmarks hold it too: in CI32 its guest, booted while the
# Debian 13 host booted its whole OpenStack, had no DHCP lease in 5 minutes
# (and that host took 148 s to be healthy instead of about 50).
QUIET_LOCK=/run/lock/stacklab-e2e-quiet.lock

# quiet CMD...: run CMD holding the lock, and say how long it waited.
# flock -o keeps the lock's descriptor from CMD, so a lab host CMD boots
# cannot hold the lock after CMD ends. CMD starts once the machine has
# settled too: the lock ends a fault matrix row when doctor is green again,
# but a unit the row restarted goes on working for a while (CI50: Debian
# 13's neutron-l3-agent, started by unit-disabled's repair, resynced its
# routers through Debian 12's playbook benchmark, and the benchmark, the
# CLI beside it alike, took 40 % longer than in CI47 and CI48).
quiet() {
	local t0
	t0=$(now)
	# shellcheck disable=SC2016 # expanded by the inner bash
	flock -o "$QUIET_LOCK" bash -c '. e2e/lib.sh
		echo "(waited $(elapsed "$1") s for the other lab host'"'"'s reboot or fault matrix row)"
		settle_cpu
		shift
		exec "$@"' quiet "$t0" "$@"
}

# cpu_idle: the machine's idle share of both cores over one second, in
# percent (from /proc/stat: idle and iowait of all time counted).
cpu_idle() {
	local a b
	a=$(awk '/^cpu / { print $5 + $6, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9 }' /proc/stat)
	sleep 1
	b=$(awk '/^cpu / { print $5 + $6, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9 }' /proc/stat)
	awk -v a="$a" -v b="$b" 'BEGIN { split(a, x, " "); split(b, y, " "); d = y[2] - x[2]
		print (d > 0) ? int(100 * (y[1] - x[1]) / d) : 100 }'
}

# settle_cpu [MAX]: wait until the machine was at least 70 % idle for two
# seconds running, at most MAX seconds (45 by default), and say how long
# it took and how idle it was. A lab booting, installing or resyncing keeps
# both cores nearly busy (9–22 % idle measured while one lab uninstalled);
# two idle labs with their guests leave 79–97 % (CI52–CI55). 35 % let a
# benchmark start while the other lab's l3 agent, just restarted by a fault
# row, resynced its routers (62 % idle: doctor's ratio fell from 34.8× to
# 26.0× in CI55).
settle_cpu() {
	local max=${1:-45} t0 calm=0 idle deadline
	t0=$(now)
	deadline=$((SECONDS + max))
	while ((calm < 2 && SECONDS < deadline)); do
		idle=$(cpu_idle)
		if ((idle >= 70)); then calm=$((calm + 1)); else calm=0; fi
	done
	if ((calm < 2)); then
		echo "(the machine did not settle in $max s: ${idle}% idle; going on)"
	else
		echo "(the machine settled: ${idle}% idle, after $(elapsed "$t0") s)"
	fi
}

# quiet_lock / quiet_unlock: hold the lock around steps of this shell (on
# descriptor 9; unlocking releases it for any child that inherited it).
quiet_lock() {
	local t0 w
	t0=$(now)
	exec 9>"$QUIET_LOCK"
	flock 9
	w=$(elapsed "$t0")
	[[ $w == 0.* ]] || echo "(waited $w s for the other lab host's reboot)"
}
quiet_unlock() { flock -u 9; }

# reach FIP ID [SECONDS]: ping the floating IP from the upstream namespace
# (for up to SECONDS, 90 by default), then fetch the guest's page and find
# its instance id; prints the seconds it took.
reach() {
	local fip=$1 id=$2 wait=${3:-90} t deadline page
	t=$(now)
	deadline=$((SECONDS + wait))
	until "${LH[@]}" upstream ping -c1 -W1 "$fip" >/dev/null 2>&1; do
		((SECONDS < deadline)) || fail "no ping answer from $fip in $wait s"
	done
	echo "ping $fip from the upstream namespace: answered after $(elapsed "$t") s"
	page=$("${LH[@]}" upstream curl -fsS --max-time 5 --retry 10 --retry-delay 1 --retry-all-errors "http://$fip/") ||
		fail "HTTP http://$fip/ did not answer"
	grep -q "$id" <<<"$page" || fail "the page at http://$fip/ does not name instance $id: $page"
	echo "http://$fip/ names instance $id"
}

# uninstall_leaves_nothing RESULTS STACKLAB [ARGS...]: `STACKLAB uninstall
# --yes ARGS...` inside the lab host returns it to before install (no lab
# package, file, unit, bridge or database left) and a second one finds
# nothing to do.
uninstall_leaves_nothing() {
	local results=$1 sl=$2 t
	shift 2
	t=$(now)
	lab "$sl" uninstall --yes "$@" 2>&1 | tee "$results/uninstall.log"
	echo "uninstall took $(elapsed "$t") s"
	# shellcheck disable=SC2016 # expanded inside the lab host, not here
	lab sh -ec '
		left=$(dpkg-query -W -f="\${Status} \${Package}\n" 2>/dev/null |
			awk "/ installed / && \$4 ~ /^(keystone|glance|placement-api|nova-|neutron-|openstack-dashboard|mariadb-server|rabbitmq-server|memcached|libvirt-daemon)/ { print \$4 }")
		if [ -n "$left" ]; then
			# Say why apt kept them: a manual mark keeps a package out
			# of the autoremove of the purge (CI65), and the history of
			# apt says which run set it.
			echo "FAIL: packages left: $left"
			echo "manually installed among them: $(apt-mark showmanual $left | tr "\n" " ")"
			tail -n 40 /var/log/apt/history.log
			exit 1
		fi
		for p in /var/lib/mysql/keystone /etc/stacklab /var/lib/stacklab /etc/openstack/clouds.yaml /root/admin-openrc; do
			[ ! -e "$p" ] || { echo "FAIL: $p left"; exit 1; }
		done
		for u in keystone nova-api neutron-api mariadb apache2 ovs-vswitchd ovsdb-server; do
			[ "$(systemctl is-active "$u" 2>/dev/null)" != active ] || { echo "FAIL: $u still active"; exit 1; }
		done
		# No guest is left running (its qemu is in machine.slice, no lab
		# unit), nor its tap device (a tun/tap; the DHCP agent veths, also
		# named tap*, are another matter).
		if pgrep -f "^/usr/bin/qemu-system" >/dev/null; then echo "FAIL: a guest qemu is left: $(pgrep -af "^/usr/bin/qemu-system" | cut -c1-120)"; exit 1; fi
		if ip tuntap show | grep -q .; then echo "FAIL: a guest tap device is left: $(ip tuntap show)"; exit 1; fi
		# Open vSwitch (Debian 13): its bridges and its database go too.
		for p in /var/lib/openvswitch/conf.db /sys/class/net/br-ex /sys/class/net/br-int; do
			[ ! -e "$p" ] || { echo "FAIL: $p left"; exit 1; }
		done
		echo "ok    nothing of the lab is left"'
	lab "$sl" uninstall --yes "$@" | tee "$results/uninstall-2.log"
	grep -q "nothing of the lab is left" "$results/uninstall-2.log" || { echo "FAIL: a second uninstall found work"; exit 1; }
}
