// Hugging Face folders to GGUF: config.json to <arch>.* metadata, safetensors tensors renamed and
// laid out as llama.cpp's convert_hf_to_gguf.py lays them out (llama-family Q and K rows permuted
// for RoPE on adjacent pairs), streamed row by row into gguf::Writer.
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <initializer_list>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "formats/hf/hf.h"
#include "formats/hf/hf_internal.h"
#include "quant/precision.h"
#include "quant/reference.h"

namespace joule::hf {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {


// A positive integer field of config.json (or `fallback` when absent and fallback > 0).
Expected<int64_t> positive(const json& c, const std::string& key, const std::string& where, int64_t fallback = 0) {
  const auto it = c.find(key);
  if (it == c.end() || it->is_null()) {
    if (fallback > 0) return fallback;
    return FormatError(where + ": config.json has no \"" + key + "\"");
  }
  if (!it->is_number_unsigned() || it->get<uint64_t>() == 0 || it->get<uint64_t>() > (1u << 24))
    return FormatError(where + ": config.json \"" + key + "\" must be a positive integer");
  return static_cast<int64_t>(it->get<uint64_t>());
}

double number_or(const json& c, const std::string& key, double fallback) {
  const auto it = c.find(key);
  return it != c.end() && it->is_number() ? it->get<double>() : fallback;
}

// One tensor of the GGUF: its Hugging Face source, shape and layout.
struct Spec {
  std::string hf, gguf;
  int64_t rows = 1, cols = 0;  // a vector has rows = 1
  bool matrix = false;
  int permute_heads = 0;       // > 0: llama.cpp's Q/K row permutation over this many heads
  bool optional = false;
  float add = 0.0f;            // added to every value (Gemma's norms store w - 1: llama.cpp adds 1)
  int qkv_heads = 0;           // > 0: bloom's fused QKV, per head (q, k, v) in the file, all q, k, v in GGUF
};

struct Plan {
  std::string arch;  // GGUF architecture
  std::vector<Spec> tensors;
};

// The first of several config.json names for one field (bloom's own, then the common one).
Expected<int64_t> positive_any(const json& c, std::initializer_list<const char*> keys, const std::string& where) {
  for (const char* k : keys)
    if (c.contains(k) && !c[k].is_null()) return positive(c, k, where);
  return FormatError(where + ": config.json has no \"" + std::string(*keys.begin()) + "\"");
}

// bloom as llama.cpp's converter writes it: no RoPE (ALiBi), LayerNorms with biases, the feed-forward
// 4 x wide, and the fused QKV reordered from per-head (q, k, v) triples to all q, all k, all v.
Expected<Plan> plan_bloom(const json& c, const std::string& dir, gguf::Writer& w);

// config.json -> the GGUF's <arch>.* keys and the tensor list (llama, mistral, qwen2, gemma3_text),
// as llama.cpp's convert_hf_to_gguf.py writes them.
Expected<Plan> plan_for(const json& c, const std::string& dir, gguf::Writer& w) {
  const auto mt = c.find("model_type");
  if (mt == c.end() || !mt->is_string()) return FormatError(dir + ": config.json has no \"model_type\"");
  const std::string model_type = mt->get<std::string>();
  Plan p;
  if (model_type == "llama" || model_type == "mistral") {
    p.arch = "llama";
  } else if (model_type == "qwen2") {
    p.arch = "qwen2";
  } else if (model_type == "gemma3_text") {
    p.arch = "gemma3";
  } else if (model_type == "bloom") {
    return plan_bloom(c, dir, w);
  } else {
    return Unsupported(dir + ": model_type '" + model_type +
                       "' cannot be converted yet (supported: llama, mistral, qwen2, gemma3_text, bloom)");
  }
  const bool gemma = p.arch == "gemma3";
  JOULE_ASSIGN_OR_RETURN(const int64_t d, positive(c, "hidden_size", dir));
  JOULE_ASSIGN_OR_RETURN(const int64_t f, positive(c, "intermediate_size", dir));
  JOULE_ASSIGN_OR_RETURN(const int64_t n_layers, positive(c, "num_hidden_layers", dir));
  JOULE_ASSIGN_OR_RETURN(const int64_t n_heads, positive(c, "num_attention_heads", dir));
  JOULE_ASSIGN_OR_RETURN(const int64_t n_kv, positive(c, "num_key_value_heads", dir, n_heads));
  JOULE_ASSIGN_OR_RETURN(const int64_t nv, positive(c, "vocab_size", dir));
  JOULE_ASSIGN_OR_RETURN(const int64_t ctx, positive(c, "max_position_embeddings", dir, 2048));
  JOULE_ASSIGN_OR_RETURN(const int64_t hd, positive(c, "head_dim", dir, gemma ? 256 : d / n_heads));
  if (n_heads % n_kv != 0) return FormatError(dir + ": num_attention_heads is not a multiple of num_key_value_heads");
  const auto scaling = c.find("rope_scaling");
  if (scaling != c.end() && !scaling->is_null()) {
    const std::string type = scaling->value("rope_type", scaling->value("type", std::string()));
    if (type != "linear" || !scaling->contains("factor") || !(*scaling)["factor"].is_number())
      return Unsupported(dir + ": rope_scaling '" + type + "' is not supported yet (linear is)");
    w.set_string(p.arch + ".rope.scaling.type", "linear");
    w.set_f32(p.arch + ".rope.scaling.factor", (*scaling)["factor"].get<float>());
  }
  const std::string a = p.arch + ".";
  w.set_string("general.architecture", p.arch);
  w.set_string("general.name", c.value("_name_or_path", fs::path(dir).filename().string()));
  w.set_u32(a + "context_length", static_cast<uint32_t>(ctx));
  w.set_u32(a + "embedding_length", static_cast<uint32_t>(d));
  w.set_u32(a + "feed_forward_length", static_cast<uint32_t>(f));
  w.set_u32(a + "block_count", static_cast<uint32_t>(n_layers));
  w.set_u32(a + "attention.head_count", static_cast<uint32_t>(n_heads));
  w.set_u32(a + "attention.head_count_kv", static_cast<uint32_t>(n_kv));
  w.set_u32(a + "attention.key_length", static_cast<uint32_t>(hd));
  w.set_u32(a + "attention.value_length", static_cast<uint32_t>(hd));
  w.set_u32(a + "rope.dimension_count", static_cast<uint32_t>(hd));
  w.set_u32(a + "vocab_size", static_cast<uint32_t>(nv));
  w.set_f32(a + "rope.freq_base", static_cast<float>(number_or(c, "rope_theta", gemma ? 1e6 : 10000.0)));
  w.set_f32(a + "attention.layer_norm_rms_epsilon", static_cast<float>(number_or(c, "rms_norm_eps", 1e-6)));
  const auto window = c.find("sliding_window");
  if ((model_type == "mistral" || gemma) && window != c.end() && window->is_number_unsigned())
    w.set_u32(a + "attention.sliding_window", window->get<uint32_t>());
  if (gemma) {
    if (c.contains("final_logit_softcapping") && !c["final_logit_softcapping"].is_null())
      return Unsupported(dir + ": final_logit_softcapping is not supported yet");
    if (c.value("sliding_window_pattern", 6) != 6)
      return Unsupported(dir + ": a sliding_window_pattern other than 6 is not supported yet");
    if (number_or(c, "rope_local_base_freq", 10000.0) != 10000.0)
      return Unsupported(dir + ": rope_local_base_freq other than 10000 is not supported yet (llama.cpp's gemma3 "
                               "uses 10000)");
  }

  const bool llama = p.arch == "llama";
  const float norm_add = gemma ? 1.0f : 0.0f;  // Gemma3RMSNorm computes x * (1 + w)
  const int64_t q = n_heads * hd, kv = n_kv * hd;
  auto& t = p.tensors;
  t.push_back({"model.embed_tokens.weight", "token_embd.weight", nv, d, true});
  t.push_back({"model.norm.weight", "output_norm.weight", 1, d, false, 0, false, norm_add});
  // Tied embeddings (tie_word_embeddings) have no lm_head; a stored one is used either way.
  t.push_back({"lm_head.weight", "output.weight", nv, d, true, 0, /*optional=*/true});
  for (int64_t i = 0; i < n_layers; ++i) {
    const std::string h = "model.layers." + std::to_string(i) + ".", g = "blk." + std::to_string(i) + ".";
    auto norm = [&](const std::string& hf, const std::string& gg, int64_t n = 0) {
      t.push_back({h + hf + ".weight", g + gg + ".weight", 1, n ? n : d, false, 0, false, norm_add});
    };
    norm("input_layernorm", "attn_norm");
    t.push_back({h + "self_attn.q_proj.weight", g + "attn_q.weight", q, d, true, llama ? int(n_heads) : 0});
    t.push_back({h + "self_attn.k_proj.weight", g + "attn_k.weight", kv, d, true, llama ? int(n_kv) : 0});
    t.push_back({h + "self_attn.v_proj.weight", g + "attn_v.weight", kv, d, true});
    if (p.arch == "qwen2") {
      t.push_back({h + "self_attn.q_proj.bias", g + "attn_q.bias", 1, q});
      t.push_back({h + "self_attn.k_proj.bias", g + "attn_k.bias", 1, kv});
      t.push_back({h + "self_attn.v_proj.bias", g + "attn_v.bias", 1, kv});
    }
    if (gemma) {
      norm("self_attn.q_norm", "attn_q_norm", hd);
      norm("self_attn.k_norm", "attn_k_norm", hd);
      norm("post_attention_layernorm", "post_attention_norm");
      norm("pre_feedforward_layernorm", "ffn_norm");
      norm("post_feedforward_layernorm", "post_ffw_norm");
    } else {
      norm("post_attention_layernorm", "ffn_norm");
    }
    t.push_back({h + "self_attn.o_proj.weight", g + "attn_output.weight", d, q, true});
    t.push_back({h + "mlp.gate_proj.weight", g + "ffn_gate.weight", f, d, true});
    t.push_back({h + "mlp.up_proj.weight", g + "ffn_up.weight", f, d, true});
    t.push_back({h + "mlp.down_proj.weight", g + "ffn_down.weight", d, f, true});
  }
  return p;
}

Expected<Plan> plan_bloom(const json& c, const std::string& dir, gguf::Writer& w) {
  Plan p;
  p.arch = "bloom";
  JOULE_ASSIGN_OR_RETURN(const int64_t d, positive_any(c, {"n_embed", "hidden_size"}, dir));
  JOULE_ASSIGN_OR_RETURN(const int64_t n_layers, positive_any(c, {"n_layer", "num_hidden_layers"}, dir));
  JOULE_ASSIGN_OR_RETURN(const int64_t n_heads, positive_any(c, {"n_head", "num_attention_heads"}, dir));
  JOULE_ASSIGN_OR_RETURN(const int64_t nv, positive(c, "vocab_size", dir));
  JOULE_ASSIGN_OR_RETURN(const int64_t ctx, positive(c, "seq_length", dir, d));
  if (d % n_heads != 0) return FormatError(dir + ": the width is not a multiple of the head count");
  const int64_t f = 4 * d;
  w.set_string("general.architecture", "bloom");
  w.set_string("general.name", c.value("_name_or_path", fs::path(dir).filename().string()));
  w.set_u32("bloom.context_length", static_cast<uint32_t>(ctx));
  w.set_u32("bloom.embedding_length", static_cast<uint32_t>(d));
  w.set_u32("bloom.feed_forward_length", static_cast<uint32_t>(f));
  w.set_u32("bloom.block_count", static_cast<uint32_t>(n_layers));
  w.set_u32("bloom.attention.head_count", static_cast<uint32_t>(n_heads));
  w.set_u32("bloom.attention.head_count_kv", static_cast<uint32_t>(n_heads));
  w.set_u32("bloom.vocab_size", static_cast<uint32_t>(nv));
  w.set_f32("bloom.attention.layer_norm_epsilon", static_cast<float>(number_or(c, "layer_norm_epsilon", 1e-5)));
  auto& t = p.tensors;
  auto norm = [&](const std::string& hf, const std::string& gg) {
    t.push_back({hf + ".weight", gg + ".weight", 1, d});
    t.push_back({hf + ".bias", gg + ".bias", 1, d});
  };
  t.push_back({"word_embeddings.weight", "token_embd.weight", nv, d, true});
  norm("word_embeddings_layernorm", "token_embd_norm");
  norm("ln_f", "output_norm");
  t.push_back({"lm_head.weight", "output.weight", nv, d, true, 0, /*optional=*/true});
  for (int64_t i = 0; i < n_layers; ++i) {
    const std::string h = "h." + std::to_string(i) + ".", g = "blk." + std::to_string(i) + ".";
    norm(h + "input_layernorm", g + "attn_norm");
    Spec qkv{h + "self_attention.query_key_value.weight", g + "attn_qkv.weight", 3 * d, d, true};
    qkv.qkv_heads = int(n_heads);
    t.push_back(qkv);
    Spec qkv_b{h + "self_attention.query_key_value.bias", g + "attn_qkv.bias", 1, 3 * d};
    qkv_b.qkv_heads = int(n_heads);
    t.push_back(qkv_b);
    t.push_back({h + "self_attention.dense.weight", g + "attn_output.weight", d, d, true});
    t.push_back({h + "self_attention.dense.bias", g + "attn_output.bias", 1, d});
    norm(h + "post_attention_layernorm", g + "ffn_norm");
    t.push_back({h + "mlp.dense_h_to_4h.weight", g + "ffn_up.weight", f, d, true});
    t.push_back({h + "mlp.dense_h_to_4h.bias", g + "ffn_up.bias", 1, f});
    t.push_back({h + "mlp.dense_4h_to_h.weight", g + "ffn_down.weight", d, f, true});
    t.push_back({h + "mlp.dense_4h_to_h.bias", g + "ffn_down.bias", 1, d});
  }
  return p;
}

// Index in the file of GGUF index x of a bloom fused QKV of 3 * d rows or values: the file keeps
// each head's q, k and v together, GGUF all of q, then k, then v.
int64_t qkv_source(int64_t x, int64_t d, int n_heads) {
  const int64_t hd = d / n_heads, k = x / d, h = (x % d) / hd, i = x % hd;
  return h * 3 * hd + k * hd + i;
}

// Source row of GGUF row r: llama.cpp permutes each head's rows so that the pairs RoPE rotates
// (HF: i and i + hd/2) become adjacent (2i, 2i + 1).
int64_t source_row(const Spec& s, int64_t r) {
  if (s.qkv_heads > 0 && s.matrix) return qkv_source(r, s.rows / 3, s.qkv_heads);
  if (s.permute_heads == 0) return r;
  const int64_t hd = s.rows / s.permute_heads, h = r / hd, k = r % hd;
  return h * hd + (k % 2) * (hd / 2) + k / 2;
}

std::string shape_str(const std::vector<int64_t>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
  return s + "]";
}

uint64_t fnv1a(uint64_t h, std::string_view s) {
  for (unsigned char ch : s) h = (h ^ ch) * 1099511628211ull;
  return h;
}

}  // namespace

Expected<json> read_json_object(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) return NotFound(p.string() + ": cannot open");
  std::stringstream ss;
  ss << in.rdbuf();
  json j = json::parse(ss.str(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return FormatError(p.string() + ": not a JSON object");
  return j;
}

bool is_folder(const std::string& path) {
  std::error_code ec;
  return fs::is_directory(path, ec) && fs::is_regular_file(fs::path(path) / "config.json", ec);
}

Expected<Weights> Weights::open(const std::string& dir) {
  Weights w;
  const fs::path index = fs::path(dir) / "model.safetensors.index.json";
  std::map<std::string, std::string> wanted;  // tensor -> shard, from the index
  std::vector<std::string> shard_names;
  if (fs::exists(index)) {
    JOULE_ASSIGN_OR_RETURN(json j, read_json_object(index));
    const auto map = j.find("weight_map");
    if (map == j.end() || !map->is_object()) return FormatError(index.string() + ": no \"weight_map\" object");
    for (const auto& [name, shard] : map->items()) {
      if (!shard.is_string()) return FormatError(index.string() + ": weight_map entry '" + name + "' is not a file name");
      const std::string file = shard.get<std::string>();
      if (file.find('/') != std::string::npos || file == "..")
        return FormatError(index.string() + ": shard '" + file + "' is not a file name in the folder");
      wanted[name] = file;
      if (std::find(shard_names.begin(), shard_names.end(), file) == shard_names.end()) shard_names.push_back(file);
    }
  } else {
    shard_names.push_back("model.safetensors");
  }
  for (const std::string& name : shard_names) {
    JOULE_ASSIGN_OR_RETURN(safetensors::File f, safetensors::File::open((fs::path(dir) / name).string()));
    w.shards_.push_back(std::make_unique<safetensors::File>(std::move(f)));
    for (const safetensors::TensorInfo& t : w.shards_.back()->tensors())
      w.by_name_[t.name] = Ref{w.shards_.back().get(), &t};
  }
  for (const auto& [name, shard] : wanted) {
    const auto it = w.by_name_.find(name);
    if (it == w.by_name_.end() || fs::path(it->second.file->path()).filename() != shard)
      return FormatError(index.string() + ": tensor '" + name + "' is listed in " + shard + ", which does not hold it");
  }
  return w;
}

std::optional<Weights::Ref> Weights::find(const std::string& name) const {
  const auto it = by_name_.find(name);
  if (it == by_name_.end()) return std::nullopt;
  return it->second;
}

Status convert(const std::string& dir, const std::string& out, const ConvertOptions& o) {
  if (!is_folder(dir)) return NotFound(dir + ": not a Hugging Face folder (no config.json)");
  JOULE_ASSIGN_OR_RETURN(json config, read_json_object(fs::path(dir) / "config.json"));
  gguf::Writer w;
  JOULE_ASSIGN_OR_RETURN(Plan plan, plan_for(config, dir, w));
  JOULE_ASSIGN_OR_RETURN(Weights weights, Weights::open(dir));
  JOULE_RETURN_IF_ERROR(tokenizer_metadata(dir, plan.tensors[0].rows, w));

  // Every tensor present with its shape and a float dtype before anything is written.
  struct Job {
    Spec spec;
    Weights::Ref src;
    DType to;
  };
  std::vector<Job> jobs;
  uint64_t total_bytes = 0;
  for (const Spec& s : plan.tensors) {
    std::optional<Weights::Ref> ref = weights.find(s.hf);
    if (!ref && plan.arch == "bloom") ref = weights.find("transformer." + s.hf);  // BloomForCausalLM's names
    if (!ref) {
      if (s.optional) continue;
      return FormatError(dir + ": tensor '" + s.hf + "' is missing");
    }
    const std::vector<int64_t> want = s.rows == 1 && !s.matrix ? std::vector<int64_t>{s.cols} : std::vector<int64_t>{s.rows, s.cols};
    if (ref->info->shape != want)
      return FormatError(dir + ": tensor '" + s.hf + "' has shape " + shape_str(ref->info->shape) + ", expected " +
                         shape_str(want));
    if (!ref->info->type)
      return Unsupported(dir + ": tensor '" + s.hf + "' has dtype " + ref->info->dtype + " (F32, F16 and BF16 are read)");
    DType to = s.matrix ? *ref->info->type : DType::kF32;
    if (s.matrix && o.type) to = fitting_type(*o.type, s.cols).value_or(*ref->info->type);
    jobs.push_back({s, *ref, to});
    total_bytes += ref->info->nbytes();
  }
  auto done_bytes = std::make_shared<uint64_t>(0);
  for (const Job& j : jobs) {
    const size_t src_row_bytes = row_bytes(*j.src.info->type, j.spec.cols);
    std::vector<int64_t> dims = j.spec.matrix ? std::vector<int64_t>{j.spec.cols, j.spec.rows} : std::vector<int64_t>{j.spec.cols};
    const auto progress = o.progress;
    JOULE_RETURN_IF_ERROR(w.add_tensor_rows(
        j.spec.gguf, j.to, std::move(dims), [j, src_row_bytes, progress, done_bytes, total_bytes](int64_t r, uint8_t* dst) {
          const uint8_t* src = j.src.file->data(*j.src.info) + source_row(j.spec, r) * src_row_bytes;
          const DType from = *j.src.info->type;
          // A vector of bloom's fused QKV is gathered and Gemma's norms shifted; everything else
          // is copied, or converted through f32 when the target type differs.
          const bool gather = j.spec.qkv_heads > 0 && !j.spec.matrix;
          if (from == j.to && j.spec.add == 0.0f && !gather) {
            std::memcpy(dst, src, src_row_bytes);
          } else {
            thread_local std::vector<float> row, moved;
            row.resize(static_cast<size_t>(j.spec.cols));
            dequantize_row_ref(from, src, row.data(), j.spec.cols);
            const float* values = row.data();
            if (gather || j.spec.add != 0.0f) {
              moved.resize(row.size());
              for (int64_t e = 0; e < j.spec.cols; ++e)
                moved[size_t(e)] = row[size_t(gather ? qkv_source(e, j.spec.cols / 3, j.spec.qkv_heads) : e)] + j.spec.add;
              values = moved.data();
            }
            quantize_row_ref(j.to, values, dst, j.spec.cols);
          }
          *done_bytes += src_row_bytes;
          if (progress) progress(*done_bytes, total_bytes);
        }));
  }
  return w.write(out);
}

Expected<std::string> cached_gguf(const std::string& dir, std::string* note) {
  if (!is_folder(dir)) return NotFound(dir + ": not a Hugging Face folder (no config.json)");
  std::error_code ec;
  const fs::path real = fs::canonical(dir, ec);
  if (ec) return IoError(dir + ": " + ec.message());
  // The key: the folder's path and each file's name, size and modification time.
  std::vector<std::string> entries;
  for (const fs::directory_entry& e : fs::directory_iterator(real, ec)) {
    if (!e.is_regular_file()) continue;
    const auto mtime = e.last_write_time(ec).time_since_epoch().count();
    entries.push_back(e.path().filename().string() + "\t" + std::to_string(e.file_size(ec)) + "\t" + std::to_string(mtime));
  }
  std::sort(entries.begin(), entries.end());
  uint64_t h = fnv1a(1469598103934665603ull, real.string());
  for (const std::string& e : entries) h = fnv1a(h, e + "\n");
  const char* env = std::getenv("JOULE_CACHE_DIR");
  const char* home = std::getenv("HOME");
  const fs::path cache = env && *env ? fs::path(env) : fs::path(home && *home ? home : "/tmp") / ".cache" / "joule";
  char hex[17];
  std::snprintf(hex, sizeof(hex), "%016llx", static_cast<unsigned long long>(h));
  const fs::path out = cache / "hf" / (real.filename().string() + "-" + hex + ".gguf");
  if (fs::exists(out)) return out.string();
  fs::create_directories(out.parent_path(), ec);
  if (ec) return IoError(out.parent_path().string() + ": " + ec.message());
  JOULE_RETURN_IF_ERROR(convert(real.string(), out.string()));
  if (note) *note = "converted " + real.string() + " to " + out.string() + " (reused while the folder is unchanged)";
  return out.string();
}

}  // namespace joule::hf
