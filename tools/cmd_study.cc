// joule study: run a study (a grid of models x precisions x devices x tasks x repeats) into the
// results database, merge shard databases; `slurm` (study_slurm.cc) runs shards on a cluster.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <map>
#include <thread>

#include "common.h"
#include "engine_cli.h"
#include "engine_process.h"
#include "remote/remote_engine.h"
#include "core/file.h"
#include "energy_cli.h"
#include "eval_task.h"
#include "paths.h"
#include "study/runner.h"

namespace joule::cli {
namespace {

constexpr const char* kDefaultDb = "results/joule.db";

struct StudyRunOptions {
  std::string file;
  std::string db = kDefaultDb;
  std::string shard = "1/1";
  std::string data_dir;
  int n_ctx = 2048;
  int max_gen_tokens = 256;
  bool dry_run = false;
  std::string on_engine_failure;  // "" = the study file's (default stop)
  EnergyOptions energy;
};

// Measures cells: keeps the model of the current group (model, precision, device, threads)
// loaded, so a group's tasks and repeats load it once; an engine's group (Cell::engine) keeps
// the server the study started running, with an energy session whose estimate follows it.
class CellRunner {
 public:
  CellRunner(const StudyRunOptions& o, const study::StudySpec& spec, EnergySession& energy)
      : o_(o), spec_(spec), energy_(energy) {}

  Expected<study::CellResult> operator()(const study::Cell& c) {
    if (c.group() != group_) JOULE_RETURN_IF_ERROR(load(c));
    const std::optional<eval::TaskInfo> task = eval::find_task(c.task.name);
    if (!task) return InvalidArgument("unknown task " + c.task.name);
    const eval::SelectOptions sel{o_.data_dir, c.task.shots, c.task.limit, c.task.sample, c.task.seed};
    ProgressBar bar("joule study", c.precision + " " + c.task.name);
    EvalEngine& engine = remote_ ? static_cast<EvalEngine&>(*remote_) : *engine_;
    EnergySession& energy = engine_energy_ ? *engine_energy_ : energy_;
    auto ran = run_eval_task(*task, sel, engine, o_.max_gen_tokens, energy, [&](int n, int total) { bar.update(n, total); });
    if (!ran.ok() && process_) {
      if (auto how = process_->ended())
        return IoError("engine " + spec_.engines[size_t(c.engine)].name + " " + *how + " during the cell (log " +
                       engine_log_ + "):\n" + process_->log_tail());
    }
    if (!ran.ok()) return ran.status();
    const TaskRun& run = *ran;
    const eval::TaskResult& t = run.result;
    study::CellResult r;
    r.model_sha256 = remote_ ? "" : sha256_;
    r.items = t.n_items;
    r.metric = t.primary;
    r.score = t.metrics.at(t.primary).value;
    r.score_stderr = t.metrics.at(t.primary).std_err;
    r.seconds = t.seconds;
    r.tokens = t.tokens;
    r.energy_j = run.energy_j;
    r.energy_source = run.sources;
    r.metrics_json = metrics_json(t).dump();
    r.item_outcomes = t.items;
    if (const energy::WindowResult* w = energy.result(run.window)) {
      r.energy_json = window_json(*w, static_cast<int>(t.tokens)).dump();
      if (run.energy_j && w->duration_s > 0) r.avg_power_w = *run.energy_j / w->duration_s;
      if (w->domains.size() == 1) r.peak_power_w = w->domains[0].peak_power_w;  // a sum of peaks is no peak
      for (const energy::DomainWindow& d : w->domains)
        for (const auto& [t_s, power_w] : d.power_series) r.power.push_back({d.domain, t_s, power_w});
    }
    nlohmann::json prov = provenance();
    if (remote_) {
      prov["engine"] = engine_prov_;
    } else {
      prov["model_path"] = c.model.path;
      prov["model_sha256"] = sha256_;
      prov["precision"] = lm_.precision;
      prov["weight_types"] = weight_types_json(*lm_.model);
      prov["threads"] = c.threads;
    }
    prov["device"] = c.device;
    prov["energy_sources"] = energy.sources_json();
    r.provenance_json = prov.dump();
    return r;
  }

 private:
  Status load(const study::Cell& c) {
    remote_.reset();
    engine_energy_.reset();
    process_.reset();  // stops the previous engine
    engine_.reset();
    pool_.reset();
    lm_ = {};
    group_.clear();
    if (c.engine >= 0) return start_engine(c);
    JOULE_RETURN_IF_ERROR(check_threads(c.threads));
    ModelOptions mo;
    mo.path = c.model.path;
    mo.precision = c.precision == "stored" ? "" : c.precision;
    JOULE_ASSIGN_OR_RETURN(lm_, load_model(mo));
    if (!sha256_by_path_.count(c.model.path)) {  // hashed once per file (a 7B model takes seconds)
      JOULE_ASSIGN_OR_RETURN(std::string sha, sha256_file(c.model.path, "model"));
      sha256_by_path_[c.model.path] = sha;
    }
    sha256_ = sha256_by_path_[c.model.path];
    n_ctx_ = std::min(o_.n_ctx, lm_.model->config().ctx_train);
    pool_ = std::make_unique<ThreadPool>(c.threads);
    engine_ = std::make_unique<LocalEvalEngine>(*lm_.model, *lm_.tokenizer, n_ctx_, *pool_, cpu::best_kernels());
    group_ = c.group();
    if (spec_.warmup_s > 0) {  // caches, clocks and page cache settle before anything is measured
      const auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(spec_.warmup_s);
      while (std::chrono::steady_clock::now() < until)
        JOULE_RETURN_IF_ERROR(engine_->score({{"The quick brown fox jumps over the lazy", {" dog", " cat"}}}, {}).status());
    }
    return Status();
  }

  // Starts the cell's engine, waits for its health URL under an energy window of its own (the
  // start-up's seconds and joules go into the cells' provenance, apart from their figures) and
  // connects to it; its log goes beside the database (engines/NAME.log).
  Status start_engine(const study::Cell& c) {
    const study::EngineSpec* it = &spec_.engines.at(size_t(c.engine));
    const std::string& name = it->name;
    namespace fs = std::filesystem;
    const fs::path dir = fs::absolute(o_.db).parent_path() / "engines";
    std::error_code ec;
    fs::create_directories(dir, ec);
    engine_log_ = (dir / (name + ".log")).string();
    std::error_code self_ec;
    const std::string self = fs::read_symlink("/proc/self/exe", self_ec).string();
    JOULE_ASSIGN_OR_RETURN(process_, EngineProcess::spawn(*it, self, engine_log_));
    std::fprintf(stderr, "[joule study] engine %s: started process %d: %s (log %s)\n", name.c_str(),
                 static_cast<int>(process_->pid()), process_->command().c_str(), engine_log_.c_str());
    EnergyOptions eo = o_.energy;  // the study's own session keeps the GPU settings and the trace
    eo.trace.clear();
    eo.gpu_power_limit_w = 0;
    eo.gpu_clocks.clear();
    eo.idle_baseline_s = 0;  // measured below, once the engine is up
    if (!eo.off) eo.estimate.pid = process_->pid();
    JOULE_ASSIGN_OR_RETURN(engine_energy_, EnergySession::start(eo));
    const std::string window = "engine-start:" + name;
    const auto t0 = std::chrono::steady_clock::now();
    engine_energy_->begin(window);
    const Status healthy = process_->wait_healthy();
    const auto w = engine_energy_->end(window);
    JOULE_RETURN_IF_ERROR(healthy);
    const double start_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    // --idle-baseline: the engine's idle power, measured now that it is up and before its cells,
    // so each cell's window also says its energy above idle.
    if (o_.energy.idle_baseline_s > 0 && engine_energy_->meter()) {
      std::fprintf(stderr, "[joule study] engine %s: measuring its idle power for %.1f s\n", name.c_str(),
                   o_.energy.idle_baseline_s);
      JOULE_RETURN_IF_ERROR(engine_energy_->meter()->measure_idle(o_.energy.idle_baseline_s));
    }
    remote::EndpointOptions endpoint;
    endpoint.url = process_->url();
    endpoint.model = it->served_model;
    JOULE_ASSIGN_OR_RETURN(remote::Client client, remote::Client::connect(endpoint));
    engine_prov_ = endpoint_json(client);
    engine_prov_.update({{"name", name},
                         {"start", process_->command()},
                         {"pid", process_->pid()},
                         {"start_s", start_s},
                         {"start_energy", w ? window_json(*w, 0) : nlohmann::json(nullptr)}});
    std::fprintf(stderr, "[joule study] engine %s: healthy after %.1f s, serving %s\n", name.c_str(), start_s,
                 client.model().c_str());
    remote_ = std::make_unique<remote::RemoteEvalEngine>(std::move(client), it->concurrency);
    for (const study::TaskSpec& t : spec_.tasks)
      if (const auto info = eval::find_task(t.name);
          info && !info->generative && it->runs(t.name)) {
        if (Status s = remote_->check_scoring(); !s.ok())
          return Status(s.code(), "engine " + name + " cannot run task " + t.name + ": " + s.message());
        break;
      }
    group_ = c.group();
    return Status();
  }

  const StudyRunOptions& o_;
  const study::StudySpec& spec_;
  EnergySession& energy_;
  std::string group_;
  LoadedModel lm_;
  std::string sha256_;
  std::map<std::string, std::string> sha256_by_path_;
  int n_ctx_ = 0;
  std::unique_ptr<ThreadPool> pool_;
  std::unique_ptr<LocalEvalEngine> engine_;
  // An engine group's server, its energy session and client (declared last: destroyed first,
  // the process stopped after the client and session that use it are gone).
  std::unique_ptr<EngineProcess> process_;
  std::string engine_log_;
  std::unique_ptr<EnergySession> engine_energy_;
  std::unique_ptr<remote::RemoteEvalEngine> remote_;
  nlohmann::json engine_prov_;
};

// A model's file: none given is the default model; a relative path is taken from the current
// folder, else from the study file's folder (so a study next to its models runs from anywhere).
Status resolve_model_path(const std::string& study_file, study::ModelSpec* m) {
  namespace fs = std::filesystem;
  if (m->path.empty()) {
    JOULE_ASSIGN_OR_RETURN(m->path, find_default_model());
    return Status::Ok();
  }
  if (fs::exists(m->path)) return Status::Ok();
  const fs::path beside = fs::path(study_file).parent_path() / m->path;
  if (fs::path(m->path).is_relative() && fs::exists(beside)) {
    m->path = beside.lexically_normal().string();
    return Status::Ok();
  }
  return NotFound("model " + m->path + " (from " + study_file + ") does not exist, in the current folder or beside " +
                  "the study file");
}

int run_study_cmd(StudyRunOptions o) {
  auto text = read_file(o.file, "study file");
  if (!text.ok()) return report_error(text.status());
  auto spec = study::parse_study(*text, o.file);
  if (!spec.ok()) return report_error(spec.status());
  if (!o.on_engine_failure.empty()) {
    auto policy = study::parse_on_engine_failure(o.on_engine_failure);
    if (!policy.ok()) return report_error(policy.status());
    spec->on_engine_failure = *policy;
  }
  auto shard = study::parse_shard(o.shard);
  if (!shard.ok()) return report_error(shard.status());
  const std::vector<study::Cell> cells = study::take_shard(study::expand(*spec), *shard);
  if (o.dry_run) {
    for (const study::Cell& c : cells) std::printf("%s\n", c.key().c_str());
    std::fprintf(stderr, "[joule study] %zu cells in shard %s\n", cells.size(), o.shard.c_str());
    return 0;
  }
  for (const study::DeviceSpec& d : spec->devices)  // refuse before measuring anything
    if (d.kind != "cpu")
      return report_error(Unsupported(o.file + ": device kind '" + d.kind +
                                      "': joule has no GPU backend yet (the CUDA issue); use kind = \"cpu\""));
  for (study::ModelSpec& m : spec->models)
    if (Status s = resolve_model_path(o.file, &m); !s.ok()) return report_error(s);
  auto data_dir = find_data_dir(o.data_dir);
  if (!data_dir.ok()) return report_error(data_dir.status());
  o.data_dir = *data_dir;
  auto db = study::ResultsDb::open(o.db);
  if (!db.ok()) return report_error(db.status());
  auto meter = EnergySession::start(o.energy);
  if (!meter.ok()) return report_error(meter.status());
  std::fprintf(stderr, "%s\n", (*meter)->sources_text().c_str());
  CellRunner runner(o, *spec, **meter);
  auto summary = study::run_study(*spec, *text, *shard, **db, std::ref(runner),
                                  [last_waiting = 0](const study::Cell& next, const study::RunProgress& p) mutable {
                                    if (p.waiting > 0) {  // said once per change, not at every poll
                                      if (p.waiting == last_waiting) return;
                                      last_waiting = p.waiting;
                                      std::fprintf(stderr, "[joule study] %d cells are being measured by another runner (%s); "
                                                   "waiting for them\n", p.waiting, p.waiting_on.c_str());
                                      return;
                                    }
                                    std::fprintf(stderr, "[joule study] cell %d/%d (%d already stored), %.0f s, ETA %.0f s: %s\n",
                                                 p.skipped + p.done + 1, p.total, p.skipped, p.elapsed_s, p.eta_s,
                                                 next.key().c_str());
                                  });
  if (Status s = (*meter)->finish(); !s.ok()) return report_error(s);
  if (!summary.ok()) {
    std::fprintf(stderr, "[joule study] stopped; the finished cells are in %s and a rerun continues from there\n", o.db.c_str());
    return report_error(summary.status());
  }
  std::printf("study %s: %d cells run, %d already stored, %d failed, database %s\n", spec->name.c_str(), summary->run,
              summary->skipped, summary->failed, o.db.c_str());
  if (summary->failed == 0) return 0;
  std::fprintf(stderr, "[joule study] %d cells failed and are recorded in %s (joule report lists them; a rerun tries them "
               "again). The first: %s\n", summary->failed, o.db.c_str(), summary->first_failure.c_str());
  return 1;
}

int merge_cmd(const std::string& out, const std::vector<std::string>& inputs) {
  auto db = study::ResultsDb::open(out);
  if (!db.ok()) return report_error(db.status());
  for (const std::string& in : inputs) {
    auto added = (*db)->merge_from(in);
    if (!added.ok()) return report_error(added.status());
    std::printf("%s: %d cells added\n", in.c_str(), *added);
  }
  return 0;
}

}  // namespace

void register_study(CLI::App& app, Action& action) {
  CLI::App* cmd = app.add_subcommand("study", "run measurement studies into the results database (docs/studies.md)");
  cmd->require_subcommand(1);

  auto ro = std::make_shared<StudyRunOptions>();
  CLI::App* run = cmd->add_subcommand("run", "measure every cell of a study not yet in the database (resumable)");
  run->add_option("file", ro->file, "study file (TOML)")->required();
  run->add_option("--db", ro->db, "results database (SQLite)")->capture_default_str();
  run->add_option("--shard", ro->shard, "run shard i of N (every N-th cell), e.g. 2/4")->capture_default_str();
  run->add_option("--data", ro->data_dir,
                  "benchmark data folder (default: $JOULE_DATA_DIR, else the data/ joule ships with)");
  run->add_option("--ctx", ro->n_ctx, "context window (capped by the model's)")->capture_default_str();
  run->add_option("--max-gen-tokens", ro->max_gen_tokens, "gsm8k: tokens generated at most per answer")->capture_default_str();
  run->add_flag("--dry-run", ro->dry_run, "print the cells (keys) of this shard and exit");
  run->add_option("--on-engine-failure", ro->on_engine_failure,
                  "when an engine the study started fails: stop, or next-engine (record its cells as failed and go "
                  "on); default: the study file's on_engine_failure, else stop")
      ->check(CLI::IsMember({"stop", "next-engine"}));
  add_energy_options(run, &ro->energy);
  run->callback([ro, &action] { action = [ro] { return run_study_cmd(*ro); }; });

  auto out = std::make_shared<std::string>();
  auto ins = std::make_shared<std::vector<std::string>>();
  CLI::App* merge = cmd->add_subcommand("merge", "copy the cells of shard databases into one database");
  merge->add_option("out", *out, "database to merge into (created if missing)")->required();
  merge->add_option("inputs", *ins, "databases to merge from")->required();
  merge->callback([out, ins, &action] { action = [out, ins] { return merge_cmd(*out, *ins); }; });

  register_study_slurm(cmd, action);
}

}  // namespace joule::cli
