// joule convert: a Hugging Face checkpoint folder to a GGUF that joule and llama.cpp both load.
#include <cstdio>

#include "common.h"
#include "progress.h"
#include "formats/hf/hf.h"

namespace joule::cli {
namespace {

struct ConvertOptions {
  std::string dir, out, type;
};

int run(const ConvertOptions& o) {
  hf::ConvertOptions c;
  if (!o.type.empty()) {
    const std::optional<Precision> p = find_precision(o.type);
    if (!p) return report_error(InvalidArgument("--type '" + o.type + "' is not one of " + precision_list()));
    c.type = p->type;
  }
  auto bar = std::make_shared<ProgressBar>("convert", "MiB");
  c.progress = [bar](uint64_t done, uint64_t total) { bar->update(int(done >> 20), int(total >> 20)); };
  std::fprintf(stderr, "[convert] %s -> %s\n", o.dir.c_str(), o.out.c_str());
  const Status s = hf::convert(o.dir, o.out, c);
  if (!s.ok()) return report_error(s);
  std::fprintf(stderr, "[convert] wrote %s\n", o.out.c_str());
  return 0;
}

}  // namespace

void register_convert(CLI::App& app, Action& action) {
  auto o = std::make_shared<ConvertOptions>();
  CLI::App* cmd = app.add_subcommand(
      "convert",
      "convert a Hugging Face folder (config.json, *.safetensors, tokenizer.json) to GGUF in "
      "llama.cpp's layout. -m DIR does the same once, cached under ~/.cache/joule/hf.");
  cmd->add_option("dir", o->dir, "Hugging Face checkpoint folder")->required();
  cmd->add_option("output", o->out, "output GGUF")->required();
  cmd->add_option("--type", o->type,
                  "weight matrices in this precision (default: as stored, f32/f16/bf16): " + precision_list());
  cmd->callback([o, &action] { action = [o] { return run(*o); }; });
}

}  // namespace joule::cli
