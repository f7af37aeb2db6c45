// joule quantize: rewrite a GGUF model's weight matrices in other precisions, one for all
// (--type) or per tensor from a policy file (--policy, quant/policy.h).
#include <cstdio>
#include <fstream>
#include <map>

#include "common.h"
#include "core/file.h"
#include "engine/auto_quant.h"
#include "formats/gguf/gguf.h"
#include "quant/reference.h"

namespace joule::cli {
namespace {

struct QuantizeOptions {
  std::string in, out, type, policy;
  bool allow_requantize = false;
  // --auto
  bool automatic = false;
  std::string base = "f16";
  std::string budget = "1%";
  std::string calib, policy_out;
  int calib_tokens = 1024;
  int n_ctx = 512;
  bool by_block = false;
  int threads = 1;
};

// ggml's general.file_type ids (llama_ftype) for the ggml types joule writes; -1 for joule's own.
int file_type_id(DType t) {
  switch (t) {
    case DType::kF32: return 0;
    case DType::kF16: return 1;
    case DType::kQ4_0: return 2;
    case DType::kQ4_1: return 3;
    case DType::kQ8_0: return 7;
    case DType::kQ5_0: return 8;
    case DType::kQ5_1: return 9;
    case DType::kQ2_K: return 10;
    case DType::kQ3_K: return 11;  // Q3_K_S: Q3_K in every matrix
    case DType::kQ4_K: return 15;
    case DType::kQ5_K: return 16;  // Q5_K_S
    case DType::kQ6_K: return 18;
    case DType::kBF16: return 32;
    default: return -1;
  }
}

// Matrices are re-encoded; vectors (norms, biases) stay as they are, as llama.cpp keeps them.
bool is_matrix(const gguf::TensorInfo& t) { return t.dims.size() == 2; }

Expected<Policy> policy_from(const QuantizeOptions& o) {
  if (o.type.empty() == o.policy.empty())
    return InvalidArgument("give exactly one of --type and --policy");
  if (!o.policy.empty()) return Policy::load(o.policy);
  const std::optional<Precision> p = find_precision(o.type);
  if (!p) return InvalidArgument("--type '" + o.type + "' is not one of " + precision_list());
  return Policy::uniform(p->type);
}

// Quantizing already quantized weights again stacks both rounding losses, so, as llama-quantize
// does, it needs saying so. Dequantizing to a float type loses nothing and is always allowed.
Status check_requantize(const gguf::File& in, const Policy& policy, bool allowed) {
  std::map<std::string, int> from;  // "q4_1 -> q8_0": matrices
  for (const gguf::TensorInfo& t : in.tensors()) {
    if (!is_matrix(t)) continue;
    const DType to = choose_type(t.name, t.type, policy.type_for(t.name, t.type), t.dims[0]).type;
    if (to != t.type && traits(t.type).quantized && traits(to).quantized)
      ++from[std::string(precision_name(t.type)) + " -> " + std::string(precision_name(to))];
  }
  if (from.empty() || allowed) return Status::Ok();
  std::string what;
  for (const auto& [conversion, n] : from) what += (what.empty() ? "" : ", ") + std::to_string(n) + " " + conversion;
  return InvalidArgument("the input's weights are already quantized (" + what + "): quantizing them again stacks " +
                         "the losses; start from an f32/f16/bf16 file, or pass --allow-requantize");
}

// Writes `in` re-encoded as the policy says into `out`.
int write_quantized(const QuantizeOptions& o, const Expected<Policy>& policy) {
  if (!policy.ok()) return report_error(policy.status());
  auto in = gguf::File::open(o.in);
  if (!in.ok()) return report_error(in.status());
  std::vector<std::string> matrices;
  for (const gguf::TensorInfo& t : in->tensors())
    if (is_matrix(t)) matrices.push_back(t.name);
  if (Status s = policy->check_every_rule_matches(matrices); !s.ok()) return report_error(s);
  if (Status s = check_requantize(*in, *policy, o.allow_requantize); !s.ok()) return report_error(s);

  gguf::Writer w;
  w.copy_metadata_from(*in);
  w.set_string("joule.quantize.policy", policy->to_text());
  size_t bytes_in = 0, bytes_out = 0;
  std::map<DType, int> written;  // matrices per type
  for (const gguf::TensorInfo& t : in->tensors()) {
    bytes_in += t.nbytes;
    const uint8_t* src = in->tensor_data(t);
    const int64_t cols = t.dims[0];
    const TypeChoice choice =
        choose_type(t.name, t.type, is_matrix(t) ? policy->type_for(t.name, t.type) : t.type, cols);
    if (!choice.note.empty()) std::fprintf(stderr, "[quantize] %s\n", choice.note.c_str());
    const DType to = choice.type;
    if (is_matrix(t)) ++written[to];
    Status s;
    if (to == t.type) {
      s = w.add_tensor(t.name, t.type, t.dims, src, t.nbytes);
      bytes_out += t.nbytes;
    } else {
      const size_t in_row = row_bytes(t.type, cols);
      s = w.add_tensor_rows(t.name, to, t.dims, [src, in_row, cols, from = t.type, to](int64_t r, uint8_t* dst) {
        thread_local std::vector<float> row;
        row.resize(static_cast<size_t>(cols));
        requantize_row_ref(from, src + r * in_row, to, dst, cols, row.data());
      });
      bytes_out += row_bytes(to, cols) * static_cast<size_t>(t.n_rows());
    }
    if (!s.ok()) return report_error(s);
  }
  // general.file_type names the most common matrix type (llama.cpp shows it; joule's own types
  // have no id, and such files do not load in llama.cpp anyway).
  DType main_type = written.empty() ? DType::kF32 : written.begin()->first;
  for (const auto& [type, n] : written)
    if (n > written[main_type]) main_type = type;
  if (file_type_id(main_type) >= 0)
    w.set_u32("general.file_type", static_cast<uint32_t>(file_type_id(main_type)));
  if (Status s = w.write(o.out); !s.ok()) return report_error(s);
  std::string summary;
  for (const auto& [type, n] : written)
    summary += (summary.empty() ? "" : ", ") + std::to_string(n) + " " + std::string(precision_name(type));
  std::fprintf(stderr, "[quantize] %s -> %s (%s): %.1f MiB -> %.1f MiB of tensors; matrices: %s\n",
               o.in.c_str(), o.out.c_str(), policy->source.c_str(), bytes_in / 1048576.0,
               bytes_out / 1048576.0, summary.c_str());
  return 0;
}

// "1%", "0.5 %" or "2" (percent) -> 0.01, 0.005, 0.02.
Expected<double> parse_budget(std::string s) {
  if (!s.empty() && s.back() == '%') s.pop_back();
  try {
    size_t used = 0;
    const double v = std::stod(s, &used);
    if (used == s.size() && v >= 0 && v <= 1000) return v / 100;
  } catch (const std::exception&) {
  }
  return InvalidArgument("--budget-ppl '" + s + "' is not a percentage between 0 and 1000 (e.g. 1%)");
}

int run_auto(const QuantizeOptions& o) {
  if (Status s = check_threads(o.threads); !s.ok()) return report_error(s);
  const auto budget = parse_budget(o.budget);
  if (!budget.ok()) return report_error(budget.status());
  if (o.type.empty()) return report_error(InvalidArgument("--auto needs --type: the low precision to use where it fits"));
  if (!o.policy.empty()) return report_error(InvalidArgument("--auto writes a policy; it does not take --policy"));
  if (o.calib.empty()) return report_error(InvalidArgument("--auto needs --calib FILE (calibration text)"));
  const auto low_p = find_precision(o.type), high_p = find_precision(o.base);
  if (!low_p) return report_error(InvalidArgument("--type '" + o.type + "' is not one of " + precision_list()));
  if (!high_p) return report_error(InvalidArgument("--base '" + o.base + "' is not one of " + precision_list()));
  if (o.calib_tokens < o.n_ctx)
    return report_error(InvalidArgument("--calib-tokens must be at least --ctx (" + std::to_string(o.n_ctx) + ")"));
  {  // before the measurements, not after them: would the low precision re-quantize?
    auto in = gguf::File::open(o.in);
    if (!in.ok()) return report_error(in.status());
    if (Status s = check_requantize(*in, Policy::uniform(low_p->type), o.allow_requantize); !s.ok())
      return report_error(s);
  }
  auto calib_text = read_file(o.calib, "calibration text");
  if (!calib_text.ok()) return report_error(calib_text.status());

  auto high = load_model({o.in, o.base, ""});
  if (!high.ok()) return report_error(high.status());
  auto low = load_model({o.in, o.type, ""});
  if (!low.ok()) return report_error(low.status());
  const Tokenizer& tok = *high->tokenizer;
  const std::vector<TokenId> tokens = tok.encode(*calib_text, true, false);
  AutoQuantParams p;
  p.budget_rel = *budget;
  p.by_block = o.by_block;
  p.perplexity = {o.n_ctx, o.calib_tokens / o.n_ctx, tok.add_bos() ? tok.bos() : -1};
  p.log = [](const std::string& line) { std::fprintf(stderr, "[quantize --auto] %s\n", line.c_str()); };
  ThreadPool pool(o.threads);
  auto r = auto_quantize(*high->model, *low->model, high_p->type, low_p->type, tokens, p, pool,
                         cpu::best_kernels());
  if (!r.ok()) return report_error(r.status());
  const std::string policy_path = o.policy_out.empty() ? o.out + ".policy" : o.policy_out;
  {
    std::ofstream pf(policy_path);
    pf << "# joule quantize --auto: " << low_p->name << " where it fits a perplexity budget of "
       << o.budget << " over " << high_p->name << "\n# calibration: " << o.calib << " ("
       << p.perplexity.max_chunks * o.n_ctx << " tokens, ctx " << o.n_ctx << "); " << r->evaluations
       << " perplexity measurements\n# measured perplexity: " << high_p->name << " " << r->high_ppl
       << ", all " << low_p->name << " " << r->all_low_ppl << ", this policy " << r->final_ppl << "\n"
       << r->policy.to_text();
    if (!pf) return report_error(IoError("cannot write " + policy_path));
  }
  std::fprintf(stderr,
               "[quantize --auto] %zu of %zu %s made %s; calibration perplexity %.4f (%s %.4f, %+.3f %%; all %s "
               "%.4f, %+.3f %%); policy written to %s\n",
               r->n_low, r->ranking.size(), o.by_block ? "groups" : "tensors", std::string(low_p->name).c_str(),
               r->final_ppl, std::string(high_p->name).c_str(), r->high_ppl, 100 * (r->final_ppl / r->high_ppl - 1),
               std::string(low_p->name).c_str(), r->all_low_ppl, 100 * (r->all_low_ppl / r->high_ppl - 1),
               policy_path.c_str());
  return write_quantized(o, r->policy);
}

int run(const QuantizeOptions& o) {
  if (o.automatic) return run_auto(o);
  return write_quantized(o, policy_from(o));
}

}  // namespace

void register_quantize(CLI::App& app, Action& action) {
  auto o = std::make_shared<QuantizeOptions>();
  CLI::App* cmd = app.add_subcommand(
      "quantize", "re-encode a GGUF model's weight matrices in other precisions (norms stay as they are)");
  cmd->add_option("input", o->in, "input GGUF")->required();
  cmd->add_option("output", o->out, "output GGUF")->required();
  cmd->add_option("--type", o->type, "one precision for every matrix: " + precision_list());
  cmd->add_option("--policy", o->policy, "per-tensor precisions from a policy file (docs/precisions.md)");
  cmd->add_flag("--allow-requantize", o->allow_requantize,
                "re-encode matrices that are already quantized in another quantized type (losses stack)");
  cmd->add_flag("--auto", o->automatic,
                "choose per tensor: measure each tensor's sensitivity on --calib, make the least "
                "sensitive ones --type until --budget-ppl is used, the rest --base");
  cmd->add_option("--base", o->base, "--auto: the high precision")->capture_default_str();
  cmd->add_option("--budget-ppl", o->budget, "--auto: allowed perplexity increase over --base")->capture_default_str();
  cmd->add_option("--calib", o->calib, "--auto: calibration text (UTF-8)");
  cmd->add_option("--calib-tokens", o->calib_tokens, "--auto: calibration tokens per measurement (chunks of --ctx, the second half of each scored)")->capture_default_str();
  cmd->add_option("--ctx", o->n_ctx, "--auto: tokens per calibration chunk")->capture_default_str();
  cmd->add_flag("--by-block", o->by_block, "--auto: decide per block (all its tensors) instead of per tensor");
  cmd->add_option("--policy-out", o->policy_out, "--auto: where to write the chosen policy (default: OUTPUT.policy)");
  add_threads_option(cmd, &o->threads);
  cmd->callback([o, &action] { action = [o] { return run(*o); }; });
}

}  // namespace joule::cli
