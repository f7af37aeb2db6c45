// tokenizer.json (Hugging Face tokenizers) to the tokenizer.ggml.* keys llama.cpp reads: the
// vocabulary in id order with unused ids as [PADn], token types from added_tokens; for byte-level
// BPE the merges and the pre-tokenizer's llama.cpp name, for SentencePiece-style BPE (byte
// fallback) scores from the merge order, byte and unknown tokens and the space prefix; special ids
// and flags from tokenizer_config.json (config.json as the fallback), and the chat template.
#include <algorithm>
#include <filesystem>
#include <map>

#include <nlohmann/json.hpp>

#include "formats/hf/hf.h"
#include "formats/hf/hf_internal.h"

namespace joule::hf {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// llama.cpp's token types (gguf.TokenType).
constexpr int32_t kNormal = 1, kUnknown = 2, kControl = 3, kUserDefined = 4, kUnused = 5, kByte = 6;


// The pre-tokenizer's name in llama.cpp's terms, from its structure and split regex.
Expected<std::string> pre_name(const json& pre, const std::string& where) {
  auto is = [](const json& j, const char* type) { return j.is_object() && j.value("type", "") == type; };
  if (is(pre, "ByteLevel") && pre.value("use_regex", true)) return std::string("gpt-2");
  if (is(pre, "Sequence") && pre.contains("pretokenizers") && pre["pretokenizers"].is_array()) {
    const json& seq = pre["pretokenizers"];
    if (seq.size() == 2 && is(seq[0], "Digits") && seq[0].value("individual_digits", false) && is(seq[1], "ByteLevel") &&
        seq[1].value("use_regex", true))
      return std::string("smollm");  // digits one by one, then GPT-2's split (StarCoder's family)
    if (!seq.empty() && is(seq[0], "Split") && seq[0].contains("pattern") && seq[0]["pattern"].contains("Regex")) {
      const std::string re = seq[0]["pattern"]["Regex"].get<std::string>();
      const bool cased_contractions = re.rfind("(?i:'s|'t|'re|'ve|'m|'ll|'d)", 0) == 0;
      if (cased_contractions && re.find("\\p{N}{1,3}") != std::string::npos) return std::string("llama-bpe");
      if (cased_contractions && re.find("|\\p{N}|") != std::string::npos) return std::string("qwen2");
      // BLOOM's split, as llama.cpp writes it and as BLOOM's tokenizer.json does (a nested class
      // of the same characters).
      const std::string marks = ".,!?\u2026\u3002\uff0c\u3001\u0964\u06d4\u060c";
      if (re == " ?[^(\\s|" + marks + ")]+" || re == " ?[^(\\s|[" + marks + "])]+") return std::string("bloom");
    }
  }
  return Unsupported(where + ": tokenizer.json's pre_tokenizer is not one joule recognises (GPT-2, "
                             "StarCoder/SmolLM, Llama 3, Qwen2, BLOOM splits)");
}

// Whether a SentencePiece-style tokenizer puts U+2581 before the text (llama.cpp's
// add_space_prefix): a Prepend("▁") normalizer (Llama 2, Mistral) or a Metaspace pre-tokenizer
// with prepend_scheme "first" / "always"; Gemma's normalizer only replaces spaces.
bool spm_space_prefix(const json& tj) {
  const std::string kMeta = "\xe2\x96\x81";
  std::vector<json> parts;
  for (const char* key : {"normalizer", "pre_tokenizer"}) {
    const json n = tj.value(key, json());
    if (n.is_object() && n.contains("normalizers") && n["normalizers"].is_array())
      for (const json& x : n["normalizers"]) parts.push_back(x);
    else if (n.is_object() && n.contains("pretokenizers") && n["pretokenizers"].is_array())
      for (const json& x : n["pretokenizers"]) parts.push_back(x);
    else if (n.is_object())
      parts.push_back(n);
  }
  for (const json& x : parts) {
    if (x.value("type", "") == "Prepend" && x.value("prepend", "") == kMeta) return true;
    if (x.value("type", "") == "Metaspace" && x.value("prepend_scheme", "always") != "never") return true;
  }
  return false;
}

// The normalizer steps of tokenizer.json ({"type": "Sequence", "normalizers": [...]} or one).
std::vector<json> normalizer_steps(const json& tj) {
  const json n = tj.value("normalizer", json());
  if (n.is_object() && n.value("type", "") == "Sequence" && n.contains("normalizers") && n["normalizers"].is_array())
    return n["normalizers"].get<std::vector<json>>();
  return n.is_object() ? std::vector<json>{n} : std::vector<json>{};
}

// Whether the text is NFC-normalized first (Qwen2: tokenizer.joule.normalizer "nfc"). The steps
// joule implements: NFC, and for SentencePiece-style vocabularies the space handling
// (Prepend("▁"), Replace(" ", "▁")) that llama.cpp's "llama" vocabulary does itself; any other
// step would change ids silently, so it is refused by name.
Expected<bool> nfc_normalizer(const json& tj, bool spm, const std::string& where) {
  const std::string kMeta = "\xe2\x96\x81";
  bool nfc = false;
  for (const json& step : normalizer_steps(tj)) {
    const std::string type = step.value("type", "");
    if (type == "NFC") {
      nfc = true;
      continue;
    }
    const bool space = (type == "Prepend" && step.value("prepend", "") == kMeta) ||
                       (type == "Replace" && step.value("content", "") == kMeta && step.contains("pattern") &&
                        step["pattern"].is_object() && step["pattern"].value("String", "") == " ");
    if (!(spm && space))
      return Unsupported(where + ": the " + (type.empty() ? std::string("untyped") : type) +
                         " normalizer is not one joule implements (NFC; Prepend / Replace of \"▁\" for "
                         "SentencePiece-style vocabularies)");
  }
  return nfc;
}

// A special-token field of tokenizer_config.json: a string or {"content": ...}.
std::optional<std::string> token_text(const json& cfg, const char* key) {
  const auto it = cfg.find(key);
  if (it == cfg.end()) return std::nullopt;
  if (it->is_string()) return it->get<std::string>();
  if (it->is_object() && it->contains("content") && (*it)["content"].is_string()) return (*it)["content"].get<std::string>();
  return std::nullopt;
}

// Added tokens that tokenizer.json does not flag special but that act as control tokens, by
// llama.cpp's converter's rule (does_token_look_special): <|...|>, <｜...｜>, <unused...> and a few
// names.
bool looks_special(const std::string& s) {
  auto wrapped = [&](std::string_view open, std::string_view close) {
    return s.size() >= open.size() + close.size() && s.starts_with(open) && s.ends_with(close);
  };
  return s == "<pad>" || s == "<mask>" || s == "<2mass>" || s == "[@BOS@]" || wrapped("<|", "|>") ||
         wrapped("<\xef\xbd\x9c", "\xef\xbd\x9c>") || wrapped("<unused", ">");
}

}  // namespace

Status tokenizer_metadata(const std::string& dir, int64_t n_vocab, gguf::Writer& w) {
  const fs::path path = fs::path(dir) / "tokenizer.json";
  if (!fs::exists(path)) return NotFound(dir + ": no tokenizer.json (joule reads the vocabulary from it)");
  JOULE_ASSIGN_OR_RETURN(json tj, read_json_object(path));
  const std::string where = path.string();
  const auto model = tj.find("model");
  if (model == tj.end() || !model->is_object() || model->value("type", "") != "BPE")
    return Unsupported(where + ": only BPE tokenizer models are supported");
  // byte_fallback marks SentencePiece-style BPE (Llama 2, Mistral, Gemma): llama.cpp's "llama"
  // vocabulary, with scores instead of merges.
  const bool spm = model->value("byte_fallback", false);
  const auto vocab = model->find("vocab");
  const auto merges = model->find("merges");
  if (vocab == model->end() || !vocab->is_object() || merges == model->end() || !merges->is_array())
    return FormatError(where + ": model.vocab must be an object and model.merges an array");
  std::string pre;
  if (!spm) {
    JOULE_ASSIGN_OR_RETURN(pre, pre_name(tj.value("pre_tokenizer", json()), where));
  }
  JOULE_ASSIGN_OR_RETURN(const bool nfc, nfc_normalizer(tj, spm, where));

  // Ids: the vocabulary's, then added tokens'; the table spans the model's vocab_size.
  int64_t size = n_vocab;
  auto grow = [&](const json& id, const std::string& text) -> Status {
    if (!id.is_number_unsigned() || id.get<uint64_t>() >= (1u << 24))
      return FormatError(where + ": token '" + text + "' has no valid id");
    size = std::max<int64_t>(size, int64_t(id.get<uint64_t>()) + 1);
    return Status::Ok();
  };
  for (const auto& [text, id] : vocab->items()) JOULE_RETURN_IF_ERROR(grow(id, text));
  const json added = tj.value("added_tokens", json::array());
  if (!added.is_array()) return FormatError(where + ": added_tokens is not an array");
  for (const json& a : added) {
    if (!a.is_object() || !a.contains("content") || !a["content"].is_string() || !a.contains("id"))
      return FormatError(where + ": an added_tokens entry lacks content or id");
    JOULE_RETURN_IF_ERROR(grow(a["id"], a["content"].get<std::string>()));
  }
  std::vector<std::string> tokens(static_cast<size_t>(size));
  std::vector<int32_t> types(static_cast<size_t>(size), kUnused);
  for (int64_t i = 0; i < size; ++i) tokens[size_t(i)] = "[PAD" + std::to_string(i) + "]";
  for (const auto& [text, id] : vocab->items()) {
    tokens[id.get<size_t>()] = text;
    types[id.get<size_t>()] = kNormal;
  }
  for (const json& a : added) {
    const std::string text = a["content"].get<std::string>();
    tokens[a["id"].get<size_t>()] = text;
    types[a["id"].get<size_t>()] = a.value("special", false) || looks_special(text) ? kControl : kUserDefined;
  }
  std::vector<std::string> merge_list;
  merge_list.reserve(merges->size());
  for (const json& m : *merges) {
    if (m.is_string()) {
      merge_list.push_back(m.get<std::string>());
    } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
      merge_list.push_back(m[0].get<std::string>() + " " + m[1].get<std::string>());
    } else {
      return FormatError(where + ": a merge is neither \"a b\" nor [\"a\", \"b\"]");
    }
  }
  if (spm) {
    // llama.cpp's SentencePiece tokenizer merges the adjacent pair whose result scores highest;
    // Hugging Face's BPE applies the merge of lowest rank. Scoring each token by minus the rank
    // of the first merge that makes it orders the two alike. Tokens no merge makes score lowest.
    std::vector<float> scores(static_cast<size_t>(size), -1e9f);
    std::map<std::string, int64_t> id_of_text;
    for (const auto& [text, id] : vocab->items()) id_of_text[text] = id.get<int64_t>();
    for (size_t r = 0; r < merge_list.size(); ++r) {
      const std::string& m = merge_list[r];
      const size_t sp = m.find(' ');
      const auto it = sp == std::string::npos ? id_of_text.end() : id_of_text.find(m.substr(0, sp) + m.substr(sp + 1));
      if (it != id_of_text.end()) scores[size_t(it->second)] = std::max(scores[size_t(it->second)], -float(r + 1));
    }
    const std::string unk = model->value("unk_token", json()).is_string() ? (*model)["unk_token"].get<std::string>() : "";
    for (int64_t i = 0; i < size; ++i) {
      const std::string& t = tokens[size_t(i)];
      if (types[size_t(i)] != kNormal) continue;
      if (t.size() == 6 && t.starts_with("<0x") && t.ends_with(">")) types[size_t(i)] = kByte;
      if (!unk.empty() && t == unk) types[size_t(i)] = kUnknown;
      if (types[size_t(i)] != kNormal) scores[size_t(i)] = 0.0f;
    }
    w.set_string("tokenizer.ggml.model", "llama");
    w.set_string_array("tokenizer.ggml.tokens", tokens);
    w.set_f32_array("tokenizer.ggml.scores", scores);
    w.set_i32_array("tokenizer.ggml.token_type", types);
    w.set_bool("tokenizer.ggml.add_space_prefix", spm_space_prefix(tj));
  } else {
    w.set_string("tokenizer.ggml.model", "gpt2");
    w.set_string("tokenizer.ggml.pre", pre);
    w.set_string_array("tokenizer.ggml.tokens", tokens);
    w.set_i32_array("tokenizer.ggml.token_type", types);
    w.set_string_array("tokenizer.ggml.merges", merge_list);
  }
  // joule's own key (llama.cpp has none and does not normalize): the folder's ids on any text.
  if (nfc) w.set_string("tokenizer.joule.normalizer", "nfc");

  // Special tokens: tokenizer_config.json by text, config.json's ids where it says nothing.
  json cfg = json::object(), config = json::object();
  if (fs::exists(fs::path(dir) / "tokenizer_config.json")) {
    JOULE_ASSIGN_OR_RETURN(cfg, read_json_object(fs::path(dir) / "tokenizer_config.json"));
  }
  JOULE_ASSIGN_OR_RETURN(config, read_json_object(fs::path(dir) / "config.json"));
  auto id_of = [&](const std::string& text) -> std::optional<int64_t> {
    for (int64_t i = size - 1; i >= 0; --i)  // the last id wins, as llama.cpp's text -> id map
      if (tokens[size_t(i)] == text) return i;
    return std::nullopt;
  };
  const std::pair<const char*, const char*> specials[] = {{"bos_token", "bos"},
                                                          {"eos_token", "eos"},
                                                          {"unk_token", "unknown"},
                                                          {"pad_token", "padding"}};
  for (const auto& [cfg_key, gguf_key] : specials) {
    std::optional<int64_t> id;
    if (const auto text = token_text(cfg, cfg_key)) id = id_of(*text);
    const std::string config_key = std::string(cfg_key).substr(0, std::string(cfg_key).find('_')) + "_token_id";
    if (!id && config.contains(config_key)) {
      const json& v = config[config_key];
      if (v.is_number_unsigned()) id = v.get<int64_t>();
      if (v.is_array() && !v.empty() && v[0].is_number_unsigned()) id = v[0].get<int64_t>();
    }
    if (id && *id < size) w.set_u32(std::string("tokenizer.ggml.") + gguf_key + "_token_id", static_cast<uint32_t>(*id));
  }
  if (cfg.contains("add_bos_token") && cfg["add_bos_token"].is_boolean())
    w.set_bool("tokenizer.ggml.add_bos_token", cfg["add_bos_token"].get<bool>());
  if (cfg.contains("add_eos_token") && cfg["add_eos_token"].is_boolean())
    w.set_bool("tokenizer.ggml.add_eos_token", cfg["add_eos_token"].get<bool>());
  const auto tmpl = cfg.find("chat_template");
  if (tmpl != cfg.end() && tmpl->is_string()) {
    w.set_string("tokenizer.chat_template", tmpl->get<std::string>());
  } else if (tmpl != cfg.end() && tmpl->is_array()) {  // named templates: the "default" one
    for (const json& t : *tmpl)
      if (t.is_object() && t.value("name", "") == "default" && t.contains("template") && t["template"].is_string())
        w.set_string("tokenizer.chat_template", t["template"].get<std::string>());
  }
  return Status::Ok();
}

}  // namespace joule::hf
