// joule study end to end on a tiny model: run, rerun (resumes, nothing twice), shards merged,
// the Slurm script, and clear errors for bad study files.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <filesystem>
#include <fstream>

#include "../model/tiny_model.h"
#include "run_command.h"

namespace joule {
namespace {

using Result = testing::CommandResult;

Result joule(const std::string& args) { return testing::run_command(std::string(JOULE_BINARY) + " " + args + " 2>&1"); }

int count_cells(const std::string& db) {
  sqlite3* h = nullptr;
  if (sqlite3_open(db.c_str(), &h) != SQLITE_OK) return -1;
  sqlite3_stmt* s = nullptr;
  int n = -1;
  if (sqlite3_prepare_v2(h, "SELECT count(DISTINCT cell_key) * 1000 + count(*) FROM cells", -1, &s, nullptr) == SQLITE_OK &&
      sqlite3_step(s) == SQLITE_ROW)
    n = sqlite3_column_int(s, 0);
  sqlite3_finalize(s);
  sqlite3_close(h);
  return n;  // distinct * 1000 + rows: equal parts mean no duplicates
}

class StudyCli : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string test = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    dir_ = testing::temp_path(test + "_study");
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_ + "/data/hellaswag");
    testing::write_tiny_model(dir_ + "/tiny.gguf", {});
    std::ofstream(dir_ + "/data/hellaswag/hellaswag_val_full.txt")
        << "Cooking: a man cuts bread. he\n1\nsings.\nspreads butter.\nflies.\nsleeps.\n"
        << "Sports: a girl runs. she\n0\njumps.\nreads.\ncooks.\nswims.\n";
    std::ofstream(dir_ + "/s.toml") << "[study]\nname = 'tiny'\nrepeats = 2\nprecisions = ['stored', 'f16']\n"
                                    << "[[models]]\npath = '" << dir_ << "/tiny.gguf'\n"
                                    << "[[devices]]\nkind = 'cpu'\nthreads = [1]\n"
                                    << "[[tasks]]\nname = 'hellaswag'\n";
  }
  std::string run(const std::string& extra) { return "study run " + dir_ + "/s.toml --data " + dir_ + "/data " + extra; }
  std::string dir_;
};

TEST_F(StudyCli, RunsEveryCellOnceAndResumes) {
  const std::string db = dir_ + "/r/joule.db";
  Result r = joule(run("--db " + db));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("4 cells run, 0 already stored"), std::string::npos) << r.output;
  EXPECT_EQ(count_cells(db), 4004);
  r = joule(run("--db " + db));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("0 cells run, 4 already stored"), std::string::npos) << r.output;
  EXPECT_EQ(count_cells(db), 4004);
}

TEST_F(StudyCli, ShardsMergeIntoTheWholeStudy) {
  for (int i = 1; i <= 2; ++i) {
    const Result r = joule(run("--shard " + std::to_string(i) + "/2 --db " + dir_ + "/shard" + std::to_string(i) + ".db"));
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_NE(r.output.find("2 cells run"), std::string::npos) << r.output;
  }
  const Result m = joule("study merge " + dir_ + "/all.db " + dir_ + "/shard1.db " + dir_ + "/shard2.db");
  ASSERT_EQ(m.exit_code, 0) << m.output;
  EXPECT_EQ(count_cells(dir_ + "/all.db"), 4004);
  const Result slurm = joule("study slurm " + dir_ + "/s.toml --shards 2");
  ASSERT_EQ(slurm.exit_code, 0) << slurm.output;
  EXPECT_NE(slurm.output.find("#SBATCH --array=1-2"), std::string::npos) << slurm.output;
  EXPECT_NE(slurm.output.find("--shard \"$SLURM_ARRAY_TASK_ID/2\""), std::string::npos) << slurm.output;
}

TEST_F(StudyCli, BadInputIsAClearError) {
  std::ofstream(dir_ + "/bad.toml") << "[study]\nname = 'x'\nprecisions = ['int3']\n[[models]]\npath = 'm.gguf'\n";
  Result r = joule("study run " + dir_ + "/bad.toml");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find(dir_ + "/bad.toml:3: unknown precision 'int3'"), std::string::npos) << r.output;
  r = joule("study run " + dir_ + "/missing.toml");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("cannot open study file"), std::string::npos) << r.output;
  r = joule(run("--shard 3/2"));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  std::ofstream(dir_ + "/not.db") << "plain text, not a database at all, long enough for sqlite to look at it";
  r = joule(run("--db " + dir_ + "/not.db"));
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("not a joule results database"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace joule
