#!/usr/bin/env bash
# Runs a compiled secc program through the real deployment path (secc keygen, secc share, three
# secc-party services, secc client; mutual TLS on every link) with each role in its own network
# namespace, over emulated links: bandwidth by a tbf qdisc on both ends of every role's veth,
# one-way delay by netbench-relay (this kernel has no netem). docs/benchmarks.md, "Real links",
# describes the method and its limits.
#
#   examples/bench/netns.sh [--settings "local lan wan"] [--bin DIR] WORKDIR MODEL.secc INPUT.json
#   examples/bench/netns.sh --probe [--settings ...] [--bin DIR] WORKDIR
#
# --probe checks the links instead of running a program: per setting, 200 round trips of 64
# bytes through the relay (the RTT it gives), then a bulk transfer P1 -> P0 through the relay
# and one routed directly through the hub without it (same tbfs), so that the relay's own limit
# shows.
#
# Topology (10.231.R.0/24 per role R: 0, 1, 2 = parties, 3 = client):
#
#   [secc-nb-p0] nb-r0 10.231.0.2 ---veth--- 10.231.0.1 nb-h0 \
#   [secc-nb-p1] nb-r1 10.231.1.2 ---veth--- 10.231.1.1 nb-h1  [secc-nb-hub]: netbench-relay
#   [secc-nb-p2] nb-r2 10.231.2.2 ---veth--- 10.231.2.1 nb-h2  listens on :7100+j and forwards
#   [secc-nb-cl] nb-r3 10.231.3.2 ---veth--- 10.231.3.1 nb-h3 / to party j at 10.231.j.2:7000
#
# Party j binds 10.231.j.2:7000; every other role reaches it as its own gateway
# 10.231.R.1:7100+j, i.e. through the relay (each role gets its own parties.toml with these
# addresses and the same four pinned certificates). So every byte between two roles crosses
# the sender's uplink tbf, the relay (delay d), and the receiver's downlink tbf: rate r per
# role per direction, one-way delay d, RTT 2d. Settings:
#   local: no tbf, relay delay 0   (the compute-bound baseline: same processes, same relay)
#   lan:   1 Gbit/s, 0.5 ms one way
#   wan:   200 Mbit/s, 20 ms one way
# Results go to WORKDIR/<setting>/ (logs) and WORKDIR/results.tsv (one line per setting).
# Every namespace and process this script makes is removed on exit, failure or Ctrl-C.
set -euo pipefail

settings="local lan wan"
bin_dir=""
probe=0
while [ $# -gt 0 ]; do
    case "$1" in
    --settings) settings="$2"; shift 2 ;;
    --bin) bin_dir="$2"; shift 2 ;;
    --probe) probe=1; shift ;;
    -h | --help) sed -n '2,30p' "$0"; exit 0 ;;
    --*) echo "netns.sh: unknown option $1" >&2; exit 2 ;;
    *) break ;;
    esac
done
if [ $# -ne $((probe ? 1 : 3)) ]; then
    echo "usage: $0 [--settings \"local lan wan\"] [--bin DIR] WORKDIR MODEL.secc INPUT.json" >&2
    echo "       $0 --probe [--settings \"local lan wan\"] [--bin DIR] WORKDIR" >&2
    exit 2
fi
repo="$(cd "$(dirname "$0")/../.." && pwd)"
bin_dir="${bin_dir:-$repo/target/release}"
work="$(mkdir -p "$1" && cd "$1" && pwd)"
needed="netbench-relay"
if [ "$probe" = 0 ]; then
    model="$(cd "$(dirname "$2")" && pwd)/$(basename "$2")"
    input="$(cd "$(dirname "$3")" && pwd)/$(basename "$3")"
    [ -f "$model" ] || { echo "netns.sh: no program file $model" >&2; exit 1; }
    [ -f "$input" ] || { echo "netns.sh: no input file $input" >&2; exit 1; }
    needed="secc secc-party netbench-relay"
fi
for b in $needed; do
    [ -x "$bin_dir/$b" ] || { echo "netns.sh: $bin_dir/$b not found (cargo build --release -p secc -p secc-runtime -p secc-netrelay)" >&2; exit 1; }
done
[ "$(id -u)" = 0 ] || { echo "netns.sh: needs root (ip netns, tc)" >&2; exit 1; }

ns_prefix="secc-nb"
# Jumbo frames: with 1500-byte frames the tbf's segmentation of large TCP segments costs enough
# CPU on this shared 2-core machine that 1 Gbit/s was not reached (529 Mbit/s measured).
mtu="${NB_MTU:-9000}"
roles=(p0 p1 p2 cl)
hub="$ns_prefix-hub"
started_pids=()

cleanup() {
    local pid ns
    for pid in "${started_pids[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    sleep 0.2
    for pid in "${started_pids[@]}"; do
        kill -9 "$pid" 2>/dev/null || true
    done
    started_pids=()
    for ns in "$hub" "${roles[@]/#/$ns_prefix-}"; do
        if ip netns list | grep -qw "$ns"; then
            # Anything still running in our namespaces was started by this script.
            for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
            ip netns del "$ns" 2>/dev/null || true
        fi
    done
}
trap cleanup EXIT
trap 'echo "netns.sh: interrupted" >&2; exit 130' INT TERM

# $1 rate ("" for none), $2 one-way delay in ms.
make_topology() {
    local rate="$1" r ns
    ip netns add "$hub"
    ip -n "$hub" link set lo up
    ip netns exec "$hub" sysctl -qw net.ipv4.ip_forward=1
    for r in 0 1 2 3; do
        ns="$ns_prefix-${roles[$r]}"
        ip netns add "$ns"
        ip -n "$ns" link set lo up
        ip link add "nb-r$r" netns "$ns" type veth peer name "nb-h$r" netns "$hub"
        ip -n "$ns" addr add "10.231.$r.2/24" dev "nb-r$r"
        ip -n "$hub" addr add "10.231.$r.1/24" dev "nb-h$r"
        ip -n "$ns" link set "nb-r$r" mtu "$mtu" up
        ip -n "$hub" link set "nb-h$r" mtu "$mtu" up
        # Only for --probe's direct transfer: the roles can reach each other through the hub
        # without the relay. secc's own traffic uses the relay addresses.
        ip -n "$ns" route add default via "10.231.$r.1"
        if [ -n "$rate" ]; then
            ip netns exec "$ns" tc qdisc add dev "nb-r$r" root tbf rate "$rate" burst "$burst" limit 4mb
            ip netns exec "$hub" tc qdisc add dev "nb-h$r" root tbf rate "$rate" burst "$burst" limit 4mb
        fi
    done
}

# The keygen config with party addresses as seen from role $1 (0-2 party, 3 client).
config_for() {
    local me="$1"
    awk -v me="$me" '
        /^\[\[party\]\]/ { in_party = 1 }
        in_party && /^id = / { id = $3 }
        in_party && /^addr = / {
            if (id == me) addr = "10.231." id ".2:7000"
            else addr = "10.231." me ".1:" (7100 + id)
            print "addr = \"" addr "\""
            next
        }
        { print }
    ' "$work/keys/parties.toml"
}

wait_for_line() { # file pattern seconds pid
    local i
    for ((i = 0; i < $3 * 10; i++)); do
        grep -q "$2" "$1" 2>/dev/null && return 0
        kill -0 "$4" 2>/dev/null || { echo "netns.sh: process for $1 exited:" >&2; tail -5 "$1" >&2; return 1; }
        sleep 0.1
    done
    echo "netns.sh: timed out waiting for '$2' in $1" >&2
    return 1
}

cpu_seconds() { # pid: user+system CPU seconds so far
    awk -v hz="$(getconf CLK_TCK)" '{ print ($14 + $15) / hz }' "/proc/$1/stat" 2>/dev/null || echo "?"
}

setting_params() { # sets rate and delay_ms for setting $1
    case "$1" in
    # The token bucket lets about 0.5 ms of line rate pass at once after an idle period.
    local) rate=""; delay_ms=0; burst="" ;;
    lan) rate="1gbit"; delay_ms=0.5; burst="${NB_BURST:-64kb}" ;;
    wan) rate="200mbit"; delay_ms=20; burst="${NB_BURST:-16kb}" ;;
    *) echo "netns.sh: unknown setting $1 (local, lan, wan)" >&2; exit 2 ;;
    esac
}

in_ns() { local ns="$1"; shift; ip netns exec "$ns_prefix-$ns" "$@"; }

if [ "$probe" = 1 ]; then
    for setting in $settings; do
        setting_params "$setting"
        out="$work/probe-$setting"
        rm -rf "$out" && mkdir -p "$out"
        case "$setting" in local) bytes=2000000000 ;; lan) bytes=500000000 ;; *) bytes=100000000 ;; esac
        make_topology "$rate"
        ip netns exec "$hub" "$bin_dir/netbench-relay" relay --delay-ms "$delay_ms" \
            --map 0.0.0.0:9100=10.231.0.2:9000 --map 0.0.0.0:9101=10.231.0.2:9001 \
            >"$out/relay.out" 2>"$out/relay.log" &
        started_pids+=($!)
        wait_for_line "$out/relay.out" ready 10 "$!"
        in_ns p0 "$bin_dir/netbench-relay" echo --listen 10.231.0.2:9001 >"$out/echo.out" 2>&1 &
        started_pids+=($!)
        wait_for_line "$out/echo.out" ready 10 "$!"
        echo "== probe $setting: rate ${rate:-unlimited}, one-way delay $delay_ms ms, load $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$work/probe.txt"
        echo -n "  RTT through the relay: " | tee -a "$work/probe.txt"
        in_ns p1 "$bin_dir/netbench-relay" ping --to 10.231.1.1:9101 --count 200 | tee -a "$work/probe.txt"
        for path in relay direct; do
            in_ns p0 "$bin_dir/netbench-relay" sink --listen 10.231.0.2:9000 >"$out/sink.out" 2>&1 &
            started_pids+=($!)
            wait_for_line "$out/sink.out" ready 10 "$!"
            if [ "$path" = relay ]; then to=10.231.1.1:9100; else to=10.231.0.2:9000; fi
            relay_cpu0="$(cpu_seconds "${started_pids[0]}")"
            echo -n "  bulk P1 -> P0 ($path): " | tee -a "$work/probe.txt"
            in_ns p1 "$bin_dir/netbench-relay" send --to "$to" --bytes "$bytes" | tee -a "$work/probe.txt"
            if [ "$path" = relay ]; then
                echo "    relay CPU: $(awk -v a="$(cpu_seconds "${started_pids[0]}")" -v b="$relay_cpu0" 'BEGIN { printf "%.2f", a - b }') s; $(tail -1 "$out/relay.log")" | tee -a "$work/probe.txt"
            fi
            wait "${started_pids[-1]}" || true
        done
        cleanup
    done
    exit 0
fi

# One-time: keys and shares (the model owner's and the coordinator's steps).
if [ ! -f "$work/keys/parties.toml" ]; then
    "$bin_dir/secc" keygen --out-dir "$work/keys" \
        --addr 10.231.0.2:7000 --addr 10.231.1.2:7000 --addr 10.231.2.2:7000
fi
# Generous timeouts: a party can wait for a slow peer's compute on this shared machine.
sed -i -e 's/^recv_timeout_s = .*/recv_timeout_s = 900/' -e 's/^connect_timeout_s = .*/connect_timeout_s = 120/' "$work/keys/parties.toml"
grep -q '^recv_timeout_s' "$work/keys/parties.toml" || sed -i '1i recv_timeout_s = 900\nconnect_timeout_s = 120' "$work/keys/parties.toml"
stem="$(basename "$model" .secc)"
if [ ! -f "$work/deploy/$stem.p2.shares" ]; then
    "$bin_dir/secc" share "$model" --out-dir "$work/deploy"
fi
program="$work/deploy/$stem.party.secc"

[ -f "$work/results.tsv" ] || printf 'setting\trate\tdelay_ms\twall_s\tclient_wall_s\trounds\tbytes_p0\tbytes_p1\tbytes_p2\tcpu_p0_s\tcpu_p1_s\tcpu_p2_s\tcpu_relay_s\tload_before\tload_after\tcommit\tdate\n' >"$work/results.tsv"

for setting in $settings; do
    setting_params "$setting"
    out="$work/$setting"
    rm -rf "$out" && mkdir -p "$out"
    echo "== $setting: rate ${rate:-unlimited}, one-way delay ${delay_ms} ms" >&2
    make_topology "$rate"
    for r in 0 1 2 3; do config_for "$r" >"$out/${roles[$r]}.toml"; done

    ip netns exec "$hub" "$bin_dir/netbench-relay" relay --delay-ms "$delay_ms" \
        --map 0.0.0.0:7100=10.231.0.2:7000 --map 0.0.0.0:7101=10.231.1.2:7000 \
        --map 0.0.0.0:7102=10.231.2.2:7000 >"$out/relay.out" 2>"$out/relay.log" &
    relay_pid=$!
    started_pids+=("$relay_pid")
    wait_for_line "$out/relay.out" ready 10 "$relay_pid"

    party_pids=()
    for p in 0 1 2; do
        ip netns exec "$ns_prefix-p$p" "$bin_dir/secc-party" --id "$p" --config "$out/p$p.toml" \
            --key "$work/keys/p$p.key" --program "$program" \
            --shares "$work/deploy/$stem.p$p.shares" 2>"$out/p$p.log" &
        party_pids+=($!)
        started_pids+=($!)
    done
    for p in 0 1 2; do wait_for_line "$out/p$p.log" "listening on" 900 "${party_pids[$p]}"; done

    load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
    cpu_before=()
    for p in 0 1 2; do cpu_before+=("$(cpu_seconds "${party_pids[$p]}")"); done
    relay_cpu_before="$(cpu_seconds "$relay_pid")"
    t0=$(date +%s.%N)
    ip netns exec "$ns_prefix-cl" "$bin_dir/secc" client "$program" --config "$out/cl.toml" \
        --key "$work/keys/client.key" --input "$input" --json >"$out/client.json" 2>"$out/client.log"
    t1=$(date +%s.%N)
    load_after="$(cut -d' ' -f1-3 /proc/loadavg)"
    cpu=()
    for p in 0 1 2; do
        c="$(cpu_seconds "${party_pids[$p]}")"
        cpu+=("$(awk -v a="$c" -v b="${cpu_before[$p]}" 'BEGIN { if (a == "?" || b == "?") print "?"; else printf "%.2f", a - b }')")
    done
    relay_cpu="$(awk -v a="$(cpu_seconds "$relay_pid")" -v b="$relay_cpu_before" 'BEGIN { printf "%.2f", a - b }')"
    # SIGTERM: a party finishes its request, prints its summary and exits 0.
    for p in 0 1 2; do kill -TERM "${party_pids[$p]}" 2>/dev/null || true; done
    for p in 0 1 2; do wait "${party_pids[$p]}" || echo "netns.sh: party $p exited non-zero" >&2; done
    wall="$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')"
    read -r client_wall rounds b0 b1 b2 < <(python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
print("%.3f" % r["wall_s"], r["rounds"], *r["bytes_sent"])' "$out/client.json" 2>/dev/null || echo "? ? ? ? ?")
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$setting" "${rate:-none}" \
        "$delay_ms" "$wall" "$client_wall" "$rounds" "$b0" "$b1" "$b2" "${cpu[0]}" "${cpu[1]}" "${cpu[2]}" "$relay_cpu" \
        "$load_before" "$load_after" "$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo ?)" \
        "$(date -u +%FT%TZ)" | tee -a "$work/results.tsv"
    tail -1 "$out/relay.log" >&2 || true
    cleanup
done
