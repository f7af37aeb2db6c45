// joule bench: prefill (pp) and decode (tg) throughput, like llama-bench: each test runs on a
// fresh context with random tokens, after one warm-up run, r repetitions, mean and sd. With
// --parallel N, decode also runs N sequences together, one token each per step (a server's
// batched decode without the server, like llama-batched-bench).
#include <chrono>
#include <cstdio>
#include <algorithm>
#include <iostream>
#include <map>
#include <numeric>
#include <random>
#include <sstream>

#include "common.h"
#include "energy_cli.h"
#include "core/thread_pool.h"
#include "backend/cpu/membw.h"
#include "metrics/stats.h"
#include "model/forward.h"

namespace joule::cli {
namespace {

struct BenchOptions {
  ModelOptions model;  // model.precision may be a comma-separated list
  std::string prompts = "128,512";
  std::string gens = "64,128";
  std::string parallel = "1";
  std::string threads;
  int reps = 5;
  bool json = false;
  EnergyOptions energy;
};

// Energy of one domain over a test's repetitions.
struct DomainEnergy {
  std::string source;
  std::vector<double> energy_j;  // per repetition (windows whose energy is known)
  std::vector<double> power_w;
  int unknown = 0;               // repetitions whose window had no energy
};

Expected<std::vector<int>> parse_list(const std::string& s, const std::string& flag, int min) {
  std::vector<int> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) {
    try {
      size_t used = 0;
      const int v = std::stoi(item, &used);
      if (used != item.size() || v < min) throw std::invalid_argument(item);
      out.push_back(v);
    } catch (const std::exception&) {
      return InvalidArgument(flag + " expects comma-separated integers >= " + std::to_string(min) +
                             ", got '" + s + "'");
    }
  }
  return out;
}

struct Result {
  std::string precision;
  size_t weight_bytes = 0;
  size_t bytes_per_token = 0;
  std::string test;  // "pp512", "tg128", or "tg128x8" (8 sequences decoding together)
  int threads = 0;
  int parallel = 1;
  int n_tokens = 0;  // over all sequences
  std::vector<double> tok_s;
  double ceiling_tok_s = 0;  // decode only: read bandwidth / bytes per token
  std::map<std::string, DomainEnergy> energy;  // by domain name
  double mean() const { return metrics::mean(tok_s); }
  double sd() const { return metrics::stdev(tok_s); }
  void add_energy(const energy::WindowResult& w) {
    for (const energy::DomainWindow& d : w.domains) {
      DomainEnergy& e = energy[d.domain];
      e.source = energy::source_name(d.source);
      if (!d.energy_j) {
        ++e.unknown;
        continue;
      }
      e.energy_j.push_back(*d.energy_j);
      if (d.avg_power_w) e.power_w.push_back(*d.avg_power_w);
    }
  }
};

// Seconds `run` takes, inside the energy window "rep".
template <class Run>
Expected<double> timed(EnergySession& energy, const Run& run) {
  energy.begin("rep");
  const auto t0 = std::chrono::steady_clock::now();
  const Status s = run();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  energy.end("rep");
  if (!s.ok()) return s;
  return seconds;
}

// n token ids drawn uniformly from the model's vocabulary.
std::vector<TokenId> random_tokens(const Model& m, size_t n, std::mt19937& rng) {
  std::uniform_int_distribution<TokenId> dist(0, m.config().n_vocab - 1);
  std::vector<TokenId> toks(n);
  for (TokenId& t : toks) t = dist(rng);
  return toks;
}

// Seconds to evaluate a prompt of n random tokens as one batch.
Expected<double> time_prefill(const Model& m, int n, ThreadPool& pool, std::mt19937& rng, EnergySession& energy) {
  ForwardState state(m, n);
  const std::vector<TokenId> toks = random_tokens(m, size_t(n), rng);
  std::vector<float> logits(m.config().n_vocab);
  return timed(energy, [&] { return forward(m, state, toks, false, logits.data(), pool, cpu::best_kernels()); });
}

// Seconds for `parallel` sequences to decode n random tokens each, one step per position with
// every sequence's token (its own KV block, the single-token order it has alone, its logits), as
// joule run decodes one sequence and joule serve's batched decode runs several.
Expected<double> time_decode(const Model& m, int n, int parallel, ThreadPool& pool, std::mt19937& rng,
                             EnergySession& energy) {
  KvCache kv(m.config(), parallel, n);
  BatchScratch scratch(m.config(), parallel, n);
  const std::vector<TokenId> toks = random_tokens(m, size_t(parallel) * n, rng);
  std::vector<int32_t> blocks(parallel);
  std::iota(blocks.begin(), blocks.end(), 0);
  std::vector<float> logits(size_t(parallel) * m.config().n_vocab);
  std::vector<BatchItem> items(parallel);
  return timed(energy, [&]() -> Status {
    for (int i = 0; i < n; ++i) {
      for (int s = 0; s < parallel; ++s)
        items[s] = {.tokens = std::span(&toks[size_t(s) * n + i], 1),
                    .pos0 = i,
                    .blocks = std::span(&blocks[s], 1),
                    .logits = Logits::kLast,
                    .single_token = true};
      JOULE_RETURN_IF_ERROR(forward_batch(m, kv, items, logits.data(), scratch, pool, cpu::best_kernels()));
    }
    return Status::Ok();
  });
}

// "cpu 0.0123 J/tok (estimated), 81 tok/J, 19.8 W" per domain.
std::string energy_cell(const Result& r) {
  std::string out;
  for (const auto& [domain, e] : r.energy) {
    if (!out.empty()) out += "; ";
    if (e.energy_j.empty()) {
      out += domain + " unknown";
      continue;
    }
    const double j = metrics::mean(e.energy_j);
    char buf[160];
    std::snprintf(buf, sizeof(buf), "%s %.4g J/tok (%s), %.3g tok/J, %.1f W", domain.c_str(),
                  j / r.n_tokens, e.source.c_str(), j > 0 ? r.n_tokens / j : 0.0,
                  metrics::mean(e.power_w));
    out += buf;
  }
  return out;
}

bool prefill_only(const std::vector<int>& gens) {
  return std::all_of(gens.begin(), gens.end(), [](int n) { return n == 0; });
}

int run(const BenchOptions& o) {
  auto pps = parse_list(o.prompts, "-p", 0);
  auto tgs = parse_list(o.gens, "-n", 0);
  auto pls = parse_list(o.parallel, "--parallel", 1);
  auto ths = parse_list(o.threads.empty() ? std::to_string(default_threads()) : o.threads, "-t", 1);
  for (const auto* l : {&pps, &tgs, &pls, &ths})
    if (!l->ok()) return report_error(l->status());
  for (int t : *ths)
    if (Status s = check_threads(t); !s.ok()) return report_error(s);
  if (o.reps < 1) return report_error(InvalidArgument("-r must be >= 1"));
  std::vector<std::string> precs;
  std::stringstream prec_list(o.model.precision);
  for (std::string p; std::getline(prec_list, p, ',');) precs.push_back(p);
  if (precs.empty()) precs.push_back("");  // as stored
  auto session = EnergySession::start(o.energy);
  if (!session.ok()) return report_error(session.status());
  EnergySession& energy = **session;

  std::vector<Result> results;
  std::mt19937 rng(1234);
  std::map<int, cpu::BandwidthResult> bandwidth;
  std::unique_ptr<Model> first;  // the first precision's model, for the summary fields
  std::string model_file;
  for (const std::string& prec : precs) {
    ModelOptions mo = o.model;
    mo.precision = prec;
    auto lm = load_model(mo);
    if (!lm.ok()) return report_error(lm.status());
    const Model& m = *lm->model;
    for (int t : *ths) {
      ThreadPool pool(t);
      if (!prefill_only(*tgs) && !bandwidth.count(t)) bandwidth[t] = cpu::measure_read_bandwidth(pool);
      // parallel > 1: that many sequences decoding together (decode only).
      auto bench = [&](int n, bool prefill, int parallel) -> Status {
        if (n == 0) return Status::Ok();
        Result r;
        r.precision = lm->precision;
        r.weight_bytes = m.weight_bytes();
        r.bytes_per_token = m.bytes_per_token();
        r.test = (prefill ? "pp" : "tg") + std::to_string(n) + (parallel > 1 ? "x" + std::to_string(parallel) : "");
        r.threads = t;
        r.parallel = parallel;
        r.n_tokens = n * parallel;
        // The ceiling is one stream's: parallel sequences share each weight read.
        if (!prefill && parallel == 1) r.ceiling_tok_s = bandwidth[t].read_gb_s * 1e9 / m.bytes_per_token();
        auto once = [&]() {
          return prefill ? time_prefill(m, n, pool, rng, energy) : time_decode(m, n, parallel, pool, rng, energy);
        };
        JOULE_RETURN_IF_ERROR(once().status());  // warm-up
        for (int i = 0; i < o.reps; ++i) {
          JOULE_ASSIGN_OR_RETURN(double s, once());
          r.tok_s.push_back(r.n_tokens / s);
          if (const energy::WindowResult* w = energy.result("rep")) r.add_energy(*w);
        }
        std::fprintf(stderr, "[joule bench] %s %s t=%d: %.2f ± %.2f tok/s\n", r.precision.c_str(),
                     r.test.c_str(), t, r.mean(), r.sd());
        results.push_back(std::move(r));
        return Status::Ok();
      };
      for (int n : *pps)
        if (Status s = bench(n, true, 1); !s.ok()) return report_error(s);
      for (int n : *tgs)
        for (int pl : *pls)
          if (Status s = bench(n, false, pl); !s.ok()) return report_error(s);
    }
    if (!first) first = std::move(lm->model), model_file = lm->path;
  }

  if (Status s = energy.finish(); !s.ok()) return report_error(s);
  const Model& m = *first;
  const double size_mib = m.file().file_size() / (1024.0 * 1024.0);
  if (o.json) {
    nlohmann::json rows = nlohmann::json::array();
    for (const Result& r : results)
    {
      nlohmann::json row = {{"precision", r.precision}, {"weight_bytes", r.weight_bytes},
                            {"bytes_per_token", r.bytes_per_token},
                            {"test", r.test}, {"threads", r.threads}, {"parallel", r.parallel},
                            {"n_tokens", r.n_tokens},
                            {"tokens_per_s_mean", r.mean()}, {"tokens_per_s_sd", r.sd()},
                            {"tokens_per_s", r.tok_s}};
      if (r.ceiling_tok_s > 0) {
        row["bandwidth_ceiling_tokens_per_s"] = r.ceiling_tok_s;
        row["fraction_of_ceiling"] = r.mean() / r.ceiling_tok_s;
      }
      nlohmann::json ej = nlohmann::json::object();
      for (const auto& [domain, e] : r.energy) {
        nlohmann::json d = {{"source", e.source}, {"energy_j", e.energy_j},
                            {"reps_without_energy", e.unknown}};
        if (!e.energy_j.empty()) {
          const double j = metrics::mean(e.energy_j);
          d["energy_j_mean"] = j;
          d["energy_j_sd"] = metrics::stdev(e.energy_j);
          d["j_per_token"] = j / r.n_tokens;
          if (j > 0) d["tokens_per_j"] = r.n_tokens / j;
          d["avg_power_w"] = metrics::mean(e.power_w);
        }
        ej[domain] = d;
      }
      row["energy"] = ej;
      rows.push_back(row);
    }
    nlohmann::json bw = nlohmann::json::object();
    for (const auto& [t, b] : bandwidth) bw[std::to_string(t)] = b.read_gb_s;
    nlohmann::json j = {{"model", model_file},         {"model_name", m.config().name},
                        {"file_mib", size_mib},     {"params", m.n_params()},
                        {"bytes_per_token", m.bytes_per_token()},
                        {"reps", o.reps},           {"results", rows},
                        {"read_bandwidth_gb_s_by_threads", bw},
                        {"energy_sources", energy.sources_json()},
                        {"provenance", provenance(model_file)}};
    std::cout << j.dump(2) << "\n";
    return 0;
  }
  std::printf("| model | precision | weights | params | backend | threads | test | t/s | of ceiling | energy |\n");
  std::printf("| --- | --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | --- |\n");
  bool above_ceiling = false;
  for (const Result& r : results) {
    std::string frac;
    if (r.ceiling_tok_s > 0) {
      const int percent = int(100 * r.mean() / r.ceiling_tok_s + 0.5);
      frac = std::to_string(percent) + " %" + (percent > 100 ? " *" : "");
      above_ceiling |= percent > 100;
    }
    std::printf("| %s | %s | %.2f MiB | %.2f M | cpu-%s | %d | %s | %.2f ± %.2f | %s | %s |\n",
                m.config().name.c_str(), r.precision.c_str(), r.weight_bytes / 1048576.0,
                m.n_params() / 1e6, cpu::best_kernels().isa,
                r.threads, r.test.c_str(), r.mean(), r.sd(), frac.c_str(), energy_cell(r).c_str());
  }
  if (above_ceiling)
    std::printf("\n* above 100 %% of the ceiling: the ceiling is the measured memory read bandwidth divided by the\n"
                "  bytes one token reads; weights small enough to stay partly in the CPU caches between tokens\n"
                "  are read faster than memory streams them (docs/benchmarks.md).\n");
  for (const auto& [t, b] : bandwidth)
    std::printf("\nread bandwidth, %d thread(s): %.1f GB/s", t, b.read_gb_s);
  std::printf("\n");
  if (energy.on()) std::fprintf(stderr, "%s\n", energy.sources_text().c_str());
  return 0;
}

}  // namespace

void register_bench(CLI::App& app, Action& action) {
  auto o = std::make_shared<BenchOptions>();
  CLI::App* cmd = app.add_subcommand("bench", "measure prefill and decode tokens/s (like llama-bench)");
  add_model_options(cmd, &o->model);
  cmd->get_option("--precision")
      ->description("precisions to convert the weights to at load time, comma-separated: " +
                    precision_list() + " (default: as stored)");
  cmd->add_option("-p,--n-prompt", o->prompts, "prefill sizes, comma-separated (0 = none)")
      ->capture_default_str();
  cmd->add_option("-n,--n-gen", o->gens, "decode lengths, comma-separated (0 = none)")
      ->capture_default_str();
  cmd->add_option("--parallel", o->parallel,
                  "sequences decoding together, comma-separated (like llama-batched-bench's -npl): each "
                  "tg test also runs N sequences, one token each per step, reported as tgNxP in tokens/s "
                  "over all of them")
      ->capture_default_str();
  cmd->add_option("-t,--threads", o->threads, "thread counts, comma-separated (default: physical cores)");
  cmd->add_option("-r,--repetitions", o->reps, "repetitions per test")->capture_default_str();
  add_energy_options(cmd, &o->energy);
  cmd->add_flag("--json", o->json, "print JSON");
  cmd->callback([o, &action] { action = [o] { return run(*o); }; });
}

}  // namespace joule::cli
