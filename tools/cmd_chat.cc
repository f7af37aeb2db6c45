// joule chat: an interactive conversation; the KV cache keeps the history, so each turn only
// prefills the new messages.
#include <cstdio>
#include <iostream>

#include "common.h"
#include "core/thread_pool.h"
#include "engine/generate.h"
#include "tokenizer/chat_template.h"

namespace joule::cli {
namespace {

struct ChatOptions {
  ModelOptions model;
  std::string system;
  std::string chat_template;
  int n_predict = 512;
  int n_ctx = 4096;
  int threads = 1;
  SamplerParams sampler;
};

int run(const ChatOptions& o) {
  if (Status s = check_threads(o.threads); !s.ok()) return report_error(s);
  if (Status s = validate(o.sampler); !s.ok()) return report_error(s);
  auto lm = load_model(o.model);
  if (!lm.ok()) return report_error(lm.status());
  const Model& model = *lm->model;
  const Tokenizer& tok = *lm->tokenizer;
  const Expected<ChatTemplate> tmpl = resolve_chat_template(model, o.chat_template);
  if (!tmpl.ok()) return report_error(tmpl.status());

  ForwardState state(model, std::min(o.n_ctx, model.config().ctx_train));
  ThreadPool pool(o.threads);
  std::vector<ChatMessage> history;
  if (!o.system.empty()) history.push_back({"system", o.system});
  std::vector<TokenId> cached;  // the tokens whose keys and values are in `state`, in order
  std::fprintf(stderr, "joule chat: %s (%d threads). Type a message; Ctrl-D or /exit ends.\n",
               model.config().name.c_str(), o.threads);
  std::string line;
  for (;;) {
    std::fprintf(stderr, "> ");
    if (!std::getline(std::cin, line) || line == "/exit") break;
    if (line.empty()) continue;
    history.push_back({"user", line});
    const std::vector<TokenId> ids = encode_chat(tok, *tmpl, apply_chat_template(*tmpl, history, true));
    // Reuse the cached prefix of the conversation; only the rest is prefilled.
    size_t common = 0;
    while (common < cached.size() && common < ids.size() && cached[common] == ids[common]) ++common;
    if (common == ids.size()) --common;  // at least one token must be evaluated for logits
    state.truncate(static_cast<int>(common));
    cached.resize(common);
    const std::span<const TokenId> prompt(ids.begin() + common, ids.end());

    std::string reply;
    GenerateParams gp{o.n_predict, o.sampler, nullptr};
    auto stats = generate(model, tok, state, prompt, gp, pool, cpu::best_kernels(), [&](std::string_view p) {
      reply.append(p);
      std::fwrite(p.data(), 1, p.size(), stdout);
      std::fflush(stdout);
      return true;
    });
    if (!stats.ok()) return report_error(stats.status());
    std::printf("\n");
    std::fprintf(stderr, "[%d prompt tok, %d tok, %.1f tok/s]\n", stats->n_prompt,
                 stats->n_generated, stats->decode_tok_s());
    if (stats->stop == StopReason::kContextFull) {
      std::fprintf(stderr, "joule chat: context full (%d tokens); start a new chat\n", state.n_ctx());
      break;
    }
    cached.insert(cached.end(), prompt.begin(), prompt.end());
    cached.insert(cached.end(), stats->tokens.begin(), stats->tokens.begin() + stats->n_decode_evals);
    history.push_back({"assistant", reply});
  }
  return 0;
}

}  // namespace

void register_chat(CLI::App& app, Action& action) {
  auto o = std::make_shared<ChatOptions>();
  CLI::App* cmd = app.add_subcommand("chat", "interactive chat with a model");
  add_model_options(cmd, &o->model);
  cmd->add_option("--system", o->system, "system message");
  cmd->add_option("--chat-template", o->chat_template, "override the template: chatml, llama2, llama3");
  cmd->add_option("-n,--n-predict", o->n_predict, "maximum tokens per reply")->capture_default_str();
  cmd->add_option("--ctx", o->n_ctx, "context size")->capture_default_str();
  add_sampler_options(cmd, &o->sampler);
  add_threads_option(cmd, &o->threads);
  cmd->callback([o, &action] { action = [o] { return run(*o); }; });
}

}  // namespace joule::cli
