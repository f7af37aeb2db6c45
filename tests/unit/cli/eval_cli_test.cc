// joule eval end to end on a tiny model and a tiny data folder; bad input gives one clear error.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "../model/tiny_model.h"
#include "run_command.h"

namespace joule {
namespace {

using Result = testing::CommandResult;

Result joule(const std::string& args, bool with_stderr = true) {
  return testing::run_command(std::string(JOULE_BINARY) + " " + args + (with_stderr ? " 2>&1" : " 2>/dev/null"));
}

class EvalCli : public ::testing::Test {
 protected:
  void SetUp() override {
    // Per-test files: ctest runs the tests of a fixture in parallel processes.
    const std::string test = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    model_ = testing::temp_path(test + "_eval_cli.gguf");
    testing::write_tiny_model(model_, {});
    data_ = testing::temp_path(test + "_eval_data");
    std::filesystem::create_directories(data_ + "/hellaswag");
    std::ofstream(data_ + "/hellaswag/hellaswag_val_full.txt")
        << "Cooking: a man cuts bread. he\n1\nsings.\nspreads butter.\nflies.\nsleeps.\n"
        << "Sports: a girl runs. she\n0\njumps.\nreads.\ncooks.\nswims.\n";
    std::filesystem::create_directories(data_ + "/gsm8k");
    std::ofstream(data_ + "/gsm8k/test.jsonl") << R"({"question": "What is 2 + 2?", "answer": "2 + 2 = 4\n#### 4"})" << "\n";
    std::ofstream(data_ + "/gsm8k/train.jsonl") << R"({"question": "What is 1 + 1?", "answer": "1 + 1 = 2\n#### 2"})" << "\n";
  }
  std::string model_, data_;
};

TEST_F(EvalCli, ScoresAndMeasuresATask) {
  const Result r = joule("eval -m " + model_ + " --task hellaswag --data " + data_ + " -t 1 --json", false);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto j = nlohmann::json::parse(r.output);
  ASSERT_EQ(j["tasks"].size(), 1u);
  const auto& t = j["tasks"][0];
  EXPECT_EQ(t["task"], "hellaswag");
  EXPECT_EQ(t["items"], 2);
  EXPECT_EQ(t["primary_metric"], "acc_norm");
  const double acc = t["metrics"]["acc_norm"]["value"].get<double>();
  EXPECT_TRUE(acc == 0.0 || acc == 0.5 || acc == 1.0);
  EXPECT_GT(t["tokens"].get<int>(), 0);
  // The energy of the task with its source, and the efficiency figures from it.
  EXPECT_GT(t["energy_j"].get<double>(), 0.0);
  EXPECT_NE(t["energy_sources"].get<std::string>().find("estimated"), std::string::npos);
  EXPECT_TRUE(t.contains("eor"));
  EXPECT_TRUE(t.contains("tweor"));
  EXPECT_TRUE(j.contains("provenance"));
}

TEST_F(EvalCli, Gsm8kGeneratesAndMatches) {
  const Result r = joule("eval -m " + model_ + " --task gsm8k --shots 1 --max-gen-tokens 8 --data " + data_ +
                         " -t 1 --json --no-energy", false);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto t = nlohmann::json::parse(r.output)["tasks"][0];
  EXPECT_EQ(t["task"], "gsm8k");
  EXPECT_EQ(t["primary_metric"], "exact_match_strict");
  EXPECT_TRUE(t["metrics"].contains("exact_match_flexible"));
  EXPECT_GT(t["tokens"].get<int>(), 0);
}

TEST_F(EvalCli, BadRequestsAreClearErrors) {
  auto expect = [](const Result& r, const std::string& needle, int code) {
    EXPECT_EQ(r.exit_code, code) << r.output;
    EXPECT_NE(r.output.find(needle), std::string::npos) << r.output;
  };
  expect(joule("eval -m " + model_ + " --task squad --data " + data_), "--tasks 'squad' is not one of mmlu, arc_easy", 2);
  expect(joule("eval -m " + model_ + " --task gsm8k --shots 3 --data " + data_), "gsm8k: fewer train items than --shots", 2);
  expect(joule("eval -m " + model_ + " --task arc_easy --data " + data_), "cannot open " + data_ + "/arc/ARC-Easy-Test.jsonl", 1);
  expect(joule("eval -m " + model_ + " --task truthfulqa_mc1 --shots 2 --data " + data_), "is 0-shot", 2);
}

// The engine flags: each wrong combination is a usage error named before anything is loaded or
// contacted; a server that is not there is an error of its own.
TEST_F(EvalCli, EngineFlagsAreChecked) {
  auto expect = [](const Result& r, const std::string& needle, int code) {
    EXPECT_EQ(r.exit_code, code) << r.output;
    EXPECT_NE(r.output.find(needle), std::string::npos) << r.output;
  };
  expect(joule("eval --engine vllm --task hellaswag --data " + data_), "--engine", 2);
  expect(joule("eval --engine openai --task hellaswag --data " + data_), "--engine openai needs --url", 2);
  expect(joule("eval --engine openai --url ftp://x/v1 --task hellaswag --data " + data_),
         "--url must start with http:// or https://", 2);
  expect(joule("eval --engine openai --url http://127.0.0.1:1/v1 -m " + model_ + " --task hellaswag --data " + data_),
         "-m, --precision and --policy do not apply", 2);
  expect(joule("eval -m " + model_ + " --url http://127.0.0.1:1/v1 --task hellaswag --data " + data_),
         "--url needs --engine openai", 2);
  expect(joule("eval -m " + model_ + " --engine-pid 1 --task hellaswag --data " + data_), "--engine-pid needs --engine openai", 2);
  expect(joule("eval --engine openai --url http://127.0.0.1:1/v1 --hellaswag-llamacpp 4 --data " + data_),
         "--hellaswag-llamacpp scores with joule's own engine", 2);
  expect(joule("eval --engine openai --url http://127.0.0.1:1/v1 --request-timeout 5 --task hellaswag --data " + data_),
         "cannot reach http://127.0.0.1:1/v1/models", 1);
}

}  // namespace
}  // namespace joule
