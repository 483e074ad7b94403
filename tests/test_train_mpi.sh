#!/bin/sh
# Data-parallel training with Open MPI: `mpirun -np 2 penny-mpi train` with
# the same global batch must reproduce the single-process run: the same
# train and eval loss at every step within 1e-3 nats (float summation order
# differs: each rank sums half the batch, then the all-reduce adds them), and
# exported models of both runs load. Skipped only when mpicc is absent (then
# make does not build penny-mpi); CI installs Open MPI, so it runs there.
set -u
B=${PENNY_BUILD:-build}
if [ ! -x "$B/penny-mpi" ]; then
    if command -v mpicc >/dev/null; then echo "FAILED: mpicc exists but $B/penny-mpi was not built"; exit 1; fi
    echo "SKIP: no Open MPI (apt-get install openmpi-bin libopenmpi-dev)"; exit 0
fi
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fails=0
ok() { echo "ok: $1"; }
bad() { echo "FAILED: $1"; fails=$((fails + 1)); }

cat src/train/*.c include/penny.h > "$T/corpus.txt"
"$B/penny" train-tokenizer --vocab 400 -o "$T/tok.gguf" "$T/corpus.txt" 2>/dev/null &&
    "$B/penny" train-prepare -t "$T/tok.gguf" -o "$T/data.tok" "$T/corpus.txt" 2>/dev/null || { bad "data"; exit 1; }
ARGS="--tokenizer $T/tok.gguf --data $T/data.tok --dim 32 --n_layer 2 --n_head 4 --n_kv_head 2
      --seq_len 32 --batch 8 --accum 2 --steps 60 --lr 2e-3 --eval_every 10 --eval_batches 2
      --seed 3 --threads 1 --ckpt_every 0"
# shellcheck disable=SC2086
"$B/penny" train $ARGS --out "$T/one" --export "$T/one.gguf" > "$T/one.out" 2> "$T/one.err" || { bad "single run: $(tail -2 "$T/one.err")"; exit 1; }
# Root in CI: Open MPI wants --allow-run-as-root; 2 ranks on 2 cores: --oversubscribe
# in case fewer slots are detected. Leak checking is off for Open MPI's own allocations.
export OMPI_MCA_rmaps_base_oversubscribe=1 ASAN_OPTIONS=detect_leaks=0
# shellcheck disable=SC2086
if timeout 300 mpirun --allow-run-as-root --oversubscribe -np 2 "$B/penny-mpi" train $ARGS \
        --out "$T/two" --export "$T/two.gguf" > "$T/two.out" 2> "$T/two.err"; then
    ok "mpirun -np 2 ran: $(grep 'final step' "$T/two.out")"
    grep -q "processes 2," "$T/two.out" && ok "two ranks took part" || bad "not 2 ranks: $(cat "$T/two.out")"
else
    bad "mpirun -np 2 failed: $(tail -5 "$T/two.err")"; exit 1
fi
# Compare the curves column by column (train loss, eval loss).
if awk -F, 'NR == FNR { a[FNR] = $0; next }
            FNR > 1 { split(a[FNR], x, ","); n++
                      d = x[2] - $2; if (d < 0) d = -d; if (d > m) m = d
                      if ($5 != "") { d = x[5] - $5; if (d < 0) d = -d; if (d > m) m = d; e++ } }
            END { printf "%d steps, %d evals, max difference %.2e\n", n, e, m; exit !(n == 60 && e == 6 && m < 1e-3) }' \
        "$T/one/loss.csv" "$T/two/loss.csv" > "$T/cmp.txt"; then
    ok "loss curves match: $(cat "$T/cmp.txt")"
else
    bad "loss curves differ: $(cat "$T/cmp.txt")"
fi
"$B/penny" run -m "$T/two.gguf" -p "static" -n 8 --temp 0 > /dev/null 2>&1 && ok "the MPI run's export runs" || bad "export of the MPI run"
[ "$fails" -eq 0 ] && echo "test_train_mpi: all passed" || echo "test_train_mpi: $fails failed"
[ "$fails" -eq 0 ]
