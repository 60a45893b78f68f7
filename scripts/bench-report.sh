#!/usr/bin/env bash
# Issue 25's report benchmark: `gpuleak report --format json` as a whole process on a generated
# 10-million-event trace with native stacks, against the goal of 20 M events/s, memory bounded.
#
#   scripts/bench-report.sh [--events N] [--runs N]
#
# Builds the release binary and the trace generator (analysis/examples/synth_trace.rs: a sampler's
# shape, 101 sites with 16-frame native stacks, 499 scratch pairs and a 1 MiB leak per step),
# writes the trace once under target/bench/ (kept: the generator takes longer than a report; it
# ends at a step boundary, so it holds up to 998 events more than N, counted as N), then
# runs the report one warm-up and N counted times (default 5) under /usr/bin/time. Prints each
# run's wall time and maximum resident set, the median, events per second and the goal. The
# machine's noise shows in the spread between runs: quote the median.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
events=10000000
runs=5
while [ $# -gt 0 ]; do
    case "$1" in
        --events) events="${2:?--events needs a number}"; shift ;;
        --runs) runs="${2:?--runs needs a number}"; shift ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "bench-report: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done
[ -x /usr/bin/time ] || { echo "bench-report: /usr/bin/time is needed (package: time)" >&2; exit 2; }
say() { echo "bench-report: $*"; }

cd "$root"
say "building the release gpuleak and the trace generator"
cargo build --release --quiet -p gpuleak
cargo build --release --quiet -p gpuleak-analysis --example synth_trace
gpuleak="$root/target/release/gpuleak"
dir="$root/target/bench"
trace="$dir/synth-$events.trace"
mkdir -p "$dir"
# The generator's shape is part of what is measured: a trace older than it is written again.
if [ ! -s "$trace" ] || [ "$trace" -ot "$root/target/release/examples/synth_trace" ]; then
    say "writing $trace ($events events)"
    "$root/target/release/examples/synth_trace" "$trace.partial" "$events"
    mv "$trace.partial" "$trace"
fi
say "trace: $trace, $(($(stat -c %s "$trace") / 1000000)) MB"

times="$dir/report-times.txt"
: >"$times"
for i in $(seq 0 "$runs"); do
    # Run 0 is the warm-up: it reads the trace into the page cache.
    /usr/bin/time -f '%e %M' -o "$dir/report-time.txt" \
        "$gpuleak" report --format json -o "$dir/report.json" "$trace"
    read -r wall rss <"$dir/report-time.txt"
    if [ "$i" = 0 ]; then
        say "warm-up: ${wall} s, ${rss} KiB max RSS"
    else
        say "run $i: ${wall} s, ${rss} KiB max RSS"
        echo "$wall $rss" >>"$times"
    fi
done

python3 - "$times" "$events" <<'EOF'
import statistics, sys
rows = [tuple(map(float, line.split())) for line in open(sys.argv[1])]
events = int(sys.argv[2])
walls = sorted(w for w, _ in rows)
rss = max(r for _, r in rows) / 1024
med = statistics.median(walls)
rate = events / med / 1e6
print(f"bench-report: {events:,} events, wall median {med:.2f} s (min {walls[0]:.2f}, max {walls[-1]:.2f}, {len(walls)} runs)")
print(f"bench-report: {rate:.1f} M events/s (goal >= 20 M events/s: {'met' if rate >= 20 else f'{20 / rate:.1f}x short'}), max RSS {rss:.1f} MiB")
EOF
