// The evaluation tasks, named as in lm-evaluation-harness: data files, few-shot selection and
// the requests each item becomes (docs/tasks.md).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "eval/prompts.h"

namespace joule::eval {

enum class TaskId { kMmlu, kArcEasy, kArcChallenge, kHellaSwag, kTruthfulQaMc1, kTruthfulQaMc2, kGsm8k };

struct TaskInfo {
  TaskId id;
  std::string_view name;  // "mmlu", "arc_easy", ...
  int default_shots;
  bool generative;        // GSM8K: generation, else log-likelihood multiple choice
};
const std::vector<TaskInfo>& tasks();
std::optional<TaskInfo> find_task(std::string_view name);
std::string task_list();  // "mmlu, arc_easy, ..."

struct SelectOptions {
  std::string data_dir;  // the layout of joule's data/ (see its README)
  int shots = -1;        // -1: the task's default
  int limit = 0;         // > 0: the first N items
  int sample = 0;        // > 0: N items drawn at random (seeded), instead of limit
  uint64_t seed = 1234;  // for sampling items and few-shot examples
};

// One multiple-choice item ready to score: the request and what the metrics need.
struct McCase {
  std::string id;  // the item's index in its dataset file (the same under every configuration)
  McRequest request;
  std::vector<std::string> choices;  // choice texts without the delimiter (acc_norm lengths)
  std::string group;                 // MMLU subject (macro average), else empty
  std::string category;              // MMLU category of the subject, when categories.json exists
};

// The items of a multiple-choice task as requests, few-shot examples included (MMLU: the first
// k of the subject's dev split; ARC: k drawn from the train split with the seed; HellaSwag: k
// other items of the file drawn with the seed; TruthfulQA: 0-shot after its preamble).
Expected<std::vector<McCase>> build_mc_cases(const TaskInfo& task, const SelectOptions& o);

// GSM8K: the prompt of each selected test item and its target. Shots: the first k train items
// (the harness draws them with Python's random generator, which joule does not reproduce).
struct GenCase {
  std::string id;  // the item's index in the test file
  std::string prompt;
  std::string target;
};
Expected<std::vector<GenCase>> build_gsm8k_cases(const SelectOptions& o);

}  // namespace joule::eval
