#include "tokenizer/tokenizer.h"

#include <charconv>
#include <optional>
#include <utility>

#include "tokenizer/bpe.h"
#include "tokenizer/pretokenize.h"
#include "tokenizer/spm.h"
#include "tokenizer/unicode.h"
#include "tokenizer/vocab.h"

namespace joule {
namespace {

constexpr std::string_view kSpmSpace = "\xE2\x96\x81";  // U+2581, SentencePiece's visible space

// A stretch of the input: special token `token`, or when token < 0 raw text at [offset, +length).
struct Fragment {
  TokenId token;
  size_t offset, length;
};

void replace_all(std::string& s, std::string_view from, std::string_view to) {
  for (size_t pos = s.find(from); pos != s.npos; pos = s.find(from, pos + to.size())) {
    s.replace(pos, from.size(), to);
  }
}

}  // namespace

struct Tokenizer::Impl {
  tok::Vocab vocab;
  std::optional<tok::PreTokenizer> pre;  // gpt2 only
  std::optional<tok::BpeMerges> bpe;     // gpt2 only

  // llama.cpp's tokenizer_st_partition: each special token in turn (longest first) splits every
  // raw fragment at all its occurrences. Without parse_special, control and unknown tokens stay
  // text but user-defined ones are still matched (as Hugging Face tokenizers do).
  std::vector<Fragment> partition(std::string_view text, bool parse_special) const {
    std::vector<Fragment> frags;
    if (!text.empty()) frags.push_back({-1, 0, text.size()});
    std::vector<Fragment> next;
    for (TokenId id : vocab.special_tokens) {
      if (!parse_special && (vocab.attr[id] & (tok::kAttrControl | tok::kAttrUnknown))) continue;
      const std::string& special = vocab.text[id];
      next.clear();
      for (const Fragment& f : frags) {
        if (f.token >= 0) {
          next.push_back(f);
          continue;
        }
        size_t begin = f.offset;
        const size_t end = f.offset + f.length;
        while (begin < end) {
          const size_t m = text.substr(0, end).find(special, begin);
          if (m == text.npos) break;
          if (m > begin) next.push_back({-1, begin, m - begin});
          next.push_back({id, 0, 0});
          begin = m + special.size();
        }
        if (begin < end) next.push_back({-1, begin, end - begin});
      }
      frags.swap(next);
    }
    return frags;
  }

  void encode_bpe(std::string_view text, const std::vector<Fragment>& frags,
                  std::vector<TokenId>& out) const {
    tok::BpeMerges::Scratch scratch;
    std::vector<std::string_view> words;
    for (const Fragment& f : frags) {
      if (f.token >= 0) {
        out.push_back(f.token);
        continue;
      }
      const std::string normalized = tok::normalize_utf8(text.substr(f.offset, f.length));
      words.clear();
      pre->split(normalized, words);
      for (std::string_view w : words)
        bpe->encode_word(vocab, w, pre->ignore_merges(), out, scratch);
    }
  }

  void encode_spm(std::string_view text, const std::vector<Fragment>& frags,
                  std::vector<TokenId>& out) const {
    bool after_special = true;  // the text start counts: it gets the space prefix too
    for (const Fragment& f : frags) {
      if (f.token >= 0) {
        out.push_back(f.token);
        after_special = true;
        continue;
      }
      std::string s = vocab.add_space_prefix && after_special ? " " : "";
      s += text.substr(f.offset, f.length);
      replace_all(s, " ", kSpmSpace);
      tok::spm_encode(vocab, s, out);
      after_special = false;
    }
  }

  // llama.cpp's token_to_piece: control and unknown tokens render only when asked; normal tokens
  // are mapped back to bytes (GPT-2 alphabet, or U+2581 -> space for SentencePiece).
  void append_piece(std::string& out, TokenId id, bool render_special) const {
    if (!vocab.valid(id)) return;
    const uint32_t attr = vocab.attr[id];
    const std::string& text = vocab.text[id];
    if (attr & (tok::kAttrControl | tok::kAttrUnknown)) {
      if (render_special) out += text;
    } else if (attr & tok::kAttrUserDefined) {
      out += text;
    } else if (attr & tok::kAttrNormal) {
      if (vocab.kind == tok::VocabKind::kSpm) {
        std::string piece = text;
        replace_all(piece, kSpmSpace, " ");
        out += piece;
        return;
      }
      // A character outside the GPT-2 alphabet (a malformed vocab) is passed through; llama.cpp
      // writes an "[UNK_BYTE_0x..]" marker instead.
      for (size_t pos = 0; pos < text.size();) {
        const uint32_t cpt = tok::next_code_point(text, pos);
        if (const int b = tok::unicode_to_byte(cpt); b >= 0) {
          out += static_cast<char>(b);
        } else {
          tok::append_utf8(out, cpt);
        }
      }
    } else if ((attr & tok::kAttrByte) && text.size() >= 5) {  // "<0xXX>"
      unsigned byte = 0;
      std::from_chars(text.data() + 3, text.data() + 5, byte, 16);
      out += static_cast<char>(byte);
    }
  }
};

Tokenizer::Tokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;
Tokenizer::~Tokenizer() = default;

Expected<Tokenizer> Tokenizer::from_vocab(VocabData data) {
  auto impl = std::make_unique<Impl>();
  std::optional<bool> pre_add_bos;
  const bool bpe = data.model == "gpt2";
  if (bpe) {
    if (data.merges.empty())
      return FormatError("tokenizer.ggml.merges is missing (gpt2 tokenizer)");
    JOULE_ASSIGN_OR_RETURN(impl->pre, tok::PreTokenizer::create(data.pre));
    pre_add_bos = impl->pre->add_bos_default();
  }
  std::vector<std::string> merges = std::move(data.merges);
  JOULE_ASSIGN_OR_RETURN(impl->vocab, tok::build_vocab(std::move(data), pre_add_bos));
  if (bpe) impl->bpe = tok::BpeMerges::build(impl->vocab, merges);
  return Tokenizer(std::move(impl));
}

std::vector<TokenId> Tokenizer::encode(std::string_view text, bool add_special,
                                       bool parse_special) const {
  const tok::Vocab& v = impl_->vocab;
  std::string normalized;
  if (v.nfc) text = normalized = tok::nfc(text);
  std::vector<TokenId> out;
  if (add_special && v.add_bos && v.bos >= 0) out.push_back(v.bos);
  const std::vector<Fragment> frags = impl_->partition(text, parse_special);
  if (v.kind == tok::VocabKind::kSpm) {
    impl_->encode_spm(text, frags, out);
  } else {
    impl_->encode_bpe(text, frags, out);
  }
  if (add_special && v.add_eos && v.eos >= 0) out.push_back(v.eos);
  return out;
}

std::string Tokenizer::decode(std::span<const TokenId> ids, bool render_special) const {
  std::string out;
  for (size_t i = 0; i < ids.size(); ++i) {
    const size_t start = out.size();
    impl_->append_piece(out, ids[i], render_special);
    // llama_detokenize drops the space the tokenizer prefixed, from the first token only (a
    // leading BOS, rendered or not, uses up that chance, as in llama.cpp).
    if (i == 0 && impl_->vocab.add_space_prefix && out.size() > start && out[start] == ' ') {
      out.erase(start, 1);
    }
  }
  return out;
}

std::string Tokenizer::token_to_piece(TokenId id, bool render_special) const {
  std::string out;
  impl_->append_piece(out, id, render_special);
  return out;
}

int32_t Tokenizer::n_vocab() const { return impl_->vocab.size(); }
TokenId Tokenizer::bos() const { return impl_->vocab.bos; }
TokenId Tokenizer::eos() const { return impl_->vocab.eos; }
bool Tokenizer::add_bos() const { return impl_->vocab.add_bos; }
bool Tokenizer::is_control(TokenId id) const {
  return impl_->vocab.valid(id) && (impl_->vocab.attr[id] & tok::kAttrControl);
}
bool Tokenizer::is_eog(TokenId id) const { return impl_->vocab.valid(id) && impl_->vocab.eog[id]; }
const std::string& Tokenizer::model() const { return impl_->vocab.model; }
const std::string& Tokenizer::pre() const { return impl_->vocab.pre; }
std::string_view Tokenizer::token_text(TokenId id) const {
  return impl_->vocab.valid(id) ? std::string_view(impl_->vocab.text[id]) : std::string_view();
}

}  // namespace joule
