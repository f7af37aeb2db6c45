#include "eval/tasks.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <numeric>
#include <random>

namespace joule::eval {
namespace {

std::string data_path(const SelectOptions& o, const std::string& rel) {
  return (std::filesystem::path(o.data_dir) / rel).string();
}

// The indices of the items to evaluate: all, the first `limit`, or `sample` drawn with the seed
// (in file order).
std::vector<size_t> selection(size_t n, const SelectOptions& o) {
  std::vector<size_t> idx(n);
  std::iota(idx.begin(), idx.end(), 0);
  if (o.sample > 0 && static_cast<size_t>(o.sample) < n) {
    std::mt19937_64 rng(o.seed);
    std::shuffle(idx.begin(), idx.end(), rng);
    idx.resize(static_cast<size_t>(o.sample));
    std::sort(idx.begin(), idx.end());
  } else if (o.limit > 0 && static_cast<size_t>(o.limit) < n) {
    idx.resize(static_cast<size_t>(o.limit));
  }
  return idx;
}

// k items of `pool` drawn with a generator seeded by (seed, item), skipping index `skip`.
std::vector<McItem> draw_shots(const std::vector<McItem>& pool, int k, uint64_t seed, size_t item, size_t skip) {
  std::vector<McItem> out;
  if (k <= 0 || pool.empty()) return out;
  std::mt19937_64 rng(seed * 0x9E3779B97F4A7C15ull + item);
  std::vector<size_t> idx(pool.size());
  std::iota(idx.begin(), idx.end(), 0);
  std::shuffle(idx.begin(), idx.end(), rng);
  for (size_t i : idx) {
    if (i == skip) continue;
    out.push_back(pool[i]);
    if (static_cast<int>(out.size()) == k) break;
  }
  return out;
}

McCase mc_case(size_t index, McRequest r, const McItem& item) {
  return McCase{std::to_string(index), std::move(r), item.choices, "", ""};
}

}  // namespace

Expected<std::vector<GenCase>> build_gsm8k_cases(const SelectOptions& o) {
  const int k = o.shots >= 0 ? o.shots : 5;
  JOULE_ASSIGN_OR_RETURN(auto test, load_gsm8k_jsonl(data_path(o, "gsm8k/test.jsonl")));
  std::vector<Gsm8kItem> shots;
  if (k > 0) {
    JOULE_ASSIGN_OR_RETURN(shots, load_gsm8k_jsonl(data_path(o, "gsm8k/train.jsonl")));
    if (static_cast<int>(shots.size()) < k) return InvalidArgument("gsm8k: fewer train items than --shots");
    shots.resize(static_cast<size_t>(k));
  }
  std::vector<GenCase> cases;
  for (size_t i : selection(test.size(), o)) cases.push_back({std::to_string(i), gsm8k_prompt(test[i], shots), test[i].target});
  return cases;
}

const std::vector<TaskInfo>& tasks() {
  static const std::vector<TaskInfo> kTasks = {
      {TaskId::kMmlu, "mmlu", 5, false},
      {TaskId::kArcEasy, "arc_easy", 0, false},
      {TaskId::kArcChallenge, "arc_challenge", 0, false},
      {TaskId::kHellaSwag, "hellaswag", 0, false},
      {TaskId::kTruthfulQaMc1, "truthfulqa_mc1", 0, false},
      {TaskId::kTruthfulQaMc2, "truthfulqa_mc2", 0, false},
      {TaskId::kGsm8k, "gsm8k", 5, true},
  };
  return kTasks;
}

std::optional<TaskInfo> find_task(std::string_view name) {
  for (const TaskInfo& t : tasks())
    if (t.name == name) return t;
  return std::nullopt;
}

std::string task_list() {
  std::string s;
  for (const TaskInfo& t : tasks()) s += (s.empty() ? "" : ", ") + std::string(t.name);
  return s;
}

Expected<std::vector<McCase>> build_mc_cases(const TaskInfo& task, const SelectOptions& o) {
  const int k = o.shots >= 0 ? o.shots : task.default_shots;
  std::vector<McCase> cases;
  switch (task.id) {
    case TaskId::kMmlu: {
      JOULE_ASSIGN_OR_RETURN(auto test, load_mmlu_dir(data_path(o, "mmlu"), "test"));
      JOULE_ASSIGN_OR_RETURN(auto dev, load_mmlu_dir(data_path(o, "mmlu"), "dev"));
      std::map<std::string, std::vector<McItem>> dev_by_subject;
      for (McItem& d : dev) dev_by_subject[d.group].push_back(std::move(d));
      // The four categories are reported when the folder has categories.json (users' copies
      // of MMLU may not).
      std::map<std::string, std::string> category;
      const std::string categories_file = data_path(o, "mmlu/categories.json");
      if (std::filesystem::exists(categories_file)) {
        JOULE_ASSIGN_OR_RETURN(category, load_mmlu_categories(categories_file));
      }
      for (size_t i : selection(test.size(), o)) {
        std::vector<McItem> shots = dev_by_subject[test[i].group];
        if (static_cast<int>(shots.size()) < k)
          return InvalidArgument("mmlu: subject " + test[i].group + " has " + std::to_string(shots.size()) +
                                 " dev examples, fewer than --shots " + std::to_string(k));
        shots.resize(static_cast<size_t>(k));  // the harness's first_n sampler
        McCase c = mc_case(i, mmlu_request(test[i], shots), test[i]);
        c.group = test[i].group;
        if (const auto it = category.find(c.group); it != category.end()) c.category = it->second;
        cases.push_back(std::move(c));
      }
      return cases;
    }
    case TaskId::kArcEasy:
    case TaskId::kArcChallenge: {
      const std::string set = task.id == TaskId::kArcEasy ? "ARC-Easy" : "ARC-Challenge";
      JOULE_ASSIGN_OR_RETURN(auto test, load_arc_jsonl(data_path(o, "arc/" + set + "-Test.jsonl")));
      std::vector<McItem> train;
      if (k > 0) {
        JOULE_ASSIGN_OR_RETURN(train, load_arc_jsonl(data_path(o, "arc/" + set + "-Train.jsonl")));
      }
      for (size_t i : selection(test.size(), o))
        cases.push_back(mc_case(i, arc_request(test[i], draw_shots(train, k, o.seed, i, SIZE_MAX)), test[i]));
      return cases;
    }
    case TaskId::kHellaSwag: {
      JOULE_ASSIGN_OR_RETURN(auto items, load_hellaswag(data_path(o, "hellaswag/hellaswag_val_full.txt")));
      for (size_t i : selection(items.size(), o))
        cases.push_back(mc_case(i, hellaswag_request(items[i], draw_shots(items, k, o.seed, i, i)), items[i]));
      return cases;
    }
    case TaskId::kTruthfulQaMc1:
    case TaskId::kTruthfulQaMc2: {
      if (k > 0) return InvalidArgument(std::string(task.name) + " is 0-shot (its prompt has a fixed 6-question preamble)");
      JOULE_ASSIGN_OR_RETURN(auto items, load_truthfulqa_mc(data_path(o, "truthfulqa/mc_task.v0.json")));
      const bool mc2 = task.id == TaskId::kTruthfulQaMc2;
      for (size_t i : selection(items.size(), o)) {
        McCase c = mc_case(i, truthfulqa_request(items[i], mc2), items[i]);
        if (mc2) c.choices = items[i].mc2_choices;
        cases.push_back(std::move(c));
      }
      return cases;
    }
    case TaskId::kGsm8k:
      return InvalidArgument("gsm8k is a generation task, not multiple choice");
  }
  return InternalError("unhandled task");
}

}  // namespace joule::eval
