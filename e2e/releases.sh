#!/usr/bin/env bash
# Both releases CI proves, side by side on one machine: the Debian 12 main
# e2e (install.sh: killed and resumed install, API assertions, re-run,
# fault matrix, playbooks, reboot, benchmarks, uninstall) and the Debian 13
# stock-VM e2e (stock.sh: the student's VM through sudo, the laptop, reboot,
# API assertions, re-run, fault matrix with Open vSwitch's faults,
# uninstall). Each lab host has its own names, subnet and state; they share
# the package cache. Run one after the other they would pass the 90-minute
# wall; side by side, one downloads or waits on a boot while the other
# configures. Debian 13's lines carry a "[debian13]" prefix; each run's
# time is printed at the end, and the run fails if either failed.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=e2e/lib.sh
. e2e/lib.sh

t0=$(now)
d13_log=$(mktemp /tmp/stacklab-e2e-debian13.XXXXXX)
# Written when Debian 13's lane has ended and its lab host is down: Debian
# 12's playbook benchmark waits for it (install.sh), so a student's lab,
# alone on its VM, is what it measures, not a lab sharing 2 cores with a
# second whole cloud.
# The wait ends 40 minutes into this script at the latest: on a machine
# where Debian 13's lane is far behind (CI61: a cold apt run of 11 min),
# waiting for it would only push the run toward the 90-minute wall.
export STACKLAB_E2E_OTHER_LANE_DONE STACKLAB_E2E_WAIT_UNTIL
STACKLAB_E2E_OTHER_LANE_DONE=$(mktemp -u /tmp/stacklab-e2e-debian13-done.XXXXXX)
STACKLAB_E2E_WAIT_UNTIL=$(($(date +%s) + 40 * 60))
(
	t=$(now)
	rc=0
	LABHOST_SUITE=trixie LABHOST_ID=d13 LABHOST_NET=233 bash e2e/stock.sh || rc=$?
	touch "$STACKLAB_E2E_OTHER_LANE_DONE"
	echo "debian13 stock-VM e2e: rc=$rc in $(elapsed "$t") s"
	exit "$rc"
) > >(sed -u 's/^/[debian13] /' | tee "$d13_log") 2>&1 &
d13=$!

t12=$(now)
rc12=0
d12_log=$(mktemp /tmp/stacklab-e2e-debian12.XXXXXX)
bash e2e/install.sh > >(tee "$d12_log") 2>&1 || rc12=$?
echo "debian12 main e2e: rc=$rc12 in $(elapsed "$t12") s"

rc13=0
wait "$d13" || rc13=$?
# The prefixing sed may still be flushing the last lines.
sleep 1
say "both releases"
echo "debian12 main e2e:      rc=$rc12 ($(grep -c . "$d12_log") lines in $d12_log)"
echo "debian13 stock-VM e2e:  rc=$rc13 ($(grep -c . "$d13_log") lines in $d13_log)"
echo "side by side in $(elapsed "$t0") s"
# A CI log may show only its tail: repeat what failed where it is seen, with
# the lines that led to the lane's end.
failed_lines() {
	echo "== $1's failed lines:"
	grep -E 'FAIL|✗|  NO  |,RED|panic:|Error:' "$2" | tail -n 12 || true
	echo "== $1's last lines:"
	grep -v -E '^\s*$' "$2" | tail -n 15 || true
}
rm -f "$STACKLAB_E2E_OTHER_LANE_DONE"
((rc12 == 0)) || failed_lines debian12 "$d12_log"
((rc13 == 0)) || failed_lines debian13 "$d13_log"
((rc12 == 0 && rc13 == 0))
