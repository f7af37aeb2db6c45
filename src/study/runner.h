// Runs a study's cells in grid order into the results database: finished cells are skipped, each
// new cell is committed as it ends, so a killed study loses at most the cell it was running and
// a rerun continues where it stopped. How a cell is measured is the executor's business (the CLI
// loads models and runs evaluation tasks under energy windows); this loop owns order, resume,
// cool-down and progress, and is tested with a fake executor.
#pragma once

#include <functional>
#include <string>

#include "study/results_db.h"

namespace joule::study {

using CellExecutor = std::function<Expected<CellResult>(const Cell&)>;

struct RunProgress {
  int done = 0;     // cells finished in this run
  int skipped = 0;  // cells found in the database
  int total = 0;    // cells of this shard
  double elapsed_s = 0;
  double eta_s = 0;  // from the mean time of the cells run so far
};
using ProgressFn = std::function<void(const Cell& next, const RunProgress&)>;

struct RunSummary {
  int run = 0;
  int skipped = 0;
};

// spec_text is stored with the study. Stops at the first failing cell and returns its error;
// the cells before it stay committed.
Expected<RunSummary> run_study(const StudySpec& spec, const std::string& spec_text, Shard shard, ResultsDb& db,
                               const CellExecutor& execute, const ProgressFn& progress = nullptr);

}  // namespace joule::study
