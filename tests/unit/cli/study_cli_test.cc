// joule study end to end on a tiny model: run, rerun (resumes, nothing twice), shards merged,
// the Slurm script, and clear errors for bad study files.
#include <gtest/gtest.h>
#include <signal.h>
#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

#include "../model/tiny_model.h"
#include "run_command.h"

namespace joule {
namespace {

using Result = testing::CommandResult;

Result joule(const std::string& args) { return testing::run_command(std::string(JOULE_BINARY) + " " + args + " 2>&1"); }

// One integer from a query (-1 on any error).
int query_int(const std::string& db, const char* sql) {
  sqlite3* h = nullptr;
  if (sqlite3_open(db.c_str(), &h) != SQLITE_OK) return -1;
  sqlite3_stmt* s = nullptr;
  int n = -1;
  if (sqlite3_prepare_v2(h, sql, -1, &s, nullptr) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW) n = sqlite3_column_int(s, 0);
  sqlite3_finalize(s);
  sqlite3_close(h);
  return n;
}

// distinct * 1000 + rows: equal parts mean no duplicates
int count_cells(const std::string& db) {
  return query_int(db, "SELECT count(DISTINCT cell_key) * 1000 + count(*) FROM cells");
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
  // Each cell keeps its two items' outcomes, with the choice the criterion picked and its margin.
  EXPECT_EQ(query_int(db, "SELECT count(*) FROM item_outcomes"), 8);
  EXPECT_EQ(query_int(db, "SELECT count(DISTINCT item_id) FROM item_outcomes"), 2);
  EXPECT_EQ(query_int(db, "SELECT count(*) FROM item_outcomes WHERE choice BETWEEN 0 AND 3 AND margin >= 0"), 8);
  r = joule(run("--db " + db));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("0 cells run, 4 already stored"), std::string::npos) << r.output;
  EXPECT_EQ(count_cells(db), 4004);
}

TEST_F(StudyCli, AKilledRunLosesAtMostItsCurrentCell) {
  // More, slower cells: 4 precisions x 2 repeats with a cool-down, so the kill lands mid-study.
  std::ofstream(dir_ + "/slow.toml") << "[study]\nname = 'slow'\nrepeats = 2\ncooldown_s = 0.3\n"
                                     << "precisions = ['stored', 'f16', 'bf16', 'q8_0']\n"
                                     << "[[models]]\npath = '" << dir_ << "/tiny.gguf'\n"
                                     << "[[devices]]\nkind = 'cpu'\nthreads = [1]\n"
                                     << "[[tasks]]\nname = 'hellaswag'\n";
  const std::string db = dir_ + "/killed.db", pid_file = dir_ + "/pid";
  const std::string cmd = std::string(JOULE_BINARY) + " study run " + dir_ + "/slow.toml --data " + dir_ + "/data --db " + db;
  ASSERT_EQ(std::system(("(" + cmd + " >/dev/null 2>&1 & echo $! > " + pid_file + ")").c_str()), 0);
  int pid = 0;
  for (int i = 0; i < 100 && pid == 0; ++i) {
    std::ifstream(pid_file) >> pid;
    if (pid == 0) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_GT(pid, 0);
  int stored = 0;  // wait until some cells are committed, then kill -9 in the middle of the study
  for (int i = 0; i < 600 && stored < 2; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    if (std::filesystem::exists(db)) stored = std::max(0, count_cells(db) % 1000);
  }
  ASSERT_GE(stored, 2) << "the study did not store cells in time";
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  const int after_kill = count_cells(db);
  EXPECT_EQ(after_kill / 1000, after_kill % 1000);  // no duplicates
  EXPECT_LT(after_kill % 1000, 8) << "the kill came after the study had finished";
  const Result r = joule("study run " + dir_ + "/slow.toml --data " + dir_ + "/data --db " + db);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find(std::to_string(after_kill % 1000) + " already stored"), std::string::npos) << r.output;
  EXPECT_EQ(count_cells(db), 8008);  // every cell once
}

TEST_F(StudyCli, ReportsRecommendsAndTheHtmlRendersInHeadlessChromium) {
  const std::string db = dir_ + "/joule.db";
  ASSERT_EQ(joule(run("--db " + db)).exit_code, 0);
  Result r = joule("report " + db + " --format md --baseline stored");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("## Quantization strategy comparison (baseline: stored)"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("| f16 @ cpu/1 | tiny |"), std::string::npos) << r.output;
  r = joule("report " + db + " --format csv");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 3) << r.output;  // header + 2 configurations x 1 task
  r = joule("recommend " + db + " --min-accuracy-retention 0.5 --priority accuracy");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("Recommended: "), std::string::npos) << r.output;
  EXPECT_EQ(joule("report " + db + " --format pdf").exit_code, 2);
  EXPECT_EQ(joule("report " + dir_ + "/none.db").exit_code, 1);

  const std::string html = dir_ + "/report.html", png = dir_ + "/report.png";
  r = joule("report " + db + " --format html -o " + html);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  if (testing::run_command("command -v chromium >/dev/null 2>&1").exit_code != 0)
    GTEST_SKIP() << "chromium is not installed (scripts/setup.sh installs it)";
  const Result shot = testing::run_command("timeout 120 chromium --headless --no-sandbox --disable-gpu --window-size=1200,1600 "
                                           "--screenshot=" + png + " file://" + html + " 2>&1");
  ASSERT_EQ(shot.exit_code, 0) << shot.output;
  std::ifstream f(png, std::ios::binary);
  char sig[8] = {};
  f.read(sig, 8);
  EXPECT_EQ(std::string(sig + 1, 3), "PNG");
  EXPECT_GT(std::filesystem::file_size(png), 10000u);  // a rendered page, not an empty canvas

  // Every chart's text as Chromium lays it out: no two boxes in one chart intersect. The report
  // has no scripts; a copy gets one that measures and writes the answer into the page.
  std::ifstream in(html);
  std::string page((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  page.insert(page.rfind("</body>"), R"js(<script>
let n = 0; const bad = [];
for (const svg of document.querySelectorAll('svg')) {
  const r = [...svg.querySelectorAll('text')].map(t => [t.textContent, t.getBoundingClientRect()]);
  n += r.length;
  for (let i = 0; i < r.length; ++i)
    for (let j = i + 1; j < r.length; ++j) {
      const a = r[i][1], b = r[j][1];
      if (a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom) bad.push(r[i][0] + ' / ' + r[j][0]);
    }
}
const out = document.createElement('pre');
out.textContent = 'chart texts: ' + n + ', overlapping pairs: ' + bad.length + '. ' + bad.join('; ');
document.body.appendChild(out);
</script>)js");
  const std::string checked = dir_ + "/checked.html";
  std::ofstream(checked) << page;
  const Result dom = testing::run_command("timeout 120 chromium --headless --no-sandbox --disable-gpu --dump-dom file://" +
                                          checked + " 2>/dev/null");
  ASSERT_EQ(dom.exit_code, 0) << dom.output;
  EXPECT_NE(dom.output.find("chart texts: "), std::string::npos) << dom.output.substr(0, 2000);
  EXPECT_NE(dom.output.find(", overlapping pairs: 0. "), std::string::npos)
      << dom.output.substr(dom.output.find("chart texts: ") == std::string::npos ? 0 : dom.output.find("chart texts: "));
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
  EXPECT_NE(slurm.output.find("#SBATCH --exclusive"), std::string::npos) << slurm.output;  // one device per cell
  const Result gres = joule("study slurm " + dir_ + "/s.toml --shards 2 --gres gpu:1");
  EXPECT_NE(gres.output.find("#SBATCH --gres=gpu:1"), std::string::npos) << gres.output;
  EXPECT_EQ(gres.output.find("--exclusive"), std::string::npos) << gres.output;
  EXPECT_EQ(joule("study slurm " + dir_ + "/s.toml --wait").exit_code, 2);  // --wait needs --submit
  const Result no_slurm = testing::run_command("cd " + dir_ + " && PATH=/nonexistent " + std::string(JOULE_BINARY) +
                                               " study slurm s.toml --shards 2 --db-dir sh --db fresh.db --submit 2>&1");
  EXPECT_EQ(no_slurm.exit_code, 1) << no_slurm.output;
  EXPECT_NE(no_slurm.output.find("sbatch is not installed or not on PATH"), std::string::npos) << no_slurm.output;
}

TEST_F(StudyCli, BadInputIsAClearError) {
  std::ofstream(dir_ + "/bad.toml") << "[study]\nname = 'x'\nprecisions = ['int3']\n[[models]]\npath = 'm.gguf'\n";
  Result r = joule("study run " + dir_ + "/bad.toml");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find(dir_ + "/bad.toml:3: unknown precision 'int3'"), std::string::npos) << r.output;
  r = joule("study run " + dir_ + "/missing.toml");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("cannot open study file"), std::string::npos) << r.output;
  std::ofstream(dir_ + "/gpu.toml") << "[study]\nname = 'g'\n[[models]]\npath = '" << dir_ << "/tiny.gguf'\n"
                                    << "[[devices]]\nkind = 'gpu'\n[[tasks]]\nname = 'hellaswag'\n";
  r = joule("study run " + dir_ + "/gpu.toml --db " + dir_ + "/gpu.db");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("no GPU backend yet"), std::string::npos) << r.output;
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/gpu.db"));  // refused before anything was written
  r = joule(run("--shard 3/2"));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  std::ofstream(dir_ + "/not.db") << "plain text, not a database at all, long enough for sqlite to look at it";
  r = joule(run("--db " + dir_ + "/not.db"));
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("not a joule results database"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace joule
