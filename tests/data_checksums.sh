#!/usr/bin/env bash
# The benchmark data joule ships is intact: every file listed in data/SHA256SUMS has its checksum,
# and every file in data/ (but the README and the list itself) is listed, so nothing unchecked
# (or unlicensed) slips in.
set -euo pipefail
DATA="${1:?usage: data_checksums.sh DATA_DIR}"
cd "$DATA"
sha256sum --check --quiet --strict SHA256SUMS
unlisted="$(comm -23 <(find . -type f ! -name SHA256SUMS ! -name README.md | sort) \
                     <(awk '{print $2}' SHA256SUMS | sort))"
if [[ -n "$unlisted" ]]; then
  echo "data_checksums: files not in SHA256SUMS:" >&2
  echo "$unlisted" >&2
  exit 1
fi
echo "data_checksums: $(wc -l <SHA256SUMS) files verified"
