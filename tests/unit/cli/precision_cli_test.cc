// The precision commands end to end: --precision/--policy at load time, joule quantize with a
// type or a policy, joule perplexity; bad input gives one clear message and a non-zero exit.
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <string>

#include "../model/tiny_model.h"
#include "formats/gguf/gguf.h"
#include "run_command.h"

namespace joule {
namespace {

using Result = testing::CommandResult;

Result joule(const std::string& args) {
  return testing::run_command(std::string(JOULE_BINARY) + " " + args + " 2>&1");
}
Result joule_stdout(const std::string& args) {
  return testing::run_command(std::string(JOULE_BINARY) + " " + args + " 2>/dev/null");
}

void expect_error(const Result& r, const std::string& needle, int code) {
  EXPECT_EQ(r.exit_code, code) << r.output;
  EXPECT_NE(r.output.find(needle), std::string::npos) << "missing '" << needle << "' in:\n" << r.output;
}

class PrecisionCli : public ::testing::Test {
 protected:
  void SetUp() override {
    // Per-test files: ctest runs the tests of a fixture in parallel processes.
    const std::string test = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    model_ = testing::temp_path(test + "_prec_cli.gguf");
    testing::write_tiny_model(model_, {});
    text_ = testing::temp_path(test + "_prec_cli.txt");
    std::ofstream t(text_);
    for (int i = 0; i < 40; ++i) t << "the quick brown fox jumps over the lazy dog " << i << "\n";
  }
  std::string model_, text_;
};

TEST_F(PrecisionCli, RunAtEveryPrecision) {
  for (const char* p : {"f32", "f16", "bf16", "q8_0", "int8", "int8-dynamic", "q4_0", "q4_1", "int4", "sparse-2:4"}) {
    const Result r = joule_stdout("run -m " + model_ + " -p hello -n 4 --temp 0 --no-energy --json --precision " + p);
    ASSERT_EQ(r.exit_code, 0) << p << ": " << r.output;
    const auto j = nlohmann::json::parse(r.output);
    EXPECT_FALSE(j["precision"].get<std::string>().empty());
    EXPECT_TRUE(j["weight_types"].is_object());
  }
}

TEST_F(PrecisionCli, BadPrecisionFlagsAreUsageErrors) {
  expect_error(joule("run -m " + model_ + " -p hi --precision int3"), "--precision 'int3' is not one of", 2);
  expect_error(joule("run -m " + model_ + " -p hi --precision q8_0 --policy x.policy"),
               "--precision and --policy exclude each other", 2);
  expect_error(joule("run -m " + model_ + " -p hi --policy /nonexistent.policy"),
               "cannot open policy file /nonexistent.policy", 1);
  const std::string bad = testing::temp_path("bad.policy");
  std::ofstream(bad) << "* = q8_0\nblk.0.attn_q.weight: q4_0\n";
  expect_error(joule("run -m " + model_ + " -p hi --policy " + bad), "bad.policy:2: expected 'PATTERN = PRECISION'", 2);
}

TEST_F(PrecisionCli, QuantizeWithAPolicyWritesWhatItSays) {
  const std::string policy = testing::temp_path("mixed.policy");
  std::ofstream(policy) << "# test\nblk.1.* = q8_0\ntoken_embd.weight = keep\n* = int8-dynamic\n";
  const std::string out = testing::temp_path("mixed.gguf");
  const Result r = joule("quantize " + model_ + " " + out + " --policy " + policy);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto f = gguf::File::open(out);
  ASSERT_TRUE(f.ok()) << f.status().message();
  EXPECT_EQ(f->find_tensor("blk.1.ffn_up.weight")->type, DType::kQ8_0);
  EXPECT_EQ(f->find_tensor("blk.0.ffn_up.weight")->type, DType::kI8_DYN);
  EXPECT_EQ(f->find_tensor("token_embd.weight")->type, DType::kF32);
  EXPECT_EQ(f->find_tensor("blk.0.attn_norm.weight")->type, DType::kF32);  // vectors stay
  EXPECT_NE(f->get_string("joule.quantize.policy")->find("* = int8-dynamic"), std::string::npos);
  // The written model runs.
  EXPECT_EQ(joule("run -m " + out + " -p hi -n 2 --no-energy").exit_code, 0);
}

TEST_F(PrecisionCli, QuantizeRejectsBadRequests) {
  const std::string out = testing::temp_path("never.gguf");
  expect_error(joule("quantize " + model_ + " " + out), "give exactly one of --type and --policy", 2);
  expect_error(joule("quantize " + model_ + " " + out + " --type int3"), "--type 'int3' is not one of", 2);
  const std::string typo = testing::temp_path("typo.policy");
  std::ofstream(typo) << "blk.*.ffn_dwn.weight = q8_0\n";
  expect_error(joule("quantize " + model_ + " " + out + " --policy " + typo),
               "rule 'blk.*.ffn_dwn.weight' matches no weight matrix", 2);
  EXPECT_FALSE(std::ifstream(out).good()) << "nothing is written on error";
}

TEST_F(PrecisionCli, AutoQuantizeWritesModelAndPolicy) {
  const std::string out = testing::temp_path("auto.gguf");
  const Result r = joule("quantize " + model_ + " " + out + " --auto --type q4_0 --base f32 --budget-ppl 1000% --calib " +
                         text_ + " --ctx 32 --calib-tokens 64 -t 1");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::ifstream policy(out + ".policy");
  ASSERT_TRUE(policy.good());
  const std::string text((std::istreambuf_iterator<char>(policy)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("# measured perplexity: f32"), std::string::npos) << text;
  EXPECT_NE(text.find("* = f32"), std::string::npos) << text;
  auto f = gguf::File::open(out);
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->find_tensor("blk.0.ffn_up.weight")->type, DType::kQ4_0);  // the budget fits everything
}

TEST_F(PrecisionCli, AutoQuantizeRejectsBadRequests) {
  const std::string out = testing::temp_path("auto_bad.gguf");
  const std::string base = "quantize " + model_ + " " + out + " --auto ";
  expect_error(joule(base + "--type q4_0"), "--auto needs --calib FILE", 2);
  expect_error(joule(base + "--calib " + text_), "--auto needs --type", 2);
  expect_error(joule(base + "--type q4_0 --calib " + text_ + " --budget-ppl lots"), "--budget-ppl 'lots' is not a percentage", 2);
  expect_error(joule(base + "--type q4_0 --calib " + text_ + " --budget-ppl -1%"), "is not a percentage", 2);
  expect_error(joule(base + "--type q4_0 --calib /nonexistent.txt"), "cannot open calibration text", 1);
  expect_error(joule(base + "--type q4_0 --calib " + text_ + " --ctx 64 --calib-tokens 32"),
               "--calib-tokens must be at least --ctx", 2);
}

TEST_F(PrecisionCli, PerplexityWithKlReference) {
  const Result r = joule_stdout("perplexity -m " + model_ + " -f " + text_ +
                                " --ctx 64 --precision q4_0 --kl-ref f32 --json --no-energy");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto j = nlohmann::json::parse(r.output);
  EXPECT_GT(j["perplexity"].get<double>(), 1.0);
  EXPECT_EQ(j["precision"], "q4_0");
  EXPECT_EQ(j["reference"]["precision"], "f32");
  EXPECT_GE(j["reference"]["kl_divergence_mean"].get<double>(), 0.0);
  EXPECT_GT(j["reference"]["top1_agreement"].get<double>(), 0.5);
}

TEST_F(PrecisionCli, PerplexityBadInput) {
  expect_error(joule("perplexity -m " + model_ + " -f /nonexistent.txt"), "cannot open text file /nonexistent.txt", 1);
  expect_error(joule("perplexity -m " + model_ + " -f " + text_ + " --ctx 8"), "--ctx 8 must be between 16", 2);
  expect_error(joule("perplexity -m " + model_ + " -f " + text_ + " --kl-ref /nonexistent.gguf"),
               "model file not found: /nonexistent.gguf", 1);
}

TEST_F(PrecisionCli, BenchCoversSeveralPrecisions) {
  const Result r = joule_stdout("bench -m " + model_ + " -p 8 -n 4 -r 1 -t 1 --precision f32,int8-dynamic --json --no-energy");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto j = nlohmann::json::parse(r.output);
  ASSERT_EQ(j["results"].size(), 4u);
  EXPECT_EQ(j["results"][0]["precision"], "f32");
  EXPECT_EQ(j["results"][3]["precision"], "int8-dynamic");
  EXPECT_LT(j["results"][3]["weight_bytes"].get<double>(), j["results"][0]["weight_bytes"].get<double>());
}

}  // namespace
}  // namespace joule
