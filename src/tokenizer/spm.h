// SentencePiece BPE as llama.cpp's llm_tokenizer_spm_session: the text (spaces already escaped as
// U+2581) starts as single UTF-8 characters, and the adjacent pair whose concatenation is the
// highest-scoring vocab token (leftmost on ties) merges first. Symbols that are not tokens fall
// back to <0xXX> byte tokens.
#pragma once

#include <string_view>
#include <vector>

#include "tokenizer/vocab.h"

namespace joule::tok {

void spm_encode(const Vocab& v, std::string_view text, std::vector<TokenId>& out);

}  // namespace joule::tok
