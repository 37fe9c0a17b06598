#!/usr/bin/env bash
# bench/json.sh BUILD_DIR [RUNS] — parse MB/s and peak memory of each JSON
# library on a generated COCO-train-sized file (118,287 images, 860,001
# annotations with polygons, ~445 MB), each run in its own process. Prints
# every run, then the median time and the largest peak per library, and the
# ratios against yajl-stream (the library data/coco_json.c uses).
set -euo pipefail
build=${1:?usage: json.sh BUILD_DIR [RUNS]}
runs=${2:-3}
data=$build/bench-data
file=$data/coco_train_like.json
mkdir -p "$data"
if [ ! -s "$file" ]; then
  echo "generating $file ..."
  "$build/bench_coco_generate" "$file"
fi
results=$(mktemp)
trap 'rm -f "$results"' EXIT
for exe in read-only "$build"/bench_json_cjson "$build"/bench_json_jansson "$build"/bench_json_json-c \
           "$build"/bench_json_yajl-tree "$build"/bench_json_yajl-stream "$build"/bench_json_rfdetr; do
  if [ "$exe" = read-only ]; then
    exe=$build/bench_json_yajl-stream
    args=(--read-only "$file")
  else
    args=("$file")
  fi
  [ -x "$exe" ] || continue
  for _ in $(seq "$runs"); do "$exe" "${args[@]}" | tee -a "$results"; done
done
echo
echo "median of $runs runs (parse+extract, after the file is read; rf_coco_load streams the file itself):"
awk '{
  name = $1; t[name, ++n[name]] = ($6 == "parse+extract") ? $7 : $8
  for (i = 1; i <= NF; i++) if ($i == "RSS") rss = $(i + 1)
  if (rss > peak[name]) peak[name] = rss
  mb[name] = $2; order[name] = order[name] ? order[name] : ++names; who[order[name]] = name
}
END {
  for (k = 1; k <= names; k++) {
    name = who[k]; m = n[name]
    for (i = 1; i <= m; i++) v[i] = t[name, i]
    for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (v[j] < v[i]) { x = v[i]; v[i] = v[j]; v[j] = x }
    med[name] = v[int((m + 1) / 2)]
  }
  base = med["yajl-stream"]
  printf "%-14s %10s %10s %12s %14s\n", "library", "seconds", "MB/s", "peak MB", "time/yajl-stream"
  for (k = 1; k <= names; k++) {
    name = who[k]
    if (name == "read-only") { printf "%-14s %10s %10s %12d %14s\n", name, "-", "-", peak[name], "-"; continue }
    printf "%-14s %10.3f %10.1f %12d %14.2f\n", name, med[name], mb[name] / med[name], peak[name], base ? med[name] / base : 0
  }
}' "$results"
