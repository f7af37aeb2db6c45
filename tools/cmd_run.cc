// joule run: generate a continuation of a prompt (optionally as a chat turn) and report speed.
#include <cstdio>
#include <limits>
#include <iostream>

#include "common.h"
#include "energy_cli.h"
#include "core/file.h"
#include "core/memory.h"
#include "core/thread_pool.h"
#include "engine/generate.h"
#include "tokenizer/chat_template.h"

namespace joule::cli {
namespace {

struct RunOptions {
  ModelOptions model;
  std::string prompt;
  std::string prompt_file;  // -f: the prompt is this file's text
  std::string system;
  std::string chat_template;
  int n_predict = 128;  // -1: until end of sequence or a full context
  int n_ctx = 0;
  int threads = 1;
  bool chat = false;
  bool json = false;
  SamplerParams sampler;
  EnergyOptions energy;
};

// The prompt tokens: raw text, or a user turn wrapped in the chat template.
Expected<std::vector<TokenId>> build_prompt(const RunOptions& o, const std::string& text, const Model& m,
                                            const Tokenizer& tok) {
  if (!o.chat) return tok.encode(text, /*add_special=*/true, /*parse_special=*/false);
  JOULE_ASSIGN_OR_RETURN(ChatTemplate tmpl, resolve_chat_template(m, o.chat_template));
  std::vector<ChatMessage> msgs;
  if (!o.system.empty()) msgs.push_back({"system", o.system});
  msgs.push_back({"user", text});
  return encode_chat(tok, tmpl, apply_chat_template(tmpl, msgs, /*add_generation_prompt=*/true));
}

int run(const RunOptions& o) {
  if (Status s = check_threads(o.threads); !s.ok()) return report_error(s);
  if (Status s = validate(o.sampler); !s.ok()) return report_error(s);
  if (o.n_predict < -1) return report_error(InvalidArgument("-n must be >= 0, or -1 for no limit"));
  if (o.prompt.empty() == o.prompt_file.empty())
    return report_error(InvalidArgument("give the prompt with -p TEXT or -f FILE (one of them)"));
  Expected<std::string> text = o.prompt;
  if (!o.prompt_file.empty()) text = read_file(o.prompt_file, "prompt file");
  if (!text.ok()) return report_error(text.status());
  auto lm = load_model(o.model);
  if (!lm.ok()) return report_error(lm.status());
  const Model& model = *lm->model;
  const Tokenizer& tok = *lm->tokenizer;

  auto built = build_prompt(o, *text, model, tok);
  if (!built.ok()) return report_error(built.status());
  const std::vector<TokenId>& prompt = *built;
  if (prompt.empty()) return report_error(InvalidArgument("the prompt is empty"));

  // The KV cache holds exactly what this run can use: prompt + n_predict, capped by the model.
  const int ctx_limit = o.n_ctx > 0 ? o.n_ctx : model.config().ctx_train;
  if (int64_t(prompt.size()) > ctx_limit)
    return report_error(InvalidArgument("the prompt has " + std::to_string(prompt.size()) +
                                        " tokens, more than the context of " + std::to_string(ctx_limit)));
  // -1: no limit of its own; generation stops at the end of the sequence or a full context.
  const int n_predict = o.n_predict >= 0 ? o.n_predict : std::numeric_limits<int>::max() - ctx_limit;
  const int n_ctx = std::min<int64_t>(ctx_limit, int64_t(prompt.size()) + n_predict);
  ForwardState state(model, n_ctx);
  ThreadPool pool(o.threads);
  const cpu::KernelSet& ks = cpu::best_kernels();
  auto meter = EnergySession::start(o.energy);
  if (!meter.ok()) return report_error(meter.status());
  EnergySession& energy = **meter;
  GenerateParams gp{n_predict, o.sampler, [&] {
                      energy.end("prefill");
                      energy.begin("decode");
                    }};

  std::string output;
  energy.begin("run");
  energy.begin("prefill");
  auto stats = generate(model, tok, state, prompt, gp, pool, ks, [&](std::string_view piece) {
    if (o.json) {
      output.append(piece);
    } else {
      std::fwrite(piece.data(), 1, piece.size(), stdout);
      std::fflush(stdout);
    }
    return true;
  });
  if (!stats.ok()) return report_error(stats.status());
  energy.end("decode");
  energy.end("run");
  if (Status s = energy.finish(); !s.ok()) return report_error(s);
  // Per-token figures: prompt tokens for prefill, decode steps for decode (as tok/s counts them).
  const std::pair<const char*, int> windows[] = {{"prefill", stats->n_prompt},
                                                 {"decode", stats->n_decode_evals},
                                                 {"run", stats->n_prompt + stats->n_generated}};

  if (o.json) {
    nlohmann::json j = {
        {"model", lm->path},
        {"precision", lm->precision},
        {"weight_types", weight_types_json(model)},
        {"prompt_tokens", stats->n_prompt},
        {"generated_tokens", stats->n_generated},
        {"text", output},
        {"stop_reason", stop_reason_name(stats->stop)},
        {"load_ms", lm->load_ms},
        {"prefill_ms", stats->prefill_ms},
        {"decode_ms", stats->decode_ms},
        {"sample_ms", stats->sample_ms},
        {"prefill_tokens_per_s", stats->prefill_tok_s()},
        {"decode_tokens_per_s", stats->decode_tok_s()},
        {"threads", o.threads},
        {"kv_cache_bytes", state.kv_bytes()},
        {"model_file_bytes", model.file().file_size()},
        {"peak_rss_bytes", peak_rss_bytes()},
        {"provenance", provenance(lm->path)},
    };
    nlohmann::json ej = energy.sources_json();
    ej["windows"] = nlohmann::json::array();
    for (const auto& [name, tokens] : windows)
      if (const energy::WindowResult* w = energy.result(name)) ej["windows"].push_back(window_json(*w, tokens));
    j["energy"] = ej;
    std::cout << j.dump(2) << "\n";
  } else {
    std::fputc('\n', stdout);
    std::fprintf(stderr,
                 "\n[joule] load %.0f ms | prefill %d tok in %.1f ms (%.1f tok/s) | decode %d tok "
                 "in %.1f ms (%.1f tok/s) | stop: %s | %d threads, %s kernels, precision %s\n",
                 lm->load_ms, stats->n_prompt, stats->prefill_ms, stats->prefill_tok_s(),
                 stats->n_decode_evals, stats->decode_ms, stats->decode_tok_s(),
                 std::string(stop_reason_name(stats->stop)).c_str(), o.threads, ks.isa,
                 lm->precision.c_str());
    if (energy.on()) {
      std::fprintf(stderr, "%s\n", energy.sources_text().c_str());
      for (const auto& [name, tokens] : windows)
        if (const energy::WindowResult* w = energy.result(name))
          std::fprintf(stderr, "[joule] energy %s (%.2f s): %s\n", name, w->duration_s,
                       window_text(*w, tokens).c_str());
    }
  }
  return 0;
}

}  // namespace

void register_run(CLI::App& app, Action& action) {
  auto o = std::make_shared<RunOptions>();
  CLI::App* cmd = app.add_subcommand("run", "generate text from a prompt and print its speed");
  add_model_options(cmd, &o->model);
  cmd->add_option("-p,--prompt", o->prompt, "prompt text");
  cmd->add_option("-f,--file", o->prompt_file, "read the prompt from FILE (as llama-cli -f)");
  cmd->add_option("-n,--n-predict", o->n_predict, "maximum tokens to generate (-1: until end of sequence or a full context)")
      ->capture_default_str();
  add_sampler_options(cmd, &o->sampler);
  cmd->add_flag("--chat", o->chat, "wrap the prompt in the model's chat template as a user turn");
  cmd->add_option("--system", o->system, "system message (with --chat)");
  cmd->add_option("--chat-template", o->chat_template, "override the template: " + std::string(chat_template_names()));
  cmd->add_option("--ctx", o->n_ctx, "context size cap (default: the model's)");
  add_threads_option(cmd, &o->threads);
  add_energy_options(cmd, &o->energy);
  cmd->add_flag("--json", o->json, "print one JSON object (text and statistics) instead of streaming");
  cmd->callback([o, &action] { action = [o] { return run(*o); }; });
}

}  // namespace joule::cli
