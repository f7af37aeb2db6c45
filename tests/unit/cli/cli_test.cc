// End-to-end checks of the joule binary: bad input gives one clear message and a non-zero exit,
// never a crash; good input works on a tiny generated model.
#include <gtest/gtest.h>


#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "../model/tiny_model.h"
#include "run_command.h"

namespace joule {
namespace {

using Result = testing::CommandResult;

// stdout and stderr together.
Result run_joule(const std::string& args) {
  return testing::run_command(std::string(JOULE_BINARY) + " " + args + " 2>&1");
}

std::string temp(const std::string& name) { return testing::temp_path(name); }

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

// A usage error exits 2, anything else 1; a crash would be 128+.
void expect_error(const Result& r, const std::string& needle, int code = 1) {
  EXPECT_EQ(r.exit_code, code) << r.output;
  EXPECT_NE(r.output.find(needle), std::string::npos) << "missing '" << needle << "' in:\n" << r.output;
}

TEST(Cli, HelpListsCommands) {
  const Result r = run_joule("--help");
  EXPECT_EQ(r.exit_code, 0);
  for (const char* cmd : {"run", "chat", "info", "bench", "quantize"})
    EXPECT_NE(r.output.find(cmd), std::string::npos) << cmd;
}

TEST(Cli, BadFlagsAreUsageErrors) {
  expect_error(run_joule("run --no-such-flag -p x"), "--no-such-flag", 2);
  expect_error(run_joule("run"), "give the prompt with -p TEXT or -f FILE", 2);
  expect_error(run_joule("frobnicate"), "frobnicate", 2);
  expect_error(run_joule("run -p hi -n notanumber"), "notanumber", 2);
}

// Every usage error is one line on stderr, and an unknown command lists every command.
TEST(Cli, UsageErrorsAreOneLine) {
  for (const char* args : {"", "frobnicate", "run", "eval --frobnicate", "run -p hi stray", "run -p hi -n x"}) {
    const Result r = run_joule(args);
    EXPECT_EQ(r.exit_code, 2) << args;
    EXPECT_EQ(r.output.rfind("joule: error: ", 0), 0u) << args << ": " << r.output;
    EXPECT_EQ(r.output.find('\n'), r.output.size() - 1) << args << ": " << r.output;
  }
  expect_error(run_joule("frobnicate"), "run, chat, info, bench, power, quantize, perplexity, init-random, convert, "
                                        "eval, study, report, recommend", 2);
}

TEST(Cli, ModelAndDataFromTheEnvironmentAreNamedWhenMissing) {
  auto with_env = [](const std::string& env, const std::string& args) {
    return testing::run_command(env + " " + JOULE_BINARY + " " + args + " 2>&1");
  };
  expect_error(with_env("JOULE_MODEL=/nonexistent/m.gguf", "run -p hi"), "/nonexistent/m.gguf (from JOULE_MODEL)");
  expect_error(with_env("JOULE_DATA_DIR=/nonexistent/data", "eval --tasks arc_easy"),
               "/nonexistent/data (from JOULE_DATA_DIR) does not exist");
}

TEST(Cli, PromptFromAFileAndNoTokenLimit) {
  const std::string tiny = temp("cli_prompt_tiny.gguf");
  testing::write_tiny_model(tiny, {});
  const std::string prompt = temp("cli_prompt.txt");
  write_bytes(prompt, "hello world");
  const Result from_file = run_joule("run -m " + tiny + " -f " + prompt + " -n 4 --temp 0 --no-energy --json");
  ASSERT_EQ(from_file.exit_code, 0) << from_file.output;
  const Result from_flag = run_joule("run -m " + tiny + " -p 'hello world' -n 4 --temp 0 --no-energy --json");
  EXPECT_EQ(nlohmann::json::parse(from_file.output)["text"], nlohmann::json::parse(from_flag.output)["text"]);
  const Result unlimited = run_joule("run -m " + tiny + " -p hi -n -1 --ctx 24 --temp 0 --no-energy --json");
  ASSERT_EQ(unlimited.exit_code, 0) << unlimited.output;
  const nlohmann::json j = nlohmann::json::parse(unlimited.output);
  EXPECT_LE(j["prompt_tokens"].get<int>() + j["generated_tokens"].get<int>(), 25);  // the last is not evaluated
  EXPECT_NE(j["stop_reason"], "length");
  expect_error(run_joule("run -m " + tiny + " -p hi -f " + prompt), "-p TEXT or -f FILE", 2);
  expect_error(run_joule("run -m " + tiny + " -f /nonexistent/prompt.txt"), "/nonexistent/prompt.txt");
}

TEST(Cli, MissingModelIsNamed) {
  expect_error(run_joule("run -m /nonexistent/model.gguf -p hi"),
               "model file not found: /nonexistent/model.gguf");
}

TEST(Cli, MalformedFilesAreRejected) {
  const std::string tiny = temp("cli_tiny.gguf");
  testing::write_tiny_model(tiny, {});
  std::string good;
  {
    std::ifstream in(tiny, std::ios::binary);
    good.assign(std::istreambuf_iterator<char>(in), {});
  }
  const std::string bad_magic = temp("cli_bad_magic.gguf");
  write_bytes(bad_magic, "GGUX" + good.substr(4));
  expect_error(run_joule("info -m " + bad_magic), "not a GGUF file (bad magic)");

  const std::string truncated = temp("cli_truncated.gguf");
  write_bytes(truncated, good.substr(0, good.size() / 2));
  expect_error(run_joule("run -m " + truncated + " -p hi"), "exceeds");

  std::string huge = good;
  huge[16] = '\x7f';  // kv_count (u64 at offset 16): absurdly large
  huge[23] = '\x7f';
  const std::string huge_path = temp("cli_huge_counts.gguf");
  write_bytes(huge_path, huge);
  expect_error(run_joule("info -m " + huge_path), "cannot fit");
}

TEST(Cli, UnsupportedArchAndMissingTensorAreNamed) {
  testing::TinyModelSpec spec;
  spec.arch = "gpt9";
  const std::string gpt9 = temp("cli_gpt9.gguf");
  testing::write_tiny_model(gpt9, spec);
  expect_error(run_joule("run -m " + gpt9 + " -p hi"), "unsupported architecture 'gpt9'");

  testing::TinyModelSpec missing;
  missing.skip_tensors = {"blk.0.attn_q.weight"};
  const std::string path = temp("cli_missing.gguf");
  testing::write_tiny_model(path, missing);
  expect_error(run_joule("run -m " + path + " -p hi"), "missing tensor 'blk.0.attn_q.weight'");
}

TEST(Cli, BadNumbersAreUsageErrors) {
  const std::string tiny = temp("cli_tiny2.gguf");
  testing::write_tiny_model(tiny, {});
  expect_error(run_joule("bench -m " + tiny + " -p 8,x -n 0 -r 1"), "-p expects", 2);
  expect_error(run_joule("bench -m " + tiny + " -p 8 -n 0 -t 999 -r 1"), "threads must be between", 2);
  expect_error(run_joule("run -m " + tiny + " -p hi --temp -1"), "--temp must be >= 0", 2);
  expect_error(run_joule("quantize " + tiny + " " + temp("out.gguf") + " --type q9_9"),
               "--type 'q9_9' is not one of", 2);
}

TEST(Cli, BenchRunsOnTinyModel) {
  const std::string tiny = temp("cli_tiny3.gguf");
  testing::write_tiny_model(tiny, {});
  const Result r = run_joule("bench -m " + tiny + " -p 16 -n 4 -t 1 -r 2 --json");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("\"test\": \"pp16\""), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("\"test\": \"tg4\""), std::string::npos) << r.output;
}

TEST(Cli, QuantizeOutputLoads) {
  const std::string tiny = temp("cli_tiny4.gguf");
  testing::TinyModelSpec spec;
  spec.d_model = 256;
  spec.d_ff = 512;
  testing::write_tiny_model(tiny, spec);
  const std::string out = temp("cli_tiny4_q8.gguf");
  ASSERT_EQ(run_joule("quantize " + tiny + " " + out + " --type q8_0").exit_code, 0);
  const Result r = run_joule("info -m " + out + " --json");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("\"q8_0\""), std::string::npos) << r.output;
}

}  // namespace
}  // namespace joule
