#include "study/runner.h"

#include <chrono>
#include <thread>

namespace joule::study {

Expected<RunSummary> run_study(const StudySpec& spec, const std::string& spec_text, Shard shard, ResultsDb& db,
                               const CellExecutor& execute, const ProgressFn& progress) {
  JOULE_RETURN_IF_ERROR(db.put_study(spec.name, spec_text));
  const std::vector<Cell> cells = take_shard(expand(spec), shard);
  std::vector<const Cell*> todo;
  RunSummary sum;
  for (const Cell& c : cells) {
    JOULE_ASSIGN_OR_RETURN(bool stored, db.has_cell(spec.name, c.key()));
    if (stored)
      ++sum.skipped;
    else
      todo.push_back(&c);
  }
  const auto t0 = std::chrono::steady_clock::now();
  for (size_t i = 0; i < todo.size(); ++i) {
    const Cell& c = *todo[i];
    // Idle between cells, so one cell's heat (and turbo budget) does not bias the next.
    if (i > 0 && spec.cooldown_s > 0) std::this_thread::sleep_for(std::chrono::duration<double>(spec.cooldown_s));
    if (progress) {
      RunProgress p;
      p.done = static_cast<int>(i);
      p.skipped = sum.skipped;
      p.total = static_cast<int>(cells.size());
      p.elapsed_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      p.eta_s = i > 0 ? p.elapsed_s / static_cast<double>(i) * static_cast<double>(todo.size() - i) : 0;
      progress(c, p);
    }
    Expected<CellResult> r = execute(c);
    if (!r.ok()) return Status(r.status().code(), "cell " + c.key() + ": " + r.status().message());
    JOULE_RETURN_IF_ERROR(db.add_cell(spec.name, c, *r));
    ++sum.run;
  }
  return sum;
}

}  // namespace joule::study
