// joule init-random: a GGUF model with random weights in the shape of a real one, for speed,
// memory and energy measurements of models that are not downloaded.
#include <cstdio>

#include "common.h"
#include "model/random_model.h"

namespace joule::cli {
namespace {

struct InitRandomOptions {
  std::string out, arch, shape = "smollm2-135m", type = "f16";
  uint64_t seed = 1;
};

int run(const InitRandomOptions& o) {
  const ModelShape* shape = find_model_shape(o.shape);
  if (shape == nullptr)
    return report_error(InvalidArgument("--shape '" + o.shape + "' is not one of " + model_shape_list()));
  const std::optional<Precision> prec = find_precision(o.type);
  if (!prec) return report_error(InvalidArgument("--type '" + o.type + "' is not one of " + precision_list()));
  RandomModelParams p{*shape, prec->type, o.seed, {}};
  if (!o.arch.empty()) {
    if (o.arch != "llama" && o.arch != "qwen2")
      return report_error(InvalidArgument("--arch '" + o.arch + "' is not llama or qwen2"));
    if (p.shape.arch == "bloom")
      return report_error(InvalidArgument("--arch does not apply to the bloom shapes (their layout is bloom's own)"));
    p.shape.arch = o.arch == "llama" ? "llama" : "qwen2";
  }
  // A line per 10 % (a \r-updated line would flood logs that are not terminals).
  p.progress = [last = -1](double f) mutable {
    const int tenth = static_cast<int>(f * 10);
    if (tenth == last) return;
    last = tenth;
    std::fprintf(stderr, "[init-random] %3d %%\n", 10 * tenth);
  };
  std::fprintf(stderr, "[init-random] %s (%s, %.2f B parameters) in %s -> %s\n", std::string(shape->name).c_str(),
               std::string(p.shape.arch).c_str(), random_model_params(p.shape) / 1e9,
               std::string(prec->name).c_str(), o.out.c_str());
  const Status s = write_random_model(o.out, p);
  if (!s.ok()) return report_error(s);
  std::fprintf(stderr, "[init-random] wrote %s (random weights: for speed and energy only)\n", o.out.c_str());
  return 0;
}

}  // namespace

void register_init_random(CLI::App& app, Action& action) {
  auto o = std::make_shared<InitRandomOptions>();
  CLI::App* cmd = app.add_subcommand(
      "init-random",
      "write a model with random weights in a real model's shape: for measuring speed, memory and "
      "energy without downloading it. Its outputs are meaningless: accuracy needs real weights.");
  cmd->add_option("output", o->out, "output GGUF")->required();
  cmd->add_option("--shape", o->shape, "one of " + model_shape_list())->capture_default_str();
  cmd->add_option("--type", o->type, "precision of the weight matrices: " + precision_list())->capture_default_str();
  cmd->add_option("--arch", o->arch, "llama or qwen2 (default: the shape's own)");
  cmd->add_option("--seed", o->seed, "random seed")->capture_default_str();
  cmd->callback([o, &action] { action = [o] { return run(*o); }; });
}

}  // namespace joule::cli
