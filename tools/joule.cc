// joule: run LLMs and measure what they cost. One binary, one subcommand per job.
#include <cstdio>

#include "common.h"

int main(int argc, char** argv) {
  CLI::App app{"joule: run LLMs on the CPU and measure their speed (energy, evaluation and\n"
               "studies follow). Use 'joule COMMAND --help' for a command's options."};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("joule ") + JOULE_VERSION + " (" +
                                        JOULE_GIT_COMMIT + ")");
  joule::cli::Action action;
  joule::cli::register_run(app, action);
  joule::cli::register_chat(app, action);
  joule::cli::register_info(app, action);
  joule::cli::register_bench(app, action);
  joule::cli::register_quantize(app, action);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : 2;  // bad flags: usage error
  }
  return action();
}
