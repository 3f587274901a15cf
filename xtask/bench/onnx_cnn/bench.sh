#!/usr/bin/env bash
# The onnx_cnn benchmark (BENCHMARKS.md, "ONNX CNN"): one 96x96 RGB image per request
# ({"image": [NCHW]}, ~330 KB of JSON), wrk at 1 and 8 connections, against
#   (a) the Azure ML scoring server with the real numpy + onnxruntime (native_score.py), and
#   (b) scorehost serving plugins/python/onnx_cnn (scorehost.onnxruntime -> wasi:nn -> tract).
# Also prints onnxruntime's and the request's in-process times for reference.
#
# Usage (from the repository root, after `cargo build --release -p scorehost` and the tests
# have built target/plugins/python/onnx_cnn.wasm and target/onnx-models/cnn):
#   xtask/bench/onnx_cnn/bench.sh [SECONDS]
# Needs target/onnx-bench-venv: python3 -m venv target/onnx-bench-venv &&
#   target/onnx-bench-venv/bin/pip install azureml-inference-server-http==1.5.1 onnxruntime==1.32.0 numpy==2.4.6
set -euo pipefail
seconds=${1:-20}
root=$(pwd)
models=$root/target/onnx-models/cnn
venv=$root/target/onnx-bench-venv
out=$root/target/bench/onnx-cnn
mkdir -p "$out"
"$venv/bin/python" - "$models" "$out" <<'PY'
import json, sys, time
import numpy as np, onnxruntime as ort
models, out = sys.argv[1], sys.argv[2]
image = json.load(open(f"{models}/expected.json"))["images"][0]
body = json.dumps({"image": [image]})
open(f"{out}/body.json", "w").write(body)
x = np.array([image], dtype=np.float32)
for threads in (1, 0):
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    s = ort.InferenceSession(f"{models}/model.onnx", options, providers=["CPUExecutionProvider"])
    for _ in range(10):
        s.run(None, {"image": x})
    times = []
    for _ in range(200):
        t = time.perf_counter(); s.run(None, {"image": x}); times.append(time.perf_counter() - t)
    times.sort()
    print(f"onnxruntime in-process, intra_op_num_threads={threads or 'default'}: "
          f"p50 {times[100]*1e3:.2f} ms, p99 {times[198]*1e3:.2f} ms")
print(f"body: {len(body)} bytes")
PY
cat > "$out/post.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = io.open("$out/body.json", "rb"); wrk.body = f:read("*a"); f:close()
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("BENCH %d %d %f %f %d\n", summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(99),
    e.status + e.connect + e.read + e.write + e.timeout))
end
LUA

wait_up() {
  for _ in $(seq 1 600); do
    code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
      --data-binary "@$out/body.json" "http://127.0.0.1:$1/score" || true)
    [ "$code" = 200 ] && return 0
    sleep 0.2
  done
  echo "server on port $1 never answered 200" >&2; return 1
}

measure() { # name port
  for conns in 1 8; do
    line=$(wrk -t $((conns < 2 ? conns : 2)) -c "$conns" -d "${seconds}s" --timeout 10s \
      -s "$out/post.lua" "http://127.0.0.1:$2/score" | grep '^BENCH ')
    read -r _ n dur p50 p99 errors <<<"$line"
    printf '| %s | %d | %.1f | %.1f ms | %.1f ms | %d |\n' "$1" "$conns" \
      "$(echo "$n / ($dur / 1000000)" | bc -l)" "$(echo "$p50 / 1000" | bc -l)" \
      "$(echo "$p99 / 1000" | bc -l)" "$errors"
  done
}

echo '| server | connections | req/s | p50 | p99 | errors |'
echo '|---|---|---|---|---|---|'
AZUREML_MODEL_DIR=$models "$venv/bin/azmlinfsrv" --entry_script "$root/xtask/bench/onnx_cnn/native_score.py" \
  --model_dir "$models" --port 5011 >"$out/azmlinfsrv.log" 2>&1 &
native=$!
trap 'kill $native 2>/dev/null || true' EXIT
wait_up 5011
measure "Azure ML server + onnxruntime (native)" 5011
kill $native; wait $native 2>/dev/null || true

"$root/target/release/scorehost" serve --addr 127.0.0.1:5012 \
  --plugin "$root/target/plugins/python/onnx_cnn.wasm" --model-dir "$models" \
  --cache-dir "$out/cache" >"$out/scorehost.log" 2>&1 &
scorehost=$!
trap 'kill $scorehost 2>/dev/null || true' EXIT
wait_up 5012
measure "scorehost, Python guest (wasi:nn, tract)" 5012
kill $scorehost; wait $scorehost 2>/dev/null || true
