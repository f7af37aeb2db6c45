#include "eval/runner.h"

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

Expected<TaskResult> run_mc_task(const TaskInfo& task, const std::vector<McCase>& cases, LoglikScorer& scorer,
                                 const ItemProgress& progress) {
  const bool mc2 = task.id == TaskId::kTruthfulQaMc2;
  TaskResult r;
  r.task = std::string(task.name);
  r.primary = mc2 ? "mc2" : task.id == TaskId::kHellaSwag || task.id == TaskId::kArcChallenge ||
                                    task.id == TaskId::kArcEasy
                                ? "acc_norm"
                                : "acc";
  const ScoreStats before = scorer.stats();
  const auto t0 = std::chrono::steady_clock::now();
  std::map<std::string, std::vector<double>> per_item;   // metric -> value per item
  std::map<std::string, std::vector<double>> by_group;   // MMLU subject -> acc per item
  for (size_t i = 0; i < cases.size(); ++i) {
    const McCase& c = cases[i];
    JOULE_ASSIGN_OR_RETURN(auto scores, scorer.score(c.request.context, c.request.continuations));
    std::vector<ChoiceLoglik> ll;
    for (const ContinuationScore& s : scores) ll.push_back({s.logprob, s.n_tokens});
    if (mc2) {
      per_item["mc2"].push_back(score_mc2(ll, c.request.mc2_true));
    } else {
      const McScores s = score_mc(ll, c.choices, c.request.gold);
      per_item["acc"].push_back(s.acc);
      per_item["acc_norm"].push_back(s.acc_norm);
      per_item["acc_per_token"].push_back(s.acc_per_token);
      if (!c.group.empty()) by_group[c.group].push_back(s.acc);
      if (!c.category.empty()) per_item["acc_" + category_key(c.category)].push_back(s.acc);
    }
    if (progress) progress(static_cast<int>(i + 1), static_cast<int>(cases.size()));
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
  r.tokens = scorer.stats().context_tokens - before.context_tokens + scorer.stats().continuation_tokens -
             before.continuation_tokens;
  return r;
}

}  // namespace joule::eval
