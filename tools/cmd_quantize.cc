// joule quantize: rewrite a GGUF model's weight matrices in other precisions, one for all
// (--type) or per tensor from a policy file (--policy, quant/policy.h).
#include <cstdio>
#include <map>

#include "common.h"
#include "formats/gguf/gguf.h"
#include "quant/reference.h"

namespace joule::cli {
namespace {

struct QuantizeOptions {
  std::string in, out, type, policy;
};

// ggml's general.file_type ids (llama_ftype) for the ggml types joule writes; -1 for joule's own.
int file_type_id(DType t) {
  switch (t) {
    case DType::kF32: return 0;
    case DType::kF16: return 1;
    case DType::kQ4_0: return 2;
    case DType::kQ4_1: return 3;
    case DType::kQ8_0: return 7;
    case DType::kQ4_K: return 15;
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

int run(const QuantizeOptions& o) {
  auto policy = policy_from(o);
  if (!policy.ok()) return report_error(policy.status());
  auto in = gguf::File::open(o.in);
  if (!in.ok()) return report_error(in.status());
  std::vector<std::string> matrices;
  for (const gguf::TensorInfo& t : in->tensors())
    if (is_matrix(t)) matrices.push_back(t.name);
  if (Status s = policy->check_every_rule_matches(matrices); !s.ok()) return report_error(s);

  gguf::Writer w;
  w.copy_metadata_from(*in);
  w.set_string("joule.quantize.policy", policy->to_text());
  size_t bytes_in = 0, bytes_out = 0;
  std::map<DType, int> written;  // matrices per type
  for (const gguf::TensorInfo& t : in->tensors()) {
    bytes_in += t.nbytes;
    const uint8_t* src = in->tensor_data(t);
    const int64_t cols = t.dims[0];
    DType to = is_matrix(t) ? policy->type_for(t.name, t.type) : t.type;
    if (to != t.type && cols % traits(to).block_size != 0) {
      std::fprintf(stderr, "[quantize] %s: %lld columns are not a multiple of the %s block size %d; kept as %s\n",
                   t.name.c_str(), static_cast<long long>(cols), std::string(dtype_name(to)).c_str(),
                   traits(to).block_size, std::string(dtype_name(t.type)).c_str());
      to = t.type;
    }
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
        dequantize_row_ref(from, src + r * in_row, row.data(), cols);
        quantize_row_ref(to, row.data(), dst, cols);
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

}  // namespace

void register_quantize(CLI::App& app, Action& action) {
  auto o = std::make_shared<QuantizeOptions>();
  CLI::App* cmd = app.add_subcommand(
      "quantize", "re-encode a GGUF model's weight matrices in other precisions (norms stay as they are)");
  cmd->add_option("input", o->in, "input GGUF")->required();
  cmd->add_option("output", o->out, "output GGUF")->required();
  cmd->add_option("--type", o->type, "one precision for every matrix: " + precision_list());
  cmd->add_option("--policy", o->policy, "per-tensor precisions from a policy file (docs/precisions.md)");
  cmd->callback([o, &action] { action = [o] { return run(*o); }; });
}

}  // namespace joule::cli
