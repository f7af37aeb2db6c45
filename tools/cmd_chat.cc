// joule chat: an interactive conversation; the KV cache keeps the history, so each turn only
// prefills the new messages.
#include <pthread.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdio>

#include "common.h"
#include "energy_cli.h"
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
  EnergyOptions energy;
};

constexpr int kInterruptedExit = 130;  // 128 + SIGINT, as shells report a Ctrl-C
constexpr const char* kCommands =
    "  /help          this list\n"
    "  /reset         forget the conversation (the system message stays)\n"
    "  /system TEXT   replace the system message and start over (no TEXT: the model's default)\n"
    "  /exit          end the chat (as does Ctrl-D)\n"
    "  //...          send a message that starts with '/'\n"
    "  Ctrl-C stops a reply; Ctrl-C at the prompt ends the chat (exit status 130).\n";

// Ctrl-C presses not yet acted on. The handler only counts (an atomic is async-signal-safe); the
// chat loop decides what a press means: stop the reply, or end the chat at the prompt.
std::atomic<int> g_sigints{0};
static_assert(std::atomic<int>::is_always_lock_free);

void on_sigint(int) { g_sigints.fetch_add(1, std::memory_order_relaxed); }

enum class Input { kLine, kEnd, kInterrupt };

// One line of stdin without its newline. read() rather than std::getline: the handler is
// installed without SA_RESTART so that a Ctrl-C makes the blocking read fail with EINTR, and
// iostreams may retry that or report it as end of input. Nothing touches the terminal's modes,
// so there is nothing to restore on any exit.
Input read_line(std::string& line) {
  line.clear();
  for (;;) {
    if (g_sigints.load() > 0) return Input::kInterrupt;  // also a press just before the read
    char c;
    const ssize_t n = ::read(STDIN_FILENO, &c, 1);
    if (n == 1) {
      if (c == '\n') return Input::kLine;
      line += c;
    } else if (n == 0 || errno != EINTR) {
      return line.empty() ? Input::kEnd : Input::kLine;  // a last line without '\n' still counts
    }
  }
}

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
  // Worker and sampler threads inherit the signal mask: with SIGINT blocked while they start,
  // a Ctrl-C always goes to this thread, whose read at the prompt it has to interrupt.
  sigset_t sigint;
  sigemptyset(&sigint);
  sigaddset(&sigint, SIGINT);
  pthread_sigmask(SIG_BLOCK, &sigint, nullptr);
  ThreadPool pool(o.threads);
  auto session = EnergySession::start(o.energy);
  struct sigaction sa = {};
  sa.sa_handler = on_sigint;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;  // no SA_RESTART, see read_line
  // This replaces the SIGINT handler that --gpu-power-limit/--gpu-clocks install: a Ctrl-C never
  // kills the chat, which always returns, so ~EnergySession still restores the GPU settings.
  sigaction(SIGINT, &sa, nullptr);
  pthread_sigmask(SIG_UNBLOCK, &sigint, nullptr);  // (even if the parent had it blocked)
  if (!session.ok()) return report_error(session.status());
  EnergySession& energy = **session;

  std::string system = o.system;
  std::vector<ChatMessage> history;
  std::vector<TokenId> cached;  // the tokens whose keys and values are in `state`, in order
  auto restart = [&] {
    history.clear();
    if (!system.empty()) history.push_back({"system", system});
    cached.clear();
    state.truncate(0);
  };
  restart();
  std::fprintf(stderr, "joule chat: %s (%d threads). Type a message; /help lists commands, Ctrl-C "
               "stops a reply, Ctrl-D or /exit ends.\n", model.config().name.c_str(), o.threads);
  if (energy.on()) std::fprintf(stderr, "%s\n", energy.sources_text().c_str());

  int exit_code = 0;
  std::string line;
  for (;;) {
    std::fprintf(stderr, "> ");
    const Input in = read_line(line);
    if (in != Input::kLine) {
      std::fputc('\n', stderr);  // the shell's prompt then starts on a line of its own
      if (in == Input::kInterrupt) exit_code = kInterruptedExit;
      break;
    }
    if (line.empty()) continue;
    if (line[0] == '/' && !line.starts_with("//")) {
      const size_t space = line.find(' ');
      const std::string cmd = line.substr(0, space);
      if (cmd == "/exit") break;
      if (cmd == "/help") {
        std::fprintf(stderr, "commands:\n%s", kCommands);
      } else if (cmd == "/reset") {
        restart();
        std::fprintf(stderr, "[joule] conversation reset\n");
      } else if (cmd == "/system") {
        system = space == std::string::npos ? "" : line.substr(space + 1);
        restart();
        std::fprintf(stderr, "[joule] system message %s; conversation reset\n", system.empty() ? "cleared" : "set");
      } else {
        std::fprintf(stderr, "joule chat: unknown command '%s'; commands:\n%s", cmd.c_str(), kCommands);
      }
      continue;
    }
    if (line.starts_with("//")) line.erase(0, 1);

    history.push_back({"user", line});
    const std::vector<TokenId> ids = encode_chat(tok, *tmpl, apply_chat_template(*tmpl, history, true));
    if (ids.size() > size_t(state.n_ctx())) {
      std::fprintf(stderr, "joule chat: context full (%d tokens); start a new chat\n", state.n_ctx());
      break;
    }
    // Reuse the cached prefix of the conversation; only the rest is prefilled. A reply cut short
    // or ended differently than the template renders it simply ends the common prefix.
    size_t common = 0;
    while (common < cached.size() && common < ids.size() && cached[common] == ids[common]) ++common;
    if (common == ids.size()) --common;  // at least one token must be evaluated for logits
    state.truncate(static_cast<int>(common));
    cached.resize(common);
    const std::span<const TokenId> prompt(ids.begin() + common, ids.end());

    std::string reply;
    GenerateParams gp{o.n_predict, o.sampler, nullptr};
    energy.begin("turn");
    auto stats = generate(model, tok, state, prompt, gp, pool, cpu::best_kernels(), [&](std::string_view p) {
      // After a Ctrl-C nothing more is shown, so the reply kept in the history is what was shown.
      if (g_sigints.load() > 0) return false;
      reply.append(p);
      std::fwrite(p.data(), 1, p.size(), stdout);
      std::fflush(stdout);
      return true;
    });
    if (!stats.ok()) return report_error(stats.status());
    const std::optional<energy::WindowResult> w = energy.end("turn");
    std::fputc('\n', stdout);
    std::fflush(stdout);  // before the stderr lines, also when stdout is a pipe

    // Presses during this reply are used up here; two (say, during a long prefill) end the chat.
    const int presses = g_sigints.exchange(0);
    if (stats->stop == StopReason::kCallback) std::fprintf(stderr, "[joule] reply stopped (Ctrl-C)\n");
    // Energy per token over prompt and reply tokens, as `joule run` counts its whole-run window.
    const std::string energy_text = w ? "; energy " + window_text(*w, stats->n_prompt + stats->n_generated) : "";
    std::fprintf(stderr, "[joule] turn: %d prompt tok, %d tok, %.1f tok/s%s\n", stats->n_prompt,
                 stats->n_generated, stats->decode_tok_s(), energy_text.c_str());
    if (presses >= 2) {
      exit_code = kInterruptedExit;
      break;
    }
    if (stats->stop == StopReason::kContextFull) {
      std::fprintf(stderr, "joule chat: context full (%d tokens); start a new chat\n", state.n_ctx());
      break;
    }
    cached.insert(cached.end(), prompt.begin(), prompt.end());
    cached.insert(cached.end(), stats->tokens.begin(), stats->tokens.begin() + stats->n_decode_evals);
    history.push_back({"assistant", reply});
  }
  if (Status s = energy.finish(); !s.ok()) return report_error(s);
  return exit_code;
}

}  // namespace

void register_chat(CLI::App& app, Action& action) {
  auto o = std::make_shared<ChatOptions>();
  CLI::App* cmd = app.add_subcommand("chat", "interactive chat with a model");
  cmd->footer(std::string("In the chat (replies on stdout; prompt, per-turn speed and energy on stderr):\n") +
              kCommands + "  Ctrl-D and /exit end with exit status 0.");
  add_model_options(cmd, &o->model);
  cmd->add_option("--system", o->system, "system message");
  cmd->add_option("--chat-template", o->chat_template, "override the template: " + std::string(chat_template_names()));
  cmd->add_option("-n,--n-predict", o->n_predict, "maximum tokens per reply")->capture_default_str();
  cmd->add_option("--ctx", o->n_ctx, "context size")->capture_default_str();
  add_sampler_options(cmd, &o->sampler);
  add_threads_option(cmd, &o->threads);
  add_energy_options(cmd, &o->energy);
  cmd->callback([o, &action] { action = [o] { return run(*o); }; });
}

}  // namespace joule::cli
