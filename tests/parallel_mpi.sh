#!/usr/bin/env bash
# parallel_mpi.sh RFDETR MPIRUN — data-parallel training over MPI ranks on
# this machine (two PoCL devices, POCL_DEVICES="pthread pthread"):
#   1. mpirun -np 2 with one device per rank ('/' groups: rank 0 takes
#      opencl:0, rank 1 opencl:1) equals the in-process two-device run bit
#      for bit (checkpoints, training state, log.jsonl without its times);
#   2. SIGKILL of rank 1 during epoch 2 ends the job non-zero within the
#      bound, and --resume from the intact epoch-1 checkpoint finishes the
#      run equal to the uninterrupted one;
#   3. a hung rank (SIGSTOP) stops the other within --comm-timeout with a
#      message naming the rank, its device and the step, never a hang;
#   4. SIGINT to one rank stops every rank at the same step with a
#      resumable state, and --resume finishes the run equal;
#   5. rank 0 alone makes the run directory: without --out both ranks use
#      the one runs/train, and an --out holding a run is refused untouched.
# Exits 77 (skipped) when the build has no MPI or there are not two devices.
set -uo pipefail
rfdetr=$1
mpirun=${2:-}
if [ -z "$mpirun" ]; then
    echo "test_parallel_mpi: skipped: this build has no MPI (install libopenmpi-dev and openmpi-bin, reconfigure)"
    exit 77
fi
if ! "$rfdetr" devices --device opencl:1 >/dev/null 2>&1; then
    echo "test_parallel_mpi: skipped: needs two OpenCL devices (POCL_DEVICES=\"pthread pthread\" with PoCL)"
    exit 77
fi
work=$(mktemp -d /tmp/rfdetr_mpi_XXXXXX)
failed=0
fail() {
    echo "FAIL: $*" >&2
    failed=1
}
mpi=("$mpirun" --allow-run-as-root --oversubscribe -np 2)
common=(--data "$work/data" --model tiny --resolution 128 --batch 4 --warmup-steps 2 --eval-batch 4 --seed 7)

"$rfdetr" make-shapes "$work/data" --train 20 --valid 8 --test 0 --size 128 --seed 3 >/dev/null || fail "make-shapes"

same_run() { # dir dir what
    for f in checkpoint.safetensors training_state.safetensors checkpoint_best_ema.safetensors; do
        cmp -s "$1/$f" "$2/$f" || fail "$3: $f differs"
    done
    if ! cmp -s <(sed 's/"epoch_time":[^,}]*//g' "$1/log.jsonl") <(sed 's/"epoch_time":[^,}]*//g' "$2/log.jsonl"); then
        fail "$3: log.jsonl differs"
    fi
}

# The pid of rank $2 among the children of mpirun $1 (Open MPI starts local ranks itself).
rank_pid() {
    for p in $(pgrep -P "$1"); do
        if tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=$2"; then
            echo "$p"
            return
        fi
    done
}

# Waits until epoch 1 is fully written in $1 (the training state is the last file).
wait_epoch1() {
    for _ in $(seq 1 3000); do
        [ -f "$1/training_state.safetensors" ] && return 0
        sleep 0.2
    done
    return 1
}

# 1. equal to the in-process run
"$rfdetr" train "${common[@]}" --epochs 2 --device opencl:0,opencl:1 --out "$work/local" >"$work/local.log" 2>&1 ||
    fail "in-process two-device run: $(tail -3 "$work/local.log")"
"${mpi[@]}" "$rfdetr" train "${common[@]}" --epochs 2 --device opencl:0/opencl:1 --out "$work/mpi" >"$work/mpi.log" 2>&1 ||
    fail "mpirun -np 2: $(tail -5 "$work/mpi.log")"
same_run "$work/local" "$work/mpi" "mpirun -np 2 vs two devices in one process"
grep -q "opencl:0 (rank 0), opencl:1 (rank 1)" "$work/mpi.log" || fail "the start message does not name both ranks' devices"

# 2. SIGKILL of rank 1 during epoch 2
bound=30
"${mpi[@]}" "$rfdetr" train "${common[@]}" --epochs 2 --device opencl:0/opencl:1 --comm-timeout $bound \
    --out "$work/killed" >"$work/killed.log" 2>&1 &
job=$!
if wait_epoch1 "$work/killed"; then
    victim=$(rank_pid $job 1)
    [ -n "$victim" ] || fail "rank 1 not found among the children of mpirun"
    start=$(date +%s)
    kill -9 "$victim"
    wait $job
    rc=$?
    took=$(($(date +%s) - start))
    [ $rc -ne 0 ] || fail "mpirun exited 0 after rank 1 was killed"
    [ $took -le $((bound + 15)) ] || fail "the job took $took s to end after rank 1 was killed (bound $bound s)"
    echo "killed rank 1: mpirun exited $rc after $took s"
    "${mpi[@]}" "$rfdetr" train "${common[@]}" --epochs 2 --device opencl:0/opencl:1 --resume "$work/killed" \
        >"$work/resumed.log" 2>&1 || fail "--resume after the kill: $(tail -5 "$work/resumed.log")"
    same_run "$work/local" "$work/killed" "killed at epoch 2 and resumed"
else
    fail "epoch 1 never finished: $(tail -5 "$work/killed.log")"
    kill -9 $job 2>/dev/null
fi

# 3. a hung rank
bound=10
"${mpi[@]}" "$rfdetr" train "${common[@]}" --epochs 2 --device opencl:0/opencl:1 --comm-timeout $bound \
    --out "$work/hung" >"$work/hung.log" 2>&1 &
job=$!
if wait_epoch1 "$work/hung"; then
    victim=$(rank_pid $job 1)
    start=$(date +%s)
    kill -STOP "$victim"
    # (away from ctest's output pipe, which it would hold open while it sleeps)
    ( sleep $((bound + 60)); kill -9 $job "$victim" ) >/dev/null 2>&1 &
    guard=$!
    wait $job
    rc=$?
    took=$(($(date +%s) - start))
    kill $guard 2>/dev/null
    kill -9 "$victim" 2>/dev/null
    [ $rc -ne 0 ] || fail "mpirun exited 0 with rank 1 stopped"
    [ $took -le $((bound + 30)) ] || fail "rank 0 took $took s to give up on the stopped rank 1 (bound $bound s)"
    grep -q "at step [0-9]*: rank 0 waited .* for rank 1 during .*rank 1 opencl:1" "$work/hung.log" ||
        fail "no message naming the step, rank 1 and its device: $(tail -5 "$work/hung.log")"
    echo "stopped rank 1: rank 0 gave up after $took s: $(grep -m1 'for rank 1' "$work/hung.log")"
else
    fail "epoch 1 never finished (hang run): $(tail -5 "$work/hung.log")"
    kill -9 $job 2>/dev/null
fi

# 4. SIGINT to one rank: every rank stops at the same step, rank 0 saves, --resume finishes it equal
"${mpi[@]}" "$rfdetr" train "${common[@]}" --epochs 2 --device opencl:0/opencl:1 --out "$work/int" >"$work/int.log" 2>&1 &
job=$!
if wait_epoch1 "$work/int"; then
    kill -INT "$(rank_pid $job 1)"
    wait $job
    grep -q "rank 0: stopped: interrupted at step" "$work/int.log" || fail "rank 0 did not stop with rank 1: $(tail -5 "$work/int.log")"
    "${mpi[@]}" "$rfdetr" train "${common[@]}" --epochs 2 --device opencl:0/opencl:1 --resume "$work/int" \
        >"$work/int2.log" 2>&1 || fail "--resume after SIGINT: $(tail -5 "$work/int2.log")"
    same_run "$work/local" "$work/int" "interrupted by SIGINT to rank 1 and resumed"
else
    fail "epoch 1 never finished (SIGINT run): $(tail -5 "$work/int.log")"
    kill -9 $job 2>/dev/null
fi

# 5. the run directory is rank 0's: without --out the ranks share the one
#    runs/train it makes; a directory holding a run is refused (by rank 0,
#    which stops the job) and left as it was
short=(--epochs 1 --max-steps 1 --device opencl:0/opencl:1)
mkdir -p "$work/cwd"
(cd "$work/cwd" && "${mpi[@]}" "$rfdetr" train "${common[@]}" "${short[@]}" >"$work/noout.log" 2>&1) ||
    fail "mpirun -np 2 without --out: $(tail -5 "$work/noout.log")"
[ -f "$work/cwd/runs/train/run.json" ] && [ ! -e "$work/cwd/runs/train2" ] ||
    fail "without --out the ranks did not share runs/train: $(ls "$work/cwd/runs" 2>&1)"
before=$(md5sum "$work/local"/* | md5sum)
"${mpi[@]}" "$rfdetr" train "${common[@]}" "${short[@]}" --out "$work/local" >"$work/refused.log" 2>&1 &&
    fail "mpirun -np 2 --out over a run was not refused"
grep -q "holds a run already" "$work/refused.log" || fail "no refusal message: $(tail -5 "$work/refused.log")"
[ "$(md5sum "$work/local"/* | md5sum)" = "$before" ] || fail "the refused run changed $work/local"

if [ $failed -eq 0 ]; then
    rm -rf "$work"
    echo "test_parallel_mpi: passed"
else
    echo "kept $work for inspection" >&2
fi
exit $failed
