#include "study/results_db.h"

#include <sqlite3.h>
#include <unistd.h>

#include <chrono>
#include <ctime>
#include <filesystem>
#include <map>
#include <thread>

namespace joule::study {
namespace {

// Each migration in kMigrations[v] takes the schema from version v to v + 1: 1 the cells and their
// power samples, 2 each cell's per-item outcomes (for paired comparisons; older cells have none),
// 3 each item's chance score (what a random answer expects; older items have none), 4 the claims
// of runners sharing the database on the cells they are measuring, 5 why cells were not measured
// (an engine that failed).
constexpr const char* kMigrations[] = {
    R"sql(
CREATE TABLE studies(
  name TEXT PRIMARY KEY,
  spec TEXT NOT NULL,
  updated_at TEXT NOT NULL);
CREATE TABLE cells(
  id INTEGER PRIMARY KEY,
  study TEXT NOT NULL,
  cell_key TEXT NOT NULL,
  model TEXT NOT NULL,
  model_path TEXT NOT NULL,
  model_sha256 TEXT NOT NULL,
  precision TEXT NOT NULL,
  device TEXT NOT NULL,
  threads INTEGER NOT NULL,
  task TEXT NOT NULL,
  task_limit INTEGER NOT NULL,
  task_sample INTEGER NOT NULL,
  task_seed INTEGER NOT NULL,
  shots INTEGER NOT NULL,
  repeat INTEGER NOT NULL,
  items INTEGER NOT NULL,
  metric TEXT NOT NULL,
  score REAL NOT NULL,
  score_stderr REAL NOT NULL,
  seconds REAL NOT NULL,
  tokens INTEGER NOT NULL,
  energy_j REAL,
  energy_source TEXT NOT NULL,
  avg_power_w REAL,
  peak_power_w REAL,
  metrics_json TEXT NOT NULL,
  energy_json TEXT NOT NULL,
  provenance_json TEXT NOT NULL,
  finished_at TEXT NOT NULL,
  UNIQUE(study, cell_key));
CREATE TABLE power_samples(
  cell_id INTEGER NOT NULL REFERENCES cells(id) ON DELETE CASCADE,
  domain TEXT NOT NULL,
  t_s REAL NOT NULL,
  power_w REAL NOT NULL);
CREATE INDEX power_samples_cell ON power_samples(cell_id);
)sql",
    R"sql(
CREATE TABLE item_outcomes(
  cell_id INTEGER NOT NULL REFERENCES cells(id) ON DELETE CASCADE,
  item_id TEXT NOT NULL,
  cluster TEXT NOT NULL,
  choice INTEGER NOT NULL,
  score REAL NOT NULL,
  margin REAL);
CREATE INDEX item_outcomes_cell ON item_outcomes(cell_id);
)sql",
    "ALTER TABLE item_outcomes ADD COLUMN chance REAL;",
    R"sql(
CREATE TABLE claims(
  study TEXT NOT NULL,
  cell_key TEXT NOT NULL,
  owner TEXT NOT NULL,
  claimed_at REAL NOT NULL,
  PRIMARY KEY(study, cell_key));
)sql",
    R"sql(
CREATE TABLE failures(
  study TEXT NOT NULL,
  cell_key TEXT NOT NULL,
  model TEXT NOT NULL,
  precision TEXT NOT NULL,
  device TEXT NOT NULL,
  task TEXT NOT NULL,
  repeat INTEGER NOT NULL,
  error TEXT NOT NULL,
  failed_at TEXT NOT NULL,
  PRIMARY KEY(study, cell_key));
)sql",
};
static_assert(std::size(kMigrations) == kSchemaVersion, "one migration per schema version");

// Every column of `cells` but its id, in the order add_cell binds them; merge copies the same list.
constexpr const char* kCellColumns =
    "study, cell_key, model, model_path, model_sha256, precision, device, threads, task, task_limit, task_sample, "
    "task_seed, shots, repeat, items, metric, score, score_stderr, seconds, tokens, energy_j, energy_source, "
    "avg_power_w, peak_power_w, metrics_json, energy_json, provenance_json, finished_at";

// A prepared statement, finalized on scope exit.
class Stmt {
 public:
  Stmt(sqlite3* db, const char* sql) : db_(db) { rc_ = sqlite3_prepare_v2(db, sql, -1, &s_, nullptr); }
  ~Stmt() { sqlite3_finalize(s_); }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  Status status() const {
    return rc_ == SQLITE_OK ? Status() : IoError(std::string("results database: ") + sqlite3_errmsg(db_));
  }
  Stmt& bind(int i, const std::string& v) {
    sqlite3_bind_text(s_, i, v.c_str(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Stmt& bind(int i, int64_t v) {
    sqlite3_bind_int64(s_, i, v);
    return *this;
  }
  Stmt& bind(int i, int v) { return bind(i, static_cast<int64_t>(v)); }
  Stmt& bind(int i, double v) {
    sqlite3_bind_double(s_, i, v);
    return *this;
  }
  Stmt& bind(int i, const std::optional<double>& v) {
    if (v) return bind(i, *v);
    sqlite3_bind_null(s_, i);
    return *this;
  }
  void reset() {
    sqlite3_reset(s_);
    sqlite3_clear_bindings(s_);
  }
  // SQLITE_ROW / SQLITE_DONE, or an error status.
  Expected<bool> step() {
    const int rc = sqlite3_step(s_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    return IoError(std::string("results database: ") + sqlite3_errmsg(db_));
  }
  std::string text(int i) const {
    const auto* p = sqlite3_column_text(s_, i);
    return p ? reinterpret_cast<const char*>(p) : "";
  }
  int64_t i64(int i) const { return sqlite3_column_int64(s_, i); }
  double real(int i) const { return sqlite3_column_double(s_, i); }
  std::optional<double> opt_real(int i) const {
    if (sqlite3_column_type(s_, i) == SQLITE_NULL) return std::nullopt;
    return real(i);
  }

 private:
  sqlite3* db_;
  sqlite3_stmt* s_ = nullptr;
  int rc_;
};

std::string utc_now() {
  const std::time_t now = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
  return buf;
}

}  // namespace

Expected<std::unique_ptr<ResultsDb>> ResultsDb::open(const std::string& path) {
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  std::error_code ec;
  if (!parent.empty()) std::filesystem::create_directories(parent, ec);
  if (ec) return IoError("cannot create the folder of the results database " + path + ": " + ec.message());
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) != SQLITE_OK) {
    const std::string why = db ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close(db);
    return IoError("cannot open the results database " + path + ": " + why);
  }
  std::unique_ptr<ResultsDb> r(new ResultsDb(db, path));
  sqlite3_busy_timeout(db, 10000);  // another process (a shard, a report) may hold the lock briefly
  // SQLite answers "database is locked" at once, without waiting in the busy handler, where waiting
  // could deadlock: two connections to a new file both upgrading from a read lock (to set WAL mode,
  // to migrate). The one told so backs off and tries again, for as long as the busy timeout.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  for (int attempt = 1;; ++attempt) {
    // WAL: readers (reports) never block the runner, and a crash leaves the last commit intact.
    Status st = r->exec("PRAGMA journal_mode=WAL; PRAGMA foreign_keys=ON;");
    if (st.ok()) st = r->migrate();
    if (st.ok()) return r;
    if (st.message().find("database is locked") == std::string::npos || std::chrono::steady_clock::now() > deadline)
      return st;
    std::this_thread::sleep_for(std::chrono::milliseconds(5 + (getpid() * 7 + attempt * 13) % 45));
  }
}

Expected<std::unique_ptr<ResultsDb>> ResultsDb::open_existing(const std::string& path) {
  if (!std::filesystem::exists(path))
    return NotFound("results database " + path + " does not exist (joule study run makes it)");
  return open(path);
}

ResultsDb::~ResultsDb() { sqlite3_close(db_); }

Status ResultsDb::exec(const std::string& sql) const {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) == SQLITE_OK) return Status();
  const std::string msg = err ? err : sqlite3_errmsg(db_);
  sqlite3_free(err);
  if (msg.find("file is not a database") != std::string::npos)
    return FormatError(path_ + " is not a joule results database (" + msg + ")");
  return IoError("results database " + path_ + ": " + msg);
}

int ResultsDb::schema_version() const {
  Stmt s(db_, "PRAGMA user_version");
  if (!s.status().ok()) return -1;
  const Expected<bool> row = s.step();
  return row.ok() && *row ? static_cast<int>(s.i64(0)) : -1;
}

// Each step reads the version inside its own write transaction: two processes opening a new
// database at once (two shards, a runner and a report) take turns, and the second finds the work
// done instead of creating the tables again.
Status ResultsDb::migrate() {
  for (;;) {
    JOULE_RETURN_IF_ERROR(exec("BEGIN IMMEDIATE"));
    auto step = [&]() -> Expected<bool> {  // true: one migration applied; false: up to date
      const int v = schema_version();
      if (v < 0) return FormatError(path_ + " is not a joule results database");
      if (v > kSchemaVersion)
        return FormatError(path_ + " has results schema " + std::to_string(v) + ", newer than this joule's " +
                           std::to_string(kSchemaVersion) + ": use a newer joule");
      if (v == kSchemaVersion) return false;
      if (v == 0) {  // a new file, or some other SQLite database: only an empty one is adopted
        Stmt t(db_, "SELECT count(*) FROM sqlite_master");
        JOULE_RETURN_IF_ERROR(t.status());
        JOULE_ASSIGN_OR_RETURN(bool row, t.step());
        if (row && t.i64(0) > 0) return FormatError(path_ + " is an SQLite database but not a joule results database");
      }
      JOULE_RETURN_IF_ERROR(exec(std::string(kMigrations[v]) + "PRAGMA user_version=" + std::to_string(v + 1) + ";"));
      return true;
    };
    const Expected<bool> applied = step();
    if (!applied.ok()) {
      (void)exec("ROLLBACK");
      return applied.status();
    }
    JOULE_RETURN_IF_ERROR(exec("COMMIT"));
    if (!*applied) return Status();
  }
}

Status ResultsDb::put_study(const std::string& name, const std::string& spec_text) {
  Stmt s(db_, "INSERT INTO studies(name, spec, updated_at) VALUES(?1, ?2, ?3) "
              "ON CONFLICT(name) DO UPDATE SET spec = excluded.spec, updated_at = excluded.updated_at");
  JOULE_RETURN_IF_ERROR(s.status());
  s.bind(1, name).bind(2, spec_text).bind(3, utc_now());
  return s.step().status();
}

Expected<bool> ResultsDb::has_cell(const std::string& study, const std::string& key) const {
  Stmt s(db_, "SELECT 1 FROM cells WHERE study = ?1 AND cell_key = ?2");
  JOULE_RETURN_IF_ERROR(s.status());
  s.bind(1, study).bind(2, key);
  return s.step();
}

namespace {
double unix_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}
}  // namespace

Expected<ResultsDb::ClaimResult> ResultsDb::claim_cell(const std::string& study, const std::string& key,
                                                       const std::string& owner, const OwnerAlive& alive) {
  JOULE_RETURN_IF_ERROR(exec("BEGIN IMMEDIATE"));
  auto body = [&]() -> Expected<ClaimResult> {
    JOULE_ASSIGN_OR_RETURN(bool stored, has_cell(study, key));
    if (stored) return ClaimResult{Claim::kStored, ""};
    Stmt q(db_, "SELECT owner, claimed_at FROM claims WHERE study = ?1 AND cell_key = ?2");
    JOULE_RETURN_IF_ERROR(q.status());
    q.bind(1, study).bind(2, key);
    JOULE_ASSIGN_OR_RETURN(bool claimed, q.step());
    if (claimed && q.text(0) != owner && alive(q.text(0), unix_seconds() - q.real(1))) return ClaimResult{Claim::kTaken, q.text(0)};
    Stmt w(db_, "INSERT OR REPLACE INTO claims(study, cell_key, owner, claimed_at) VALUES(?1, ?2, ?3, ?4)");
    JOULE_RETURN_IF_ERROR(w.status());
    w.bind(1, study).bind(2, key).bind(3, owner).bind(4, unix_seconds());
    JOULE_RETURN_IF_ERROR(w.step().status());
    return ClaimResult{Claim::kMine, owner};
  };
  Expected<ClaimResult> r = body();
  if (!r.ok()) {
    (void)exec("ROLLBACK");
    return r;
  }
  JOULE_RETURN_IF_ERROR(exec("COMMIT"));
  return r;
}

Status ResultsDb::release_claim(const std::string& study, const std::string& key, const std::string& owner) {
  Stmt s(db_, "DELETE FROM claims WHERE study = ?1 AND cell_key = ?2 AND owner = ?3");
  JOULE_RETURN_IF_ERROR(s.status());
  s.bind(1, study).bind(2, key).bind(3, owner);
  return s.step().status();
}

Status ResultsDb::add_cell(const std::string& study, const Cell& c, const CellResult& r) {
  JOULE_RETURN_IF_ERROR(exec("BEGIN IMMEDIATE"));
  auto body = [&]() -> Status {
    const std::string sql = std::string("INSERT INTO cells(") + kCellColumns +
                            ") VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, "
                            "?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28)";
    Stmt s(db_, sql.c_str());
    JOULE_RETURN_IF_ERROR(s.status());
    s.bind(1, study).bind(2, c.key()).bind(3, c.model.name).bind(4, c.model.path).bind(5, r.model_sha256);
    s.bind(6, c.precision).bind(7, c.device).bind(8, c.threads).bind(9, c.task.name).bind(10, c.task.limit);
    s.bind(11, c.task.sample).bind(12, static_cast<int64_t>(c.task.seed)).bind(13, c.task.shots).bind(14, c.repeat);
    s.bind(15, r.items).bind(16, r.metric).bind(17, r.score).bind(18, r.score_stderr).bind(19, r.seconds);
    s.bind(20, r.tokens).bind(21, r.energy_j).bind(22, r.energy_source).bind(23, r.avg_power_w);
    s.bind(24, r.peak_power_w).bind(25, r.metrics_json).bind(26, r.energy_json).bind(27, r.provenance_json);
    s.bind(28, utc_now());
    if (!s.step().ok()) {
      if (const Expected<bool> dup = has_cell(study, c.key()); dup.ok() && *dup)
        return InvalidArgument("the cell " + c.key() + " of study " + study + " is already stored");
      return IoError(std::string("results database: ") + sqlite3_errmsg(db_));
    }
    const int64_t id = sqlite3_last_insert_rowid(db_);
    Stmt p(db_, "INSERT INTO power_samples(cell_id, domain, t_s, power_w) VALUES(?1, ?2, ?3, ?4)");
    JOULE_RETURN_IF_ERROR(p.status());
    for (const PowerSample& x : r.power) {
      p.reset();
      p.bind(1, id).bind(2, x.domain).bind(3, x.t_s).bind(4, x.power_w);
      JOULE_RETURN_IF_ERROR(p.step().status());
    }
    Stmt o(db_, "INSERT INTO item_outcomes(cell_id, item_id, cluster, choice, score, margin, chance) "
                "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)");
    JOULE_RETURN_IF_ERROR(o.status());
    for (const metrics::ItemOutcome& x : r.item_outcomes) {
      o.reset();
      o.bind(1, id).bind(2, x.id).bind(3, x.cluster).bind(4, x.choice).bind(5, x.score).bind(6, x.margin).bind(7, x.chance);
      JOULE_RETURN_IF_ERROR(o.step().status());
    }
    for (const char* done_sql : {"DELETE FROM claims WHERE study = ?1 AND cell_key = ?2",
                                 "DELETE FROM failures WHERE study = ?1 AND cell_key = ?2"}) {
      Stmt done(db_, done_sql);
      JOULE_RETURN_IF_ERROR(done.status());
      done.bind(1, study).bind(2, c.key());
      JOULE_RETURN_IF_ERROR(done.step().status());
    }
    return Status();
  };
  const Status st = body();
  if (!st.ok()) {
    (void)exec("ROLLBACK");
    return st;
  }
  return exec("COMMIT");
}

Status ResultsDb::add_failure(const std::string& study, const Cell& c, const std::string& error) {
  Stmt s(db_, "INSERT OR REPLACE INTO failures(study, cell_key, model, precision, device, task, repeat, error, failed_at) "
              "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)");
  JOULE_RETURN_IF_ERROR(s.status());
  s.bind(1, study).bind(2, c.key()).bind(3, c.model.name).bind(4, c.precision).bind(5, c.device).bind(6, c.task.name);
  s.bind(7, c.repeat).bind(8, error).bind(9, utc_now());
  return s.step().status();
}

Expected<std::vector<CellFailure>> ResultsDb::failures(const std::string& study) const {
  Stmt s(db_, R"sql(SELECT study, cell_key, model, precision, device, task, repeat, error, failed_at FROM failures f
    WHERE (?1 = '' OR study = ?1)
      AND NOT EXISTS (SELECT 1 FROM cells c WHERE c.study = f.study AND c.cell_key = f.cell_key)
    ORDER BY rowid)sql");
  JOULE_RETURN_IF_ERROR(s.status());
  s.bind(1, study);
  std::vector<CellFailure> out;
  for (;;) {
    JOULE_ASSIGN_OR_RETURN(bool row, s.step());
    if (!row) break;
    out.push_back({s.text(0), s.text(1), s.text(2), s.text(3), s.text(4), s.text(5), static_cast<int>(s.i64(6)), s.text(7),
                   s.text(8)});
  }
  return out;
}

Expected<std::vector<CellRow>> ResultsDb::cells(const std::string& study) const {
  Stmt s(db_, R"sql(SELECT study, cell_key, model, precision, device, task, threads, repeat, model_sha256,
      items, metric, score, score_stderr, seconds, tokens, energy_j, energy_source, avg_power_w, peak_power_w,
      metrics_json, energy_json, provenance_json, finished_at, id
    FROM cells WHERE ?1 = '' OR study = ?1 ORDER BY id)sql");
  JOULE_RETURN_IF_ERROR(s.status());
  s.bind(1, study);
  std::vector<CellRow> out;
  std::map<int64_t, size_t> index_of_id;  // cells.id -> index in out
  for (;;) {
    JOULE_ASSIGN_OR_RETURN(bool row, s.step());
    if (!row) break;
    CellRow c;
    c.study = s.text(0), c.key = s.text(1), c.model = s.text(2), c.precision = s.text(3), c.device = s.text(4);
    c.task = s.text(5), c.threads = static_cast<int>(s.i64(6)), c.repeat = static_cast<int>(s.i64(7));
    CellResult& r = c.result;
    r.model_sha256 = s.text(8), r.items = static_cast<int>(s.i64(9)), r.metric = s.text(10);
    r.score = s.real(11), r.score_stderr = s.real(12), r.seconds = s.real(13), r.tokens = s.i64(14);
    r.energy_j = s.opt_real(15), r.energy_source = s.text(16), r.avg_power_w = s.opt_real(17);
    r.peak_power_w = s.opt_real(18), r.metrics_json = s.text(19), r.energy_json = s.text(20);
    r.provenance_json = s.text(21), c.finished_at = s.text(22);
    index_of_id[s.i64(23)] = out.size();
    out.push_back(std::move(c));
  }
  Stmt o(db_, R"sql(SELECT o.cell_id, o.item_id, o.score, o.cluster, o.choice, o.margin, o.chance FROM item_outcomes o
    JOIN cells c ON c.id = o.cell_id WHERE ?1 = '' OR c.study = ?1 ORDER BY o.rowid)sql");
  JOULE_RETURN_IF_ERROR(o.status());
  o.bind(1, study);
  for (;;) {
    JOULE_ASSIGN_OR_RETURN(bool row, o.step());
    if (!row) break;
    out[index_of_id.at(o.i64(0))].result.item_outcomes.push_back(
        {o.text(1), o.real(2), o.text(3), static_cast<int>(o.i64(4)), o.opt_real(5), o.opt_real(6)});
  }
  return out;
}

Expected<std::vector<PowerSample>> ResultsDb::power(const std::string& study, const std::string& key) const {
  Stmt s(db_, "SELECT p.domain, p.t_s, p.power_w FROM power_samples p JOIN cells c ON c.id = p.cell_id "
              "WHERE c.study = ?1 AND c.cell_key = ?2 ORDER BY p.rowid");
  JOULE_RETURN_IF_ERROR(s.status());
  s.bind(1, study).bind(2, key);
  std::vector<PowerSample> out;
  for (;;) {
    JOULE_ASSIGN_OR_RETURN(bool row, s.step());
    if (!row) break;
    out.push_back({s.text(0), s.real(1), s.real(2)});
  }
  return out;
}

Expected<std::vector<metrics::ItemOutcome>> ResultsDb::item_outcomes(const std::string& study,
                                                                    const std::string& key) const {
  Stmt s(db_, "SELECT o.item_id, o.score, o.cluster, o.choice, o.margin, o.chance FROM item_outcomes o "
              "JOIN cells c ON c.id = o.cell_id WHERE c.study = ?1 AND c.cell_key = ?2 ORDER BY o.rowid");
  JOULE_RETURN_IF_ERROR(s.status());
  s.bind(1, study).bind(2, key);
  std::vector<metrics::ItemOutcome> out;
  for (;;) {
    JOULE_ASSIGN_OR_RETURN(bool row, s.step());
    if (!row) break;
    out.push_back({s.text(0), s.real(1), s.text(2), static_cast<int>(s.i64(3)), s.opt_real(4), s.opt_real(5)});
  }
  return out;
}

Expected<int> ResultsDb::merge_from(const std::string& path) {
  // Open it as a results database first: that checks (and migrates) its schema.
  JOULE_ASSIGN_OR_RETURN(auto other, ResultsDb::open_existing(path));
  other.reset();
  Stmt attach(db_, "ATTACH DATABASE ?1 AS other");
  JOULE_RETURN_IF_ERROR(attach.status());
  attach.bind(1, path);
  JOULE_RETURN_IF_ERROR(attach.step().status());
  int added = 0;
  auto body = [&]() -> Status {
    JOULE_RETURN_IF_ERROR(exec(std::string(R"sql(BEGIN IMMEDIATE;
      INSERT OR IGNORE INTO studies SELECT * FROM other.studies;
      CREATE TEMP TABLE merged AS SELECT o.id AS old_id FROM other.cells o
        WHERE NOT EXISTS (SELECT 1 FROM main.cells m WHERE m.study = o.study AND m.cell_key = o.cell_key);
      INSERT INTO cells()sql") + kCellColumns + ") SELECT " + kCellColumns + R"sql(
        FROM other.cells WHERE id IN (SELECT old_id FROM merged) ORDER BY id;
      INSERT INTO power_samples(cell_id, domain, t_s, power_w)
        SELECT m.id, p.domain, p.t_s, p.power_w FROM other.power_samples p
          JOIN other.cells o ON o.id = p.cell_id
          JOIN main.cells m ON m.study = o.study AND m.cell_key = o.cell_key
        WHERE p.cell_id IN (SELECT old_id FROM merged) ORDER BY p.rowid;
      INSERT INTO item_outcomes(cell_id, item_id, cluster, choice, score, margin, chance)
        SELECT m.id, i.item_id, i.cluster, i.choice, i.score, i.margin, i.chance FROM other.item_outcomes i
          JOIN other.cells o ON o.id = i.cell_id
          JOIN main.cells m ON m.study = o.study AND m.cell_key = o.cell_key
        WHERE i.cell_id IN (SELECT old_id FROM merged) ORDER BY i.rowid;
      INSERT OR REPLACE INTO failures SELECT * FROM other.failures o
        WHERE NOT EXISTS (SELECT 1 FROM main.cells m WHERE m.study = o.study AND m.cell_key = o.cell_key)
        ORDER BY o.rowid;)sql"));
    Stmt count(db_, "SELECT count(*) FROM merged");
    JOULE_RETURN_IF_ERROR(count.status());
    JOULE_ASSIGN_OR_RETURN(bool row, count.step());
    added = row ? static_cast<int>(count.i64(0)) : 0;
    return Status();
  };
  const Status st = body();
  (void)exec(st.ok() ? "DROP TABLE merged; COMMIT;" : "ROLLBACK; DROP TABLE IF EXISTS temp.merged;");
  (void)exec("DETACH DATABASE other");
  JOULE_RETURN_IF_ERROR(st);
  return added;
}

}  // namespace joule::study
