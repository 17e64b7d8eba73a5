#!/usr/bin/env bash
# Runs several seeds of the chaos suite (docs/chaos.md), JOBS at a time, and prints one summary
# line per seed and the totals: faults, double-online, lost acknowledged writes, liveness
# violations, all violations, and the distribution of liveness recovery times over every seed.
#
#   bench/chaos-seeds.sh [-s FIRST] [-n SEEDS] [-t STEPS] [-j JOBS] [-o DIR] [-w WITNESSES] [-- SUITE FLAGS...]
#   make chaos-seeds SEEDS=10 STEPS=200 JOBS=2 FIRST=1
#
# Seeds FIRST .. FIRST+SEEDS-1 run with STEPS faults each. Every seed writes its log to
# DIR/seedN.log (default: a new directory under $TMPDIR); a seed with violations keeps its run
# directory (named in its log). -w 3 runs three witness processes and adds the faults of one of
# several witnesses (the suite's -witnesses flag). Exit status 1 when any seed has a violation or fails.
set -u
first=1 seeds=10 steps=200 jobs=2 out="" witnesses=1
while getopts "s:n:t:j:o:w:h" opt; do
	case $opt in
	s) first=$OPTARG ;;
	n) seeds=$OPTARG ;;
	t) steps=$OPTARG ;;
	j) jobs=$OPTARG ;;
	o) out=$OPTARG ;;
	w) witnesses=$OPTARG ;;
	*) sed -n '2,12p' "$0"; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
[ "${1:-}" = "--" ] && shift
root=$(cd "$(dirname "$0")/.." && pwd)
[ -n "$out" ] || out=$(mktemp -d "${TMPDIR:-/tmp}/cset-chaos-seeds-XXXXXX")
mkdir -p "$out"
echo "chaos seeds $first..$((first + seeds - 1)), $steps faults each, $witnesses witness(es), $jobs at a time; logs in $out"
(cd "$root" && go test -c -o "$out/chaos.test" ./integration/chaos) || exit 1

run_seed() {
	local seed=$1
	shift
	local start line rc
	start=$(date +%s)
	# The suite builds csetd and ecxsim from the module root, relative to the package directory.
	(cd "$root/integration/chaos" && "$out/chaos.test" -test.run '^TestChaos$' -test.count=1 -test.timeout 0 -test.v \
		-seed="$seed" -steps="$steps" -witnesses="$witnesses" -recovery-out="$out/seed$seed.rec" "$@") >"$out/seed$seed.log" 2>&1
	rc=$?
	line=$(grep -m1 -o 'chaos result: .*' "$out/seed$seed.log" || echo "chaos result: seed=$seed FAILED before the checks (exit $rc)")
	echo "$line wall=$(($(date +%s) - start))s" | tee "$out/seed$seed.summary"
}
export -f run_seed
export root out steps witnesses
start=$(date +%s)
seq "$first" "$((first + seeds - 1))" | xargs -P "$jobs" -I{} bash -c 'run_seed "$@"' _ {} "$@"
wall=$(($(date +%s) - start))

cat "$out"/seed*.summary | awk -v wall="$wall" '
	function val(k,   i, a) {
		for (i = 1; i <= NF; i++) { split($i, a, "="); if (a[1] == k) return a[2] }
		return 0
	}
	{
		n++; faults += val("faults"); dbl += val("double_online"); lost += val("lost_writes")
		live += val("liveness_violations"); viol += val("violations"); outages += val("outages")
		if ($0 ~ /FAILED/) failed++
	}
	END {
		printf "TOTAL: seeds=%d failed=%d faults=%d double_online=%d lost_writes=%d liveness_violations=%d violations=%d outages=%d wall=%ds", n, failed, faults, dbl, lost, live, viol, outages, wall
		if (faults > 0) printf " wall_per_100_faults=%.0fs", wall * 100 / faults
		printf "\n"
		exit (failed + viol > 0)
	}'
rc=$?
cat "$out"/seed*.rec 2>/dev/null | sort -n | awk '
	function q(p,   k) { k = int(NR * p) + 1; return v[k > NR ? NR : k] }
	{ v[NR] = $1 }
	END {
		if (NR == 0) { print "recovery: no outage recovered"; exit }
		printf "recovery (liveness, ms, %d outages touched by a fault): min=%d median=%d p90=%d p99=%d max=%d\n", NR, v[1], q(0.5), q(0.9), q(0.99), v[NR]
	}'
exit $rc
