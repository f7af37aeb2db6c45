// joule: run LLMs and measure what they cost. One binary, one subcommand per job.
#include <algorithm>
#include <cstdio>

#include "common.h"
#include "core/version.h"

int main(int argc, char** argv) {
  CLI::App app{"joule: run LLMs on the CPU and measure their speed (energy, evaluation and\n"
               "studies follow). Use 'joule COMMAND --help' for a command's options."};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("joule ") + joule::joule_version() + " (" +
                                        joule::joule_git_commit() + ")");
  joule::cli::Action action;
  joule::cli::register_run(app, action);
  joule::cli::register_chat(app, action);
  joule::cli::register_info(app, action);
  joule::cli::register_bench(app, action);
  joule::cli::register_quantize(app, action);
  joule::cli::register_perplexity(app, action);
  joule::cli::register_init_random(app, action);
  joule::cli::register_eval(app, action);
  joule::cli::register_power(app, action);
  joule::cli::register_study(app, action);
  joule::cli::register_report(app, action);
  joule::cli::register_recommend(app, action);
  // CLI11 reports an unknown command only as "A subcommand is required": name it instead.
  const auto subs = app.get_subcommands([](const CLI::App*) { return true; });
  const bool known = argc < 2 || argv[1][0] == '-' ||
                     std::any_of(subs.begin(), subs.end(),
                                 [&](const CLI::App* s) { return s->get_name() == argv[1]; });
  if (!known) {
    std::fprintf(stderr, "joule: error: unknown command '%s' (commands: run, chat, info, bench, "
                 "quantize; see joule --help)\n", argv[1]);
    return 2;
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : 2;  // bad flags: usage error
  }
  return action();
}
