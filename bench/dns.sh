#!/usr/bin/env bash
# bench/dns.sh — BIND 9, Knot DNS and cset's dnsserver serving the same zone on loopback.
#
# Each server is pinned to one CPU (taskset -c $SERVER_CPU) and limited to one worker; dnsperf runs
# pinned to another CPU. The query mix is 90% existing names (A), 7% unknown names (NXDOMAIN) and
# 3% AAAA of existing names. Runs are interleaved (bind, knot, cset, bind, ...) and the median
# qps of each server and the ratios are printed at the end.
#
# On a machine with two CPUs dnsperf itself can saturate its CPU before a fast server saturates
# its own, so the script also reads each server's CPU time from /proc during every run and prints
# the server CPU used per query and the server's queries per CPU-second (its efficiency), which
# stays meaningful when the client is the bottleneck.
#
# Usage: bench/dns.sh            (from the repository root; needs root for apt-get when tools are missing)
# Tunables (environment): NAMES=10000 ROUNDS=5 DURATION=10 SERVER_CPU=0 CLIENT_CPU=1 CLIENTS=8 OUTSTANDING=200
set -euo pipefail

NAMES=${NAMES:-10000}
ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-10}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
CLIENTS=${CLIENTS:-8}
OUTSTANDING=${OUTSTANDING:-200}
ORIGIN=cset.test

cd "$(dirname "$0")/.."

need_install=()
command -v named >/dev/null || need_install+=(bind9)
command -v knotd >/dev/null || need_install+=(knot)
command -v dnsperf >/dev/null || need_install+=(dnsperf)
command -v dig >/dev/null || need_install+=(dnsutils)
command -v taskset >/dev/null || need_install+=(util-linux)
if ((${#need_install[@]})); then
	echo "installing ${need_install[*]}" >&2
	if ! apt-cache policy "${need_install[@]}" | grep -q 'Candidate: [0-9]'; then
		apt-get update -qq
	fi
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_install[@]}" >/dev/null
fi

work=$(mktemp -d /tmp/csetdns-bench.XXXXXX)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

# free_port prints a port free for UDP and TCP on 127.0.0.1.
free_port() {
	python3 - <<'PY'
import socket
while True:
    t = socket.socket(); t.bind(("127.0.0.1", 0)); p = t.getsockname()[1]
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        u.bind(("127.0.0.1", p)); print(p); break
    except OSError:
        pass
    finally:
        u.close(); t.close()
PY
}

echo "generating a zone of $NAMES names and the query file" >&2
zone=$work/$ORIGIN.zone
{
	echo "\$ORIGIN $ORIGIN."
	echo "\$TTL 30"
	echo "@ IN SOA ns1 hostmaster 1 300 60 1209600 5"
	echo "@ IN NS ns1"
	echo "ns1 IN A 127.0.0.1"
	awk -v n="$NAMES" 'BEGIN { for (i = 0; i < n; i++) {
		printf "w%d IN A 10.%d.%d.%d\n", i, int(i / 65536) % 256, int(i / 256) % 256, i % 256
		printf "w%d IN AAAA 2001:db8::%x\n", i, i
		printf "w%d IN TXT \"member=m%d server=s%d\"\n", i, i % 4, i % 8 } }'
} >"$zone"
queries=$work/queries.txt
awk -v n="$NAMES" 'BEGIN { srand(42); for (i = 0; i < 1000000; i++) { r = rand()
	if (r < 0.90) printf "w%d.cset.test A\n", int(rand() * n)
	else if (r < 0.97) printf "nx%d.cset.test A\n", int(rand() * n)
	else printf "w%d.cset.test AAAA\n", int(rand() * n) } }' >"$queries"

echo "building csetdns" >&2
go build -o "$work/csetdns" ./bench/dns/csetdns

bind_port=$(free_port)
mkdir -p "$work/bind"
cat >"$work/bind/named.conf" <<EOC
options {
	directory "$work/bind";
	pid-file "$work/bind/named.pid";
	session-keyfile "$work/bind/session.key";
	managed-keys-directory "$work/bind";
	listen-on port $bind_port { 127.0.0.1; };
	listen-on-v6 { none; };
	recursion no;
	dnssec-validation no;
	minimal-responses yes;
	notify no;
	querylog no;
};
controls { };
zone "$ORIGIN" { type primary; file "$zone"; };
EOC

knot_port=$(free_port)
mkdir -p "$work/knot"
cat >"$work/knot/knot.conf" <<EOC
server:
    rundir: "$work/knot"
    listen: 127.0.0.1@$knot_port
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1
database:
    storage: "$work/knot"
log:
  - target: stderr
    any: warning
zone:
  - domain: $ORIGIN
    file: "$zone"
    storage: "$work/knot"
    zonefile-load: whole
    journal-content: none
EOC

cset_port=$(free_port)

echo "starting servers pinned to CPU $SERVER_CPU" >&2
taskset -c "$SERVER_CPU" named -g -4 -n 1 -U 1 -c "$work/bind/named.conf" >"$work/bind/log" 2>&1 &
pids+=($!)
bind_pid=$!
taskset -c "$SERVER_CPU" knotd -c "$work/knot/knot.conf" >"$work/knot/log" 2>&1 &
pids+=($!)
knot_pid=$!
GOMAXPROCS=1 taskset -c "$SERVER_CPU" "$work/csetdns" -zone "$zone" -origin "$ORIGIN." \
	-addr "127.0.0.1:$cset_port" -sockets 1 >"$work/cset.log" 2>&1 &
pids+=($!)
cset_pid=$!
declare -A pid=([bind]=$bind_pid [knot]=$knot_pid [cset]=$cset_pid)
# cpu_ticks prints the user+system CPU time of a process in clock ticks.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)

declare -A port=([bind]=$bind_port [knot]=$knot_port [cset]=$cset_port)
for s in bind knot cset; do
	for _ in $(seq 100); do
		if [ "$(dig @127.0.0.1 -p "${port[$s]}" +short +time=1 +tries=1 w1.$ORIGIN A 2>/dev/null)" = "10.0.0.1" ]; then
			continue 2
		fi
		sleep 0.2
	done
	echo "$s did not start; log:" >&2
	cat "$work"/"$s"*/log "$work/$s.log" 2>/dev/null >&2 || true
	exit 1
done

# Every server must give the same answers before we time them.
for q in "w42.$ORIGIN A" "w42.$ORIGIN AAAA" "w42.$ORIGIN TXT" "nx1.$ORIGIN A"; do
	ref=""
	for s in bind knot cset; do
		# shellcheck disable=SC2086
		got=$(dig @127.0.0.1 -p "${port[$s]}" +norec +noall +answer +authority $q | awk '{print $1, $2, $4, $5, $6, $7}' | sort)
		status=$(dig @127.0.0.1 -p "${port[$s]}" +norec $q | grep -o 'status: [A-Z]*')
		if [ -z "$ref" ]; then ref="$status $got"; elif [ "$ref" != "$status $got" ]; then
			echo "answers differ for $q: bind: $ref / $s: $status $got" >&2
			exit 1
		fi
	done
done

declare -A results effs
for r in $(seq "$ROUNDS"); do
	for s in bind knot cset; do
		t0=$(cpu_ticks "${pid[$s]}")
		out=$(taskset -c "$CLIENT_CPU" dnsperf -s 127.0.0.1 -p "${port[$s]}" -d "$queries" -l "$DURATION" \
			-c "$CLIENTS" -q "$OUTSTANDING" -T 1 2>&1)
		qps=$(awk '/Queries per second:/ {print $4}' <<<"$out")
		lost=$(awk '/Queries lost:/ {print $3}' <<<"$out")
		secs=$(awk '/Run time \(s\):/ {print $4}' <<<"$out")
		t1=$(cpu_ticks "${pid[$s]}")
		# server CPU seconds used and queries per server CPU-second
		read -r cpu eff < <(awk -v t="$((t1 - t0))" -v hz="$hz" -v q="$qps" -v d="$secs" \
			'BEGIN { c = t / hz; printf "%.2f %.0f\n", c, (c > 0 ? q * d / c : 0) }')
		printf 'round %d %-5s %10.0f qps  server cpu %5.2fs of %ss (%6.2f us/query, %8.0f queries per cpu-second)  lost %s\n' \
			"$r" "$s" "$qps" "$cpu" "$secs" "$(awk -v e="$eff" 'BEGIN { print (e > 0 ? 1e6 / e : 0) }')" "$eff" "$lost"
		results[$s]+="$qps "
		effs[$s]+="$eff "
	done
done

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR] = $1} END { if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
b=$(median <<<"${results[bind]}")
k=$(median <<<"${results[knot]}")
c=$(median <<<"${results[cset]}")
echo
echo "median qps over $ROUNDS rounds of ${DURATION}s, $NAMES names, servers on CPU $SERVER_CPU, dnsperf on CPU $CLIENT_CPU:"
printf '  BIND 9   %10.0f\n  Knot DNS %10.0f\n  cset     %10.0f\n' "$b" "$k" "$c"
awk -v b="$b" -v k="$k" -v c="$c" 'BEGIN { printf "  cset/Knot %.2fx   cset/BIND %.2fx   Knot/BIND %.2fx\n", c / k, c / b, k / b }'
eb=$(median <<<"${effs[bind]}")
ek=$(median <<<"${effs[knot]}")
ec=$(median <<<"${effs[cset]}")
echo "median queries per server CPU-second (efficiency; higher is better):"
printf '  BIND 9   %10.0f\n  Knot DNS %10.0f\n  cset     %10.0f\n' "$eb" "$ek" "$ec"
awk -v b="$eb" -v k="$ek" -v c="$ec" 'BEGIN { printf "  cset/Knot %.2fx   cset/BIND %.2fx   Knot/BIND %.2fx\n", c / k, c / b, k / b }'
