#include "tokenizer/vocab.h"

#include <algorithm>
#include <limits>
#include <utility>

namespace joule::tok {
namespace {

uint32_t attr_from_type(int32_t type) {
  switch (type) {  // llama.cpp's llama_token_type
    case 1: return kAttrNormal;
    case 2: return kAttrUnknown;
    case 3: return kAttrControl;
    case 4: return kAttrUserDefined;
    case 5: return kAttrUnused;
    case 6: return kAttrByte;
    default: return kAttrUndefined;
  }
}

// Texts llama.cpp recognises as end of generation whatever their token type says (it has no
// metadata for these; see special_eog_ids in llama-vocab.cpp). They are forced to control type.
constexpr std::string_view kEogTexts[] = {
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<|flush|>", "<|calls|>",
    "<end_of_turn>", "<|endoftext|>", "</s>", "<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]", "[EOS]",
    "<|end_of_text|>", "<end_of_utterance>", "<eos>", "<turn|>", "<|tool_response>",
    "<｜end▁of▁sentence｜>", "[e~[",
    // Fill-in-the-middle pad / repo / file-separator tokens also stop generation in llama.cpp.
    "<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]", "<|fim_repo|>", "<|repo_name|>",
    "<fim-repo>", "<REPO>", "<reponame>", "<|file_sep|>",
};

// Fill-in-the-middle prefix / suffix / middle tokens: forced to control type, not end of
// generation.
constexpr std::string_view kFimControlTexts[] = {
    "<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<｜fim▁begin｜>",
    "<PRE>", "▁<PRE>", "<|code_prefix|>", "<|prefix|>",
    "<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>", "<｜fim▁hole｜>",
    "<SUF>", "▁<SUF>", "<|code_suffix|>", "<|suffix|>",
    "<|fim_middle|>", "<fim-middle>", "<fim_middle>", "<｜fim▁end｜>",
    "<MID>", "▁<MID>", "<|code_middle|>", "<|middle|>",
};

// A special id from metadata wins when in range; otherwise the model type's default, if in range.
TokenId resolve_id(std::optional<TokenId> from_file, TokenId fallback, int32_t n) {
  if (from_file && *from_file >= 0 && *from_file < n) return *from_file;
  return fallback >= 0 && fallback < n ? fallback : -1;
}

}  // namespace

Expected<Vocab> build_vocab(VocabData data, std::optional<bool> pre_add_bos) {
  Vocab v;
  if (data.model == "gpt2") {
    v.kind = VocabKind::kBpe;
  } else if (data.model == "llama") {
    v.kind = VocabKind::kSpm;
  } else {
    return Unsupported("tokenizer model '" + data.model +
                       "' is not supported (supported: gpt2, llama)");
  }
  if (data.tokens.empty()) return FormatError("tokenizer.ggml.tokens is empty");
  if (data.tokens.size() > static_cast<size_t>(std::numeric_limits<int32_t>::max())) {
    return FormatError("tokenizer.ggml.tokens has too many entries");
  }
  const auto n = static_cast<int32_t>(data.tokens.size());
  if (!data.scores.empty() && data.scores.size() < data.tokens.size()) {
    return FormatError("tokenizer.ggml.scores has " + std::to_string(data.scores.size()) +
                       " entries for " + std::to_string(n) + " tokens");
  }
  if (!data.token_types.empty() && data.token_types.size() < data.tokens.size()) {
    return FormatError("tokenizer.ggml.token_type has " + std::to_string(data.token_types.size()) +
                       " entries for " + std::to_string(n) + " tokens");
  }

  v.model = std::move(data.model);
  v.pre = std::move(data.pre);
  v.text = std::move(data.tokens);
  v.score.assign(v.text.size(), 0.0f);
  v.attr.assign(v.text.size(), kAttrNormal);
  for (int32_t i = 0; i < n; ++i) {
    if (v.text[i].empty()) v.text[i] = "[EMPTY_" + std::to_string(i) + "]";  // as llama.cpp
    if (!data.scores.empty()) v.score[i] = data.scores[i];
    if (!data.token_types.empty()) v.attr[i] = attr_from_type(data.token_types[i]);
  }
  v.index.build(v.text);

  const bool spm = v.kind == VocabKind::kSpm;
  v.bos = resolve_id(data.bos, spm ? 1 : 11, n);  // llama.cpp's defaults per model type
  v.eos = resolve_id(data.eos, spm ? 2 : 11, n);
  v.unk = resolve_id(data.unk, spm ? 0 : -1, n);
  v.eot = resolve_id(data.eot, -1, n);
  v.eom = resolve_id(data.eom, -1, n);
  v.add_space_prefix = data.add_space_prefix.value_or(spm);
  v.add_bos = data.add_bos.value_or(spm || pre_add_bos.value_or(false));
  v.add_eos = data.add_eos.value_or(false);
  if (data.normalizer == "nfc") v.nfc = true;
  else if (!data.normalizer.empty())
    return Unsupported("tokenizer.joule.normalizer '" + data.normalizer + "' is not one joule implements (nfc)");

  v.eog.assign(v.text.size(), false);
  for (std::string_view text : kEogTexts) {
    if (TokenId id = v.find(text); id >= 0) {
      v.eog[id] = true;
      v.attr[id] |= kAttrControl;
    }
  }
  for (std::string_view text : kFimControlTexts) {
    if (TokenId id = v.find(text); id >= 0) v.attr[id] |= kAttrControl;
  }
  for (TokenId id : {v.eos, v.eot, v.eom}) {
    if (id >= 0) v.eog[id] = true;
  }

  for (int32_t i = 0; i < n; ++i) {
    if (v.attr[i] & (kAttrControl | kAttrUserDefined | kAttrUnknown)) v.special_tokens.push_back(i);
  }
  std::stable_sort(v.special_tokens.begin(), v.special_tokens.end(), [&](TokenId a, TokenId b) {
    return v.text[a].size() > v.text[b].size();
  });

  static constexpr char kHex[] = "0123456789ABCDEF";
  for (int b = 0; b < 256; ++b) {
    const char name[] = {'<', '0', 'x', kHex[b >> 4], kHex[b & 15], '>'};
    TokenId id = v.find(std::string_view(name, sizeof(name)));
    const char raw = static_cast<char>(b);
    if (id < 0) id = v.find(std::string_view(&raw, 1));  // llama.cpp's second choice
    v.byte_token[b] = id;
  }
  return v;
}

}  // namespace joule::tok
