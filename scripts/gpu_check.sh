#!/usr/bin/env bash
# One short GPU run: the cuda-marked tests, then timed NB201 search epochs with each runtime option.
#   bash scripts/gpu_check.sh            (results in $OUT/gpu_check.json and $OUT/cuda_tests.txt if $OUT is set)
# Installs nothing but pyronas itself (--no-deps; torch is already there). Budget: at most 8 minutes
# on an H100/H200 (tests <= 2 min, epochs <= 2.5 min, compile <= 3.5 min, each under its own timeout).
set -euo pipefail
export PYTHONUNBUFFERED=1
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
OUTDIR=${OUT:-}
$PY -m pip install -q -e . --no-deps --no-build-isolation || { echo "pip install failed; using PYTHONPATH"; export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}; }
$PY -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else '')"

echo "== cuda tests"
set +e
timeout 120 $PY -m pytest -q -m cuda -p no:cacheprovider tests/test_runtime.py 2>&1 | tee ${OUTDIR:+$OUTDIR/cuda_tests.txt}
echo "cuda tests exit status: ${PIPESTATUS[0]}"
set -e

echo "== timed NB201 search epochs (extrapolated from timed steps)"
timeout 150 $PY scripts/bench/gpu_epoch.py --device cuda --steps 40 --warmup 5 \
  --options official fp32 bf16 fp16 channels_last bf16_channels_last checkpoint_cells \
  ${OUTDIR:+--json "$OUTDIR/gpu_check.json"} || echo "gpu_epoch.py exit status $? (partial results kept in the JSON)"
echo "== torch.compile (its own window: the inductor warm-up compiles both levels' graphs)"
timeout 200 $PY scripts/bench/gpu_epoch.py --device cuda --steps 40 --warmup 3 --options compile compile_bf16 \
  ${OUTDIR:+--json "$OUTDIR/gpu_check_compile.json"} || echo "gpu_epoch.py (compile) exit status $? (partial results kept)"
