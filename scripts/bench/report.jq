# Shared jq helpers for the bench reports (`include "report";`).

# Rounds to two decimals.
def r(x): (x * 100 | round) / 100;

# "none" or "503: 4, timeout: 1".
def errs(e): e | to_entries | map("\(.key): \(.value)") | join(", ") | if . == "" then "none" else . end;

# Server CPU microseconds per request of an rps run.
def cpu_us(run): if run.requests > 0 then (run.server_cpu_s / run.requests * 1e6 | round) else null end;

# A markdown row for an rps run: title, connections, req/s, MB/s, latency,
# errors, server CPU, CPU per request, loadgen CPU.
def rps_row($title; $run):
  "| \($title) | \($run.connections) | \($run.requests_per_s | round) | \(r($run.mbytes_per_s)) | \($run.latency_ms_p50) / \($run.latency_ms_p99) / \($run.latency_ms_max) | \(errs($run.errors)) | \($run.server_cpu_s) | \(cpu_us($run)) | \($run.loadgen_cpu_s) |";

def rps_header:
  "| server | connections | req/s | MB/s | latency p50 / p99 / max (ms) | errors | server CPU (s) | server CPU per request (µs) | loadgen CPU (s) |",
  "|---|---|---|---|---|---|---|---|---|";

# Ratio of two numbers, two decimals, or "n/a".
def ratio(a; b): if (b // 0) > 0 then r(a / b) else "n/a" end;

# The machine line every section starts with.
def machine: "Machine: \(.host), \(.cpu), \(.cores) cores; commit \(.commit)\(if .quick then "; quick run" else "" end).";
