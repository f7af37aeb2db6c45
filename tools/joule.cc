// joule: run LLMs and measure what they cost. One binary, one subcommand per job.
#include <algorithm>
#include <cstdio>
#include <string>

#include "common.h"
#include "core/version.h"

namespace {

constexpr const char* kAbout =
    "joule runs large language models (GGUF, on the CPU) and makes their energy cost measurable,\n"
    "comparable and lower: every figure names its source (counter, sampled or estimated).\n"
    "  generate        run, chat\n"
    "  measure         bench (speed and energy per token), power (live sensors), info\n"
    "  precisions      quantize, perplexity, init-random\n"
    "  accuracy        eval (benchmark tasks with the energy of each)\n"
    "  studies         study (grids into a results database), report, recommend\n"
    "  serving         serve (an OpenAI-compatible server with each request's energy), loadgen\n"
    "Use 'joule COMMAND --help' for a command's options. Errors: one line 'joule: error: ...',\n"
    "exit code 2 for bad usage, 1 for anything else.";

// The names of the subcommands, in the order they were registered.
std::string command_list(CLI::App& app) {
  std::string s;
  for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; }))
    s += (s.empty() ? "" : ", ") + sub->get_name();
  return s;
}

// The most deeply nested subcommand the command line selected ("study run"), empty for none.
std::string selected_command(CLI::App& app) {
  std::string path;
  for (CLI::App* a = &app;;) {
    const std::vector<CLI::App*> parsed = a->get_subcommands();
    if (parsed.empty()) return path;
    a = parsed.front();
    path += (path.empty() ? "" : " ") + a->get_name();
  }
}

// CLI11's message as one line (its multi-line messages joined with "; "), starting lower case
// like joule's own.
std::string one_line(std::string s) {
  while (!s.empty() && s.back() == '\n') s.pop_back();
  if (s.size() > 1 && s[0] >= 'A' && s[0] <= 'Z' && !(s[1] >= 'A' && s[1] <= 'Z')) s[0] = static_cast<char>(s[0] - 'A' + 'a');
  for (size_t i = 0; (i = s.find('\n', i)) != std::string::npos;) s.replace(i, 1, "; ");
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{kAbout, "joule"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("joule ") + joule::joule_version() + " (" +
                                        joule::joule_git_commit() + ")");
  joule::cli::Action action;
  joule::cli::register_run(app, action);
  joule::cli::register_chat(app, action);
  joule::cli::register_info(app, action);
  joule::cli::register_bench(app, action);
  joule::cli::register_power(app, action);
  joule::cli::register_quantize(app, action);
  joule::cli::register_perplexity(app, action);
  joule::cli::register_init_random(app, action);
  joule::cli::register_convert(app, action);
  joule::cli::register_eval(app, action);
  joule::cli::register_study(app, action);
  joule::cli::register_report(app, action);
  joule::cli::register_recommend(app, action);
  joule::cli::register_serve(app, action);
  joule::cli::register_loadgen(app, action);
  if (argc < 2) {
    std::fprintf(stderr, "joule: error: a command is required (%s); see joule --help\n", command_list(app).c_str());
    return 2;
  }
  // CLI11 reports an unknown command only as "A subcommand is required": name it instead.
  const auto subs = app.get_subcommands([](const CLI::App*) { return true; });
  const bool known = argv[1][0] == '-' || std::any_of(subs.begin(), subs.end(), [&](const CLI::App* s) {
                       return s->get_name() == argv[1];
                     });
  if (!known) {
    std::fprintf(stderr, "joule: error: unknown command '%s' (commands: %s; see joule --help)\n", argv[1],
                 command_list(app).c_str());
    return 2;
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
    const std::string cmd = selected_command(app);
    std::fprintf(stderr, "joule: error: %s%s (see joule %s--help)\n", cmd.empty() ? "" : (cmd + ": ").c_str(),
                 one_line(e.what()).c_str(), cmd.empty() ? "" : (cmd + " ").c_str());
    return 2;
  }
  return action();
}
