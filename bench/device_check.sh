#!/usr/bin/env bash
# The CUDA path's checks in one bounded run, for a session lent a GPU (the device tool's
# `run`, from the repository root; logs and tables under $OUT, default ./device_out).
# Needs python3 with torch (CUDA), numpy, scipy, threadpoolctl, tqdm and pytest; pymatting
# for the closed-form baseline of the 1080p plate (pure Python: carry its wheel, e.g.
# `pip download --no-deps pymatting` into a folder carried as .whl). Each step is bounded,
# so one that hangs costs its own limit only. About 8 minutes in all.
set -u
OUT="${OUT:-device_out}"
mkdir -p "$OUT"
export PYTHONPATH="$PWD/python:$PWD/bench${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
if ls .whl/*.whl > /dev/null 2>&1; then
    python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl \
        && export PYTHONPATH="$PYTHONPATH:/tmp/site"
fi
nvidia-smi -L
python3 -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name(0))"
step() {
    local limit=$1 name=$2 start=$SECONDS
    shift 2
    echo "== $name"
    timeout "$limit" "$@" > "$OUT/$name.log" 2>&1
    echo "rc=$? $name $((SECONDS - start)) s"
    tail -n 20 "$OUT/$name.log"
}
step 120 tests python3 -m pytest -q -p no:cacheprovider tests/test_batched_fit.py tests/test_matte.py -k "cuda or batch"
step 90 step python3 bench/profile_step.py --device cuda --size 256 --steps 10 --no-compile --batches 1 4 16 \
    --markdown "$OUT/profile_cuda.md"
step 150 plate_draft python3 bench/bench_plate.py --preset draft --device cuda --sizes 1920x1080 \
    --markdown "$OUT/plate_draft_1080.md"
step 150 plate_draft_4k python3 bench/bench_plate.py --preset draft --device cuda --sizes 3840x2160 --no-baseline \
    --markdown "$OUT/plate_draft_4k.md"
