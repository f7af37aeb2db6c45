#include "eval/runner.h"

#include <algorithm>
#include <cctype>

#include "eval/scoring.h"
#include "metrics/stats.h"

namespace joule::eval {
namespace {

// "social sciences" -> "social_sciences", "other (business, health, misc.)" -> "other".
std::string category_key(const std::string& category) {
  std::string key = category.substr(0, category.find(" ("));
  for (char& c : key) c = c == ' ' ? '_' : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return key;
}

}  // namespace

Expected<TaskResult> run_gsm8k_task(const std::vector<GenCase>& cases, EvalEngine& engine, int max_tokens,
                                    const ItemProgress& progress) {
  TaskResult r;
  r.task = "gsm8k";
  r.primary = "exact_match_strict";
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<GenRequest> requests;
  for (const GenCase& c : cases) requests.push_back({c.prompt, max_tokens, gsm8k_stop_strings()});
  JOULE_ASSIGN_OR_RETURN(const std::vector<Generation> texts, engine.generate(requests, progress));
  std::vector<double> strict, flexible;
  for (size_t i = 0; i < cases.size(); ++i) {
    r.tokens += texts[i].tokens;
    strict.push_back(gsm8k_exact_match(gsm8k_strict_answer(texts[i].text), cases[i].target));
    r.items.push_back({cases[i].id, strict.back(), "", -1, std::nullopt, 0.0});
    flexible.push_back(gsm8k_exact_match(gsm8k_flexible_answer(texts[i].text), cases[i].target));
  }
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  r.n_items = static_cast<int>(cases.size());
  r.metrics["exact_match_strict"] = {metrics::mean(strict), metrics::mean_stderr(strict)};
  r.metrics["exact_match_flexible"] = {metrics::mean(flexible), metrics::mean_stderr(flexible)};
  return r;
}

Expected<TaskResult> run_mc_task(const TaskInfo& task, const std::vector<McCase>& cases, EvalEngine& engine,
                                 const ItemProgress& progress) {
  const bool mc2 = task.id == TaskId::kTruthfulQaMc2;
  TaskResult r;
  r.task = std::string(task.name);
  r.primary = mc2 ? "mc2" : task.id == TaskId::kHellaSwag || task.id == TaskId::kArcChallenge ||
                                    task.id == TaskId::kArcEasy
                                ? "acc_norm"
                                : "acc";
  const ScoreStats before = engine.stats();
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<ScoreRequest> requests;
  for (const McCase& c : cases) requests.push_back({c.request.context, c.request.continuations});
  JOULE_ASSIGN_OR_RETURN(const auto all_scores, engine.score(requests, progress));
  std::map<std::string, std::vector<double>> per_item;   // metric -> value per item
  std::map<std::string, std::vector<double>> by_group;   // MMLU subject -> acc per item
  for (size_t i = 0; i < cases.size(); ++i) {
    const McCase& c = cases[i];
    std::vector<ChoiceLoglik> ll;
    for (const ContinuationScore& s : all_scores[i]) ll.push_back({s.logprob, s.n_tokens});
    if (mc2) {
      per_item["mc2"].push_back(score_mc2(ll, c.request.mc2_true));
      const auto n_true = std::count(c.request.mc2_true.begin(), c.request.mc2_true.end(), 1);
      r.items.push_back({c.id, per_item["mc2"].back(), c.group, -1, std::nullopt,
                         double(n_true) / double(c.request.mc2_true.size())});
    } else {
      const McScores s = score_mc(ll, c.choices, c.request.gold);
      const McPick& pick = r.primary == "acc_norm" ? s.pick_norm : s.pick;
      r.items.push_back({c.id, r.primary == "acc_norm" ? s.acc_norm : s.acc, c.group, pick.choice, pick.margin,
                         1.0 / double(c.choices.size())});
      per_item["acc"].push_back(s.acc);
      per_item["acc_norm"].push_back(s.acc_norm);
      per_item["acc_per_token"].push_back(s.acc_per_token);
      if (!c.group.empty()) by_group[c.group].push_back(s.acc);
      if (!c.category.empty()) per_item["acc_" + category_key(c.category)].push_back(s.acc);
    }
  }
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  r.n_items = static_cast<int>(cases.size());
  for (const auto& [name, values] : per_item) r.metrics[name] = {metrics::mean(values), metrics::mean_stderr(values)};
  if (by_group.size() > 1) {  // MMLU: the mean over subjects, each subject's accuracy first
    std::vector<double> subject_acc;
    for (const auto& [g, v] : by_group) subject_acc.push_back(metrics::mean(v));
    r.metrics["acc_macro"] = {metrics::mean(subject_acc),
                              metrics::bootstrap_stderr(subject_acc, [](const std::vector<double>& v) { return metrics::mean(v); })};
  }
  const ScoreStats after = engine.stats();
  r.tokens = after.context_tokens - before.context_tokens + after.continuation_tokens - before.continuation_tokens;
  r.naive_tokens = after.naive_tokens - before.naive_tokens;
  return r;
}

}  // namespace joule::eval
