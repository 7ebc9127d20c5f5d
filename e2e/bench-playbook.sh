#!/usr/bin/env bash
# Playbook vs the lab guides' openstack CLI script, in the same run against
# the same cloud (the e2e lab host, with the default lab applied): the same
# resources (flavor, self-service network and subnet, router on ext_net,
# security group with ICMP and SSH, keypair, the tiny image, a server and a
# floating IP), timed from the start until the new guest answers ping on its
# floating IP from the upstream namespace. Then a no-op re-run. Prints the
# figures and ratios and, with $BENCH_JSON, writes them as JSON. Targets are
# printed (PASS/MISS), never asserted: the script fails only if it breaks.
set -euo pipefail
cd "$(dirname "$0")/.."

LH=(bash e2e/labhost)
SHARE=/var/lib/stacklab-e2e/share
SL=/stacklab/stacklab
IMG=/var/lib/stacklab/images/lab-image.img

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }
lab() { "${LH[@]}" exec "$@"; }
os() { lab env OS_CLOUD=stacklab openstack "$@"; }
# Debian's uwsgi APIs drop idle keep-alive connections, which the CLI's
# own --wait polling trips over ("Connection reset by peer"): poll with
# one CLI call each instead, and retry the clean-up calls.
os_try() {
	for _ in 1 2 3; do
		os "$@" && return 0
		sleep 2
	done
	echo "clean-up: openstack $* failed 3 times" >&2
	return 0
}
wait_server() {
	local want=$1 name=$2 st deadline=$((SECONDS + 300))
	while ((SECONDS < deadline)); do
		st=$(os server show -f value -c status "$name" 2>/dev/null | tr -d '\r') || st=GONE
		[ "$st" = "$want" ] && return 0
		[ "$st" = ERROR ] && { echo "server $name went to ERROR" >&2; return 1; }
		sleep 1
	done
	echo "server $name not $want in 300 s" >&2
	return 1
}
pingable() {
	local deadline=$((SECONDS + 120))
	until "${LH[@]}" upstream ping -c1 -W1 "$1" >/dev/null 2>&1; do
		((SECONDS < deadline)) || { echo "no ping answer from $1 in 120 s" >&2; return 1; }
	done
}

cat >"$SHARE/bench.yaml" <<EOF
name: bench
flavors:
  - {name: bench-flavor, vcpus: 1, ram: 256, disk: 1}
networks:
  - {name: bench-net, type: vxlan}
subnets:
  - {name: bench-subnet, network: bench-net, cidr: 172.16.3.0/24}
routers:
  - {name: bench-router, external_gateway: ext_net, interfaces: [bench-subnet]}
security_groups:
  - name: bench-sg
    rules: [{protocol: icmp}, {protocol: tcp, port: 22}]
keypairs:
  - {name: bench-key, generate: true, private_key_file: /tmp/bench-key.pem}
images:
  - {name: bench-image, file: $IMG}
servers:
  - name: bench-vm
    flavor: bench-flavor
    image: bench-image
    networks: [bench-net]
    keypair: bench-key
    security_groups: [bench-sg]
    console: '^stacklab-guest up '
floating_ips:
  - {name: bench-fip, network: ext_net, server: bench-vm}
EOF
# The same without the server and its floating IP: the API work alone,
# without the guest boot both sides wait for in the same way.
sed -e '/^servers:/,$d' "$SHARE/bench.yaml" >"$SHARE/bench-infra.yaml"
lab rm -f /tmp/bench-key.pem /tmp/cli-key.pem

# cli_infra: the lab guide's steps up to the server, one openstack call each.
cli_infra() {
	os flavor create --vcpus 1 --ram 256 --disk 1 cli-flavor >/dev/null
	os network create cli-net >/dev/null
	os subnet create --network cli-net --subnet-range 172.16.4.0/24 cli-subnet >/dev/null
	os router create cli-router >/dev/null
	os router set --external-gateway ext_net cli-router
	os router add subnet cli-router cli-subnet
	os security group create cli-sg >/dev/null
	os security group rule create --protocol icmp cli-sg >/dev/null
	os security group rule create --protocol tcp --dst-port 22 cli-sg >/dev/null
	lab sh -c 'OS_CLOUD=stacklab openstack keypair create cli-key >/tmp/cli-key.pem && chmod 600 /tmp/cli-key.pem'
	os image create --disk-format qcow2 --container-format bare --file "$IMG" cli-image >/dev/null
}
cli_cleanup() {
	if [ -n "${cfip:-}" ]; then
		os_try server delete cli-vm
		wait_server GONE cli-vm || true
		os_try floating ip delete "$cfip"
		cfip=
	fi
	os_try router remove subnet cli-router cli-subnet
	os_try router unset --external-gateway cli-router
	os_try router delete cli-router
	os_try subnet delete cli-subnet
	os_try network delete cli-net
	os_try security group delete cli-sg
	os_try keypair delete cli-key
	os_try image delete cli-image
	os_try flavor delete cli-flavor
	lab rm -f /tmp/bench-key.pem /tmp/cli-key.pem
}

echo "== API work alone (no server): playbook, then the openstack CLI"
t=$(now)
lab "$SL" run /stacklab/bench-infra.yaml >/dev/null
pbi_s=$(since "$t")
lab "$SL" run --destroy --yes /stacklab/bench-infra.yaml >/dev/null
lab rm -f /tmp/bench-key.pem
t=$(now)
cli_infra
clii_s=$(since "$t")
cli_cleanup
echo "playbook: $pbi_s s; openstack CLI: $clii_s s"

# lab_cpu: the CPU each lab unit (and the guests, machine.slice) has used
# so far, in µs, one "unit usage" line each: cgroup v2's cpu.stat counts
# processes that have exited too (the hybrid hierarchy of a Debian 12
# container has it under unified/).
lab_cpu() {
	# shellcheck disable=SC2016 # the lab shell's variables
	lab sh -c 'root=/sys/fs/cgroup/unified; [ -d $root/system.slice ] || root=/sys/fs/cgroup
		for f in $root/system.slice/*.service/cpu.stat $root/machine.slice/cpu.stat; do
			[ -f "$f" ] || continue; d=${f%/cpu.stat}
			echo "${d##*/} $(sed -n "s/^usage_usec //p" "$f")"
		done' | sort
}
lab_cores=$(lab nproc)

echo "== playbook: stacklab run (start → floating IP answers ping)"
lab_cpu >"$SHARE/bench-cpu.before"
t=$(now)
lab "$SL" --output json run /stacklab/bench.yaml >"$SHARE/bench-run.json"
fip=$(jq -r '.results[] | select(.kind == "floating_ip") | .info.address' "$SHARE/bench-run.json")
pingable "$fip"
pb_s=$(since "$t")
lab_cpu >"$SHARE/bench-cpu.after"
echo "playbook: $pb_s s ($fip)"
# Where the lab's two cores went meanwhile: when the services' and the
# guest's CPU time fills cores × wall, the run waits on the machine, not on
# a request or a poll.
by_unit=$(join "$SHARE/bench-cpu.before" "$SHARE/bench-cpu.after" | awk '{ printf "%.2f %s\n", ($3 - $2) / 1e6, $1 }' | sort -rn)
rm -f "$SHARE/bench-cpu.before" "$SHARE/bench-cpu.after"
cpu_s=$(awk '{ s += $1 } END { printf "%.1f", s }' <<<"$by_unit")
cpu_avail_s=$(awk -v c="$lab_cores" -v w="$pb_s" 'BEGIN { printf "%.1f", c * w }')
echo "lab CPU meanwhile: $cpu_s CPU-s of $cpu_avail_s ($lab_cores cores × $pb_s s); by unit:"
head -8 <<<"$by_unit" | sed 's/^/  /'
# The server side's floor beside it: the two chains the cloud itself takes
# time on, as the run's own per-resource durations show them: the server
# (nova's create → ACTIVE, then the guest's boot to its console line) and
# the router (create, gateway, interface). Nothing the client does can end
# the run before the longer of the two.
srv_s=$(jq -r '.results[] | select(.kind == "server") | .duration_ms / 1000' "$SHARE/bench-run.json")
rtr_s=$(jq -r '.results[] | select(.kind == "router") | .duration_ms / 1000' "$SHARE/bench-run.json")
floor_s=$(awk -v a="$srv_s" -v b="$rtr_s" 'BEGIN { printf "%.2f", (a + 0 > b + 0) ? a : b }')
echo "server-side floor: $floor_s s (server create → console line $srv_s s; router with gateway and interface $rtr_s s)"
jq -r '.results[] | "  \(.kind) \(.name): \(.duration_ms) ms"' "$SHARE/bench-run.json"

t=$(now)
lab "$SL" --output json run /stacklab/bench.yaml >"$SHARE/bench-noop.json"
noop_s=$(since "$t")
jq -e '[.results[] | select(.action != "unchanged")] | length == 0' "$SHARE/bench-noop.json" >/dev/null
echo "no-op re-run: $noop_s s"
# Counted on a run of its own, so the trace costs the timed one nothing:
# one "http:" line per request (no headers, no bodies, no token).
lab env STACKLAB_DEBUG_HTTP=1 "$SL" --output json run /stacklab/bench.yaml >/dev/null 2>"$SHARE/bench-noop.trace"
noop_reqs=$(grep -c '^http: ' "$SHARE/bench-noop.trace" || true)
rm -f "$SHARE/bench-noop.trace"
echo "no-op re-run: $noop_reqs requests"
# The peer of the no-op run: the same look-ups with the openstack CLI, one
# show per resource of the playbook, in one shell in the lab host so the
# CLI pays no more container entries than stacklab's single run does.
t=$(now)
# shellcheck disable=SC2016 # $FIP is the lab shell's
lab env OS_CLOUD=stacklab FIP="$fip" sh -ec '
	openstack flavor show bench-flavor >/dev/null
	openstack network show bench-net >/dev/null
	openstack subnet show bench-subnet >/dev/null
	openstack router show bench-router >/dev/null
	openstack security group show bench-sg >/dev/null
	openstack keypair show bench-key >/dev/null
	openstack image show bench-image >/dev/null
	openstack server show bench-vm >/dev/null
	openstack floating ip show "$FIP" >/dev/null'
cli_noop_s=$(since "$t")
echo "openstack CLI, one show per resource (9): $cli_noop_s s"

echo "== openstack CLI: the same steps as the lab guides write them"
t=$(now)
cli_infra
os server create --flavor cli-flavor --image cli-image --network cli-net --key-name cli-key \
	--security-group cli-sg cli-vm >/dev/null
wait_server ACTIVE cli-vm
cfip=$(os floating ip create -f value -c floating_ip_address ext_net | tr -d '\r')
os server add floating ip cli-vm "$cfip"
pingable "$cfip"
cli_s=$(since "$t")
echo "openstack CLI: $cli_s s ($cfip)"

echo "== cleaning up both"
lab "$SL" run --destroy --yes /stacklab/bench.yaml >/dev/null
cli_cleanup

ratio=$(awk -v a="$cli_s" -v b="$pb_s" 'BEGIN { printf "%.1f", a / b }')
ratio_i=$(awk -v a="$clii_s" -v b="$pbi_s" 'BEGIN { printf "%.1f", a / b }')
ratio_noop=$(awk -v a="$cli_noop_s" -v b="$noop_s" 'BEGIN { printf "%.1f", a / b }')
verdict() { awk -v v="$1" -v t="$2" -v dir="$3" 'BEGIN { ok = (dir == "le") ? v <= t : v >= t; print ok ? "PASS" : "MISS" }'; }
printf '\n%-52s %10s %10s %s\n' "figure" "value" "target" "verdict"
printf '%-52s %9ss %10s %s\n' "playbook, start → guest answers on floating IP" "$pb_s" "≤ 20 s" "$(verdict "$pb_s" 20 le)"
printf '%-52s %9ss %10s\n' "server-side floor (the longer of server, router)" "$floor_s" ""
printf '%-52s %10s\n' "lab CPU used during it, of $cpu_avail_s (cores x wall)" "$cpu_s CPU-s"
printf '%-52s %9ss %10s\n' "openstack CLI script, same steps" "$cli_s" ""
printf '%-52s %9sx %10s\n' "ratio CLI / playbook" "$ratio" ""
printf '%-52s %9ss %10s\n' "API work alone (no server): playbook" "$pbi_s" ""
printf '%-52s %9ss %10s\n' "API work alone (no server): openstack CLI" "$clii_s" ""
printf '%-52s %9sx %10s\n' "ratio CLI / playbook, API work alone" "$ratio_i" ""
printf '%-52s %9ss %10s %s\n' "no-op re-run of the playbook" "$noop_s" "≤ 0.5 s" "$(verdict "$noop_s" 0.5 le)"
printf '%-52s %10s %10s\n' "no-op re-run: API requests (token cached)" "$noop_reqs" ""
printf '%-52s %9ss %10s\n' "openstack CLI, one show per resource (9 calls)" "$cli_noop_s" ""
printf '%-52s %9sx %10s %s\n' "ratio CLI / no-op re-run" "$ratio_noop" "≥ 10x" "$(verdict "$ratio_noop" 10 ge)"
if [ -n "${BENCH_JSON:-}" ]; then
	jq -n --argjson pb "$pb_s" --argjson cli "$cli_s" --argjson ratio "$ratio" --argjson noop "$noop_s" \
		--argjson pbi "$pbi_s" --argjson clii "$clii_s" --argjson ratio_i "$ratio_i" --argjson noop_reqs "$noop_reqs" \
		--argjson cli_noop "$cli_noop_s" --argjson ratio_noop "$ratio_noop" --argjson floor "$floor_s" \
		--argjson cpu "$cpu_s" --argjson cpu_avail "$cpu_avail_s" \
		'{playbook_to_ping_seconds: $pb, cli_to_ping_seconds: $cli, ratio_cli_over_playbook: $ratio,
		  api_only_playbook_seconds: $pbi, api_only_cli_seconds: $clii, api_only_ratio: $ratio_i,
		  noop_rerun_seconds: $noop, noop_rerun_requests: $noop_reqs,
		  noop_cli_shows_seconds: $cli_noop, noop_ratio_cli_over_playbook: $ratio_noop,
		  server_side_floor_seconds: $floor,
		  lab_cpu_seconds_during_playbook: $cpu, lab_cpu_available_seconds: $cpu_avail}' >"$BENCH_JSON"
fi
