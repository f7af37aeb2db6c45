#include "formats/hf/hf.h"

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "model/random_model.h"
#include "quant/fp16.h"

namespace joule::hf {
namespace {
namespace fs = std::filesystem;
using nlohmann::json;

// A tiny llama folder: 1 layer, width 64, 4 heads of 16 (2 KV heads), F32 weights whose value
// encodes its position (row r, column c of tensor t: t + r / 1000 + c / 1e6), so the converter's
// row order can be read back.
struct TinyFolder {
  fs::path dir;
  int64_t d = 64, f = 96, heads = 4, kv_heads = 2, vocab = 300;
  json normalizer;  // tokenizer.json's; none by default
  json config = {{"model_type", "llama"}, {"hidden_size", 64}, {"intermediate_size", 96},
                 {"num_hidden_layers", 1},  {"num_attention_heads", 4}, {"num_key_value_heads", 2},
                 {"vocab_size", 300},       {"max_position_embeddings", 128}, {"rms_norm_eps", 1e-5},
                 {"rope_theta", 10000.0},   {"tie_word_embeddings", true}};
  std::vector<std::pair<std::string, std::vector<int64_t>>> tensors;
  std::string dtype = "F32";

  explicit TinyFolder(const std::string& name) : dir(fs::temp_directory_path() / ("joule_hf_" + name)) {
    fs::remove_all(dir);
    fs::create_directories(dir);
    const int64_t hd = d / heads, kv = kv_heads * hd;
    tensors = {{"model.embed_tokens.weight", {vocab, d}},
               {"model.norm.weight", {d}},
               {"model.layers.0.input_layernorm.weight", {d}},
               {"model.layers.0.self_attn.q_proj.weight", {d, d}},
               {"model.layers.0.self_attn.k_proj.weight", {kv, d}},
               {"model.layers.0.self_attn.v_proj.weight", {kv, d}},
               {"model.layers.0.self_attn.o_proj.weight", {d, d}},
               {"model.layers.0.post_attention_layernorm.weight", {d}},
               {"model.layers.0.mlp.gate_proj.weight", {f, d}},
               {"model.layers.0.mlp.up_proj.weight", {f, d}},
               {"model.layers.0.mlp.down_proj.weight", {d, f}}};
  }
  ~TinyFolder() { fs::remove_all(dir); }

  static float value(size_t t, int64_t r, int64_t c) { return float(t) + float(r) / 1000.0f + float(c) / 1e6f; }

  void write() const {
    std::ofstream(dir / "config.json") << config.dump();
    json header = json::object();
    std::vector<uint8_t> data;
    const size_t elem = dtype == "F16" ? 2 : dtype == "I64" ? 8 : 4;
    for (size_t t = 0; t < tensors.size(); ++t) {
      const auto& [name, shape] = tensors[t];
      const int64_t rows = shape.size() == 2 ? shape[0] : 1, cols = shape.back();
      const size_t begin = data.size();
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t c = 0; c < cols; ++c) {
          const float v = value(t, r, c);
          uint8_t b[8] = {};
          if (elem == 2) {
            const f16_bits h = f32_to_f16(v);
            std::memcpy(b, &h, 2);
          } else {
            std::memcpy(b, &v, 4);
          }
          data.insert(data.end(), b, b + elem);
        }
      header[name] = {{"dtype", dtype}, {"shape", shape}, {"data_offsets", {begin, data.size()}}};
    }
    std::string text = header.dump();
    text.append((8 - text.size() % 8) % 8, ' ');
    std::ofstream out(dir / "model.safetensors", std::ios::binary);
    const uint64_t n = text.size();
    out.write(reinterpret_cast<const char*>(&n), 8);
    out << text;
    out.write(reinterpret_cast<const char*>(data.data()), std::streamsize(data.size()));
    // Byte-level BPE over the synthetic byte alphabet, GPT-2's pre-tokenizer, one special token.
    json vocab_json = json::object();
    const std::vector<std::string> toks = synthetic_byte_vocab(int(vocab) - 1);
    for (size_t i = 0; i < toks.size(); ++i) vocab_json[toks[i]] = i;
    json tj = {{"model", {{"type", "BPE"}, {"vocab", vocab_json}, {"merges", json::array({"a b"})}}},
               {"pre_tokenizer", {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", true}}},
               {"added_tokens", json::array({{{"id", vocab - 1}, {"content", "<|end|>"}, {"special", true}}})}};
    if (!normalizer.is_null()) tj["normalizer"] = normalizer;
    std::ofstream(dir / "tokenizer.json") << tj.dump();
    std::ofstream(dir / "tokenizer_config.json")
        << json{{"eos_token", "<|end|>"}, {"add_bos_token", false}, {"chat_template", "{{ x }}"}}.dump();
  }
};

TEST(HfFolder, ConvertsALlamaFolderInLlamaCppsLayout) {
  TinyFolder t("convert");
  t.write();
  ASSERT_TRUE(is_folder(t.dir.string()));
  const std::string out = (t.dir / "out.gguf").string();
  const Status s = convert(t.dir.string(), out);
  ASSERT_TRUE(s.ok()) << s.message();
  auto f = gguf::File::open(out);
  ASSERT_TRUE(f.ok()) << f.status().message();
  EXPECT_EQ(*f->get_string("general.architecture"), "llama");
  EXPECT_EQ(*f->get_int("llama.attention.head_count_kv"), 2);
  EXPECT_EQ(*f->get_int("llama.rope.dimension_count"), 16);
  EXPECT_EQ(f->find_tensor("output.weight"), nullptr);  // tied
  EXPECT_EQ(*f->get_string("tokenizer.ggml.model"), "gpt2");
  EXPECT_EQ(*f->get_string("tokenizer.ggml.pre"), "gpt-2");
  EXPECT_EQ(*f->get_int("tokenizer.ggml.eos_token_id"), 299);
  EXPECT_EQ((*f->get_i32_array("tokenizer.ggml.token_type"))[299], 3);  // control
  EXPECT_EQ(*f->get_string("tokenizer.chat_template"), "{{ x }}");
  // Q rows: GGUF row 2i + j of a head is Hugging Face row j * 8 + i of it (head_dim 16).
  const gguf::TensorInfo* q = f->find_tensor("blk.0.attn_q.weight");
  ASSERT_NE(q, nullptr);
  EXPECT_EQ(q->type, DType::kF32);
  EXPECT_EQ(q->dims, (std::vector<int64_t>{64, 64}));
  auto at = [&](const gguf::TensorInfo* ti, int64_t r, int64_t c) {
    float v;
    std::memcpy(&v, f->tensor_data(*ti) + (r * ti->dims[0] + c) * 4, 4);
    return v;
  };
  for (int64_t r : {0, 1, 2, 3, 17, 31, 63}) {
    const int64_t h = r / 16, k = r % 16, src = h * 16 + (k % 2) * 8 + k / 2;
    EXPECT_EQ(at(q, r, 5), TinyFolder::value(3, src, 5)) << r;
  }
  const gguf::TensorInfo* v = f->find_tensor("blk.0.attn_v.weight");  // V is not permuted
  EXPECT_EQ(at(v, 9, 2), TinyFolder::value(5, 9, 2));
}

// Qwen2's tokenizer.json NFC-normalizes: joule's own key carries it (llama.cpp has none); any
// other normalizer step would change ids silently and is refused by name.
TEST(HfFolder, NfcNormalizerIsKeptAndOthersAreRefused) {
  {
    TinyFolder t("nfc");
    t.normalizer = {{"type", "NFC"}};
    t.write();
    const std::string out = (t.dir / "out.gguf").string();
    ASSERT_TRUE(convert(t.dir.string(), out).ok());
    auto f = gguf::File::open(out);
    ASSERT_TRUE(f.ok());
    EXPECT_EQ(*f->get_string("tokenizer.joule.normalizer"), "nfc");
  }
  {
    TinyFolder t("lower");
    t.normalizer = {{"type", "Sequence"}, {"normalizers", json::array({{{"type", "NFC"}}, {{"type", "Lowercase"}}})}};
    t.write();
    const Status s = convert(t.dir.string(), (t.dir / "o.gguf").string());
    EXPECT_EQ(s.code(), ErrorCode::kUnsupported);
    EXPECT_NE(s.message().find("the Lowercase normalizer is not one joule implements"), std::string::npos) << s.message();
  }
}

TEST(HfFolder, ConvertsToARequestedType) {
  TinyFolder t("type");
  t.dtype = "F16";
  t.write();
  const std::string out = (t.dir / "q8.gguf").string();
  ConvertOptions o;
  o.type = DType::kQ8_0;
  ASSERT_TRUE(convert(t.dir.string(), out, o).ok());
  auto f = gguf::File::open(out);
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->find_tensor("blk.0.mlp.down_proj.weight"), nullptr);
  EXPECT_EQ(f->find_tensor("blk.0.ffn_down.weight")->type, DType::kQ8_0);
  EXPECT_EQ(f->find_tensor("blk.0.attn_norm.weight")->type, DType::kF32);  // norms stay f32
}

TEST(HfFolder, CacheIsReusedUntilTheFolderChanges) {
  TinyFolder t("cache");
  t.write();
  const fs::path cache = t.dir / "cache";
  setenv("JOULE_CACHE_DIR", cache.c_str(), 1);
  std::string note;
  auto first = cached_gguf(t.dir.string(), &note);
  ASSERT_TRUE(first.ok()) << first.status().message();
  EXPECT_NE(note.find("converted"), std::string::npos);
  note.clear();
  auto again = cached_gguf(t.dir.string(), &note);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, *first);
  EXPECT_EQ(note, "");
  std::ofstream(t.dir / "tokenizer_config.json") << json{{"eos_token", "<|end|>"}}.dump(1);  // a change
  auto changed = cached_gguf(t.dir.string(), &note);
  ASSERT_TRUE(changed.ok());
  EXPECT_NE(*changed, *first);
  unsetenv("JOULE_CACHE_DIR");
}

// SentencePiece-style BPE: a llama vocabulary whose scores follow the merge order, byte tokens,
// the unknown token and the space prefix of a Prepend normalizer.
TEST(HfFolder, SentencePieceStyleTokenizerBecomesALlamaVocabulary) {
  TinyFolder t("spm");
  t.write();
  json vocab = {{"<unk>", 0}, {"<s>", 1}, {"</s>", 2}};
  for (int b = 0; b < 256; ++b) {
    char hex[8];
    std::snprintf(hex, sizeof(hex), "<0x%02X>", b);
    vocab[hex] = 3 + b;
  }
  const std::string meta = "\xe2\x96\x81";  // U+2581
  vocab["a"] = 259, vocab["b"] = 260, vocab[meta] = 261, vocab["ab"] = 262, vocab[meta + "ab"] = 263, vocab["ba"] = 264;
  const json prepend = {{"type", "Prepend"}, {"prepend", meta}};
  const json replace = {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", meta}};
  const json normalizer = {{"type", "Sequence"}, {"normalizers", json::array({prepend, replace})}};
  const json model = {{"type", "BPE"},       {"byte_fallback", true}, {"unk_token", "<unk>"},
                      {"vocab", vocab},      {"merges", json::array({"a b", meta + " ab", "b a"})}};
  const json bos = {{"id", 1}, {"content", "<s>"}, {"special", true}};
  const json eos = {{"id", 2}, {"content", "</s>"}, {"special", true}};
  const json tj = {{"normalizer", normalizer}, {"model", model}, {"added_tokens", json::array({bos, eos})}};
  std::ofstream(t.dir / "tokenizer.json") << tj.dump();
  const std::string out = (t.dir / "spm.gguf").string();
  const Status s = convert(t.dir.string(), out);
  ASSERT_TRUE(s.ok()) << s.message();
  auto f = gguf::File::open(out);
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(*f->get_string("tokenizer.ggml.model"), "llama");
  EXPECT_TRUE(*f->get_bool("tokenizer.ggml.add_space_prefix"));
  EXPECT_EQ(f->find("tokenizer.ggml.merges"), nullptr);
  const auto scores = *f->get_f32_array("tokenizer.ggml.scores");
  const auto types = *f->get_i32_array("tokenizer.ggml.token_type");
  EXPECT_EQ(scores[262], -1.0f);  // "ab": merge 0
  EXPECT_EQ(scores[263], -2.0f);  // "▁ab": merge 1
  EXPECT_EQ(scores[264], -3.0f);  // "ba": merge 2
  EXPECT_LT(scores[259], -1e8f);  // "a": made by no merge
  EXPECT_EQ(types[0], 2);         // unknown
  EXPECT_EQ(types[1], 3);         // control
  EXPECT_EQ(types[3 + 0x41], 6);  // <0x41>: byte
  EXPECT_EQ(types[262], 1);
}

// bloom: BloomForCausalLM's names (with "transformer."), n_embed / n_layer / n_head, and the fused
// QKV reordered from per-head (q, k, v) triples to all q, k, v rows (weights and bias alike).
TEST(HfFolder, ConvertsABloomFolderWithItsQkvInLlamaCppsOrder) {
  TinyFolder t("bloom");
  const int64_t d = 64, heads = 4, hd = 16;
  t.config = {{"model_type", "bloom"}, {"n_embed", d},          {"n_layer", 1}, {"n_head", heads},
              {"vocab_size", 300},     {"layer_norm_epsilon", 1e-5}, {"seq_length", 128}};
  const std::string h = "transformer.h.0.";
  t.tensors = {{"transformer.word_embeddings.weight", {300, d}},
               {"transformer.word_embeddings_layernorm.weight", {d}},
               {"transformer.word_embeddings_layernorm.bias", {d}},
               {"transformer.ln_f.weight", {d}},
               {"transformer.ln_f.bias", {d}},
               {h + "input_layernorm.weight", {d}},
               {h + "input_layernorm.bias", {d}},
               {h + "self_attention.query_key_value.weight", {3 * d, d}},
               {h + "self_attention.query_key_value.bias", {3 * d}},
               {h + "self_attention.dense.weight", {d, d}},
               {h + "self_attention.dense.bias", {d}},
               {h + "post_attention_layernorm.weight", {d}},
               {h + "post_attention_layernorm.bias", {d}},
               {h + "mlp.dense_h_to_4h.weight", {4 * d, d}},
               {h + "mlp.dense_h_to_4h.bias", {4 * d}},
               {h + "mlp.dense_4h_to_h.weight", {d, 4 * d}},
               {h + "mlp.dense_4h_to_h.bias", {d}}};
  t.write();
  const std::string out = (t.dir / "bloom.gguf").string();
  const Status s = convert(t.dir.string(), out);
  ASSERT_TRUE(s.ok()) << s.message();
  auto f = gguf::File::open(out);
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(*f->get_string("general.architecture"), "bloom");
  EXPECT_EQ(*f->get_int("bloom.feed_forward_length"), 4 * d);
  ASSERT_NE(f->find_tensor("token_embd_norm.bias"), nullptr);
  const gguf::TensorInfo* qkv = f->find_tensor("blk.0.attn_qkv.weight");
  const gguf::TensorInfo* bias = f->find_tensor("blk.0.attn_qkv.bias");
  ASSERT_NE(qkv, nullptr);
  ASSERT_NE(bias, nullptr);
  auto at = [&](const gguf::TensorInfo* ti, int64_t r, int64_t c) {
    float v;
    std::memcpy(&v, f->tensor_data(*ti) + (r * ti->dims[0] + c) * 4, 4);
    return v;
  };
  // GGUF row k * d + head * hd + i (k = 0 q, 1 k, 2 v) is file row head * 3 hd + k * hd + i.
  for (int64_t k : {0, 1, 2})
    for (int64_t head : {0, 3})
      for (int64_t i : {0, 5, 15}) {
        const int64_t r = k * d + head * hd + i, src = head * 3 * hd + k * hd + i;
        EXPECT_EQ(at(qkv, r, 7), TinyFolder::value(7, src, 7)) << r;
        EXPECT_EQ(at(bias, 0, r), TinyFolder::value(8, 0, src)) << r;
      }
}

// Each broken folder is one clear error.
TEST(HfFolder, BadFoldersGetOneClearErrorEach) {
  auto error_of = [](TinyFolder& t) {
    t.write();
    return convert(t.dir.string(), (t.dir / "out.gguf").string());
  };
  {
    TinyFolder t("type");
    t.config["model_type"] = "gpt_neox";
    const Status s = error_of(t);
    EXPECT_EQ(s.code(), ErrorCode::kUnsupported);
    EXPECT_NE(s.message().find("model_type 'gpt_neox'"), std::string::npos) << s.message();
  }
  {
    TinyFolder t("missing");
    t.tensors.pop_back();
    const Status s = error_of(t);
    EXPECT_NE(s.message().find("'model.layers.0.mlp.down_proj.weight' is missing"), std::string::npos) << s.message();
  }
  {
    TinyFolder t("shape");
    t.tensors[3].second = {64, 32};
    const Status s = error_of(t);
    EXPECT_NE(s.message().find("has shape [64, 32], expected [64, 64]"), std::string::npos) << s.message();
  }
  {
    TinyFolder t("dtype");
    t.dtype = "I64";
    const Status s = error_of(t);
    EXPECT_EQ(s.code(), ErrorCode::kUnsupported);
    EXPECT_NE(s.message().find("dtype I64"), std::string::npos) << s.message();
  }
  {
    TinyFolder t("config");
    t.config.erase("hidden_size");
    EXPECT_NE(error_of(t).message().find("no \"hidden_size\""), std::string::npos);
  }
  {
    TinyFolder t("json");
    t.write();
    std::ofstream(t.dir / "config.json") << "{\"model_type\": ";
    EXPECT_EQ(convert(t.dir.string(), (t.dir / "o.gguf").string()).code(), ErrorCode::kFormat);
  }
  {
    TinyFolder t("index");  // the index names a shard that does not hold the tensor
    t.write();
    std::ofstream(t.dir / "model.safetensors.index.json")
        << json{{"weight_map", {{"model.norm.weight", "model.safetensors"}, {"lm_head.weight", "model.safetensors"}}}}.dump();
    const Status s = convert(t.dir.string(), (t.dir / "o.gguf").string());
    EXPECT_NE(s.message().find("'lm_head.weight' is listed in model.safetensors"), std::string::npos) << s.message();
  }
  {
    TinyFolder t("unigram");
    t.write();
    std::ofstream(t.dir / "tokenizer.json") << json{{"model", {{"type", "Unigram"}, {"vocab", json::array()}}}}.dump();
    const Status s = convert(t.dir.string(), (t.dir / "o.gguf").string());
    EXPECT_EQ(s.code(), ErrorCode::kUnsupported);
    EXPECT_NE(s.message().find("only BPE"), std::string::npos) << s.message();
  }
  {
    TinyFolder t("notok");
    t.write();
    fs::remove(t.dir / "tokenizer.json");
    EXPECT_EQ(convert(t.dir.string(), (t.dir / "o.gguf").string()).code(), ErrorCode::kNotFound);
  }
  EXPECT_FALSE(is_folder(fs::temp_directory_path().string()));  // no config.json
}

}  // namespace
}  // namespace joule::hf
