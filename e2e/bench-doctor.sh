#!/usr/bin/env bash
# bench-doctor.sh: how long `stacklab doctor` takes against the manual
# diagnosis it replaces, measured in one run INSIDE the lab host, as root,
# on a healthy lab:
#   (a) stacklab doctor --output json, 5 runs: median and max wall time;
#   (b) the same questions asked with the openstack CLI and curl, one after
#       the other, 3 runs: median;
#   (c) keystone hung (its uwsgi processes SIGSTOPped: the socket still
#       accepts, nothing answers): doctor once, its wall time, and keystone
#       must be named a root cause. The processes are always continued.
# Prints a table with issue 16's targets (healthy <= 0.5 s and >= 30x the
# CLI, hung <= 5 s). A missed
# target is printed as MISS and is not an error; the exit status is
# non-zero only when the bench itself breaks or the root cause is wrong.
#
#   e2e/bench-doctor.sh
#   STACKLAB=/usr/local/bin/stacklab  the binary (default: that, else PATH)
#   STACKLAB_CONFIG=FILE              --config for doctor
#   MGMT_IP=ADDR                      the management address (default: the
#                                     install's record, else admin-openrc)
#   BENCH_JSON=FILE                   also write the figures there as JSON
set -euo pipefail

STACKLAB=${STACKLAB:-/usr/local/bin/stacklab}
[[ -x $STACKLAB ]] || STACKLAB=$(command -v stacklab) || {
	echo "bench-doctor.sh: no stacklab binary (set STACKLAB)" >&2
	exit 1
}
CFG=()
[[ -n ${STACKLAB_CONFIG:-} ]] && CFG=(--config "$STACKLAB_CONFIG")
# Written by stacklab install (internal/cloud, installer/labstate).
STATE_FILE=/var/lib/stacklab/state.json
OPENRC=/root/admin-openrc
CLOUD_NAME=stacklab
# No doctor run may outlast this, least of all with keystone stopped.
DOCTOR_TIMEOUT=120
DOCTOR_RUNS=5
CLI_RUNS=3
TARGET_HEALTHY=0.5
TARGET_HUNG=5
TARGET_RATIO=30

die() {
	echo "bench-doctor.sh: $*" >&2
	exit 1
}

((EUID == 0)) || die "run as root inside the lab host"
for c in openstack curl python3 awk timeout; do
	command -v "$c" >/dev/null || die "$c is not installed"
done
if pgrep -f 'stacklab (install|uninstall)' >/dev/null; then
	die "stacklab install/uninstall is running; try later"
fi

# The openstack CLI authenticates as the install's admin: its clouds.yaml
# entry when there is one, else admin-openrc.
if [[ -z ${OS_CLOUD:-} ]]; then
	if [[ -f /etc/openstack/clouds.yaml || -f /root/.config/openstack/clouds.yaml ]]; then
		export OS_CLOUD=$CLOUD_NAME
	elif [[ -f $OPENRC ]]; then
		set +u
		# shellcheck disable=SC1090 # written by stacklab install
		. "$OPENRC"
		set -u
	else
		die "no clouds.yaml and no $OPENRC: is the lab installed?"
	fi
fi

if [[ -z ${MGMT_IP:-} && -f $STATE_FILE ]]; then
	MGMT_IP=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["mgmt_ip"])' "$STATE_FILE" 2>/dev/null || true)
fi
if [[ -z ${MGMT_IP:-} && -f $OPENRC ]]; then
	# OS_AUTH_URL=http://ADDR:5000/v3 (labs installed before the record).
	MGMT_IP=$(sed -n 's|^export OS_AUTH_URL=["'\'']\{0,1\}http://\([^:/]*\).*|\1|p' "$OPENRC" | head -1)
fi
[[ -n ${MGMT_IP:-} ]] || die "cannot tell the management address: set MGMT_IP"
LOGIN_URL=${HORIZON_LOGIN_URL:-http://$MGMT_IP/horizon/auth/login/}

TMP=$(mktemp -d)
STOPPED=()
# Whatever happens (an error under set -e, ^C), keystone runs again.
cleanup() {
	if ((${#STOPPED[@]})); then
		kill -CONT "${STOPPED[@]}" 2>/dev/null || true
		echo "keystone continued (pids ${STOPPED[*]})" >&2
		STOPPED=()
	fi
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'echo "bench-doctor.sh: line $LINENO failed: $BASH_COMMAND" >&2' ERR
trap 'exit 130' INT
trap 'exit 143' TERM

now() { date +%s.%N; }
# since START: seconds elapsed, millisecond precision.
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }'; }
median() {
	printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 }
		END { if (NR % 2) printf "%.3f", v[(NR + 1) / 2]; else printf "%.3f", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
maximum() { printf '%s\n' "$@" | sort -g | tail -n 1; }
# verdict VALUE TARGET: PASS when VALUE <= TARGET.
verdict() { awk -v v="$1" -v t="$2" 'BEGIN { print (v <= t) ? "PASS" : "MISS" }'; }
# failed_ids FILE: the IDs of the failed checks (doctor's root causes).
failed_ids() {
	python3 -c 'import json, sys
r = json.load(open(sys.argv[1]))
print(",".join(c["id"] for c in r["checks"] if c["status"] == "fail"))' "$1"
}
# doctor_json OUT: one doctor run; its exit status says healthy or not,
# which the caller judges from the JSON.
doctor_json() { timeout "$DOCTOR_TIMEOUT" "$STACKLAB" doctor "${CFG[@]}" --output json >"$1" 2>"$1.err" || true; }

# (a) doctor on the healthy lab.
echo "== doctor, healthy lab, $DOCTOR_RUNS runs"
doctor_times=()
for i in $(seq "$DOCTOR_RUNS"); do
	t0=$(now)
	doctor_json "$TMP/healthy-$i.json"
	doctor_times+=("$(since "$t0")")
	roots=$(failed_ids "$TMP/healthy-$i.json") || {
		cat "$TMP/healthy-$i.json.err" >&2
		die "doctor printed no JSON report"
	}
	[[ -z $roots ]] || die "the lab is not healthy (failed: $roots); the bench needs a healthy lab"
	echo "   run $i: ${doctor_times[-1]} s"
done
doctor_median=$(median "${doctor_times[@]}")
doctor_max=$(maximum "${doctor_times[@]}")
# One more run, traced, to count its requests (one "http:" line each, no
# headers or bodies): apart from the timed runs, which the trace would slow.
STACKLAB_DEBUG_HTTP=1 doctor_json "$TMP/traced.json"
doctor_reqs=$(grep -c '^http: ' "$TMP/traced.json.err" || true)
echo "   traced run: $doctor_reqs requests"
# Where the time goes, in the last run: the slowest checks, and the checks
# that ended last with when each started (a late start is a wait on the
# checks it depends on: the run's critical path).
python3 -c 'import json, sys
r = json.load(open(sys.argv[1]))
for c in sorted(r["checks"], key=lambda c: -c.get("ms", 0))[:6]:
    print("   slowest:  %5d ms  %s" % (c.get("ms", 0), c["id"]))
for c in sorted(r["checks"], key=lambda c: -(c.get("at_ms", 0) + c.get("ms", 0)))[:6]:
    print("   ended at: %5d ms  %s (started at %d ms)" % (c.get("at_ms", 0) + c.get("ms", 0), c["id"], c.get("at_ms", 0)))' "$TMP/healthy-$DOCTOR_RUNS.json"

# (b) the manual diagnosis, one command after the other as a person would.
echo "== openstack CLI + curl, $CLI_RUNS runs"
manual() {
	openstack token issue -f value -c expires >/dev/null
	openstack service list >/dev/null
	openstack endpoint list >/dev/null
	openstack compute service list >/dev/null
	openstack network agent list >/dev/null
	local code
	code=$(curl -s -o /dev/null -m 30 -w '%{http_code}' "$LOGIN_URL" || true)
	[[ $code == 200 ]] || die "$LOGIN_URL answered HTTP $code"
}
cli_times=()
for i in $(seq "$CLI_RUNS"); do
	t0=$(now)
	manual
	cli_times+=("$(since "$t0")")
	echo "   run $i: ${cli_times[-1]} s"
done
cli_median=$(median "${cli_times[@]}")
ratio=$(awk -v c="$cli_median" -v d="$doctor_median" 'BEGIN { printf "%.1f", (d > 0) ? c / d : 0 }')

# (c) keystone hung: its uwsgi master and every process below it stopped.
echo "== doctor, keystone hung"
descendants() {
	local p
	for p in $(pgrep -P "$1" || true); do
		echo "$p"
		descendants "$p"
	done
}
main_pid=$(systemctl show -p MainPID --value keystone)
[[ $main_pid =~ ^[1-9][0-9]*$ ]] || die "keystone is not running (MainPID=$main_pid)"
mapfile -t pids < <(
	echo "$main_pid"
	descendants "$main_pid"
)
STOPPED=("${pids[@]}")
kill -STOP "${STOPPED[@]}"
echo "   stopped keystone pids ${STOPPED[*]}"
t0=$(now)
doctor_json "$TMP/hung.json"
hung_time=$(since "$t0")
kill -CONT "${STOPPED[@]}"
STOPPED=()
hung_roots=$(failed_ids "$TMP/hung.json") || {
	cat "$TMP/hung.json.err" >&2
	die "doctor printed no JSON report with keystone hung"
}
echo "   $hung_time s, root cause(s): ${hung_roots:-none}"
root_ok=yes
[[ ,$hung_roots, == *,keystone,* ]] || root_ok=no

# keystone should answer again now; say so if it does not.
for _ in $(seq 30); do
	code=$(curl -s -o /dev/null -m 2 -w '%{http_code}' "http://$MGMT_IP:5000/v3" || true)
	[[ $code == 200 ]] && break
	sleep 1
done
[[ $code == 200 ]] || echo "warning: keystone does not answer again after SIGCONT (HTTP $code)" >&2

healthy_verdict=$(verdict "$doctor_median" "$TARGET_HEALTHY")
hung_verdict=$(verdict "$hung_time" "$TARGET_HUNG")
echo
printf '%-32s %-16s %-8s %s\n' MEASURE "SECONDS" TARGET RESULT
printf '%-32s %-16s %-8s %s\n' "doctor healthy median/max" "$doctor_median / $doctor_max" "<= $TARGET_HEALTHY" "$healthy_verdict"
printf '%-32s %-16s %-8s %s\n' "doctor healthy requests" "$doctor_reqs" - -
printf '%-32s %-16s %-8s %s\n' "openstack CLI median" "$cli_median" - -
printf '%-32s %-16s %-8s %s\n' "ratio CLI/doctor" "${ratio}x" ">= ${TARGET_RATIO}x" "$(awk -v r="$ratio" -v t="$TARGET_RATIO" 'BEGIN { print (r >= t) ? "PASS" : "MISS" }')"
printf '%-32s %-16s %-8s %s\n' "doctor with keystone hung" "$hung_time" "<= $TARGET_HUNG" "$hung_verdict"
printf '%-32s %-16s %-8s %s\n' "root cause with keystone hung" "${hung_roots:-none}" keystone "$([[ $root_ok == yes ]] && echo PASS || echo FAIL)"

if [[ -n ${BENCH_JSON:-} ]]; then
	python3 - "$BENCH_JSON" <<EOF
import json, sys
nums = lambda s: [float(x) for x in s.split()]
out = {
    "doctor_healthy_runs_s": nums("${doctor_times[*]}"),
    "doctor_healthy_median_s": $doctor_median,
    "doctor_healthy_max_s": $doctor_max,
    "doctor_healthy_requests": $doctor_reqs,
    "cli_runs_s": nums("${cli_times[*]}"),
    "cli_median_s": $cli_median,
    "ratio_cli_over_doctor": $ratio,
    "doctor_keystone_hung_s": $hung_time,
    "keystone_hung_root_causes": [r for r in "$hung_roots".split(",") if r],
    "targets_s": {"healthy": $TARGET_HEALTHY, "hung": $TARGET_HUNG},
    "target_ratio": $TARGET_RATIO,
    "healthy_target": "$healthy_verdict",
    "hung_target": "$hung_verdict",
    "root_cause_ok": "$root_ok" == "yes",
}
with open(sys.argv[1], "w") as f:
    json.dump(out, f, indent=2)
    f.write("\n")
EOF
	echo "figures written to $BENCH_JSON"
fi

[[ $root_ok == yes ]] || die "keystone hung, but doctor named ${hung_roots:-no root cause}, not keystone"
