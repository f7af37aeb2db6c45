#include "study/runner.h"

#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <map>
#include <sstream>
#include <thread>

namespace joule::study {

namespace {

// The process's start time in clock ticks since boot (field 22 of /proc/PID/stat); -1 if it does
// not exist.
long long start_ticks(long long pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  const size_t comm_end = stat.rfind(')');  // the command name may hold spaces and parentheses
  if (comm_end == std::string::npos || comm_end + 2 > stat.size()) return -1;
  std::istringstream rest(stat.substr(comm_end + 2));
  std::string field;
  for (int i = 3; i <= 22 && rest >> field; ++i)
    if (i == 22) return std::stoll(field);
  return -1;
}

std::string host_name() {
  char host[256] = {};
  gethostname(host, sizeof(host) - 1);
  return host;
}

}  // namespace

std::string this_runner() {
  const long long pid = getpid();
  return host_name() + ":" + std::to_string(pid) + ":" + std::to_string(start_ticks(pid));
}

bool runner_alive(const std::string& runner, double claim_age_s) {
  const size_t b = runner.rfind(':'), a = b == std::string::npos ? b : runner.rfind(':', b - 1);
  if (a == std::string::npos) return false;  // not a runner's name: nobody to wait for
  if (runner.substr(0, a) != host_name()) return claim_age_s < kForeignClaimLeaseS;
  const long long pid = std::atoll(runner.c_str() + a + 1), start = std::atoll(runner.c_str() + b + 1);
  return start_ticks(pid) == start;
}

Expected<RunSummary> run_study(const StudySpec& spec, const std::string& spec_text, Shard shard, ResultsDb& db,
                               const CellExecutor& execute, const ProgressFn& progress, double poll_s) {
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
  const std::string me = this_runner();
  const auto t0 = std::chrono::steady_clock::now();
  auto report = [&](const Cell& next, int waiting, const std::string& on) {
    if (!progress) return;
    RunProgress p;
    p.done = sum.run;
    p.skipped = sum.skipped;
    p.total = static_cast<int>(cells.size());
    p.elapsed_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const size_t left = cells.size() - static_cast<size_t>(sum.run + sum.skipped + sum.failed);
    p.eta_s = sum.run > 0 ? p.elapsed_s / sum.run * static_cast<double>(left) : 0;
    p.waiting = waiting;
    p.waiting_on = on;
    progress(next, p);
  };
  // next-engine: the group (an engine's cells) whose engine failed in this run, and why.
  std::map<std::string, std::string> failed_groups;
  auto record_failure = [&](const Cell& c, const std::string& error) -> Status {
    JOULE_RETURN_IF_ERROR(db.add_failure(spec.name, c, error));
    if (sum.failed++ == 0) sum.first_failure = "cell " + c.key() + ": " + error;
    return Status();
  };
  while (!todo.empty()) {
    std::vector<const Cell*> taken;  // claimed by other runners: looked at again after the rest
    std::string holder;
    for (const Cell* c : todo) {
      if (const auto f = failed_groups.find(c->group()); f != failed_groups.end()) {
        JOULE_RETURN_IF_ERROR(record_failure(*c, "not tried: " + f->second));
        continue;
      }
      JOULE_ASSIGN_OR_RETURN(ResultsDb::ClaimResult claim, db.claim_cell(spec.name, c->key(), me, runner_alive));
      if (claim.claim == ResultsDb::Claim::kStored) {
        ++sum.skipped;
        continue;
      }
      if (claim.claim == ResultsDb::Claim::kTaken) {
        taken.push_back(c);
        holder = claim.owner;
        continue;
      }
      // Idle between cells, so one cell's heat (and turbo budget) does not bias the next.
      if (sum.run > 0 && spec.cooldown_s > 0) std::this_thread::sleep_for(std::chrono::duration<double>(spec.cooldown_s));
      report(*c, 0, "");
      Expected<CellResult> r = execute(*c);
      if (!r.ok()) {
        (void)db.release_claim(spec.name, c->key(), me);  // another runner may try it
        if (c->engine < 0 || spec.on_engine_failure == OnEngineFailure::kStop)
          return Status(r.status().code(), "cell " + c->key() + ": " + r.status().message());
        JOULE_RETURN_IF_ERROR(record_failure(*c, r.status().message()));
        failed_groups[c->group()] = "its engine failed on cell " + c->key();
        continue;
      }
      JOULE_RETURN_IF_ERROR(db.add_cell(spec.name, *c, *r));
      ++sum.run;
    }
    if (taken.size() == todo.size()) {  // nothing of ours left: wait for the other runners
      report(*taken.front(), static_cast<int>(taken.size()), holder);
      std::this_thread::sleep_for(std::chrono::duration<double>(poll_s));
    }
    todo = std::move(taken);
  }
  return sum;
}

}  // namespace joule::study
