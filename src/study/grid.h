// A study's cells: models x precisions x devices (each thread count or GPU) x tasks x repeats,
// in a fixed order, each with a key that names it across runs (for resuming and merging).
#pragma once

#include <string>
#include <vector>

#include "core/status.h"
#include "study/spec.h"

namespace joule::study {

struct Cell {
  int index = 0;  // position in the study's full grid (shards are taken from it)
  ModelSpec model;
  std::string precision;
  std::string device;  // "cpu", "gpu:N", or an engine's device label
  int engine = -1;     // >= 0: measured on StudySpec::engines[engine], a server the study starts
  int threads = 0;     // cpu thread count (0 on a GPU)
  TaskSpec task;
  int repeat = 0;      // 1-based
  // "model=...;precision=...;device=...;threads=...;task=...;limit=...;sample=...;seed=...;shots=...;repeat=..."
  std::string key() const;
  // Cells that load the same model the same way share a group (the runner loads it once).
  std::string group() const;
};

// In order: model, precision, device, thread count, task, repeat (repeats innermost, so the
// repeats of a cell run back to back and a group's cells are contiguous); then each engine's
// tasks and repeats, labelled with its model, precision and device labels.
std::vector<Cell> expand(const StudySpec& s);

struct Shard {
  int index = 0;  // 0-based
  int count = 1;
};
// "i/N" with 1 <= i <= N (1-based, as Slurm's array ids usually are).
Expected<Shard> parse_shard(const std::string& text);
// The cells of one shard: every N-th cell of the grid, starting at the shard's index.
std::vector<Cell> take_shard(const std::vector<Cell>& cells, Shard shard);

}  // namespace joule::study
