#!/usr/bin/env bash
# The GPU check of issue 16 item 3, for a session that has one CUDA GPU: under 8 minutes on an H200.
#
#   bash bench/gpu_check.sh            # PY=python OUT=bench/gpu-check STEPS=20 by default
#
# 1. the sft job stage by stage (bench.sft_stages): data builds, then ms/step of the pretraining and
#    the fine-tuning stages with their FLOPs (50 s at most);
# 2. the sft job as the issue ran it: `python -m mmlab.train sft --scale gpu --set max_steps=200`,
#    whose 2,000 pretraining steps come before the 200 fine-tuning steps (80 s at most);
# 3. every job's gpu preset for STEPS timed steps without torch.compile (python -m bench, 220 s at most);
# 4. gpt and sft with torch.compile (80 s at most).
# Each part has its own time limit, so the whole stays under 8 minutes even if one part hangs; rows
# are printed as they come, so a part cut short still leaves its finished rows in its log.
# Everything goes to OUT: one log per part, and results-gpu.json / RESULTS-gpu.md per bench run.
set -u
cd "$(dirname "$0")/.."
PY=${PY:-python}
OUT=${OUT:-bench/gpu-check}
STEPS=${STEPS:-20}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" OMP_NUM_THREADS=${OMP_NUM_THREADS:-4}
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
export PYTHONHASHSEED=0 MPLBACKEND=Agg
start=$SECONDS

part() {  # part NAME LIMIT_S COMMAND...: run COMMAND under a time limit, logging to OUT/NAME.log
  local name=$1 limit=$2
  shift 2
  echo "== [$((SECONDS - start)) s] $name: $* (limit $limit s)"
  timeout --kill-after=10 "$limit" "$@" > "$OUT/$name.log" 2>&1
  local status=$?
  tail -n 25 "$OUT/$name.log"
  echo "== [$((SECONDS - start)) s] $name: exit $status$([ $status -eq 124 ] && echo ' (time limit)')"
}

"$PY" -c "import torch; assert torch.cuda.is_available(); print(torch.__version__, torch.cuda.get_device_name())" 2> /dev/null \
  || { echo "bench/gpu_check.sh needs a CUDA GPU; on a CPU run: python -m bench"; exit 1; }
mkdir -p "$OUT/eager" "$OUT/compiled"
nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv > "$OUT/gpu.txt" 2>&1

part sft_stages 50 "$PY" -m bench.sft_stages --scale gpu --device cuda --steps 50 --warmup 5
part sft_cli 80 "$PY" -m mmlab.train sft --scale gpu --set max_steps=200 --out "$OUT/sft-run"
part all_jobs_eager 220 "$PY" -m bench --scale gpu --compile off --steps "$STEPS" --out "$OUT/eager"
part compiled 80 "$PY" -m bench --scale gpu --compile on --steps "$STEPS" --jobs gpt sft --out "$OUT/compiled"
echo "== done in $((SECONDS - start)) s; logs and tables in $OUT"
