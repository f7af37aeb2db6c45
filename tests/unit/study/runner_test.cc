// The study loop with a fake executor: every cell once, resume after a failure (standing in for
// a kill: the cells before it are committed, nothing is duplicated), shards, runners sharing a
// database (no cell twice, none skipped, a dead runner's cell taken over).
#include "study/runner.h"

#include "at_once.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

namespace joule::study {
namespace {

StudySpec small_study() {
  StudySpec s;
  s.name = "t";
  s.repeats = 2;
  s.models = {{"m", "m.gguf"}};
  s.precisions = {"f32", "int4"};
  s.devices = {{"cpu", {1, 2}, {}}};
  s.tasks = {{"arc_easy", 5, 0, 1234, -1}, {"hellaswag", 5, 0, 1234, -1}};
  return s;
}

std::string temp_db(const std::string& name) {
  const std::string path = ::testing::TempDir() + "joule_runner_" + std::to_string(getpid()) + "_" + name;
  for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path + suffix);
  return path;
}

CellResult fake_result(const Cell& c) {
  CellResult r;
  r.items = 5;
  r.metric = "acc";
  r.score = 0.1 * c.threads;
  r.seconds = 1;
  r.tokens = 100;
  return r;
}

TEST(StudyRunner, ResumesAfterAFailureWithoutDuplicatesOrLosses) {
  const StudySpec spec = small_study();
  const size_t n = expand(spec).size();
  ASSERT_EQ(n, 16u);
  auto db = ResultsDb::open(temp_db("resume.db"));
  ASSERT_TRUE(db.ok());
  int calls = 0;
  auto dies_at_7 = [&](const Cell& c) -> Expected<CellResult> {
    if (++calls == 7) return IoError("killed");
    return fake_result(c);
  };
  auto first = run_study(spec, "spec", Shard{}, **db, dies_at_7);
  ASSERT_FALSE(first.ok());
  EXPECT_NE(first.status().message().find("killed"), std::string::npos);
  EXPECT_EQ((*db)->cells("t")->size(), 6u);  // the six cells before the failure are kept

  std::vector<std::string> ran;
  int progress_calls = 0;
  auto works = [&](const Cell& c) -> Expected<CellResult> {
    ran.push_back(c.key());
    return fake_result(c);
  };
  auto second = run_study(spec, "spec", Shard{}, **db, works, [&](const Cell&, const RunProgress& p) {
    ++progress_calls;
    EXPECT_EQ(p.skipped, 6);
    EXPECT_EQ(p.total, 16);
  });
  ASSERT_TRUE(second.ok()) << second.status().message();
  EXPECT_EQ(second->run, 10);
  EXPECT_EQ(second->skipped, 6);
  EXPECT_EQ(progress_calls, 10);
  auto rows = (*db)->cells("t");
  ASSERT_EQ(rows->size(), n);
  std::set<std::string> keys;
  for (const CellRow& r : *rows) keys.insert(r.key);
  EXPECT_EQ(keys.size(), n);  // no duplicates

  auto third = run_study(spec, "spec", Shard{}, **db, works);  // nothing left
  ASSERT_TRUE(third.ok());
  EXPECT_EQ(third->run, 0);
  EXPECT_EQ(third->skipped, 16);
}

// Two engines after the own cells: engine a fails on its second cell. With next-engine that cell
// and a's later cells are recorded as failed, b's are measured, the run reports it; the rerun
// measures them and the failures are gone. With stop (the default) the run ends at a's failure,
// and an own cell's failure stops the run whatever the policy.
TEST(StudyRunner, AFailingEngineIsRecordedAndTheStudyGoesOnWithTheNextEngine) {
  StudySpec spec = small_study();
  spec.devices = {{"cpu", {1}, {}}};
  spec.precisions = {"f32"};
  for (const char* name : {"a", "b"}) {
    EngineSpec e;
    e.name = name, e.model = "m", e.precision = std::string("p") + name, e.device = std::string("engine:") + name;
    spec.engines.push_back(e);
  }
  const std::vector<Cell> cells = expand(spec);
  ASSERT_EQ(cells.size(), 12u);  // 4 own, 4 per engine
  auto db = ResultsDb::open(temp_db("engine_failure.db"));
  ASSERT_TRUE(db.ok());
  int a_calls = 0;
  auto a_dies = [&](const Cell& c) -> Expected<CellResult> {
    if (c.engine == 0 && ++a_calls == 2) return IoError("engine a exited with status 3\nlog tail");
    return fake_result(c);
  };
  auto stopped = run_study(spec, "spec", Shard{}, **db, a_dies);
  ASSERT_FALSE(stopped.ok());
  EXPECT_EQ((*db)->cells("t")->size(), 5u);
  EXPECT_TRUE((*db)->failures("t")->empty());

  spec.on_engine_failure = OnEngineFailure::kNextEngine;
  a_calls = 0;
  auto went_on = run_study(spec, "spec", Shard{}, **db, a_dies);
  ASSERT_TRUE(went_on.ok()) << went_on.status().message();
  EXPECT_EQ(went_on->run, 5);  // a's first remaining cell and b's four
  EXPECT_EQ(went_on->failed, 2);
  EXPECT_NE(went_on->first_failure.find("exited with status 3"), std::string::npos) << went_on->first_failure;
  const auto failed = (*db)->failures("t");
  ASSERT_EQ(failed->size(), 2u);
  EXPECT_EQ((*failed)[0].key, cells[6].key());
  EXPECT_EQ((*failed)[0].device, "engine:a");
  EXPECT_EQ((*failed)[0].error, "engine a exited with status 3\nlog tail");
  EXPECT_EQ((*failed)[1].key, cells[7].key());
  EXPECT_EQ((*failed)[1].error, "not tried: its engine failed on cell " + cells[6].key());

  auto rerun = run_study(spec, "spec", Shard{}, **db, fake_result);
  ASSERT_TRUE(rerun.ok());
  EXPECT_EQ(rerun->run, 2);
  EXPECT_EQ(rerun->failed, 0);
  EXPECT_TRUE((*db)->failures("t")->empty());
  EXPECT_EQ((*db)->cells("t")->size(), 12u);

  auto own_fails = ResultsDb::open(temp_db("own_failure.db"));
  auto broken_model = [](const Cell& c) -> Expected<CellResult> {
    if (c.engine < 0) return IoError("bad model file");
    return fake_result(c);
  };
  EXPECT_FALSE(run_study(spec, "spec", Shard{}, **own_fails, broken_model).ok());
}

// A shard's failures travel with its cells into the merged database, until a cell is stored.
TEST(StudyRunner, FailuresMergeAndGoOnceTheCellIsStored) {
  StudySpec spec = small_study();
  const std::string shard_path = temp_db("failures_shard.db");
  auto shard = ResultsDb::open(shard_path);
  auto whole = ResultsDb::open(temp_db("failures_whole.db"));
  const std::vector<Cell> cells = expand(spec);
  ASSERT_TRUE((*shard)->add_failure("t", cells[0], "engine x exited").ok());
  ASSERT_TRUE((*shard)->add_failure("t", cells[1], "engine x exited").ok());
  ASSERT_TRUE((*whole)->add_cell("t", cells[1], fake_result(cells[1])).ok());
  ASSERT_TRUE((*whole)->merge_from(shard_path).ok());
  const auto failed = (*whole)->failures("t");
  ASSERT_EQ(failed->size(), 1u);  // cells[1] is stored here
  EXPECT_EQ((*failed)[0].key, cells[0].key());
  ASSERT_TRUE((*whole)->add_cell("t", cells[0], fake_result(cells[0])).ok());
  EXPECT_TRUE((*whole)->failures("t")->empty());
}

TEST(StudyRunner, ShardsRunDisjointCellsThatMergeIntoTheWholeGrid) {
  const StudySpec spec = small_study();
  auto whole = ResultsDb::open(temp_db("whole.db"));
  ASSERT_TRUE(whole.ok());
  for (int i = 0; i < 3; ++i) {
    const std::string path = temp_db("shard" + std::to_string(i) + ".db");
    {
      auto db = ResultsDb::open(path);
      ASSERT_TRUE(db.ok());
      ASSERT_TRUE(run_study(spec, "spec", Shard{i, 3}, **db, fake_result).ok());
    }
    ASSERT_TRUE((*whole)->merge_from(path).ok());
  }
  EXPECT_EQ((*whole)->cells("t")->size(), expand(spec).size());
}

// Runners started at once on one database (a shared filesystem, two runs of the same study)
// claim cells: together they measure each cell exactly once.
TEST(StudyRunner, RunnersSharingADatabaseMeasureEveryCellOnce) {
  const StudySpec spec = small_study();
  for (int procs : {2, 4}) {
    const std::string db_path = temp_db("shared" + std::to_string(procs) + ".db");
    const std::string log = db_path + ".log";
    std::filesystem::remove(log);
    for (int status : run_at_once(procs, [&](int) {
           auto db = ResultsDb::open(db_path);
           if (!db.ok()) {
             std::fprintf(stderr, "open: %s\n", db.status().message().c_str());
             return 2;
           }
           auto measure = [&](const Cell& c) -> Expected<CellResult> {
             std::this_thread::sleep_for(std::chrono::milliseconds(30));
             std::ofstream(log, std::ios::app) << c.key() << "\n";  // one short append: whole lines
             return fake_result(c);
           };
           return run_study(spec, "spec", Shard{}, **db, measure, nullptr, 0.05).ok() ? 0 : 1;
         }))
      EXPECT_TRUE(exited_zero(status)) << status;
    std::ifstream in(log);
    std::multiset<std::string> measured;
    for (std::string line; std::getline(in, line);) measured.insert(line);
    EXPECT_EQ(measured.size(), expand(spec).size()) << procs << " runners";
    EXPECT_EQ(std::set<std::string>(measured.begin(), measured.end()).size(), measured.size()) << "a cell measured twice";
    auto db = ResultsDb::open(db_path);
    EXPECT_EQ((*db)->cells("t")->size(), expand(spec).size());
  }
}

// A runner killed while measuring leaves a claim; the next runner sees its process is gone and
// measures the cell itself.
TEST(StudyRunner, ACellWhoseRunnerDiedIsTakenOver) {
  const StudySpec spec = small_study();
  const std::string db_path = temp_db("died.db");
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    auto db = ResultsDb::open(db_path);
    (void)run_study(spec, "spec", Shard{}, **db, [](const Cell&) -> Expected<CellResult> {
      raise(SIGKILL);  // in the middle of the first cell
      return IoError("unreachable");
    });
    _exit(0);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFSIGNALED(status));
  auto db = ResultsDb::open(db_path);
  ASSERT_TRUE(db.ok());
  auto sum = run_study(spec, "spec", Shard{}, **db, fake_result, nullptr, 0.05);
  ASSERT_TRUE(sum.ok()) << sum.status().message();
  EXPECT_EQ(sum->run, int(expand(spec).size()));
}

TEST(StudyRunner, RunnersAreAliveWhileTheirProcessOrLeaseLasts) {
  EXPECT_TRUE(runner_alive(this_runner(), 1e9));  // this process, however old its claim
  const std::string me = this_runner();
  const std::string reused_pid = me.substr(0, me.rfind(':')) + ":1";  // same pid, another start time
  EXPECT_FALSE(runner_alive(reused_pid, 0));
  EXPECT_TRUE(runner_alive("another-host:123:456", 60));  // cannot be seen from here: the lease
  EXPECT_FALSE(runner_alive("another-host:123:456", kForeignClaimLeaseS + 1));
  EXPECT_FALSE(runner_alive("garbage", 0));
}

}  // namespace
}  // namespace joule::study
