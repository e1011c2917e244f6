#!/usr/bin/env bash
# Fuzzing: N property-based cases per parser (default 1,000,000) against everything shipgate
# reads from outsiders — the webhook envelope, event decoding and routing (GitHub's published
# examples with values replaced, removed and bytes spoiled), the slash-command parser, the
# configuration parser (the documented defaults with lines rewritten) and the Markdown
# readers (task lists, sections, closing keywords, the plan and its ticks). Release build;
# prints cases, time and cases/s per parser, and the smallest failing input if one fails.
#
# Usage: bench/fuzz.sh [N]
set -euo pipefail
cd "$(dirname "$0")/.."
N="${1:-1000000}"
# The test harness prints "test <name> ... " before a test's own output: keep what follows.
SHIPGATE_FUZZ_CASES="$N" cargo test --release --quiet --test fuzz -- --nocapture --test-threads=1 2>&1 |
  grep -oE 'fuzz [a-z]+: .*|panicked.*|minimal failing input.*|test result.*'
