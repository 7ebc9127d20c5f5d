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
