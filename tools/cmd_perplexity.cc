// joule perplexity: perplexity of a text as llama-perplexity computes it, optionally with the KL
// divergence and top-1 agreement against a reference precision or model (--kl-ref), and the
// energy the evaluation took.
#include <chrono>
#include <cstdio>
#include <iostream>

#include "common.h"
#include "progress.h"
#include "core/file.h"
#include "energy_cli.h"
#include "core/strings.h"
#include "engine/perplexity.h"

namespace joule::cli {
namespace {

struct PerplexityOptions {
  ModelOptions model;
  std::string text_file;
  std::string kl_ref;
  int n_ctx = 512;
  int chunks = 0;
  int threads = 1;
  bool json = false;
  EnergyOptions energy;
};

// --kl-ref: a precision name means the same file at that precision; anything else is a model file.
Expected<LoadedModel> load_reference(const PerplexityOptions& o) {
  ModelOptions ref;
  if (find_precision(o.kl_ref)) {
    ref.path = o.model.path;
    ref.precision = o.kl_ref;
  } else {
    ref.path = o.kl_ref;
  }
  return load_model(ref);
}

int run(const PerplexityOptions& o) {
  if (Status s = check_threads(o.threads); !s.ok()) return report_error(s);
  if (o.chunks < 0) return report_error(InvalidArgument("--chunks must be >= 0"));
  auto text = read_file(o.text_file, "text file");
  if (!text.ok()) return report_error(text.status());
  auto lm = load_model(o.model);
  if (!lm.ok()) return report_error(lm.status());
  std::optional<LoadedModel> ref;
  if (!o.kl_ref.empty()) {
    auto r = load_reference(o);
    if (!r.ok()) return report_error(r.status());
    ref = std::move(*r);
  }
  const Tokenizer& tok = *lm->tokenizer;
  const std::vector<TokenId> tokens = tok.encode(*text, /*add_special=*/true, /*parse_special=*/false);
  PerplexityParams p{o.n_ctx, o.chunks, tok.add_bos() ? tok.bos() : -1};

  auto meter = EnergySession::start(o.energy);
  if (!meter.ok()) return report_error(meter.status());
  EnergySession& energy = **meter;
  ThreadPool pool(o.threads);
  energy.begin("run");
  const auto t0 = std::chrono::steady_clock::now();
  std::optional<ProgressBar> bar(std::in_place, "joule perplexity", "chunk");
  auto st = perplexity(*lm->model, ref ? ref->model.get() : nullptr, tokens, p, pool,
                       cpu::best_kernels(), [&](const PerplexityStats& s, int total) {
                         bar->update(s.chunks, total, format_number("ppl %.4f", s.ppl()));
                       });
  bar.reset();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  energy.end("run");
  if (!st.ok()) return report_error(st.status());
  if (Status s = energy.finish(); !s.ok()) return report_error(s);
  // Every token of every chunk is evaluated (once per model), though only half are scored.
  const int evaluated = st->chunks * o.n_ctx * (ref ? 2 : 1);
  const energy::WindowResult* w = energy.result("run");

  if (o.json) {
    nlohmann::json j = {{"model", lm->path},
                        {"precision", lm->precision},
                        {"weight_types", weight_types_json(*lm->model)},
                        {"text", o.text_file},
                        {"text_tokens", tokens.size()},
                        {"ctx", o.n_ctx},
                        {"chunks", st->chunks},
                        {"scored_tokens", st->scored},
                        {"perplexity", st->ppl()},
                        {"perplexity_stderr", st->ppl_stderr()},
                        {"seconds", seconds},
                        {"evaluated_tokens", evaluated},
                        {"threads", o.threads},
                        {"provenance", provenance(lm->path)}};
    if (ref) {
      j["reference"] = {{"spec", o.kl_ref},
                        {"precision", ref->precision},
                        {"perplexity", st->ref_ppl()},
                        {"perplexity_change_pct", 100 * (st->ppl() / st->ref_ppl() - 1)},
                        {"kl_divergence_mean", st->kl_mean()},
                        {"kl_divergence_stderr", st->kl_stderr()},
                        {"top1_agreement", st->top1_agreement()}};
    }
    nlohmann::json ej = energy.sources_json();
    if (w) ej["run"] = window_json(*w, evaluated);
    j["energy"] = ej;
    std::cout << j.dump(2) << "\n";
    return 0;
  }
  std::printf("perplexity %.4f ± %.4f (%s) over %lld tokens (%d chunks of %d) in %.1f s\n", st->ppl(),
              st->ppl_stderr(), lm->precision.c_str(), static_cast<long long>(st->scored), st->chunks,
              o.n_ctx, seconds);
  if (ref)
    std::printf("reference %s (%s): perplexity %.4f; change %+.3f %%; KL divergence %.6f ± %.6f; "
                "top-1 agreement %.2f %%\n",
                o.kl_ref.c_str(), ref->precision.c_str(), st->ref_ppl(), 100 * (st->ppl() / st->ref_ppl() - 1),
                st->kl_mean(), st->kl_stderr(), 100 * st->top1_agreement());
  if (w) std::printf("energy (%d tokens evaluated): %s\n", evaluated, window_text(*w, evaluated).c_str());
  return 0;
}

}  // namespace

void register_perplexity(CLI::App& app, Action& action) {
  auto o = std::make_shared<PerplexityOptions>();
  CLI::App* cmd = app.add_subcommand(
      "perplexity", "perplexity of a text (as llama-perplexity), KL divergence against a reference");
  add_model_options(cmd, &o->model);
  cmd->add_option("-f,--file", o->text_file, "UTF-8 text to score")->required();
  cmd->add_option("--ctx", o->n_ctx, "tokens per chunk; the second half of each is scored")->capture_default_str();
  cmd->add_option("--chunks", o->chunks, "score at most this many chunks (0 = all)")->capture_default_str();
  cmd->add_option("--kl-ref", o->kl_ref,
                  "reference for KL divergence and top-1 agreement: a precision of the same file "
                  "(e.g. f32) or another GGUF model with the same vocabulary");
  add_threads_option(cmd, &o->threads);
  add_energy_options(cmd, &o->energy);
  cmd->add_flag("--json", o->json, "print JSON");
  cmd->callback([o, &action] { action = [o] { return run(*o); }; });
}

}  // namespace joule::cli
