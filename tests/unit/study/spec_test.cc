// Study files: the documented example parses; each kind of mistake is a clear error with a line.
#include "study/spec.h"

#include <gtest/gtest.h>

#include <set>

#include "study/grid.h"

namespace joule::study {
namespace {

constexpr const char* kExample = R"(
[study]
name = "quickstart"
repeats = 2
cooldown_s = 1.5
baseline = "f32"
precisions = ["f32", "int8-dynamic", "int4"]

[[models]]
path = "models/SmolLM2-135M-Instruct.Q4_1.gguf"

[[devices]]
kind = "cpu"
threads = [1, 2]

[[tasks]]
name = "hellaswag"
limit = 50

[[tasks]]
name = "mmlu"
sample = 100
seed = 7
)";

TEST(StudySpec, ParsesTheDocumentedExample) {
  auto s = parse_study(kExample, "quick.toml");
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_EQ(s->name, "quickstart");
  EXPECT_EQ(s->repeats, 2);
  EXPECT_DOUBLE_EQ(s->cooldown_s, 1.5);
  EXPECT_EQ(s->baseline, "f32");
  ASSERT_EQ(s->models.size(), 1u);
  EXPECT_EQ(s->models[0].name, "SmolLM2-135M-Instruct.Q4_1");  // the file's stem
  EXPECT_EQ(s->precisions, (std::vector<std::string>{"f32", "int8-dynamic", "int4"}));
  ASSERT_EQ(s->devices.size(), 1u);
  EXPECT_EQ(s->devices[0].threads, (std::vector<int>{1, 2}));
  ASSERT_EQ(s->tasks.size(), 2u);
  EXPECT_EQ(s->tasks[0].limit, 50);
  EXPECT_EQ(s->tasks[1].sample, 100);
  EXPECT_EQ(s->tasks[1].seed, 7u);
  EXPECT_EQ(s->tasks[1].shots, -1);
}

TEST(StudySpec, DefaultsFillWhatIsLeftOut) {
  auto s = parse_study("[study]\nname='x'\n[[models]]\npath='m.gguf'\n[[devices]]\nkind='cpu'\n[[tasks]]\nname='arc_easy'\n", "d.toml");
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_EQ(s->precisions, std::vector<std::string>{"stored"});
  EXPECT_EQ(s->baseline, "stored");
  EXPECT_EQ(s->devices[0].threads, std::vector<int>{1});
  EXPECT_EQ(s->repeats, 1);
  EXPECT_EQ(s->on_engine_failure, OnEngineFailure::kStop);
  auto next = parse_study("[study]\nname='x'\non_engine_failure='next-engine'\n[[models]]\npath='m.gguf'\n[[devices]]\n"
                          "kind='cpu'\n[[tasks]]\nname='arc_easy'\n", "d.toml");
  ASSERT_TRUE(next.ok()) << next.status().message();
  EXPECT_EQ(next->on_engine_failure, OnEngineFailure::kNextEngine);
}

struct BadCase {
  const char* text;
  const char* expected;  // a part of the message
};

TEST(StudySpec, MistakesAreClearErrorsWithTheirLine) {
  const BadCase cases[] = {
      {"[study]\nname = 'x'\nrepeat = 2\n", "bad.toml:3: unknown key 'repeat' in [study]"},
      {"[study]\nname = \n", "bad.toml:2:"},  // TOML syntax
      {"[study]\nname = 'x'\nrepeats = 'two'\n", "bad.toml:3: 'repeats' has the wrong type"},
      {"[study]\nname = 'x'\nrepeats = 0\n", "'repeats' must be >= 1"},
      {"[[models]]\npath = 'm'\n", "no [study] table"},
      {"[study]\nname = 'x'\n", "no [[models]] entries"},
      {"[study]\nname = 'x'\n[[models]]\npath = 'm'\n[[models]]\npath = 'dir/m'\n", "two models are named 'm'"},
      {"[study]\nname = 'x'\nbaseline = 'f16'\nprecisions = ['f32']\n[[models]]\npath='m'\n", "baseline 'f16' is not among"},
      {"[study]\nname = 'x'\nprecisions = ['int3']\n[[models]]\npath='m'\n", "unknown precision 'int3'"},
      {"[study]\nname = 'x'\n[[models]]\npath='m'\n[[devices]]\nkind='tpu'\n", "device kind 'tpu'"},
      {"[study]\nname = 'x'\n[[models]]\npath='m'\n[[devices]]\nkind='cpu'\nthreads=[0]\n", "thread counts must be"},
      {"[study]\nname = 'x'\n[[models]]\npath='m'\n[[devices]]\nkind='cpu'\n[[tasks]]\nname='mmlu_pro'\n", "unknown task 'mmlu_pro'"},
      {"[study]\nname = 'x'\n[[models]]\npath='m'\n[[devices]]\nkind='cpu'\n[[tasks]]\nname='mmlu'\nlimit=5\nsample=5\n",
       "limit or sample, not both"},
  };
  for (const BadCase& c : cases) {
    auto s = parse_study(c.text, "bad.toml");
    ASSERT_FALSE(s.ok()) << c.text;
    EXPECT_NE(s.status().message().find(c.expected), std::string::npos) << s.status().message();
  }
  EXPECT_EQ(load_study("/nonexistent/study.toml").status().code(), ErrorCode::kNotFound);
}

// Engines the study starts: parsed with their defaults, each a configuration of its own after
// joule's own cells (cell keys of those unchanged), and a study of engines alone needs no models.
TEST(StudySpec, EnginesAreConfigurationsOfTheirOwn) {
  const std::string with_engine = std::string(kExample) + R"(
[[engines]]
name = "vllm-fp8"
start = "vllm serve m --quantization fp8 --port {port}"
precision = "fp8"
served_model = "m"
concurrency = 16
)";
  auto s = parse_study(with_engine, "e.toml");
  ASSERT_TRUE(s.ok()) << s.status().message();
  ASSERT_EQ(s->engines.size(), 1u);
  const EngineSpec& e = s->engines[0];
  EXPECT_EQ(e.url, "http://127.0.0.1:{port}/v1");
  EXPECT_EQ(e.health, "");
  EXPECT_EQ(e.health_timeout_s, 300);
  EXPECT_EQ(e.stop_grace_s, 10);
  EXPECT_EQ(e.concurrency, 16);
  auto plain = parse_study(kExample, "p.toml");
  ASSERT_TRUE(plain.ok());
  const std::vector<Cell> own = expand(*plain), all = expand(*s);
  ASSERT_EQ(all.size(), own.size() + 2 * 2);  // 2 tasks x 2 repeats
  for (size_t i = 0; i < own.size(); ++i) EXPECT_EQ(all[i].key(), own[i].key());
  const Cell& c = all[own.size()];
  EXPECT_EQ(c.device, "engine:vllm-fp8");
  EXPECT_EQ(c.precision, "fp8");
  EXPECT_EQ(c.model.name, "m");
  EXPECT_EQ(c.model.path, "");
  EXPECT_EQ(c.engine, 0);
  EXPECT_EQ(all.front().engine, -1);
  EXPECT_EQ(c.group(), all.back().group());  // one group: the engine is started once

  auto alone = parse_study("[study]\nname = 'x'\n[[tasks]]\nname = 'gsm8k'\n[[engines]]\nname = 'a'\nstart = 's'\n"
                           "precision = 'q4'\n", "a.toml");
  ASSERT_TRUE(alone.ok()) << alone.status().message();
  EXPECT_EQ(expand(*alone).size(), 1u);
  EXPECT_EQ(expand(*alone)[0].model.name, "a");  // no served_model: the engine's name
  EXPECT_EQ(alone->baseline, "q4");               // engines alone: the first engine's label
  auto some = parse_study(std::string(kExample) + "[[engines]]\nname = 'l'\nstart = 's'\nprecision = 'q4'\n"
                                                  "tasks = ['mmlu']\n", "t.toml");
  ASSERT_TRUE(some.ok()) << some.status().message();
  const std::vector<Cell> with_some = expand(*some);
  ASSERT_EQ(with_some.size(), own.size() + 2);  // mmlu x 2 repeats
  EXPECT_EQ(with_some.back().task.name, "mmlu");
}

TEST(StudySpec, EngineMistakesAreClearErrors) {
  const std::string head = "[study]\nname = 'x'\n[[tasks]]\nname = 'gsm8k'\n";
  const std::pair<std::string, std::string> cases[] = {
      {head + "[[engines]]\nname = 'a'\nprecision = 'q4'\n", "needs a name, a start command and the precision"},
      {head + "[[engines]]\nname = 'a b'\nstart = 's'\nprecision = 'q4'\n", "no ';', '=' or spaces"},
      {head + "[[engines]]\nname = 'a'\nstart = 's'\nprecision = 'q4'\nport = 3\n", "unknown key 'port' in [[engines]]"},
      {head + "[[engines]]\nname = 'a'\nstart = 's'\nprecision = 'q4'\nhealth_timeout_s = 0\n", "health_timeout_s must be > 0"},
      {head + "[[engines]]\nname = 'a'\nstart = 's'\nprecision = 'q4'\n[[engines]]\nname = 'a'\nstart = 't'\n"
              "precision = 'q8'\n", "two engines are named 'a'"},
      {head, "no [[models]] entries"},
      {"[study]\nname = 'x'\non_engine_failure = 'retry'\n[[tasks]]\nname = 'gsm8k'\n",
       "bad.toml:3: on_engine_failure 'retry' is not stop or next-engine"},
      {head + "[[engines]]\nname = 'a'\nstart = 's'\nprecision = 'q4'\ntasks = ['mmlu']\n",
       "engine 'a' lists task 'mmlu', which is not one of the study's [[tasks]]"},
      {head + "[[engines]]\nname = 'a'\nstart = 's'\nprecision = 'q4'\nmodel = 'm'\ndevice = 'd'\n[[engines]]\nname = 'b'\n"
              "start = 't'\nprecision = 'q4'\nmodel = 'm'\ndevice = 'd'\n", "two engines carry model 'm', precision 'q4'"},
      {"[study]\nname = 'x'\nbaseline = 'fp16'\n[[tasks]]\nname = 'gsm8k'\n[[engines]]\nname = 'a'\nstart = 's'\n"
       "precision = 'fp8'\n", "the baseline 'fp16' is not among the precisions or the engines' labels"},
  };
  for (const auto& [text, expected] : cases) {
    auto s = parse_study(text, "bad.toml");
    ASSERT_FALSE(s.ok()) << text;
    EXPECT_NE(s.status().message().find(expected), std::string::npos) << s.status().message();
  }
}

TEST(StudyGrid, ExpandsInOrderWithStableKeysAndShards) {
  auto s = parse_study(kExample, "quick.toml");
  ASSERT_TRUE(s.ok());
  const std::vector<Cell> cells = expand(*s);
  ASSERT_EQ(cells.size(), 3u * 2 * 2 * 2);  // precisions x threads x tasks x repeats
  EXPECT_EQ(cells[0].precision, "f32");
  EXPECT_EQ(cells[0].threads, 1);
  EXPECT_EQ(cells[0].task.name, "hellaswag");
  EXPECT_EQ(cells[0].repeat, 1);
  EXPECT_EQ(cells[1].repeat, 2);  // repeats innermost
  EXPECT_EQ(cells[2].task.name, "mmlu");
  EXPECT_EQ(cells[4].threads, 2);
  EXPECT_EQ(cells[8].precision, "int8-dynamic");
  EXPECT_EQ(cells[0].key(),
            "model=SmolLM2-135M-Instruct.Q4_1;precision=f32;device=cpu;threads=1;task=hellaswag;limit=50;sample=0;"
            "seed=1234;shots=-1;repeat=1");
  EXPECT_EQ(cells[0].group(), cells[3].group());
  EXPECT_NE(cells[0].group(), cells[4].group());
  std::set<std::string> keys;
  for (const Cell& c : cells) keys.insert(c.key());
  EXPECT_EQ(keys.size(), cells.size());

  // Shards partition the grid.
  size_t total = 0;
  for (int i = 1; i <= 3; ++i) {
    auto sh = parse_shard(std::to_string(i) + "/3");
    ASSERT_TRUE(sh.ok());
    total += take_shard(cells, *sh).size();
  }
  EXPECT_EQ(total, cells.size());
  for (const char* bad : {"0/3", "4/3", "1/0", "a/b", "1", "1/2x"}) EXPECT_FALSE(parse_shard(bad).ok()) << bad;
}

}  // namespace
}  // namespace joule::study
