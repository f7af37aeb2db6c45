// Byte-level BPE pre-tokenization: the regex list llama.cpp uses for a tokenizer.ggml.pre name,
// run with PCRE2 and written so that the words come out exactly as llama.cpp's splits them.
#pragma once

#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace joule::tok {

class PreTokenizer {
 public:
  // kUnsupported for a pre-tokenizer name this build does not know.
  static Expected<PreTokenizer> create(std::string_view pre);
  PreTokenizer(PreTokenizer&&) noexcept;
  PreTokenizer& operator=(PreTokenizer&&) noexcept;
  ~PreTokenizer();

  // llama3-style vocabs emit a word that is itself a token as that token, without merging.
  bool ignore_merges() const { return ignore_merges_; }
  // The add_bos default this pre-tokenizer implies; nullopt leaves the model type's default.
  std::optional<bool> add_bos_default() const { return add_bos_default_; }

  // Appends the words of `text` (from normalize_utf8) to `words`. Each regex in turn splits every
  // piece further; the stretches between matches are kept as pieces, so the words cover the text.
  void split(std::string_view text, std::vector<std::string_view>& words) const;

 private:
  struct Regex;
  PreTokenizer();
  std::vector<std::unique_ptr<Regex>> regexes_;
  bool ignore_merges_ = false;
  std::optional<bool> add_bos_default_;
};

}  // namespace joule::tok
