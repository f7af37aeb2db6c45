// joule quantize: rewrite a GGUF model's weight matrices in another type (the precisions issue
// extends this with per-tensor policies and automatic selection).
#include <cstdio>

#include "common.h"
#include "formats/gguf/gguf.h"
#include "quant/reference.h"

namespace joule::cli {
namespace {

struct QuantizeOptions {
  std::string in, out, type;
};

// ggml's general.file_type ids (llama_ftype) for the types written here.
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

// Matrices are re-encoded; vectors (norms, biases) stay f32 as llama.cpp keeps them.
bool is_matrix(const gguf::TensorInfo& t) { return t.dims.size() == 2; }

int run(const QuantizeOptions& o) {
  const auto type = dtype_from_name(o.type);
  if (!type || file_type_id(*type) < 0)
    return report_error(InvalidArgument("--type '" + o.type +
                                        "' is not one of f32, f16, bf16, q8_0, q4_0, q4_1, q4_k, q6_k"));
  auto in = gguf::File::open(o.in);
  if (!in.ok()) return report_error(in.status());
  gguf::Writer w;
  w.copy_metadata_from(*in);
  w.set_u32("general.file_type", static_cast<uint32_t>(file_type_id(*type)));
  const int block = traits(*type).block_size;
  size_t bytes_in = 0, bytes_out = 0;
  std::vector<float> row;
  std::vector<uint8_t> data;
  for (const gguf::TensorInfo& t : in->tensors()) {
    bytes_in += t.nbytes;
    const uint8_t* src = in->tensor_data(t);
    const int64_t cols = t.dims[0], rows = t.n_rows();
    if (!is_matrix(t) || cols % block != 0) {
      if (is_matrix(t))
        std::fprintf(stderr, "[quantize] %s: %lld columns not a multiple of %d, kept as %s\n",
                     t.name.c_str(), static_cast<long long>(cols), block,
                     std::string(dtype_name(t.type)).c_str());
      if (Status s = w.add_tensor(t.name, t.type, t.dims, src, t.nbytes); !s.ok()) return report_error(s);
      bytes_out += t.nbytes;
      continue;
    }
    const size_t in_row = row_bytes(t.type, cols), out_row = row_bytes(*type, cols);
    row.resize(cols);
    data.resize(out_row * rows);
    for (int64_t r = 0; r < rows; ++r) {
      dequantize_row_ref(t.type, src + r * in_row, row.data(), cols);
      quantize_row_ref(*type, row.data(), data.data() + r * out_row, cols);
    }
    if (Status s = w.add_tensor(t.name, *type, t.dims, data.data(), data.size()); !s.ok())
      return report_error(s);
    bytes_out += data.size();
  }
  if (Status s = w.write(o.out); !s.ok()) return report_error(s);
  std::fprintf(stderr, "[quantize] %s -> %s (%s): %.1f MiB -> %.1f MiB of tensors\n", o.in.c_str(),
               o.out.c_str(), o.type.c_str(), bytes_in / 1048576.0, bytes_out / 1048576.0);
  return 0;
}

}  // namespace

void register_quantize(CLI::App& app, Action& action) {
  auto o = std::make_shared<QuantizeOptions>();
  CLI::App* cmd = app.add_subcommand(
      "quantize", "re-encode a GGUF model's weight matrices in another type (norms stay f32)");
  cmd->add_option("input", o->in, "input GGUF")->required();
  cmd->add_option("output", o->out, "output GGUF")->required();
  cmd->add_option("--type", o->type, "f32, f16, bf16, q8_0, q4_0, q4_1, q4_k, q6_k")->required();
  cmd->callback([o, &action] { action = [o] { return run(*o); }; });
}

}  // namespace joule::cli
