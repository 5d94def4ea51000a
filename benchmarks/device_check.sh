#!/usr/bin/env bash
# One-shot GPU check: one prepared script for the first time a CUDA machine is at hand.
#
#   bash benchmarks/device_check.sh [--data-root DIR] [--json PATH] [--budget SECONDS] [--smoke] [--no-install]
#
# From the repository root (any folder works), it runs these stages in order:
#   setup            torch present? (else pip install torch==2.14.1 torchvision==0.29.1), pip install -e .
#   environment      python, torch, CUDA, the GPUs' names and memory, the CPU, the driver
#   data             MNIST found under the data root (60,000 + 10,000 images)
#   cuda_tests       pytest -m cuda                                                         [CUDA]
#   throughput_*     benchmarks/throughput.py, 50 steps: fp32 (TF32 matmuls), bf16           [CUDA]
#   train            the default `infogan train` on MNIST (10 epochs), wall clock and the time of each epoch
#   evaluate         `infogan evaluate --json` on its checkpoint (trains the reference classifier first)
#   evaluate_cached  the same again, with the classifier cached
#   time_to_accuracy benchmarks/time_to_accuracy.py: minutes to 90/95/97% Q accuracy (train split)
#   throughput_compile, throughput_cudagraphs   --compile, --compile-mode reduce-overhead  [CUDA]
#   torchrun_nccl    2 processes under torchrun (NCCL), 300 steps                   [two CUDA devices]
# On a machine without CUDA the [CUDA] stages, and (without --smoke) the full MNIST training, are
# recorded as skipped with the reason. --smoke makes every stage that runs tiny: the fake dataset,
# a few steps (tests/test_device_check.py runs it on the CPU).
#
# Each stage has its own time limit and records its status (ok, failed, timeout or skipped with a
# reason), its seconds and its figures; a failed stage never stops the script. The JSON file (default
# $OUT/device_check.json when $OUT is set, else ./device_check.json) is rewritten after every stage,
# so a run cut short keeps what it measured; every stage's output goes to the .log beside it.
# Targets (issue #19) on an H100/H200-class GPU: a full MNIST epoch <= 2 s; the default 10-epoch
# training plus evaluate <= 1 minute. Exit code: 0 when no stage failed or timed out, else 1.

set -u -o pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DATA_ROOT=${INFOGAN_DATA_ROOT:-}
JSON=${OUT:+$OUT/device_check.json}
JSON=${JSON:-$PWD/device_check.json}
BUDGET=540
SMOKE=0
INSTALL=1
WORK=""

usage() { sed -n '2,30p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

while (( $# )); do
  case $1 in
    --data-root) DATA_ROOT=${2:?--data-root needs a folder}; shift 2 ;;
    --json) JSON=${2:?--json needs a file path}; shift 2 ;;
    --budget) BUDGET=${2:?--budget needs seconds}; shift 2 ;;
    --work) WORK=${2:?--work needs a folder}; shift 2 ;;
    --smoke) SMOKE=1; shift ;;
    --no-install) INSTALL=0; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "error: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
[[ $BUDGET =~ ^[0-9]+$ ]] || { echo "error: --budget must be whole seconds, got $BUDGET" >&2; exit 2; }

if [[ -z $DATA_ROOT ]]; then  # the device machine carries the data as shared/ inside the checkout
  for candidate in "$REPO/shared/data/mnist" "$REPO/../shared/data/mnist"; do
    if [[ -d $candidate ]]; then DATA_ROOT=$(cd "$candidate" && pwd); break; fi
  done
  DATA_ROOT=${DATA_ROOT:-$REPO/shared/data/mnist}
fi
if command -v python3 >/dev/null; then PY=${PYTHON:-python3}; else PY=${PYTHON:-python}; fi
mkdir -p "$(dirname "$JSON")" || { echo "error: cannot create the folder of $JSON" >&2; exit 2; }
JSON=$(cd "$(dirname "$JSON")" && pwd)/$(basename "$JSON")
LOG=${JSON%.json}.log
WORK=${WORK:-$(mktemp -d "${TMPDIR:-/tmp}/device-check.XXXXXX")}
mkdir -p "$WORK"
: >"$LOG"
STARTED=$(date +%s)
DEADLINE=$(( STARTED + BUDGET ))
cd "$REPO" || exit 2
export REPO PY WORK DATA_ROOT SMOKE INSTALL
export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}"  # the package imports even where pip cannot install it
export INFOGAN_CACHE_DIR="$WORK/cache"                # a fresh reference classifier: evaluate's first-run cost
export PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONUNBUFFERED=1

# ----------------------------------------------------------------------------- the JSON record

# jsonrec init | stage NAME STATUS SECONDS REASON [FIGURES_FILE LOG_FILE RC FIGURES_LOG] | finish
JSONREC=$(cat <<'PY'
import json, os, socket, sys, time
from infogan_cli.cpu import cpu_model  # torch-free: this runs before the setup stage
path, command, args = sys.argv[1], sys.argv[2], sys.argv[3:]
doc = json.load(open(path)) if os.path.exists(path) and command != "init" else {}

def tail(log, lines=30):
    try:
        return open(log, errors="replace").read().splitlines()[-lines:]
    except OSError:
        return []

if command == "init":
    budget, smoke, data_root, work = args
    doc = {
        "schema": 1, "script": "benchmarks/device_check.sh", "mode": "smoke" if smoke == "1" else "full",
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "finished": None,
        "budget_seconds": int(budget), "host": socket.gethostname(),
        "device_name": cpu_model(), "device": None, "data_root": data_root, "work": work,
        "stages": {}, "targets": None, "summary": None,
    }
elif command == "stage":
    name, status, seconds, reason = args[:4]
    figures_file, log_file, rc, figures_log = (args[4:] + ["", "", "", ""])[:4]
    figures = None
    if figures_file and os.path.exists(figures_file):
        try:
            figures = json.load(open(figures_file))
        except ValueError as exc:
            figures, status, reason = None, "failed", reason or f"figures unreadable: {exc}"
    stage = {"status": status, "seconds": round(float(seconds), 3) if seconds else None,
             "reason": reason or None, "figures": figures}
    if rc:
        stage["exit_code"] = int(rc)
    if status in ("failed", "timeout") and log_file:
        stage["log_tail"] = tail(log_file)
    if figures is None and figures_log and tail(figures_log, 1):
        stage["figures_error"] = tail(figures_log, 3)
    doc["stages"][name] = stage
    if name == "environment" and status == "ok" and figures:
        doc["device"] = figures
        doc["device_name"] = figures.get("name") or doc["device_name"]
elif command == "finish":
    stages = doc["stages"]
    figures = lambda name: (stages.get(name) or {}).get("figures") or {}
    ok = lambda name: (stages.get(name) or {}).get("status") == "ok"
    full = doc["mode"] == "full"
    train, evaluate, cached = figures("train"), figures("evaluate"), figures("evaluate_cached")
    median_epoch = train.get("median_epoch_seconds") if ok("train") else None
    total = train.get("wall_seconds", 0) + evaluate.get("wall_seconds", 0) if ok("train") and ok("evaluate") else None
    total_cached = train.get("wall_seconds", 0) + cached.get("wall_seconds", 0) if ok("train") and ok("evaluate_cached") else None
    doc["targets"] = {
        "note": None if full else "smoke mode: a few steps on the fake set, not the default training; no target applies",
        "epoch_seconds": {"target": 2.0, "median": median_epoch, "first": train.get("first_epoch_seconds"),
                          "met": (median_epoch <= 2.0) if full and median_epoch is not None else None},
        "train_plus_evaluate_seconds": {"target": 60.0, "value": total, "value_cached_classifier": total_cached,
                                        "met": (total <= 60.0) if full and total is not None else None},
    }
    counts = {}
    for stage in stages.values():
        counts[stage["status"]] = counts.get(stage["status"], 0) + 1
    doc["summary"] = counts
    doc["finished"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    for name, stage in stages.items():
        why = f"  {stage['reason']}" if stage.get("reason") else ""
        seconds = f"{stage['seconds']:8.1f} s" if stage.get("seconds") is not None else " " * 10
        print(f"{name:24s} {stage['status']:8s} {seconds}{why}")
    print(f"device: {doc['device_name']}; {json.dumps(counts)}; figures in {path}")
tmp = path + ".tmp"
with open(tmp, "w") as handle:
    json.dump(doc, handle, indent=2)
    handle.write("\n")
os.replace(tmp, path)
PY
)
jsonrec() { "$PY" -c "$JSONREC" "$JSON" "$@"; }

elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }

# stage NAME LIMIT: run_NAME under its own time limit (cut to what is left of the budget), then
# figures_NAME if there is one; record the outcome. run_NAME may skip itself: write the reason to
# $STAGE_DIR/skip and exit 3.
stage() {
  local name=$1 limit=$2 left start rc status reason="" seconds
  left=$(( DEADLINE - $(date +%s) ))
  if (( left < 20 )); then
    skip "$name" "the time budget (--budget $BUDGET s) was spent"
    return 0
  fi
  (( limit > left )) && limit=$left
  export STAGE_DIR="$WORK/$name"
  mkdir -p "$STAGE_DIR"
  echo "== $name (limit ${limit} s)" >&2
  start=$(date +%s.%N)
  timeout --kill-after=10 "$limit" bash -c "run_$name" >"$STAGE_DIR/log" 2>&1
  rc=$?
  seconds=$(elapsed "$start" "$(date +%s.%N)")
  export STAGE_SECONDS=$seconds
  if (( rc == 0 )); then
    status=ok
  elif (( rc == 3 )) && [[ -f $STAGE_DIR/skip ]]; then
    status=skipped; reason=$(cat "$STAGE_DIR/skip")
  elif (( rc == 124 || rc == 137 )) && awk -v s="$seconds" -v l="$limit" 'BEGIN { exit !(s >= l - 1) }'; then
    status=timeout; reason="stopped at its ${limit} s limit"
  else
    status=failed; reason="exit code $rc"
  fi
  if declare -F "figures_$name" >/dev/null; then  # kept apart, so log_tail shows the command's own end
    timeout 60 bash -c "figures_$name" >"$STAGE_DIR/figures.log" 2>&1 || echo "figures_$name failed" >>"$STAGE_DIR/figures.log"
  fi
  { echo "===== $name: $status ${reason:+($reason)} in $seconds s"; cat "$STAGE_DIR/log" "$STAGE_DIR/figures.log" 2>/dev/null; } >>"$LOG"
  jsonrec stage "$name" "$status" "$seconds" "$reason" "$STAGE_DIR/figures.json" "$STAGE_DIR/log" "$rc" "$STAGE_DIR/figures.log"
  echo "   $name: $status ${reason:+($reason)} in $seconds s" >&2
}

skip() {
  echo "===== $1: skipped ($2)" >>"$LOG"
  jsonrec stage "$1" skipped "" "$2"
  echo "   $1: skipped ($2)" >&2
}

status_of() { "$PY" -c 'import json, sys; print((json.load(open(sys.argv[1]))["stages"].get(sys.argv[2]) or {}).get("status", "none"))' "$JSON" "$1"; }

# ----------------------------------------------------------------------------- stages

run_setup() {
  local torch_state=present install_state="skipped (--no-install)"
  if ! "$PY" -c "import torch" 2>/dev/null; then
    torch_state=missing
    if (( INSTALL )); then
      "$PY" -m pip install --retries 0 --timeout 20 torch==2.14.1 torchvision==0.29.1 && torch_state=installed || torch_state="install failed"
    fi
  fi
  if (( INSTALL )); then
    # Without build isolation pip needs no index when the dependencies are already installed.
    if "$PY" -m pip install --retries 0 --timeout 20 --no-build-isolation -e "$REPO"; then
      install_state=ok
    elif "$PY" -m pip install --retries 0 --timeout 20 --no-build-isolation --no-deps -e "$REPO"; then
      install_state="ok without dependencies (the index is out of reach)"
    else
      install_state="failed (running from the checkout through PYTHONPATH)"
    fi
  fi
  TORCH_STATE=$torch_state INSTALL_STATE=$install_state "$PY" - "$STAGE_DIR/figures.json" <<'PY'
import importlib, json, os, sys
modules = ["torch", "torchvision", "numpy", "scipy", "PIL", "matplotlib", "safetensors", "typer", "rich", "pytest", "infogan_cli.cli.app"]
missing = []
for name in modules:
    try:
        importlib.import_module(name)
    except Exception as exc:
        missing.append(f"{name}: {type(exc).__name__}: {exc}")
json.dump({"torch": os.environ["TORCH_STATE"], "package_install": os.environ["INSTALL_STATE"], "missing": missing},
          open(sys.argv[1], "w"))
sys.exit(1 if missing else 0)
PY
}

run_environment() {
  "$PY" - "$STAGE_DIR/figures.json" <<'PY'
import json, platform, subprocess, sys
import torch
from infogan_cli.cpu import cpu_model
from infogan_cli.runtime import usable_cpus

# usable_cpus: the CPUs this process may run on (affinity, cgroup quota), not the machine's count
info = {"python": platform.python_version(), "torch": torch.__version__, "cpu": cpu_model(), "usable_cpus": usable_cpus(),
        "cuda": torch.cuda.is_available(), "cuda_runtime": torch.version.cuda, "gpus": 0}
if info["cuda"]:
    info["gpus"] = torch.cuda.device_count()
    info["gpu_names"] = [torch.cuda.get_device_name(i) for i in range(info["gpus"])]
    props = torch.cuda.get_device_properties(0)
    info["gpu_memory_gib"] = round(props.total_memory / 2**30, 1)
    info["capability"] = f"{props.major}.{props.minor}"
    info["multiprocessors"] = props.multi_processor_count
    info["cudnn"] = torch.backends.cudnn.version()
    try:
        info["nccl"] = ".".join(map(str, torch.cuda.nccl.version()))
    except Exception as exc:
        info["nccl"] = f"unavailable: {exc}"
    try:
        query = ["nvidia-smi", "--query-gpu=name,driver_version,clocks.max.sm,power.limit", "--format=csv,noheader"]
        info["nvidia_smi"] = subprocess.run(query, capture_output=True, text=True, timeout=20).stdout.strip().splitlines()
    except (OSError, subprocess.SubprocessError) as exc:
        info["nvidia_smi"] = f"unavailable: {exc}"
info["name"] = info["gpu_names"][0] if info["cuda"] else info["cpu"]
json.dump(info, open(sys.argv[1], "w"))
print(json.dumps(info, indent=2))
PY
}

run_data() {
  "$PY" - "$STAGE_DIR/figures.json" "$DATA_ROOT" <<'PY'
import json, sys
from infogan_cli.data import load_dataset

figures_path, root = sys.argv[1:]
train, test = load_dataset("mnist", root, train=True), load_dataset("mnist", root, train=False)
json.dump({"data_root": root, "train_images": len(train), "test_images": len(test)}, open(figures_path, "w"))
print(f"MNIST under {root}: {len(train)} + {len(test)} images")
PY
  local rc=$?
  if (( rc != 0 && SMOKE )); then
    echo "no MNIST under $DATA_ROOT (smoke mode trains on the fake set)" >"$STAGE_DIR/skip"
    return 3
  fi
  return $rc
}

run_cuda_tests() {
  "$PY" -m pytest -m cuda -q -p no:cacheprovider tests
  local rc=$?
  "$PY" - "$STAGE_DIR/log" "$STAGE_DIR/figures.json" <<'PY'
import json, re, sys
text = open(sys.argv[1], errors="replace").read()
counts = {word: int(n) for n, word in re.findall(r"(\d+) (passed|failed|skipped|errors?|deselected|xfailed)", text.splitlines()[-1] if text else "")}
json.dump(counts, open(sys.argv[2], "w"))
PY
  return $rc
}

throughput() {  # throughput [EXTRA ARGS]: our path and the tutorial port on MNIST, one JSON line
  local steps=(--steps 50 --warmup 10)
  (( SMOKE )) && steps=(--steps 5 --warmup 2)
  "$PY" benchmarks/throughput.py --data-root "$DATA_ROOT" --device cuda --batch-size 128 "${steps[@]}" --json "$@" >"$STAGE_DIR/figures.json"
}
run_throughput_fp32_tf32() { throughput --precision fp32; }  # TF32 products on CUDA (runtime.configure_backends)
run_throughput_bf16() { throughput --precision bf16; }
run_throughput_compile() { throughput --compile; }
run_throughput_cudagraphs() { throughput --compile-mode reduce-overhead; }

train_args() {  # the training to time: the default on MNIST, or a tiny one on the fake set (--smoke)
  if (( SMOKE )); then
    echo --dataset fake --epochs 2 --batch-size 128 --width 4 --noise-dim 8 --log-every 4  # 8 steps per epoch
  else
    echo --data-root "$DATA_ROOT"
  fi
}

run_train() {
  # shellcheck disable=SC2046
  "$PY" -m infogan_cli train $(train_args) --device "$DEV" --out "$WORK/train"
}

figures_train() {  # epoch times from the sample grids written at each epoch's end
  "$PY" - "$WORK/train" "$STAGE_SECONDS" "$STAGE_DIR/figures.json" <<'PY'
import json, statistics, sys
from pathlib import Path

run, wall, out = Path(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
config = json.loads((run / "config.json").read_text())
start = (run / "config.json").stat().st_mtime_ns  # written as the loop starts
ends = [p.stat().st_mtime_ns for p in sorted((run / "samples").glob("epoch-*.png"))]
epochs = [round((b - a) / 1e9, 3) for a, b in zip([start] + ends[:-1], ends)]
records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]
speeds = [r["images_per_s"] for r in records if isinstance(r.get("images_per_s"), (int, float))]
last = max([start] + [p.stat().st_mtime_ns for p in run.glob("*.safetensors")])
json.dump({
    "wall_seconds": wall,  # the whole command: python start, data loading, training, checkpoints, plot
    "loop_seconds": round((last - start) / 1e9, 3),
    "steps": records[-1]["step"] if records else 0,
    "epochs_done": len(ends),
    "epoch_seconds": epochs,
    "first_epoch_seconds": epochs[0] if epochs else None,  # cuDNN autotuning and warm-up included
    "median_epoch_seconds": statistics.median(epochs[1:] or epochs) if epochs else None,
    "median_images_per_s": statistics.median(speeds) if speeds else None,
    "batch_size": config["batch_size"], "precision": config["precision"], "dataset": config["dataset"],
    "last_metrics": {k: records[-1].get(k) for k in ("step", "loss_d", "loss_g", "mi", "mi_real")} if records else None,
}, open(out, "w"))
PY
}

evaluate() {
  local extra=()
  (( SMOKE )) && extra=(--n-samples 100)
  (( SMOKE )) || extra=(--data-root "$DATA_ROOT")
  "$PY" -m infogan_cli evaluate "$WORK/train/last.safetensors" --json --device "$DEV" --out "$STAGE_DIR/out" "${extra[@]}" >"$STAGE_DIR/result.json"
}
run_evaluate() { evaluate; }
run_evaluate_cached() { evaluate; }

figures_evaluate() {
  "$PY" - "$STAGE_DIR/result.json" "$STAGE_DIR/log" "$STAGE_SECONDS" "$STAGE_DIR/figures.json" <<'PY'
import json, re, sys
result_path, log_path, wall, out = sys.argv[1:]
result = json.load(open(result_path))
trained = re.search(r"trained the reference classifier in (\d+) s", open(log_path, errors="replace").read())
keys = ("q_accuracy", "sample_accuracy", "classifier_accuracy", "classifier_frechet_distance", "classifier_frechet_distance_floor",
        "label_code", "n_samples", "step")  # keys of the evaluate --json record (schema infogan-evaluate 1, docs/cli.md)
json.dump({"wall_seconds": float(wall), "classifier_training_seconds": int(trained.group(1)) if trained else None,
           **{k: result.get(k) for k in keys}}, open(out, "w"))
PY
}
figures_evaluate_cached() { figures_evaluate; }

run_time_to_accuracy() {
  local args=(--data-root "$DATA_ROOT" --every-steps 100 --max-minutes 2 --stop-when-reached)
  (( SMOKE )) && args=(--dataset fake --max-steps 4 --every-steps 2 --set batch_size=16 --set model.width=4 --set latent.noise_dim=8)
  "$PY" benchmarks/time_to_accuracy.py "${args[@]}" --device "$DEV" --result "$STAGE_DIR/result.json"
}

figures_time_to_accuracy() {
  "$PY" - "$STAGE_DIR/result.json" "$STAGE_DIR/figures.json" <<'PY'
import json, sys
result = json.load(open(sys.argv[1]))
result.pop("config", None)
json.dump(result, open(sys.argv[2], "w"))
PY
}

run_torchrun_nccl() {
  local args=(--data-root "$DATA_ROOT" --max-steps 300)
  # shellcheck disable=SC2207
  (( SMOKE )) && args=($(train_args))
  "$PY" -m torch.distributed.run --standalone --nproc-per-node 2 -m infogan_cli train "${args[@]}" --device cuda --out "$WORK/ddp"
}

figures_torchrun_nccl() {
  "$PY" - "$WORK/ddp" "$STAGE_SECONDS" "$STAGE_DIR/figures.json" <<'PY'
import json, statistics, sys
from pathlib import Path
run, wall, out = Path(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]
speeds = [r["images_per_s"] for r in records if isinstance(r.get("images_per_s"), (int, float))]
json.dump({"processes": 2, "wall_seconds": wall, "steps": records[-1]["step"] if records else 0,
           "median_images_per_s": statistics.median(speeds) if speeds else None}, open(out, "w"))
PY
}

export -f run_setup run_environment run_data run_cuda_tests throughput run_throughput_fp32_tf32 run_throughput_bf16 \
  run_throughput_compile run_throughput_cudagraphs train_args run_train figures_train evaluate run_evaluate run_evaluate_cached \
  figures_evaluate figures_evaluate_cached run_time_to_accuracy figures_time_to_accuracy run_torchrun_nccl figures_torchrun_nccl

# ----------------------------------------------------------------------------- the run

jsonrec init "$BUDGET" "$SMOKE" "$DATA_ROOT" "$WORK" || { echo "error: $PY cannot write $JSON" >&2; exit 2; }
echo "device check: $(( BUDGET )) s budget, JSON $JSON, work $WORK" >&2

stage setup 240
stage environment 90
GPUS=$("$PY" -c 'import json, sys; print((json.load(open(sys.argv[1]))["device"] or {}).get("gpus", 0))' "$JSON" 2>/dev/null || echo 0)
if (( GPUS > 0 )); then DEV=cuda; else DEV=cpu; fi
export DEV
stage data 90
[[ $(status_of data) == ok ]] && MNIST=1 || MNIST=0
NO_CUDA="no CUDA device"
NO_MNIST="no MNIST under $DATA_ROOT (see the data stage)"
FULL_ON_CPU="no CUDA device: the full default training takes about 14 minutes on 2 CPU cores (--smoke runs a tiny one)"

gpu_stage() {  # gpu_stage NAME LIMIT: a stage that needs CUDA and MNIST
  if (( GPUS == 0 )); then skip "$1" "$NO_CUDA"
  elif (( ! MNIST )); then skip "$1" "$NO_MNIST"
  else stage "$1" "$2"; fi
}
training_stage() {  # training_stage NAME LIMIT: the default on a GPU, or a tiny run on the fake set (--smoke)
  if (( SMOKE )); then stage "$1" "$2"
  elif (( GPUS == 0 )); then skip "$1" "$FULL_ON_CPU"
  elif (( ! MNIST )); then skip "$1" "$NO_MNIST"
  else stage "$1" "$2"; fi
}

if (( GPUS > 0 )); then stage cuda_tests 240; else skip cuda_tests "$NO_CUDA"; fi
gpu_stage throughput_fp32_tf32 120
gpu_stage throughput_bf16 120
training_stage train 300
if [[ -f $WORK/train/last.safetensors ]]; then
  stage evaluate 180
  if [[ $(status_of evaluate) == ok ]]; then stage evaluate_cached 120; else skip evaluate_cached "the evaluate stage did not succeed"; fi
else
  reason="no checkpoint: the train stage $(status_of train)"
  skip evaluate "$reason"
  skip evaluate_cached "$reason"
fi
training_stage time_to_accuracy 240
gpu_stage throughput_compile 240
gpu_stage throughput_cudagraphs 240
if (( GPUS < 2 )); then skip torchrun_nccl "needs two CUDA devices, found $GPUS"
elif (( ! SMOKE && ! MNIST )); then skip torchrun_nccl "$NO_MNIST"
else stage torchrun_nccl 180; fi

jsonrec finish
"$PY" -c 'import json, sys; sys.exit(any(s["status"] in ("failed", "timeout") for s in json.load(open(sys.argv[1]))["stages"].values()))' "$JSON"
