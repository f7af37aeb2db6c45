// Tokenizer::from_gguf: reads the tokenizer.ggml.* keys into VocabData. Optional keys that are
// absent stay unset so that llama.cpp's per-model defaults apply; present keys of the wrong type
// are errors.
#include <limits>
#include <optional>

#include "formats/gguf/gguf.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/vocab.h"

namespace joule {
namespace {

// A special token id; out of the int32 range reads as -1, which build_vocab treats like an
// out-of-vocab id (the model type's default is used, as llama.cpp does).
Status read_id(const gguf::File& f, std::string_view key, std::optional<TokenId>& out) {
  if (!f.find(key)) return Status::Ok();
  JOULE_ASSIGN_OR_RETURN(int64_t v, f.get_int(key));
  out = v >= 0 && v <= std::numeric_limits<TokenId>::max() ? static_cast<TokenId>(v) : -1;
  return Status::Ok();
}

Status read_flag(const gguf::File& f, std::string_view key, std::optional<bool>& out) {
  if (!f.find(key)) return Status::Ok();
  JOULE_ASSIGN_OR_RETURN(out, f.get_bool(key));
  return Status::Ok();
}

}  // namespace

Expected<Tokenizer> Tokenizer::from_gguf(const gguf::File& f) {
  VocabData d;
  JOULE_ASSIGN_OR_RETURN(d.model, f.get_string("tokenizer.ggml.model"));
  if (f.find("tokenizer.ggml.pre")) {
    JOULE_ASSIGN_OR_RETURN(d.pre, f.get_string("tokenizer.ggml.pre"));
  }
  JOULE_ASSIGN_OR_RETURN(d.tokens, f.get_string_array("tokenizer.ggml.tokens"));
  if (f.find("tokenizer.ggml.scores")) {
    JOULE_ASSIGN_OR_RETURN(d.scores, f.get_f32_array("tokenizer.ggml.scores"));
  }
  if (f.find("tokenizer.ggml.token_type")) {
    JOULE_ASSIGN_OR_RETURN(d.token_types, f.get_i32_array("tokenizer.ggml.token_type"));
  }
  if (f.find("tokenizer.ggml.merges")) {
    JOULE_ASSIGN_OR_RETURN(d.merges, f.get_string_array("tokenizer.ggml.merges"));
  }
  JOULE_RETURN_IF_ERROR(read_id(f, "tokenizer.ggml.bos_token_id", d.bos));
  JOULE_RETURN_IF_ERROR(read_id(f, "tokenizer.ggml.eos_token_id", d.eos));
  JOULE_RETURN_IF_ERROR(read_id(f, "tokenizer.ggml.eot_token_id", d.eot));
  JOULE_RETURN_IF_ERROR(read_id(f, "tokenizer.ggml.eom_token_id", d.eom));
  JOULE_RETURN_IF_ERROR(read_id(f, "tokenizer.ggml.unknown_token_id", d.unk));
  JOULE_RETURN_IF_ERROR(read_flag(f, "tokenizer.ggml.add_bos_token", d.add_bos));
  JOULE_RETURN_IF_ERROR(read_flag(f, "tokenizer.ggml.add_eos_token", d.add_eos));
  JOULE_RETURN_IF_ERROR(read_flag(f, "tokenizer.ggml.add_space_prefix", d.add_space_prefix));
  if (f.find("tokenizer.joule.normalizer")) {
    JOULE_ASSIGN_OR_RETURN(d.normalizer, f.get_string("tokenizer.joule.normalizer"));
  }
  return from_vocab(std::move(d));
}

}  // namespace joule
