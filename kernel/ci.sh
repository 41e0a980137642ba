#!/usr/bin/env bash
# The kernel oracle in CI (`npm run test:kernel`): build or reuse the cached kernel, run the real
# kernel's 58 HMM self-test instances beside hmmsim's, every example scenario without threads on
# both, the regression scenarios of kernel/regressions, and a fuzz batch. Fails (never skips) when anything is missing or disagrees.
# `--without-fuzz` leaves the fuzz batch out and says so. HMMSIM_FUZZ_COUNT and HMMSIM_FUZZ_SEED
# choose the batch (200 scenarios, seed 1: what .ci/run runs).
set -euo pipefail
fuzz=1
case "${1:-}" in
  '') ;;
  --without-fuzz) fuzz=0 ;;
  *)
    echo "usage: kernel/ci.sh [--without-fuzz]" >&2
    exit 2
    ;;
esac
cd "$(dirname "$0")/.."
hmmsim() { node bin/hmmsim.mjs "$@"; }
start=$SECONDS
passed=0
failed=0
step() {
  local what=$1
  shift
  local t=$SECONDS
  echo "=== $what"
  if "$@"; then
    passed=$((passed + 1))
    echo "=== $what: ok ($((SECONDS - t)) s)"
  else
    failed=$((failed + 1))
    echo "=== $what: FAILED ($((SECONDS - t)) s)"
  fi
}
hmmsim kernel build
step 'selftest --kernel' hmmsim selftest --kernel
for f in examples/scenarios/*.json; do
  if grep -q '"op": *"threads"' "$f"; then
    # Interleavings cannot be reproduced on a real kernel: the runner refuses threads.
    echo "=== $f: has concurrent threads, not comparable on the kernel (see docs/kernel-oracle.md)"
    continue
  fi
  step "run --kernel $f" hmmsim run --kernel "$f"
done
# Divergences the fuzzer and hand-written scenarios found, fixed since: replayed on the kernel.
for f in kernel/regressions/*.json; do
  step "run --kernel $f" hmmsim run --kernel "$f"
done
if ((fuzz)); then
  step "kernel fuzz --count ${HMMSIM_FUZZ_COUNT:-200}" hmmsim kernel fuzz --count "${HMMSIM_FUZZ_COUNT:-200}" \
    --seed "${HMMSIM_FUZZ_SEED:-1}" --out "${TMPDIR:-/tmp}/hmmsim-fuzz-divergence.json"
else
  echo "=== kernel fuzz: not run (--without-fuzz)"
fi
echo "kernel oracle: $((SECONDS - start)) s"
echo "$passed passed, $failed failed"
((failed == 0))
