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
  int skipped = 0;  // cells found in the database (or stored meanwhile by another runner)
  int total = 0;    // cells of this shard
  double elapsed_s = 0;
  double eta_s = 0;  // from the mean time of the cells run so far
  // Nothing left to claim: this many cells are being measured by other runners (`waiting_on`
  // names one), and this run waits for them to be stored or their runner to end.
  int waiting = 0;
  std::string waiting_on;
};
using ProgressFn = std::function<void(const Cell& next, const RunProgress&)>;

struct RunSummary {
  int run = 0;
  int skipped = 0;
  int failed = 0;  // cells recorded as failed (on_engine_failure = next-engine)
  std::string first_failure;  // the first failed cell's key and error
};

// Runners sharing a database claim each cell before measuring it (ResultsDb::claim_cell). A
// runner is "host:pid:start" (start: the process's start time in clock ticks since boot, so a
// reused pid is another runner). Its claims stay valid while it runs: on this host, while that
// process exists; from another host, for `kForeignClaimLeaseS` (that host's processes cannot be
// seen from here; a cell takes minutes, not hours).
inline constexpr double kForeignClaimLeaseS = 6 * 3600;
std::string this_runner();
bool runner_alive(const std::string& runner, double claim_age_s);

// spec_text is stored with the study. Stops at the first failing cell and returns its error;
// the cells before it stay committed. Except with spec.on_engine_failure = next-engine: a cell of
// an engine that fails is recorded as failed (ResultsDb::add_failure) with the engine's remaining
// cells in this run (not tried, as that engine is down), and the run goes on with the next
// group; a rerun tries them again. Cells other runners are measuring are left to them; when
// nothing else is left, the run waits (polling every `poll_s`) until they are stored, or takes a
// cell over when its runner has ended, so that every cell of the shard is stored on return.
Expected<RunSummary> run_study(const StudySpec& spec, const std::string& spec_text, Shard shard, ResultsDb& db,
                               const CellExecutor& execute, const ProgressFn& progress = nullptr, double poll_s = 2);

}  // namespace joule::study
