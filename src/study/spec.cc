#include "study/spec.h"

#include <toml++/toml.h>

#include <algorithm>
#include <filesystem>
#include <set>
#include <sstream>

#include "core/file.h"
#include "eval/tasks.h"
#include "quant/precision.h"

namespace joule::study {
namespace {

// "FILE:LINE: message" for a node (line 0 when toml++ has no position for it).
class Errors {
 public:
  explicit Errors(std::string origin) : origin_(std::move(origin)) {}
  Status at(const toml::node* n, const std::string& what) const {
    const int line = n ? static_cast<int>(n->source().begin.line) : 0;
    return InvalidArgument(origin_ + (line > 0 ? std::string(":") + std::to_string(line) : "") + ": " + what);
  }

 private:
  std::string origin_;
};

Status only_keys(const toml::table& t, const std::set<std::string>& allowed, const std::string& where, const Errors& e) {
  for (const auto& [k, v] : t) {
    if (!allowed.count(std::string(k.str()))) {
      std::string list;
      for (const std::string& a : allowed) list += (list.empty() ? "" : ", ") + a;
      return e.at(&v, "unknown key '" + std::string(k.str()) + "' in " + where + " (known: " + list + ")");
    }
  }
  return Status();
}

template <class T>
Status get(const toml::table& t, const char* key, T* out, const Errors& e) {
  const toml::node* n = t.get(key);
  if (!n) return Status();
  if constexpr (std::is_same_v<T, double>) {
    if (auto v = n->value<double>()) {  // integers are accepted as numbers
      *out = *v;
      return Status();
    }
  } else if (auto v = n->value_exact<T>()) {
    *out = *v;
    return Status();
  }
  return e.at(n, std::string("'") + key + "' has the wrong type");
}

Status get_int(const toml::table& t, const char* key, int* out, int min, const Errors& e) {
  int64_t v = *out;
  JOULE_RETURN_IF_ERROR(get(t, key, &v, e));
  if (v < min || v > 1'000'000'000) return e.at(t.get(key), std::string("'") + key + "' must be >= " + std::to_string(min));
  *out = static_cast<int>(v);
  return Status();
}

template <class T>
Status get_list(const toml::table& t, const char* key, std::vector<T>* out, const Errors& e) {
  const toml::node* n = t.get(key);
  if (!n) return Status();
  const toml::array* a = n->as_array();
  if (!a) return e.at(n, std::string("'") + key + "' must be a list");
  for (const toml::node& x : *a) {
    auto v = x.value_exact<std::conditional_t<std::is_same_v<T, int>, int64_t, T>>();
    if (!v) return e.at(&x, std::string("'") + key + "' has an element of the wrong type");
    out->push_back(static_cast<T>(*v));
  }
  return Status();
}

Expected<std::vector<const toml::table*>> tables(const toml::table& root, const char* key, const Errors& e,
                                                 bool optional = false) {
  std::vector<const toml::table*> out;
  const toml::node* n = root.get(key);
  if (!n && optional) return out;
  if (!n) return e.at(nullptr, std::string("no [[") + key + "]] entries");
  const toml::array* a = n->as_array();
  if (!a || a->empty()) return e.at(n, std::string("'") + key + "' must be one or more [[" + key + "]] tables");
  for (const toml::node& x : *a) {
    if (!x.as_table()) return e.at(&x, std::string("each entry of '") + key + "' must be a table");
    out.push_back(x.as_table());
  }
  return out;
}

Expected<StudySpec> parse_tree(const toml::table& root, const Errors& e) {
  JOULE_RETURN_IF_ERROR(only_keys(root, {"study", "models", "devices", "tasks", "engines"}, "the file", e));
  StudySpec s;
  const toml::table* study = root.get_as<toml::table>("study");
  if (!study) return e.at(nullptr, "no [study] table");
  JOULE_RETURN_IF_ERROR(
      only_keys(*study, {"name", "repeats", "warmup_s", "cooldown_s", "baseline", "precisions", "on_engine_failure"},
                "[study]", e));
  JOULE_RETURN_IF_ERROR(get(*study, "name", &s.name, e));
  if (s.name.empty()) return e.at(study, "[study] needs a name");
  JOULE_RETURN_IF_ERROR(get_int(*study, "repeats", &s.repeats, 1, e));
  JOULE_RETURN_IF_ERROR(get(*study, "warmup_s", &s.warmup_s, e));
  JOULE_RETURN_IF_ERROR(get(*study, "cooldown_s", &s.cooldown_s, e));
  if (s.warmup_s < 0 || s.cooldown_s < 0) return e.at(study, "warmup_s and cooldown_s must be >= 0");
  JOULE_RETURN_IF_ERROR(get(*study, "baseline", &s.baseline, e));
  std::string on_failure = "stop";
  JOULE_RETURN_IF_ERROR(get(*study, "on_engine_failure", &on_failure, e));
  const Expected<OnEngineFailure> policy = parse_on_engine_failure(on_failure);
  if (!policy.ok()) return e.at(study->get("on_engine_failure"), policy.status().message());
  s.on_engine_failure = *policy;

  JOULE_ASSIGN_OR_RETURN(auto engines, tables(root, "engines", e, /*optional=*/true));
  std::set<std::string> engine_names, engine_labels;
  for (const toml::table* t : engines) {
    JOULE_RETURN_IF_ERROR(only_keys(*t, {"name", "start", "precision", "model", "device", "url", "health", "served_model",
                                         "health_timeout_s", "stop_grace_s", "concurrency", "tasks"}, "[[engines]]", e));
    EngineSpec es;
    JOULE_RETURN_IF_ERROR(get(*t, "name", &es.name, e));
    JOULE_RETURN_IF_ERROR(get(*t, "start", &es.start, e));
    JOULE_RETURN_IF_ERROR(get(*t, "precision", &es.precision, e));
    JOULE_RETURN_IF_ERROR(get(*t, "model", &es.model, e));
    JOULE_RETURN_IF_ERROR(get(*t, "device", &es.device, e));
    JOULE_RETURN_IF_ERROR(get(*t, "url", &es.url, e));
    JOULE_RETURN_IF_ERROR(get(*t, "health", &es.health, e));
    JOULE_RETURN_IF_ERROR(get(*t, "served_model", &es.served_model, e));
    JOULE_RETURN_IF_ERROR(get(*t, "health_timeout_s", &es.health_timeout_s, e));
    JOULE_RETURN_IF_ERROR(get(*t, "stop_grace_s", &es.stop_grace_s, e));
    JOULE_RETURN_IF_ERROR(get_int(*t, "concurrency", &es.concurrency, 1, e));
    JOULE_RETURN_IF_ERROR(get_list(*t, "tasks", &es.tasks, e));
    if (es.name.empty() || es.start.empty() || es.precision.empty())
      return e.at(t, "[[engines]] needs a name, a start command and the precision label its cells carry");
    if (es.name.find_first_of(";= ") != std::string::npos) return e.at(t, "an engine's name has no ';', '=' or spaces");
    if (es.health_timeout_s <= 0 || es.stop_grace_s < 0) return e.at(t, "health_timeout_s must be > 0, stop_grace_s >= 0");
    if (!engine_names.insert(es.name).second) return e.at(t, "two engines are named '" + es.name + "'");
    if (es.model.empty()) es.model = es.served_model.empty() ? es.name : es.served_model;
    if (es.device.empty()) es.device = "engine:" + es.name;
    // Its cells are keyed by these labels: two engines with the same three would share cells.
    if (!engine_labels.insert(es.model + ";" + es.precision + ";" + es.device).second)
      return e.at(t, "two engines carry model '" + es.model + "', precision '" + es.precision + "' and device '" +
                         es.device + "': give one another precision, model or device label");
    s.engines.push_back(es);
  }
  const bool own_engine = root.get("models") != nullptr || s.engines.empty();

  JOULE_ASSIGN_OR_RETURN(auto models, tables(root, "models", e, !own_engine));
  std::set<std::string> model_names;
  for (const toml::table* m : models) {
    JOULE_RETURN_IF_ERROR(only_keys(*m, {"name", "path"}, "[[models]]", e));
    ModelSpec ms;
    JOULE_RETURN_IF_ERROR(get(*m, "path", &ms.path, e));
    JOULE_RETURN_IF_ERROR(get(*m, "name", &ms.name, e));
    if (ms.path.empty() && ms.name.empty())
      return e.at(m, "[[models]] needs a path, or a name alone for joule's default model");
    if (ms.name.empty()) ms.name = std::filesystem::path(ms.path).stem().string();
    if (!model_names.insert(ms.name).second) return e.at(m, "two models are named '" + ms.name + "'");
    s.models.push_back(ms);
  }

  JOULE_RETURN_IF_ERROR(get_list(*study, "precisions", &s.precisions, e));
  if (s.precisions.empty()) s.precisions = {"stored"};
  for (const std::string& p : s.precisions)
    if (p != "stored" && !find_precision(p))
      return e.at(study->get("precisions"), "unknown precision '" + p + "' (known: stored, " + precision_list() + ")");
  const bool engine_label = std::any_of(s.engines.begin(), s.engines.end(),
                                        [&](const EngineSpec& es) { return es.precision == s.baseline; });
  if (!s.baseline.empty() && !engine_label &&
      std::find(s.precisions.begin(), s.precisions.end(), s.baseline) == s.precisions.end())
    return e.at(study->get("baseline"), "the baseline '" + s.baseline + "' is not among the precisions or the engines' labels");
  if (s.baseline.empty()) s.baseline = own_engine ? s.precisions.front() : s.engines.front().precision;

  JOULE_ASSIGN_OR_RETURN(auto devices, tables(root, "devices", e, !own_engine));
  for (const toml::table* d : devices) {
    JOULE_RETURN_IF_ERROR(only_keys(*d, {"kind", "threads", "ids"}, "[[devices]]", e));
    DeviceSpec ds;
    JOULE_RETURN_IF_ERROR(get(*d, "kind", &ds.kind, e));
    JOULE_RETURN_IF_ERROR(get_list(*d, "threads", &ds.threads, e));
    JOULE_RETURN_IF_ERROR(get_list(*d, "ids", &ds.ids, e));
    if (ds.kind == "cpu") {
      if (ds.threads.empty()) ds.threads = {1};
      for (int t : ds.threads)
        if (t < 1 || t > 1024) return e.at(d->get("threads"), "thread counts must be 1..1024");
    } else if (ds.kind == "gpu") {
      if (ds.ids.empty()) ds.ids = {0};
    } else {
      return e.at(d, "device kind '" + ds.kind + "' is not cpu or gpu");
    }
    s.devices.push_back(ds);
  }

  JOULE_ASSIGN_OR_RETURN(auto tasks, tables(root, "tasks", e));
  for (const toml::table* t : tasks) {
    JOULE_RETURN_IF_ERROR(only_keys(*t, {"name", "limit", "sample", "seed", "shots"}, "[[tasks]]", e));
    TaskSpec ts;
    JOULE_RETURN_IF_ERROR(get(*t, "name", &ts.name, e));
    if (!eval::find_task(ts.name))
      return e.at(t, "unknown task '" + ts.name + "' (known: " + eval::task_list() + ")");
    JOULE_RETURN_IF_ERROR(get_int(*t, "limit", &ts.limit, 0, e));
    JOULE_RETURN_IF_ERROR(get_int(*t, "sample", &ts.sample, 0, e));
    JOULE_RETURN_IF_ERROR(get_int(*t, "shots", &ts.shots, -1, e));
    int64_t seed = static_cast<int64_t>(ts.seed);
    JOULE_RETURN_IF_ERROR(get(*t, "seed", &seed, e));
    ts.seed = static_cast<uint64_t>(seed);
    if (ts.limit > 0 && ts.sample > 0) return e.at(t, "give limit or sample, not both");
    s.tasks.push_back(ts);
  }
  for (size_t i = 0; i < s.engines.size(); ++i)
    for (const std::string& name : s.engines[i].tasks)
      if (std::none_of(s.tasks.begin(), s.tasks.end(), [&](const TaskSpec& ts) { return ts.name == name; }))
        return e.at(engines[i]->get("tasks"), "engine '" + s.engines[i].name + "' lists task '" + name +
                                                  "', which is not one of the study's [[tasks]]");
  return s;
}

}  // namespace

Expected<OnEngineFailure> parse_on_engine_failure(const std::string& text) {
  if (text == "stop") return OnEngineFailure::kStop;
  if (text == "next-engine") return OnEngineFailure::kNextEngine;
  return InvalidArgument("on_engine_failure '" + text + "' is not stop or next-engine");
}

Expected<StudySpec> parse_study(const std::string& toml_text, const std::string& origin) {
  const Errors e(origin);
  try {
    const toml::table root = toml::parse(toml_text, origin);
    return parse_tree(root, e);
  } catch (const toml::parse_error& err) {
    std::ostringstream msg;
    msg << origin << ":" << err.source().begin.line << ": " << err.description();
    return FormatError(msg.str());
  }
}

Expected<StudySpec> load_study(const std::string& path) {
  JOULE_ASSIGN_OR_RETURN(std::string text, read_file(path, "study file"));
  return parse_study(text, path);
}

}  // namespace joule::study
