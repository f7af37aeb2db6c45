// UTF-8 helpers with llama.cpp's exact treatment of malformed input, and GPT-2's byte-level
// alphabet (every byte stands for one printable character, so BPE runs on valid text).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace joule::tok {

inline constexpr uint32_t kReplacementChar = 0xFFFD;

// Sequence length a lead byte announces; 1 for continuation bytes (llama.cpp's unicode_len_utf8).
size_t utf8_len(char lead);

// Decodes the code point at text[pos] and advances pos. A malformed sequence yields U+FFFD and
// advances one byte. Overlong forms and surrogates are decoded, not rejected, as in llama.cpp.
uint32_t next_code_point(std::string_view text, size_t& pos);

// Appends the UTF-8 form of cpt; values above U+10FFFF become U+FFFD.
void append_utf8(std::string& out, uint32_t cpt);

// The text as llama.cpp's BPE pre-tokenizer sees it: decoded and re-encoded code point by code
// point, so each malformed byte becomes U+FFFD. Valid UTF-8 comes back unchanged.
std::string normalize_utf8(std::string_view text);

// The text in Unicode Normalization Form C (ICU's tables): decomposed accents composed, as
// Hugging Face's NFC normalizer does. Text that is not valid UTF-8 comes back unchanged (Hugging
// Face tokenizers take only valid UTF-8; joule's byte-level paths handle the rest as llama.cpp does).
std::string nfc(std::string_view text);

// GPT-2 bytes_to_unicode: the UTF-8 text of the character that stands for byte b.
std::string_view byte_to_unicode(uint8_t b);
// The byte a GPT-2 alphabet character stands for, or -1 for any other code point.
int unicode_to_byte(uint32_t cpt);

}  // namespace joule::tok
