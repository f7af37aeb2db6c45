// joule bench: prefill (pp) and decode (tg) throughput, like llama-bench: each test runs on a
// fresh context with random tokens, after one warm-up run, r repetitions, mean and sd.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <algorithm>
#include <iostream>
#include <map>
#include <random>
#include <sstream>

#include "common.h"
#include "core/thread_pool.h"
#include "backend/cpu/membw.h"
#include "model/forward.h"

namespace joule::cli {
namespace {

struct BenchOptions {
  std::string model;
  std::string prompts = "128,512";
  std::string gens = "64,128";
  std::string threads;
  int reps = 5;
  bool json = false;
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
  std::string test;  // "pp512" or "tg128"
  int threads;
  int n_tokens;
  std::vector<double> tok_s;
  double ceiling_tok_s = 0;  // decode only: read bandwidth / bytes per token
  double mean() const {
    double s = 0;
    for (double v : tok_s) s += v;
    return s / tok_s.size();
  }
  double sd() const {
    if (tok_s.size() < 2) return 0;
    const double m = mean();
    double s = 0;
    for (double v : tok_s) s += (v - m) * (v - m);
    return std::sqrt(s / (tok_s.size() - 1));
  }
};

// Seconds to evaluate n random tokens: as one batch (prefill) or one at a time (decode).
Expected<double> time_once(const Model& m, int n, bool prefill, ThreadPool& pool, std::mt19937& rng) {
  ForwardState state = prefill ? ForwardState(m, n) : ForwardState(m, n, 1);
  std::uniform_int_distribution<TokenId> dist(0, m.config().n_vocab - 1);
  std::vector<TokenId> toks(n);
  for (TokenId& t : toks) t = dist(rng);
  std::vector<float> logits(m.config().n_vocab);
  const auto t0 = std::chrono::steady_clock::now();
  if (prefill) {
    JOULE_RETURN_IF_ERROR(forward(m, state, toks, false, logits.data(), pool, cpu::best_kernels()));
  } else {
    for (int i = 0; i < n; ++i)
      JOULE_RETURN_IF_ERROR(forward(m, state, std::span(&toks[i], 1), false, logits.data(), pool,
                                    cpu::best_kernels()));
  }
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

bool prefill_only(const std::vector<int>& gens) {
  return std::all_of(gens.begin(), gens.end(), [](int n) { return n == 0; });
}

int run(const BenchOptions& o) {
  auto pps = parse_list(o.prompts, "-p", 0);
  auto tgs = parse_list(o.gens, "-n", 0);
  auto ths = parse_list(o.threads.empty() ? std::to_string(default_threads()) : o.threads, "-t", 1);
  for (const auto* l : {&pps, &tgs, &ths})
    if (!l->ok()) return report_error(l->status());
  for (int t : *ths)
    if (Status s = check_threads(t); !s.ok()) return report_error(s);
  if (o.reps < 1) return report_error(InvalidArgument("-r must be >= 1"));
  auto lm = load_model(o.model);
  if (!lm.ok()) return report_error(lm.status());
  const Model& m = *lm->model;

  std::vector<Result> results;
  std::mt19937 rng(1234);
  std::map<int, cpu::BandwidthResult> bandwidth;
  for (int t : *ths) {
    ThreadPool pool(t);
    if (!prefill_only(*tgs)) bandwidth[t] = cpu::measure_read_bandwidth(pool);
    auto bench = [&](int n, bool prefill) -> Status {
      if (n == 0) return Status::Ok();
      Result r{(prefill ? "pp" : "tg") + std::to_string(n), t, n, {}};
      if (!prefill) r.ceiling_tok_s = bandwidth[t].read_gb_s * 1e9 / m.bytes_per_token();
      JOULE_RETURN_IF_ERROR(time_once(m, n, prefill, pool, rng).status());  // warm-up
      for (int i = 0; i < o.reps; ++i) {
        JOULE_ASSIGN_OR_RETURN(double s, time_once(m, n, prefill, pool, rng));
        r.tok_s.push_back(n / s);
      }
      if (!o.json)
        std::fprintf(stderr, "[joule bench] %s t=%d: %.2f ± %.2f tok/s\n", r.test.c_str(), t,
                     r.mean(), r.sd());
      else
        std::fprintf(stderr, "[joule bench] %s t=%d done\n", r.test.c_str(), t);
      results.push_back(std::move(r));
      return Status::Ok();
    };
    for (int n : *pps)
      if (Status s = bench(n, true); !s.ok()) return report_error(s);
    for (int n : *tgs)
      if (Status s = bench(n, false); !s.ok()) return report_error(s);
  }

  const double size_mib = m.file().file_size() / (1024.0 * 1024.0);
  if (o.json) {
    nlohmann::json rows = nlohmann::json::array();
    for (const Result& r : results)
    {
      nlohmann::json row = {{"test", r.test}, {"threads", r.threads}, {"n_tokens", r.n_tokens},
                            {"tokens_per_s_mean", r.mean()}, {"tokens_per_s_sd", r.sd()},
                            {"tokens_per_s", r.tok_s}};
      if (r.ceiling_tok_s > 0) {
        row["bandwidth_ceiling_tokens_per_s"] = r.ceiling_tok_s;
        row["fraction_of_ceiling"] = r.mean() / r.ceiling_tok_s;
      }
      rows.push_back(row);
    }
    nlohmann::json bw = nlohmann::json::object();
    for (const auto& [t, b] : bandwidth) bw[std::to_string(t)] = b.read_gb_s;
    nlohmann::json j = {{"model", o.model},         {"model_name", m.config().name},
                        {"file_mib", size_mib},     {"params", m.n_params()},
                        {"bytes_per_token", m.bytes_per_token()},
                        {"reps", o.reps},           {"results", rows},
                        {"read_bandwidth_gb_s_by_threads", bw},
                        {"provenance", provenance()}};
    std::cout << j.dump(2) << "\n";
    return 0;
  }
  std::printf("| model | size | params | backend | threads | test | t/s | of ceiling |\n");
  std::printf("| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: |\n");
  for (const Result& r : results) {
    std::string frac = r.ceiling_tok_s > 0 ? std::to_string(int(100 * r.mean() / r.ceiling_tok_s + 0.5)) + " %" : "";
    std::printf("| %s | %.2f MiB | %.2f M | cpu-%s | %d | %s | %.2f ± %.2f | %s |\n",
                m.config().name.c_str(), size_mib, m.n_params() / 1e6, cpu::best_kernels().isa,
                r.threads, r.test.c_str(), r.mean(), r.sd(), frac.c_str());
  }
  for (const auto& [t, b] : bandwidth)
    std::printf("\nread bandwidth, %d thread(s): %.1f GB/s; decode ceiling %.1f tok/s (%.1f MiB of weights per token)",
                t, b.read_gb_s, b.read_gb_s * 1e9 / m.bytes_per_token(), m.bytes_per_token() / 1048576.0);
  std::printf("\n");
  return 0;
}

}  // namespace

void register_bench(CLI::App& app, Action& action) {
  auto o = std::make_shared<BenchOptions>();
  CLI::App* cmd = app.add_subcommand("bench", "measure prefill and decode tokens/s (like llama-bench)");
  add_model_option(cmd, &o->model);
  cmd->add_option("-p,--n-prompt", o->prompts, "prefill sizes, comma-separated (0 = none)")
      ->capture_default_str();
  cmd->add_option("-n,--n-gen", o->gens, "decode lengths, comma-separated (0 = none)")
      ->capture_default_str();
  cmd->add_option("-t,--threads", o->threads, "thread counts, comma-separated (default: physical cores)");
  cmd->add_option("-r,--repetitions", o->reps, "repetitions per test")->capture_default_str();
  cmd->add_flag("--json", o->json, "print JSON");
  cmd->callback([o, &action] { action = [o] { return run(*o); }; });
}

}  // namespace joule::cli
