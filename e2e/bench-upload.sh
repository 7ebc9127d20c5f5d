#!/usr/bin/env bash
# bench-upload.sh: image upload through `stacklab run` against a raw HTTP
# PUT of the same file to the same glance, in one run in the lab host:
#   - throughput of a 1 GiB image: stacklab (auth, inspect, create, the
#     streamed PUT hashed on the way, checksum verified against glance's)
#     over curl (create, then PUT the file streamed with -T); target ≥ 0.9;
#   - stacklab's peak resident memory uploading 64 MiB and 1 GiB: constant
#     memory means the two are about the same.
# Peak RSS comes from the kernel (getrusage of the finished child), not from
# sampling. A missed target prints MISS and is not an error.
#
#   BENCH_JSON=FILE  also write the figures there as JSON
set -euo pipefail
cd "$(dirname "$0")/.."

LH=(bash e2e/labhost)
WORK=/var/lib/stacklab-e2e
SHARE=$WORK/share
SL=/stacklab/stacklab
BIG_MIB=${BENCH_UPLOAD_MIB:-1024}
SMALL_MIB=64

lab() { "${LH[@]}" exec "$@"; }
os() { lab env OS_CLOUD=stacklab openstack "$@"; }
# measure CMD...: runs CMD in the lab host, prints "RC PEAK_RSS_KIB SECONDS".
measure() {
	lab python3 -c 'import resource, subprocess, sys, time
t = time.monotonic()
rc = subprocess.call(sys.argv[1:], stdout=subprocess.DEVNULL)
print(rc, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, "%.3f" % (time.monotonic() - t))' "$@"
}

cleanup() {
	rm -f "$SHARE"/bench-upload-*.raw "$SHARE"/bench-upload-*.yaml "$SHARE/.glance-token"
	os image delete bench-upload-curl >/dev/null 2>&1 || true
}
trap cleanup EXIT

echo "== test images: ${SMALL_MIB} MiB and ${BIG_MIB} MiB of random bytes (raw)"
for mib in "$SMALL_MIB" "$BIG_MIB"; do
	head -c "$((mib << 20))" /dev/urandom >"$SHARE/bench-upload-$mib.raw"
	cat >"$SHARE/bench-upload-$mib.yaml" <<EOF
name: bench-upload-$mib
images:
  - name: bench-upload-$mib
    file: bench-upload-$mib.raw
EOF
done
# Both sides read the file from the page cache: warm it once.
cat "$SHARE/bench-upload-$BIG_MIB.raw" >/dev/null

glance=$(os endpoint list --service image --interface public -f value -c URL | tr -d '\r' | head -1)
[ -n "$glance" ] || { echo "bench-upload.sh: no public image endpoint" >&2; exit 1; }
# The token goes to a 0600 file inside the lab, never onto a command line
# or into the output.
lab sh -c 'umask 077; OS_CLOUD=stacklab openstack token issue -f value -c id >/stacklab/.glance-token'

echo "== raw HTTP: curl POST /v2/images, then PUT the ${BIG_MIB} MiB file"
# shellcheck disable=SC2016 # expanded inside the lab host
read -r curl_rc _ curl_s < <(measure sh -ec '
	tok=$(cat /stacklab/.glance-token)
	id=$(curl -fsS -H "X-Auth-Token: $tok" -H "Content-Type: application/json" \
		-d "{\"name\": \"bench-upload-curl\", \"disk_format\": \"raw\", \"container_format\": \"bare\"}" \
		"$1/v2/images" | python3 -c "import json, sys; print(json.load(sys.stdin)[\"id\"])")
	curl -fsS -T "$2" -H "X-Auth-Token: $tok" -H "Content-Type: application/octet-stream" \
		"$1/v2/images/$id/file"' sh "$glance" "/stacklab/bench-upload-$BIG_MIB.raw")
[ "$curl_rc" = 0 ] || { echo "bench-upload.sh: the curl upload failed (rc $curl_rc)" >&2; exit 1; }
st=$(os image show -f value -c status -c size bench-upload-curl | tr -d '\r' | tr '\n' ' ')
[ "$st" = "$((BIG_MIB << 20)) active " ] || { echo "bench-upload.sh: curl's image is '$st', not active with all $BIG_MIB MiB" >&2; exit 1; }
os image delete bench-upload-curl >/dev/null
echo "curl: $curl_s s"

echo "== stacklab run: the same file as a playbook image"
results=()
for mib in "$SMALL_MIB" "$BIG_MIB"; do
	read -r rc kib s < <(measure "$SL" run "/stacklab/bench-upload-$mib.yaml")
	[ "$rc" = 0 ] || { echo "bench-upload.sh: stacklab run of $mib MiB failed (rc $rc)" >&2; exit 1; }
	st=$(os image show -f value -c status -c size "bench-upload-$mib" | tr -d '\r' | tr '\n' ' ')
	[ "$st" = "$((mib << 20)) active " ] || { echo "bench-upload.sh: image bench-upload-$mib is '$st', not active with all $mib MiB" >&2; exit 1; }
	lab "$SL" run --destroy --yes "/stacklab/bench-upload-$mib.yaml" >/dev/null
	echo "stacklab, $mib MiB: $s s, peak RSS $((kib / 1024)) MiB"
	results+=("$mib $kib $s")
done
read -r _ small_kib _ <<<"${results[0]}"
read -r _ big_kib sl_s <<<"${results[1]}"

tput() { awk -v m="$1" -v s="$2" 'BEGIN { printf "%.0f", m / s }'; }
sl_tput=$(tput "$BIG_MIB" "$sl_s")
curl_tput=$(tput "$BIG_MIB" "$curl_s")
ratio=$(awk -v a="$curl_s" -v b="$sl_s" 'BEGIN { printf "%.2f", a / b }')
growth=$(awk -v a="$big_kib" -v b="$small_kib" 'BEGIN { printf "%.2f", a / b }')
verdict() { awk -v v="$1" -v t="$2" -v dir="$3" 'BEGIN { ok = (dir == "le") ? v <= t : v >= t; print ok ? "PASS" : "MISS" }'; }

printf '\n%-52s %12s %10s %s\n' "figure" "value" "target" "verdict"
printf '%-52s %8s MiB/s %10s\n' "raw HTTP PUT (curl), ${BIG_MIB} MiB" "$curl_tput" ""
printf '%-52s %8s MiB/s %10s\n' "stacklab run, ${BIG_MIB} MiB (hashed, verified)" "$sl_tput" ""
printf '%-52s %11sx %10s %s\n' "throughput stacklab / raw PUT" "$ratio" "≥ 0.9x" "$(verdict "$ratio" 0.9 ge)"
printf '%-52s %8s MiB %10s\n' "stacklab peak RSS, ${SMALL_MIB} MiB image" "$((small_kib / 1024))" ""
printf '%-52s %8s MiB %10s\n' "stacklab peak RSS, ${BIG_MIB} MiB image" "$((big_kib / 1024))" ""
printf '%-52s %11sx %10s %s\n' "peak RSS growth, ${BIG_MIB} MiB over ${SMALL_MIB} MiB" "$growth" "≤ 1.2x" "$(verdict "$growth" 1.2 le)"
if [ -n "${BENCH_JSON:-}" ]; then
	jq -n --argjson mib "$BIG_MIB" --argjson curl "$curl_s" --argjson sl "$sl_s" --argjson ratio "$ratio" \
		--argjson small "$small_kib" --argjson big "$big_kib" --argjson growth "$growth" \
		'{image_mib: $mib, curl_put_seconds: $curl, stacklab_seconds: $sl, throughput_ratio: $ratio,
		  peak_rss_kib_small: $small, peak_rss_kib_big: $big, peak_rss_growth: $growth}' >"$BENCH_JSON"
fi
