// The results database (SQLite, WAL): one row per measured cell, committed as the cell finishes,
// so a killed study loses at most the cell it was running. Only measurements are stored; EOR,
// TWEOR, J/token and the baseline deltas are computed from them when reported. The schema is
// versioned with PRAGMA user_version and migrated on open (docs/results-db.md).
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"
#include "metrics/paired.h"
#include "study/grid.h"

struct sqlite3;

namespace joule::study {

inline constexpr int kSchemaVersion = 5;

struct PowerSample {
  std::string domain;
  double t_s = 0;  // since the cell's start
  double power_w = 0;
};

// What one cell measured.
struct CellResult {
  std::string model_sha256;
  int items = 0;
  std::string metric;  // the task's headline metric
  double score = 0;    // fraction (0..1)
  double score_stderr = 0;
  double seconds = 0;
  int64_t tokens = 0;
  std::optional<double> energy_j;  // absent: nothing measured it (never 0 for "unknown")
  std::string energy_source;       // "cpu estimated", "gpu0 counter", ...
  std::optional<double> avg_power_w, peak_power_w;
  std::string metrics_json = "{}";     // every metric with its stderr
  std::string energy_json = "{}";      // per-domain energy as joule eval reports it
  std::string provenance_json = "{}";  // joule version, commit, host, CPU, date, ...
  std::vector<PowerSample> power;
  std::vector<metrics::ItemOutcome> item_outcomes;  // per item (schema 2; cells stored before have none)
};

// A stored cell, as reports read it.
struct CellRow {
  std::string study;
  std::string key;
  std::string model, precision, device, task;
  int threads = 0, repeat = 0;
  CellResult result;
  std::string finished_at;
};

// A cell that was not measured because the engine it needed failed (a study run with
// on_engine_failure = next-engine): kept until the cell is stored, so reports say what is missing
// and why (the engine's exit status and log tail are in `error`).
struct CellFailure {
  std::string study, key;
  std::string model, precision, device, task;
  int repeat = 0;
  std::string error;
  std::string failed_at;
};

class ResultsDb {
 public:
  // Opens or creates the database (and its folder), migrating older schemas. kFormat for a file
  // that is not a joule results database or was made by a newer joule.
  static Expected<std::unique_ptr<ResultsDb>> open(const std::string& path);
  // The same for readers (reports): kNotFound instead of creating a missing file.
  static Expected<std::unique_ptr<ResultsDb>> open_existing(const std::string& path);
  ~ResultsDb();
  ResultsDb(const ResultsDb&) = delete;
  ResultsDb& operator=(const ResultsDb&) = delete;

  int schema_version() const;
  // Records the study's spec (the latest text wins; cells are keyed by content, so an edited
  // study reuses the cells it still contains).
  Status put_study(const std::string& name, const std::string& spec_text);
  Expected<bool> has_cell(const std::string& study, const std::string& key) const;
  // One transaction: the cell and its power samples, or nothing. kInvalidArgument if the cell
  // is already stored.
  Status add_cell(const std::string& study, const Cell& cell, const CellResult& r);
  // Runners sharing one database (two runs at once, shards on a shared filesystem) claim a cell
  // before measuring it, so that none is measured twice. kMine: claimed for `owner` now (or
  // already theirs); kStored: measured already; kTaken: another owner holds it and `alive` says
  // that owner still runs (it gets the owner's text and the claim's age in seconds). A claim whose
  // owner is not alive is taken over.
  enum class Claim { kMine, kStored, kTaken };
  struct ClaimResult {
    Claim claim = Claim::kMine;
    std::string owner;  // kTaken: who holds it
  };
  using OwnerAlive = std::function<bool(const std::string& owner, double age_s)>;
  Expected<ClaimResult> claim_cell(const std::string& study, const std::string& key, const std::string& owner,
                                   const OwnerAlive& alive);
  // Gives a claim back (a cell that failed); add_cell removes the cell's claim itself.
  Status release_claim(const std::string& study, const std::string& key, const std::string& owner);
  // Records (or replaces) why a cell was not measured; add_cell removes it once the cell is stored.
  Status add_failure(const std::string& study, const Cell& cell, const std::string& error);
  // The failures of cells not stored, of `study` (all studies if empty), oldest first.
  Expected<std::vector<CellFailure>> failures(const std::string& study = "") const;
  // Every stored cell of `study` (all studies if empty), in the order they were stored, with
  // its item outcomes (power samples: power()).
  Expected<std::vector<CellRow>> cells(const std::string& study = "") const;
  // Power samples of one stored cell.
  Expected<std::vector<PowerSample>> power(const std::string& study, const std::string& key) const;
  // The cell's per-item outcomes; empty for cells stored before schema 2 (or none at all).
  Expected<std::vector<metrics::ItemOutcome>> item_outcomes(const std::string& study, const std::string& key) const;
  // Copies the studies and cells of another database that this one lacks, and its failures of
  // cells neither has stored; returns how many cells were added (cells both have are kept as they
  // are here).
  Expected<int> merge_from(const std::string& path);

 private:
  ResultsDb(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
  Status exec(const std::string& sql) const;
  Status migrate();
  sqlite3* db_;
  std::string path_;
};

}  // namespace joule::study
