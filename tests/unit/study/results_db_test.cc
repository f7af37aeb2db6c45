// The results database: schema creation, cells committed whole, resume checks, merge, and files
// that are not results databases.
#include "study/results_db.h"

#include "at_once.h"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace joule::study {
namespace {

std::string temp_db(const std::string& name) {
  const std::string dir = ::testing::TempDir() + "joule_db_" + std::to_string(getpid());
  std::filesystem::create_directories(dir);
  const std::string path = dir + "/" + name;
  for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path + suffix);
  return path;
}

Cell cell(const std::string& precision, int repeat) {
  Cell c;
  c.model = {"smol", "models/smol.gguf"};
  c.precision = precision;
  c.device = "cpu";
  c.threads = 2;
  c.task.name = "hellaswag";
  c.task.limit = 10;
  c.repeat = repeat;
  return c;
}

CellResult result(double score, std::optional<double> energy_j) {
  CellResult r;
  r.model_sha256 = "abc";
  r.items = 10;
  r.metric = "acc_norm";
  r.score = score;
  r.score_stderr = 0.1;
  r.seconds = 2.5;
  r.tokens = 700;
  r.energy_j = energy_j;
  r.energy_source = energy_j ? "cpu estimated" : "";
  r.power = {{"cpu", 0.1, 18.0}, {"cpu", 0.2, 19.5}};
  r.item_outcomes = {{"17", 1, "", 2, 0.25, 0.25}, {"3", 0, "", 0, std::nullopt, std::nullopt}};
  return r;
}

TEST(ResultsDb, CreatesTheSchemaAndStoresCells) {
  const std::string path = temp_db("a/b/results.db");  // folders are created
  auto db = ResultsDb::open(path);
  ASSERT_TRUE(db.ok()) << db.status().message();
  EXPECT_EQ((*db)->schema_version(), kSchemaVersion);
  ASSERT_TRUE((*db)->put_study("s", "[study]").ok());
  EXPECT_FALSE(*(*db)->has_cell("s", cell("f32", 1).key()));
  ASSERT_TRUE((*db)->add_cell("s", cell("f32", 1), result(0.4, 12.5)).ok());
  ASSERT_TRUE((*db)->add_cell("s", cell("int4", 1), result(0.35, std::nullopt)).ok());
  EXPECT_TRUE(*(*db)->has_cell("s", cell("f32", 1).key()));
  EXPECT_FALSE(*(*db)->has_cell("other", cell("f32", 1).key()));
  // A cell is stored once.
  const Status again = (*db)->add_cell("s", cell("f32", 1), result(0.4, 12.5));
  EXPECT_EQ(again.code(), ErrorCode::kInvalidArgument) << again.message();

  db->reset();  // reopening reads what was committed
  auto re = ResultsDb::open(path);
  ASSERT_TRUE(re.ok());
  auto rows = (*re)->cells("s");
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), 2u);
  EXPECT_EQ((*rows)[0].precision, "f32");
  EXPECT_DOUBLE_EQ(*(*rows)[0].result.energy_j, 12.5);
  EXPECT_FALSE((*rows)[1].result.energy_j.has_value());  // not measured stays absent, not 0
  EXPECT_EQ((*rows)[1].result.tokens, 700);
  auto power = (*re)->power("s", cell("f32", 1).key());
  ASSERT_TRUE(power.ok());
  ASSERT_EQ(power->size(), 2u);
  EXPECT_DOUBLE_EQ((*power)[1].power_w, 19.5);
  auto items = (*re)->item_outcomes("s", cell("f32", 1).key());
  ASSERT_TRUE(items.ok()) << items.status().message();
  ASSERT_EQ(items->size(), 2u);
  EXPECT_EQ((*items)[0].id, "17");
  EXPECT_EQ((*items)[0].choice, 2);
  EXPECT_DOUBLE_EQ(*(*items)[0].margin, 0.25);
  EXPECT_FALSE((*items)[1].margin.has_value());
  EXPECT_DOUBLE_EQ((*items)[1].score, 0);
  EXPECT_DOUBLE_EQ(*(*items)[0].chance, 0.25);
  EXPECT_FALSE((*items)[1].chance.has_value());
}

// Two and four processes opening one new database at the same instant (shards on a shared
// filesystem, a runner and a report): each finds a complete schema, none fails on tables another
// created.
TEST(ResultsDb, ProcessesOpeningANewDatabaseAtOnceAllSucceed) {
  for (int procs : {2, 4}) {
    const std::string path = temp_db("race" + std::to_string(procs) + ".db");
    for (int status : run_at_once(procs, [&](int i) {
           auto db = ResultsDb::open(path);
           const bool ok = db.ok() && (*db)->schema_version() == kSchemaVersion &&
                           (*db)->add_cell("s", cell("f32", i + 1), result(0.5, 1.0)).ok();
           return ok ? 0 : 1;
         }))
      EXPECT_TRUE(exited_zero(status)) << procs << " processes, status " << status;
    auto db = ResultsDb::open(path);
    ASSERT_TRUE(db.ok());
    EXPECT_EQ((*db)->cells("s")->size(), size_t(procs));
  }
}

// A database written before per-item outcomes were stored (schema 1) opens, is migrated, keeps its
// cells, and says they have no items; new cells then store theirs.
TEST(ResultsDb, SchemaOneIsMigratedAndOldCellsHaveNoItems) {
  const std::string path = temp_db("v1.db");
  {
    sqlite3* raw = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &raw), SQLITE_OK);
    const char* v1 = R"sql(
CREATE TABLE studies(name TEXT PRIMARY KEY, spec TEXT NOT NULL, updated_at TEXT NOT NULL);
CREATE TABLE cells(id INTEGER PRIMARY KEY, study TEXT NOT NULL, cell_key TEXT NOT NULL, model TEXT NOT NULL,
  model_path TEXT NOT NULL, model_sha256 TEXT NOT NULL, precision TEXT NOT NULL, device TEXT NOT NULL,
  threads INTEGER NOT NULL, task TEXT NOT NULL, task_limit INTEGER NOT NULL, task_sample INTEGER NOT NULL,
  task_seed INTEGER NOT NULL, shots INTEGER NOT NULL, repeat INTEGER NOT NULL, items INTEGER NOT NULL,
  metric TEXT NOT NULL, score REAL NOT NULL, score_stderr REAL NOT NULL, seconds REAL NOT NULL,
  tokens INTEGER NOT NULL, energy_j REAL, energy_source TEXT NOT NULL, avg_power_w REAL, peak_power_w REAL,
  metrics_json TEXT NOT NULL, energy_json TEXT NOT NULL, provenance_json TEXT NOT NULL, finished_at TEXT NOT NULL,
  UNIQUE(study, cell_key));
CREATE TABLE power_samples(cell_id INTEGER NOT NULL REFERENCES cells(id) ON DELETE CASCADE, domain TEXT NOT NULL,
  t_s REAL NOT NULL, power_w REAL NOT NULL);
INSERT INTO cells VALUES(1, 's', 'old', 'smol', 'm.gguf', 'abc', 'f32', 'cpu', 2, 'arc_easy', 10, 0, 1234, 0, 1, 10,
  'acc_norm', 0.5, 0.1, 1.0, 100, NULL, '', NULL, NULL, '{}', '{}', '{}', '2026-12-01T00:00:00Z');
PRAGMA user_version=1;)sql";
    ASSERT_EQ(sqlite3_exec(raw, v1, nullptr, nullptr, nullptr), SQLITE_OK) << sqlite3_errmsg(raw);
    sqlite3_close(raw);
  }
  auto db = ResultsDb::open(path);
  ASSERT_TRUE(db.ok()) << db.status().message();
  EXPECT_EQ((*db)->schema_version(), kSchemaVersion);
  auto rows = (*db)->cells("s");
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_DOUBLE_EQ((*rows)[0].result.score, 0.5);
  auto old = (*db)->item_outcomes("s", "old");
  ASSERT_TRUE(old.ok());
  EXPECT_TRUE(old->empty());
  ASSERT_TRUE((*db)->add_cell("s", cell("f32", 1), result(0.4, 1.0)).ok());
  EXPECT_EQ((*db)->item_outcomes("s", cell("f32", 1).key())->size(), 2u);
}

TEST(ResultsDb, MergeAddsOnlyMissingCells) {
  const std::string a = temp_db("merge_a.db"), b = temp_db("merge_b.db");
  auto da = ResultsDb::open(a), db = ResultsDb::open(b);
  ASSERT_TRUE(da.ok() && db.ok());
  ASSERT_TRUE((*da)->put_study("s", "spec").ok());
  ASSERT_TRUE((*db)->put_study("s", "spec").ok());
  ASSERT_TRUE((*da)->add_cell("s", cell("f32", 1), result(0.4, 10)).ok());
  ASSERT_TRUE((*db)->add_cell("s", cell("f32", 1), result(0.9, 99)).ok());  // same cell, other numbers
  ASSERT_TRUE((*db)->add_cell("s", cell("f32", 2), result(0.41, 11)).ok());
  db->reset();
  auto added = (*da)->merge_from(b);
  ASSERT_TRUE(added.ok()) << added.status().message();
  EXPECT_EQ(*added, 1);
  auto rows = (*da)->cells();
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), 2u);
  EXPECT_DOUBLE_EQ((*rows)[0].result.score, 0.4);  // the existing cell is kept as it was
  EXPECT_EQ((*rows)[1].repeat, 2);
  auto power = (*da)->power("s", cell("f32", 2).key());
  ASSERT_TRUE(power.ok());
  EXPECT_EQ(power->size(), 2u);  // samples follow their cell
  EXPECT_EQ((*da)->item_outcomes("s", cell("f32", 2).key())->size(), 2u);  // and so do item outcomes
  auto twice = (*da)->merge_from(b);
  ASSERT_TRUE(twice.ok());
  EXPECT_EQ(*twice, 0);
}

TEST(ResultsDb, RejectsFilesThatAreNotResultsDatabases) {
  const std::string text = temp_db("text.db");
  std::ofstream(text) << "this is not sqlite, just text that is long enough to have a header....................";
  auto t = ResultsDb::open(text);
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), ErrorCode::kFormat) << t.status().message();

  const std::string other = temp_db("other.db");
  sqlite3* raw = nullptr;
  ASSERT_EQ(sqlite3_open(other.c_str(), &raw), SQLITE_OK);
  sqlite3_exec(raw, "CREATE TABLE notes(x TEXT)", nullptr, nullptr, nullptr);
  sqlite3_close(raw);
  auto o = ResultsDb::open(other);
  ASSERT_FALSE(o.ok());
  EXPECT_NE(o.status().message().find("not a joule results database"), std::string::npos);

  const std::string newer = temp_db("newer.db");
  ASSERT_EQ(sqlite3_open(newer.c_str(), &raw), SQLITE_OK);
  sqlite3_exec(raw, "PRAGMA user_version=99", nullptr, nullptr, nullptr);
  sqlite3_close(raw);
  auto n = ResultsDb::open(newer);
  ASSERT_FALSE(n.ok());
  EXPECT_NE(n.status().message().find("newer than this joule"), std::string::npos) << n.status().message();

  EXPECT_FALSE(ResultsDb::open("/proc/joule/cannot/results.db").ok());
}

}  // namespace
}  // namespace joule::study
