#include "model/model.h"

#include <atomic>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <utility>

#include "backend/cpu/kernels.h"
#include "backend/cpu/matmul.h"
#include "core/cpu_features.h"
#include "core/memory.h"
#include "core/thread_pool.h"
#include "quant/precision.h"
#include "quant/reference.h"

namespace joule {
namespace {

std::string dims_str(const std::vector<int64_t>& dims) {
  std::string s = "{";
  for (size_t i = 0; i < dims.size(); ++i) s += (i ? ", " : "") + std::to_string(dims[i]);
  return s + "}";
}

class Binder {
 public:
  Binder(const gguf::File& f, const Policy* policy, std::map<std::string, DType>& convert_to,
         std::vector<std::string>& notes)
      : f_(f), policy_(policy), convert_to_(convert_to), notes_(notes) {}

  const gguf::TensorInfo* find(const std::string& name) const { return f_.find_tensor(name); }

  Expected<const gguf::TensorInfo*> require(const std::string& name,
                                            std::vector<int64_t> dims) const {
    const gguf::TensorInfo* t = f_.find_tensor(name);
    if (t == nullptr) return FormatError(f_.path() + ": missing tensor '" + name + "'");
    if (t->dims != dims)
      return FormatError(f_.path() + ": tensor '" + name + "' has shape " + dims_str(t->dims) +
                         ", expected " + dims_str(dims));
    return t;
  }

  // A [rows x cols] matrix (GGUF dims {cols, rows}) as stored; the type the policy gives it, if
  // another, goes to convert_to (the conversion happens when the weights are placed).
  Expected<Matrix> matrix(const std::string& name, int64_t rows, int64_t cols) {
    JOULE_ASSIGN_OR_RETURN(const gguf::TensorInfo* t, require(name, {cols, rows}));
    const Matrix m{t->type, rows, cols, f_.tensor_data(*t), row_bytes(t->type, cols)};
    matrix_names_.push_back(name);
    const DType wanted = policy_ ? policy_->type_for(name, t->type) : t->type;
    const TypeChoice to = choose_type(name, t->type, wanted, cols);
    if (!to.note.empty()) notes_.push_back(to.note);
    if (to.type != t->type) convert_to_[name] = to.type;
    if (!cpu::supports_matmul(cpu::scalar_kernels(), Matrix{to.type, rows, cols, nullptr, row_bytes(to.type, cols)}))
      return Unsupported(f_.path() + ": tensor '" + name + "' has type " +
                         std::string(dtype_name(t->type)) + ", which joule cannot multiply yet");
    return m;
  }

  const std::vector<std::string>& matrix_names() const { return matrix_names_; }

  // A small vector, converted to f32 once (norm weights and biases are tiny).
  Expected<std::vector<float>> vector(const std::string& name, int64_t n) const {
    JOULE_ASSIGN_OR_RETURN(const gguf::TensorInfo* t, require(name, {n}));
    std::vector<float> v(n);
    dequantize_row_ref(t->type, f_.tensor_data(*t), v.data(), n);
    return v;
  }

 private:
  const gguf::File& f_;
  const Policy* policy_;
  std::map<std::string, DType>& convert_to_;
  std::vector<std::string>& notes_;
  std::vector<std::string> matrix_names_;
};

}  // namespace

Expected<std::unique_ptr<Model>> Model::load(const std::string& path, const LoadOptions& opts) {
  JOULE_ASSIGN_OR_RETURN(gguf::File file, gguf::File::open(path));
  JOULE_ASSIGN_OR_RETURN(ModelConfig config, read_model_config(file));
  std::unique_ptr<Model> m(
      new Model(std::make_shared<const gguf::File>(std::move(file)), std::move(config)));
  std::map<std::string, DType> convert_to;
  JOULE_RETURN_IF_ERROR(m->bind_weights(opts.policy, convert_to));
  m->place_weights(convert_to);
  return m;
}

void Model::place_weights(const std::map<std::string, DType>& convert_to) {
  const cpu::KernelSet& ks = cpu::best_kernels();
  const auto mats = mutable_matrices();
  // Where each matrix's rows (converted or copied) and packed layout go in the arena. One arena
  // for all: huge pages are 2 MiB, so one allocation per matrix would leave up to 2 MiB of each
  // one's last page resident and unused (SmolLM2's 576 x 576 matrices are 0.2 MiB).
  constexpr size_t kNone = ~size_t{0};
  struct Place {
    DType to;
    size_t rows_at = kNone, packed_at = kNone;
  };
  std::vector<Place> plan(mats.size());
  size_t total = 0;
  auto take = [&](size_t bytes) { return std::exchange(total, total + (bytes + 63) / 64 * 64); };
  for (size_t i = 0; i < mats.size(); ++i) {
    const Matrix& m = *mats[i].second;
    const auto it = convert_to.find(mats[i].first);
    Place& p = plan[i];
    p.to = it == convert_to.end() ? m.type : it->second;
    const Matrix target{p.to, m.rows, m.cols, nullptr, row_bytes(p.to, m.cols)};
    const size_t packed = cpu::packed_bytes(target, ks);
    if (p.to != m.type || (packed == 0 && cpu::packing_enabled() && file_->maps(m.data, m.bytes())))
      p.rows_at = take(target.bytes());
    if (packed > 0) p.packed_at = take(packed);
  }
  if (total == 0) return;
  const std::shared_ptr<uint8_t> arena = alloc_huge_pages(total);
  owned_.push_back(arena);
  auto place = [&](size_t i, std::vector<float>& row) {
    Matrix& m = *mats[i].second;
    const Place& p = plan[i];
    const Matrix from = m;
    if (p.rows_at != kNone) {
      m.type = p.to;
      m.row_stride = row_bytes(p.to, m.cols);
      m.data = arena.get() + p.rows_at;
      if (p.to == from.type) {
        std::memcpy(arena.get() + p.rows_at, from.data, from.bytes());
      } else {  // dequantize + requantize per row, through the scalar reference
        row.resize(static_cast<size_t>(m.cols));
        for (int64_t r = 0; r < m.rows; ++r)
          requantize_row_ref(from.type, from.row(r), p.to, arena.get() + p.rows_at + r * m.row_stride, m.cols,
                             row.data());
      }
    }
    if (p.packed_at != kNone) cpu::pack_matrix(m, ks, arena.get() + p.packed_at);
    // The kernels read the arena now; the file's pages come back only for the rows a lookup
    // touches (token embeddings of a packed table), so resident memory holds the weights once.
    if ((m.data != from.data || m.packed != nullptr) && file_->maps(from.data, from.bytes()))
      file_->release(from.data, from.bytes());
  };
  // Matrices are placed by one thread per core, each taking the next unplaced matrix: writing the
  // arena touches each of its pages for the first time, and the kernel's zeroing of fresh pages
  // dominates (a 7B model: 9.0 s on one thread here; conversions run the scalar reference over
  // every row).
  std::atomic<size_t> next{0};
  ThreadPool(cpu_features().physical_cores).run([&](int, int) {
    std::vector<float> row;
    for (size_t i; (i = next.fetch_add(1)) < mats.size();) place(i, row);
  });
  if (weights_.tied_output) weights_.output = weights_.token_embd;
}

Status Model::bind_weights(const Policy* policy, std::map<std::string, DType>& convert_to) {
  const ModelConfig& c = config_;
  Binder b(*file_, policy, convert_to, load_notes_);
  ModelWeights& w = weights_;
  const int64_t d = c.d_model, q = c.q_dim(), kv = c.kv_dim(), f = c.d_ff, nv = c.n_vocab;

  const bool layer_norm = c.norm == NormKind::kLayer;
  // A norm's weight, and its bias where the norm is a LayerNorm.
  auto norm = [&](const std::string& name, std::vector<float>& weight, std::vector<float>& bias) -> Status {
    JOULE_ASSIGN_OR_RETURN(weight, b.vector(name + ".weight", d));
    if (layer_norm) {
      JOULE_ASSIGN_OR_RETURN(bias, b.vector(name + ".bias", d));
    }
    return Status::Ok();
  };
  JOULE_ASSIGN_OR_RETURN(w.token_embd, b.matrix("token_embd.weight", nv, d));
  if (c.embed_norm) JOULE_RETURN_IF_ERROR(norm("token_embd_norm", w.embd_norm, w.embd_norm_b));
  JOULE_RETURN_IF_ERROR(norm("output_norm", w.output_norm, w.output_norm_b));
  w.tied_output = b.find("output.weight") == nullptr;
  if (w.tied_output) {
    w.output = w.token_embd;
  } else {
    JOULE_ASSIGN_OR_RETURN(w.output, b.matrix("output.weight", nv, d));
  }
  if (b.find("rope_freqs.weight")) {
    JOULE_ASSIGN_OR_RETURN(w.rope_freq_factors, b.vector("rope_freqs.weight", c.rope_dim / 2));
  }

  w.layers.resize(c.n_layers);
  for (int i = 0; i < c.n_layers; ++i) {
    LayerWeights& l = w.layers[i];
    const std::string p = "blk." + std::to_string(i) + ".";
    JOULE_RETURN_IF_ERROR(norm(p + "attn_norm", l.attn_norm, l.attn_norm_b));
    if (c.fused_qkv) {
      JOULE_ASSIGN_OR_RETURN(l.wqkv, b.matrix(p + "attn_qkv.weight", q + 2 * kv, d));
      if (c.qkv_bias) {
      JOULE_ASSIGN_OR_RETURN(l.bqkv, b.vector(p + "attn_qkv.bias", q + 2 * kv));
    }
    } else {
      JOULE_ASSIGN_OR_RETURN(l.wq, b.matrix(p + "attn_q.weight", q, d));
      JOULE_ASSIGN_OR_RETURN(l.wk, b.matrix(p + "attn_k.weight", kv, d));
      JOULE_ASSIGN_OR_RETURN(l.wv, b.matrix(p + "attn_v.weight", kv, d));
    }
    if (c.qkv_bias && !c.fused_qkv) {
      JOULE_ASSIGN_OR_RETURN(l.bq, b.vector(p + "attn_q.bias", q));
      JOULE_ASSIGN_OR_RETURN(l.bk, b.vector(p + "attn_k.bias", kv));
      JOULE_ASSIGN_OR_RETURN(l.bv, b.vector(p + "attn_v.bias", kv));
    }
    if (c.qk_norm) {
      JOULE_ASSIGN_OR_RETURN(l.q_norm, b.vector(p + "attn_q_norm.weight", c.head_dim));
      JOULE_ASSIGN_OR_RETURN(l.k_norm, b.vector(p + "attn_k_norm.weight", c.head_dim));
    }
    JOULE_ASSIGN_OR_RETURN(l.wo, b.matrix(p + "attn_output.weight", d, q));
    JOULE_RETURN_IF_ERROR(norm(p + "ffn_norm", l.ffn_norm, l.ffn_norm_b));
    if (c.ffn_gated) {
      JOULE_ASSIGN_OR_RETURN(l.w_gate, b.matrix(p + "ffn_gate.weight", f, d));
    }
    JOULE_ASSIGN_OR_RETURN(l.w_up, b.matrix(p + "ffn_up.weight", f, d));
    JOULE_ASSIGN_OR_RETURN(l.w_down, b.matrix(p + "ffn_down.weight", d, f));
    if (c.proj_bias) {
      JOULE_ASSIGN_OR_RETURN(l.bo, b.vector(p + "attn_output.bias", d));
      JOULE_ASSIGN_OR_RETURN(l.b_up, b.vector(p + "ffn_up.bias", f));
      JOULE_ASSIGN_OR_RETURN(l.b_down, b.vector(p + "ffn_down.bias", d));
    }
    if (c.post_norms) {
      JOULE_ASSIGN_OR_RETURN(l.post_attn_norm, b.vector(p + "post_attention_norm.weight", d));
      JOULE_ASSIGN_OR_RETURN(l.post_ffn_norm, b.vector(p + "post_ffw_norm.weight", d));
    }
  }
  if (policy) JOULE_RETURN_IF_ERROR(policy->check_every_rule_matches(b.matrix_names()));
  return Status::Ok();
}

std::vector<std::pair<std::string, const Matrix*>> ModelWeights::matrices() const {
  std::vector<std::pair<std::string, const Matrix*>> out = {{"token_embd.weight", &token_embd}};
  if (!tied_output) out.emplace_back("output.weight", &output);
  for (size_t i = 0; i < layers.size(); ++i) {
    const std::string p = "blk." + std::to_string(i) + ".";
    const LayerWeights& l = layers[i];
    const std::pair<const char*, const Matrix*> all[] = {
        {"attn_q.weight", &l.wq},       {"attn_k.weight", &l.wk},   {"attn_v.weight", &l.wv},
        {"attn_qkv.weight", &l.wqkv},   {"attn_output.weight", &l.wo}, {"ffn_gate.weight", &l.w_gate},
        {"ffn_up.weight", &l.w_up},     {"ffn_down.weight", &l.w_down}};
    for (const auto& [name, m] : all)
      if (m->rows > 0) out.emplace_back(p + name, m);
  }
  return out;
}

std::vector<std::pair<std::string, Matrix*>> Model::mutable_matrices() {
  std::vector<std::pair<std::string, Matrix*>> out;
  for (auto& [name, m] : weights_.matrices()) out.emplace_back(name, const_cast<Matrix*>(m));
  return out;
}

Expected<std::unique_ptr<Model>> Model::mix(const Model& a, const Model& b,
                                            const std::function<bool(const std::string&)>& take_b) {
  const auto ma = a.weights().matrices(), mb = b.weights().matrices();
  if (ma.size() != mb.size() || a.config().n_layers != b.config().n_layers)
    return InvalidArgument("Model::mix: the two models have different shapes");
  std::unique_ptr<Model> m(new Model(a.file_, a.config_));
  m->weights_ = a.weights_;
  m->owned_ = a.owned_;
  m->owned_.insert(m->owned_.end(), b.owned_.begin(), b.owned_.end());
  m->owned_.push_back(b.file_);
  auto mine = m->mutable_matrices();
  for (size_t i = 0; i < mine.size(); ++i) {
    if (mb[i].first != mine[i].first || mb[i].second->rows != mine[i].second->rows ||
        mb[i].second->cols != mine[i].second->cols)
      return InvalidArgument("Model::mix: matrix " + mine[i].first + " differs between the models");
    if (take_b(mine[i].first)) *mine[i].second = *mb[i].second;
  }
  if (m->weights_.tied_output) m->weights_.output = m->weights_.token_embd;
  return m;
}

size_t Model::weight_bytes() const {
  size_t total = 0;
  for (const auto& [name, m] : weights_.matrices()) total += m->bytes();
  return total;
}

size_t Model::bytes_per_token() const {
  return weight_bytes() - (weights_.tied_output ? 0 : weights_.token_embd.bytes());
}

int64_t Model::n_params() const {
  int64_t n = 0;
  for (const gguf::TensorInfo& t : file_->tensors()) n += t.n_elements();
  return n;
}

}  // namespace joule
