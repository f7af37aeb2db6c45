#!/usr/bin/env bash
# joule's main job end to end: the quickstart study (examples/quickstart.toml: the default model
# at f32, f16, int8, int8-dynamic and int4 on subsets of five benchmarks, measured with energy),
# then its comparison table, the recommendation, and the HTML report's path.
#
#   scripts/quickstart.sh [--fresh] [STUDY.toml]
# The results database (results/<study>.db) keeps finished cells: a rerun only measures what is
# missing; --fresh starts over.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
FRESH=0; STUDY=examples/quickstart.toml
for arg in "$@"; do
  case "$arg" in
    --fresh) FRESH=1 ;;
    -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
    *) STUDY="$arg" ;;
  esac
done
JOULE=build/tools/joule
[[ -x "$JOULE" ]] || scripts/setup.sh
NAME="$(basename "$STUDY" .toml)"
DB="results/$NAME.db"
HTML="results/$NAME.html"
mkdir -p results
((FRESH)) && rm -f "$DB" "$DB-wal" "$DB-shm"
"$JOULE" study run "$STUDY" --db "$DB"
echo
"$JOULE" report "$DB" --format md | sed -n '/^## Quantization strategy comparison/,/^## Per task/p' | sed '$d'
"$JOULE" report "$DB" --format html -o "$HTML" 2>/dev/null
echo "Recommendation (scenario datacenter: keep 98 % of the f32 accuracy, best TWEOR):"
"$JOULE" recommend "$DB" --scenario datacenter || true   # exit 1: none qualifies (the text says why)
echo
echo "HTML report: $ROOT/$HTML"
echo "All tables: $JOULE report $DB   (CSV/JSON: --format csv|json)"
