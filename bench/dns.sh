#!/usr/bin/env bash
# bench/dns.sh — BIND 9, Knot DNS, cset's dnsserver (csetdns) and the real csetd serving the same
# zone on loopback.
#
# Each server is pinned to one CPU (taskset -c $SERVER_CPU) and limited to one worker; dnsperf runs
# pinned to another CPU. The query mix is 90% existing names (A), 7% unknown names (NXDOMAIN) and
# 3% AAAA of existing names. Runs are interleaved (bind, knot, cset, csetd, bind, ...) and the
# median qps of each server and the ratios are printed at the end.
#
# On a machine with two CPUs dnsperf itself can saturate its CPU before a fast server saturates
# its own, so the script also reads each server's CPU time from /proc during every run and prints
# the server CPU used per query and the server's queries per CPU-second (its efficiency), which
# stays meaningful when the client is the bottleneck.
#
# The servers:
#   bind   named -n 1 (one worker thread) serving the zone file
#   knot   knotd with udp-workers: 1 serving the zone file
#   cset   bench/dns/csetdns: package dnsserver alone, fed the zone file (GOMAXPROCS=1, one socket)
#   csetd  the real master: `csetd agent -bootstrap`, a one-node cluster set whose zone holds the
#          same names, with everything a master runs besides DNS (Raft, gRPC, the controller
#          polling the members every second, GC of the replicated state), GOMAXPROCS=1 (so one
#          UDP socket). Its zone is built the way production builds it, from the replicated state
#          (server/dns.go, zoneFromState), so the names must be real workloads placed Online: an
#          ecxsim child process (pinned to the client CPU, so its CPU is not counted) simulates 4
#          ECX members m0..m3 with servers s0..s7 (s_k in member m_(k mod 4)) and one
#          auto-starting group per name, w_i on server s_(i mod 8); the script declares the set,
#          the members and NAMES workloads (w_i, group w_i, candidate m_(i mod 4), addresses
#          10.x.y.z and 2001:db8::i) with `csetctl apply`, and the controller adopts each group it
#          finds Online (a SetPlacement per workload), which puts the name's A, AAAA and
#          TXT "member=m_(i mod 4) server=s_(i mod 8)" in DNS: the same records as the zone file.
#          This is the cheapest faithful way: nothing is injected behind the API. The script
#          waits until an AXFR from csetd holds every name, then measures csetd's CPU while it
#          serves nothing (its background cost, reported) and times it like the others. Response
#          rate limiting is turned off (dns.rate_limit: 0, as in -dev): one client asking the
#          same names thousands of times a second is exactly what it would throttle.
#
# Usage: bench/dns.sh            (from the repository root; needs root for apt-get when tools are missing)
# Tunables (environment): NAMES=10000 ROUNDS=5 DURATION=10 SERVER_CPU=0 CLIENT_CPU=1 CLIENTS=8 OUTSTANDING=200
#   SERVERS="bind knot cset csetd" (any subset, in this order)
#   PROFILE_DIR=DIR  keep a CPU profile of csetd's last round (DIR/csetd.pprof, from its
#                    /debug/pprof endpoint) and of csetdns's whole run (DIR/csetdns.pprof), with
#                    the binaries, for `go tool pprof DIR/csetd DIR/csetd.pprof`
set -euo pipefail

NAMES=${NAMES:-10000}
ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-10}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
CLIENTS=${CLIENTS:-8}
OUTSTANDING=${OUTSTANDING:-200}
SERVERS=${SERVERS:-bind knot cset csetd}
PROFILE_DIR=${PROFILE_DIR:-}
ORIGIN=cset.test
read -r -a servers <<<"$SERVERS"
has() { [[ " $SERVERS " == *" $1 "* ]]; }

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

# free_port VAR sets VAR to a port free for UDP and TCP on 127.0.0.1, never one it gave before.
given_ports=" "
free_port() {
	local p
	while :; do
		p=$(python3 - <<'PY'
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
)
		[[ "$given_ports" == *" $p "* ]] || break
	done
	given_ports+="$p "
	printf -v "$1" '%s' "$p"
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

echo "building csetdns, csetd, csetctl and ecxsim" >&2
mkdir -p "$work/bin"
go build -o "$work/bin/" ./bench/dns/csetdns ./cmd/csetd ./cmd/csetctl ./cmd/ecxsim
if [ -n "$PROFILE_DIR" ]; then
	mkdir -p "$PROFILE_DIR"
	cp "$work/bin/csetdns" "$work/bin/csetd" "$PROFILE_DIR/"
fi

free_port bind_port
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

free_port knot_port
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

free_port cset_port
free_port csetd_port

declare -A pid port=([bind]=$bind_port [knot]=$knot_port [cset]=$cset_port [csetd]=$csetd_port)
echo "starting ${servers[*]} pinned to CPU $SERVER_CPU" >&2
if has bind; then
	taskset -c "$SERVER_CPU" named -g -4 -n 1 -U 1 -c "$work/bind/named.conf" >"$work/bind/log" 2>&1 &
	pids+=($!)
	pid[bind]=$!
fi
if has knot; then
	taskset -c "$SERVER_CPU" knotd -c "$work/knot/knot.conf" >"$work/knot/log" 2>&1 &
	pids+=($!)
	pid[knot]=$!
fi
if has cset; then
	prof=()
	[ -n "$PROFILE_DIR" ] && prof=(-cpuprofile "$PROFILE_DIR/csetdns.pprof")
	GOMAXPROCS=1 taskset -c "$SERVER_CPU" "$work/bin/csetdns" -zone "$zone" -origin "$ORIGIN." \
		-addr "127.0.0.1:$cset_port" -sockets 1 "${prof[@]}" >"$work/cset.log" 2>&1 &
	pids+=($!)
	pid[cset]=$!
fi
# cpu_ticks prints the user+system CPU time of a process in clock ticks.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)

if has csetd; then
	# The ECX world: 4 members, 2 servers each, one auto-starting group per name.
	mkdir -p "$work/csetd/data"
	awk -v n="$NAMES" 'BEGIN {
		print "control_addr: 127.0.0.1:0"
		print "clusters:"
		for (m = 0; m < 4; m++) {
			printf "  - name: m%d\n    user: admin\n    password: bench\n    servers:\n", m
			printf "      - {name: s%d, listen: \"127.0.0.1:0\"}\n      - {name: s%d, listen: \"127.0.0.1:0\"}\n", m, m + 4
			print "    groups:"
			for (i = m; i < n; i += 4) printf "      - {name: w%d, servers: [s%d], auto_start: true}\n", i, i % 8
		} }' >"$work/csetd/ecxsim.yaml"
	cat >"$work/csetd/csetd.yaml" <<EOC
dns:
  rate_limit: 0
  allow_transfer: [127.0.0.0/8]
http:
  pprof: true
EOC
	# csetd_failed prints what csetd and the simulator logged, and exits.
	csetd_failed() {
		echo "$1; the logs of csetd and ecxsim:" >&2
		tail -n 20 "$work/csetd/log" "$work/csetd/ecxsim.log" >&2 2>/dev/null
		exit 1
	}
	# csetd first, so that the simulator's servers (on ports the kernel picks) cannot take its
	# ports; a port taken by anything else meanwhile makes it exit, and it starts again on others.
	for attempt in 1 2 3 4 5; do
		free_port grpc_port
		free_port raft_port
		free_port http_port
		((attempt == 1)) || free_port csetd_port
		rm -rf "$work/csetd/data" "$work/csetd/csetd.ready"
		mkdir -p "$work/csetd/data"
		GOMAXPROCS=1 taskset -c "$SERVER_CPU" "$work/bin/csetd" agent -config "$work/csetd/csetd.yaml" -bootstrap \
			-node-id ns1 -data-dir "$work/csetd/data" -grpc-addr "127.0.0.1:$grpc_port" -raft-addr "127.0.0.1:$raft_port" \
			-dns-addr "127.0.0.1:$csetd_port" -http-addr "127.0.0.1:$http_port" -ready-file "$work/csetd/csetd.ready" \
			-log-level warn >"$work/csetd/log" 2>&1 &
		pid[csetd]=$!
		for i in $(seq 1500); do
			[ -s "$work/csetd/csetd.ready" ] && break 2
			kill -0 "${pid[csetd]}" 2>/dev/null || break
			((i < 1500)) || csetd_failed "csetd did not start within 300s"
			sleep 0.2
		done
		echo "csetd exited at start (attempt $attempt): $(tail -n 1 "$work/csetd/log")" >&2
	done
	[ -s "$work/csetd/csetd.ready" ] || csetd_failed "csetd did not start"
	pids+=("${pid[csetd]}")
	port[csetd]=$csetd_port
	taskset -c "$CLIENT_CPU" "$work/bin/ecxsim" -config "$work/csetd/ecxsim.yaml" -ready-file "$work/csetd/ecxsim.ready" \
		-log-level warn >"$work/csetd/ecxsim.log" 2>&1 &
	pids+=($!)
	for i in $(seq 1500); do
		[ -s "$work/csetd/ecxsim.ready" ] && break
		((i < 1500)) || csetd_failed "ecxsim did not start within 300s"
		sleep 0.2
	done
	# The declaration: the set, the members with the simulator's server URLs, and the workloads.
	python3 - "$work/csetd/ecxsim.ready" "$NAMES" >"$work/csetd/cset.yaml" <<'PY'
import json, sys
servers = json.load(open(sys.argv[1]))["servers"]
n = int(sys.argv[2])
print("set: {name: dnsbench, zone: cset.test., ttl: 30s, negative_ttl: 5s}")
print("members:")
for m in range(4):
    urls = servers["m%d" % m]
    print("  - {name: m%d, user: admin, servers: [%s]}" % (m, ", ".join(
        '{name: s%d, url: "%s"}' % (s, urls["s%d" % s]) for s in (m, m + 4))))
print("workloads:")
for i in range(n):
    print("  - {name: w%d, group: w%d, candidates: [m%d], addresses: {m%d: [10.%d.%d.%d, \"2001:db8::%x\"]}}" % (
        i, i, i % 4, i % 4, (i >> 16) % 256, (i >> 8) % 256, i % 256, i))
PY
	echo "declaring $NAMES workloads to csetd (csetctl apply)" >&2
	t0=$(date +%s)
	CSET_ECX_PASSWORD=bench "$work/bin/csetctl" --addr "127.0.0.1:$grpc_port" --timeout 30m \
		apply -f "$work/csetd/cset.yaml" >"$work/csetd/apply.log" || csetd_failed "csetctl apply failed"
	echo "  applied in $(($(date +%s) - t0))s; waiting for every workload to be placed Online and in DNS" >&2
	for i in $(seq 1800); do
		got=$(dig @127.0.0.1 -p "$csetd_port" +tcp +noall +answer "$ORIGIN" AXFR 2>/dev/null | awk '$4 == "A" && $1 ~ /^w/' | wc -l)
		[ "$got" -ge "$NAMES" ] && break
		if ((i % 10 == 0)); then echo "  $got of $NAMES names in csetd's zone" >&2; fi
		((i < 1800)) || csetd_failed "csetd did not converge within 30 minutes"
		sleep 1
	done
	echo "  converged $(($(date +%s) - t0))s after the apply started" >&2
fi

for s in "${servers[@]}"; do
	for _ in $(seq 100); do
		if [ "$(dig @127.0.0.1 -p "${port[$s]}" +short +time=1 +tries=1 w1.$ORIGIN A 2>/dev/null)" = "10.0.0.1" ]; then
			continue 2
		fi
		sleep 0.2
	done
	echo "$s did not start; log:" >&2
	cat "$work/$s/log" "$work/$s.log" >&2 2>/dev/null || true
	exit 1
done

# Every server must give the same answers before we time them. csetd's SOA differs in its MNAME
# (the master's name, ns1.ns.cset.test.) and serial (the Raft index), so for the authority
# section only the owner, TTL and type are compared.
for q in "w42.$ORIGIN A" "w42.$ORIGIN AAAA" "w42.$ORIGIN TXT" "nx1.$ORIGIN A" "w$((NAMES - 1)).$ORIGIN A"; do
	ref="" refs=""
	for s in "${servers[@]}"; do
		# shellcheck disable=SC2086
		got=$(dig @127.0.0.1 -p "${port[$s]}" +norec +noall +answer $q | awk '{print $1, $2, $4, $5, $6, $7}' | sort)
		# shellcheck disable=SC2086
		auth=$(dig @127.0.0.1 -p "${port[$s]}" +norec +noall +authority $q | awk '{print $1, $2, $4}' | sort)
		status=$(dig @127.0.0.1 -p "${port[$s]}" +norec $q | grep -o 'status: [A-Z]*')
		if [ -z "$ref" ]; then ref="$status $got $auth" refs=$s; elif [ "$ref" != "$status $got $auth" ]; then
			echo "answers differ for $q: $refs: $ref / $s: $status $got $auth" >&2
			exit 1
		fi
	done
done

if has csetd; then
	t0=$(cpu_ticks "${pid[csetd]}")
	sleep "$DURATION"
	t1=$(cpu_ticks "${pid[csetd]}")
	csetd_idle=$(awk -v t="$((t1 - t0))" -v hz="$hz" -v d="$DURATION" 'BEGIN { printf "%.4f", t / hz / d }')
	echo "csetd serving no queries uses $(awk -v c="$csetd_idle" 'BEGIN { printf "%.1f", c * 100 }')% of a CPU (controller polls, Raft, GC)"
	if [ -n "$PROFILE_DIR" ]; then
		echo "profiling csetd serving no queries for ${DURATION}s" >&2
		curl -s -o "$PROFILE_DIR/csetd-idle.pprof" "http://127.0.0.1:$http_port/debug/pprof/profile?seconds=$DURATION"
	fi
fi

declare -A results effs
curl_pid=""
for r in $(seq "$ROUNDS"); do
	for s in "${servers[@]}"; do
		if [ -n "$PROFILE_DIR" ] && [ "$s" = csetd ] && [ "$r" = "$ROUNDS" ]; then
			curl -s -o "$PROFILE_DIR/csetd.pprof" \
				"http://127.0.0.1:$http_port/debug/pprof/profile?seconds=$((DURATION > 3 ? DURATION - 2 : 1))" &
			curl_pid=$!
		fi
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
		if [ "$s" = csetd ]; then
			# the same without csetd's background work, at the rate measured while it served nothing
			effs[csetd_net]+="$(awk -v t="$((t1 - t0))" -v hz="$hz" -v q="$qps" -v d="$secs" -v i="$csetd_idle" \
				'BEGIN { c = t / hz - i * d; printf "%.0f", (c > 0 ? q * d / c : 0) }') "
		fi
	done
done

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR] = $1} END { if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
[ -n "${curl_pid:-}" ] && wait "$curl_pid" # the profile download
declare -A name=([bind]="BIND 9" [knot]="Knot DNS" [cset]="csetdns" [csetd]="csetd")
echo
echo "median over $ROUNDS rounds of ${DURATION}s, $NAMES names, servers on CPU $SERVER_CPU, dnsperf on CPU $CLIENT_CPU, load average $(cut -d' ' -f1-3 /proc/loadavg):"
printf '  %-9s %10s %10s %12s %10s %10s\n' server qps "us/query" "queries/cpu-s" "qps/Knot" "eff/Knot"
kq="" ke=""
if has knot; then
	kq=$(median <<<"${results[knot]}")
	ke=$(median <<<"${effs[knot]}")
fi
for s in "${servers[@]}"; do
	q=$(median <<<"${results[$s]}")
	e=$(median <<<"${effs[$s]}")
	awk -v n="${name[$s]}" -v q="$q" -v e="$e" -v kq="$kq" -v ke="$ke" 'BEGIN {
		printf "  %-9s %10.0f %10.2f %12.0f", n, q, (e > 0 ? 1e6 / e : 0), e
		if (kq != "" && kq > 0 && ke > 0) printf " %9.2fx %9.2fx", q / kq, e / ke
		printf "\n" }'
done
if has csetd; then
	e=$(median <<<"${effs[csetd_net]}")
	awk -v e="$e" -v ke="$ke" 'BEGIN {
		printf "  %-9s %10s %10.2f %12.0f", "csetd-net", "", (e > 0 ? 1e6 / e : 0), e
		if (ke != "" && ke > 0) printf " %10s %9.2fx", "", e / ke
		printf "\n" }'
	echo "  (csetd's CPU includes its background work, $(awk -v c="$csetd_idle" 'BEGIN { printf "%.1f", c * 100 }')% of a CPU when it"
	echo "  serves nothing; csetd-net is its CPU per query without that background, at that rate)"
fi
