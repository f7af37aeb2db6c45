// The study loop with a fake executor: every cell once, resume after a failure (standing in for
// a kill: the cells before it are committed, nothing is duplicated), shards.
#include "study/runner.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <set>

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

}  // namespace
}  // namespace joule::study
