#include "tokenizer/pretokenize.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <algorithm>
#include <string>

namespace joule::tok {
namespace {

// llama.cpp classifies code points with its own tables (Unicode White_Space for \s, Unicode 15
// general categories) rather than a regex engine's. These class bodies reproduce them in PCRE2:
// \s gains U+0085, which PCRE2's UCP \s lacks; \p{L}, \p{N}, \p{P} gain the code points Unicode 15
// assigned that PCRE2 10.42 (Unicode 14) does not know yet (harmless with a newer PCRE2).
constexpr std::string_view kSpace =
    "\\t\\n\\x0B\\f\\r \\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}"
    "\\x{205F}\\x{3000}";
constexpr std::string_view kLetter =
    "\\p{L}\\x{1123F}-\\x{11240}\\x{11F02}\\x{11F04}-\\x{11F10}\\x{11F12}-\\x{11F33}\\x{1342F}"
    "\\x{13441}-\\x{13446}\\x{1B132}\\x{1B155}\\x{1DF25}-\\x{1DF2A}\\x{1E030}-\\x{1E06D}"
    "\\x{1E4D0}-\\x{1E4EB}\\x{2B739}\\x{2EBF0}-\\x{2EE5D}\\x{31350}-\\x{323AF}";
constexpr std::string_view kNumber =
    "\\p{N}\\x{11F50}-\\x{11F59}\\x{1D2C0}-\\x{1D2D3}\\x{1E4F0}-\\x{1E4F9}";
constexpr std::string_view kPunct = "\\p{P}\\x{11B00}-\\x{11B09}\\x{11F43}-\\x{11F4F}";

// Rewrites a llama.cpp regex (kept verbatim below, for comparison with llama-vocab.cpp) into
// PCRE2 syntax with the classes above: \s, \S, \p{L}, \p{N}, \p{P}, inside or outside [...].
std::string to_pcre2(std::string_view re) {
  std::string out;
  bool in_class = false;
  for (size_t i = 0; i < re.size(); ++i) {
    if (re[i] == '\\' && i + 1 < re.size()) {
      std::string_view body;
      size_t len = 2;
      const std::string_view rest = re.substr(i);
      if (rest.starts_with("\\s")) {
        body = kSpace;
      } else if (rest.starts_with("\\p{L}")) {
        body = kLetter, len = 5;
      } else if (rest.starts_with("\\p{N}")) {
        body = kNumber, len = 5;
      } else if (rest.starts_with("\\p{P}")) {
        body = kPunct, len = 5;
      } else if (rest.starts_with("\\S") && !in_class) {
        out.append("[^").append(kSpace).append("]");
        ++i;
        continue;
      }
      if (body.empty()) {
        out.append(re.substr(i, 2));
      } else if (in_class) {
        out.append(body);
      } else {
        out.append("[").append(body).append("]");
      }
      i += len - 1;
      continue;
    }
    if (re[i] == '[') in_class = true;
    if (re[i] == ']') in_class = false;
    out += re[i];
  }
  return out;
}

// llama.cpp's regex lists (llm_tokenizer_bpe), by pre-tokenizer family. The GPT-2 regex carries
// the final \s+ that llama.cpp's hand-written matcher for it (unicode_regex_split_custom_gpt2) has.
constexpr std::string_view kGpt2 =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
constexpr std::string_view kLlama3 =
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|"
    "\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
// BLOOM's split (llama.cpp's PORO / BLOOM / GPT3_FINNISH): a word is everything up to whitespace
// or one of a few punctuation marks, with one leading space.
constexpr std::string_view kBloom = " ?[^(\\s|.,!?\u2026\u3002\uff0c\u3001\u0964\u06d4\u060c)]+";
constexpr std::string_view kQwen2 =
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|"
    "\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

struct Family {
  std::vector<std::string_view> names;
  std::vector<std::string_view> regexes;
  bool ignore_merges = false;
  std::optional<bool> add_bos;
};

// Names map to families as in llama_vocab::impl::load. An absent tokenizer.ggml.pre is "".
const std::vector<Family>& families() {
  static const std::vector<Family> kFamilies = {
      {{"smollm", "starcoder", "refact", "command-r", "codeshell", "exaone", "minerva-7b"},
       {"\\p{N}", kGpt2},
       false,
       std::nullopt},
      // "gpt2" is not a name llama.cpp knows; accepted as an alias of "gpt-2".
      {{"gpt-2", "gpt2", "phi-2", "mpt", "olmo", "jais"}, {kGpt2}, false, std::nullopt},
      {{"default", ""},
       {"[\\p{P}\\$\\+<=>\\^~\\|]+", kGpt2, "\\p{N}+", "[0-9][0-9][0-9]"},
       false,
       std::nullopt},
      {{"llama3", "llama-v3", "llama-bpe", "falcon3"}, {kLlama3}, true, true},
      {{"dbrx", "smaug-bpe"}, {kLlama3}, false, std::nullopt},
      {{"qwen2", "deepseek-r1-qwen", "stablelm2"}, {kQwen2}, false, std::nullopt},
      {{"bloom", "poro-chat", "gpt3-finnish"}, {kBloom}, false, std::nullopt},
  };
  return kFamilies;
}

}  // namespace

struct PreTokenizer::Regex {
  pcre2_code* code = nullptr;
  ~Regex() { pcre2_code_free(code); }
};

PreTokenizer::PreTokenizer() = default;
PreTokenizer::PreTokenizer(PreTokenizer&&) noexcept = default;
PreTokenizer& PreTokenizer::operator=(PreTokenizer&&) noexcept = default;
PreTokenizer::~PreTokenizer() = default;

Expected<PreTokenizer> PreTokenizer::create(std::string_view pre) {
  const Family* family = nullptr;
  for (const Family& f : families()) {
    if (std::find(f.names.begin(), f.names.end(), pre) != f.names.end()) family = &f;
  }
  if (!family) {
    return Unsupported("pre-tokenizer '" + std::string(pre) +
                       "' is not supported (supported: smollm, llama3, llama-bpe, qwen2, gpt-2, bloom, "
                       "default and their llama.cpp aliases)");
  }
  PreTokenizer p;
  p.ignore_merges_ = family->ignore_merges;
  p.add_bos_default_ = family->add_bos;
  for (std::string_view re : family->regexes) {
    const std::string pattern = to_pcre2(re);
    int err = 0;
    PCRE2_SIZE err_offset = 0;
    // MATCH_INVALID_UTF: surrogates survive normalize_utf8 (as in llama.cpp) and must not fail.
    auto r = std::make_unique<Regex>();
    r->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                            PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF, &err, &err_offset,
                            nullptr);
    if (!r->code) {
      PCRE2_UCHAR msg[256];
      pcre2_get_error_message(err, msg, sizeof(msg));
      return InternalError("pre-tokenizer regex does not compile at " + std::to_string(err_offset) +
                           ": " + reinterpret_cast<const char*>(msg));
    }
    pcre2_jit_compile(r->code, PCRE2_JIT_COMPLETE);  // the interpreter is the fallback
    p.regexes_.push_back(std::move(r));
  }
  return p;
}

void PreTokenizer::split(std::string_view text, std::vector<std::string_view>& words) const {
  std::vector<std::string_view> pieces;
  if (!text.empty()) pieces.push_back(text);
  std::vector<std::string_view> next;
  const std::unique_ptr<pcre2_match_data, decltype(&pcre2_match_data_free)> md(
      pcre2_match_data_create(1, nullptr), pcre2_match_data_free);
  for (const auto& re : regexes_) {
    next.clear();
    for (std::string_view piece : pieces) {
      // The piece is the whole subject, so a lookahead such as (?!\S) stops at its end, exactly
      // as llama.cpp's matchers do per piece.
      const auto* subject = reinterpret_cast<PCRE2_SPTR>(piece.data());
      size_t done = 0;
      while (done < piece.size()) {
        const int rc =
            pcre2_match(re->code, subject, piece.size(), done, PCRE2_NOTEMPTY, md.get(), nullptr);
        if (rc < 0) break;  // no further match: the rest is one unmatched stretch
        const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md.get());
        if (ov[0] > done) next.push_back(piece.substr(done, ov[0] - done));
        next.push_back(piece.substr(ov[0], ov[1] - ov[0]));
        done = ov[1];
      }
      if (done < piece.size()) next.push_back(piece.substr(done));
    }
    pieces.swap(next);
  }
  words.insert(words.end(), pieces.begin(), pieces.end());
}

}  // namespace joule::tok
