#include "tokenizer/unicode.h"

#include <unicode/normalizer2.h>
#include <unicode/unistr.h>
#include <unicode/ustring.h>

#include <algorithm>
#include <array>
#include <climits>

namespace joule::tok {
namespace {

bool is_continuation(std::string_view text, size_t i) {
  return (static_cast<uint8_t>(text[i]) & 0xC0) == 0x80;
}

// GPT-2 maps the printable Latin-1 bytes to themselves and the other 68 bytes, in order, to
// U+0100 onwards, so that no byte is represented by whitespace or a control character.
struct ByteAlphabet {
  std::array<std::string, 256> text;
  std::array<int16_t, 0x100 + 68> byte_of{};  // code point -> byte

  ByteAlphabet() {
    byte_of.fill(-1);
    int extra = 0;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
      const uint32_t cpt = printable ? b : 0x100 + extra++;
      append_utf8(text[b], cpt);
      byte_of[cpt] = static_cast<int16_t>(b);
    }
  }
};

const ByteAlphabet& alphabet() {
  static const ByteAlphabet a;
  return a;
}

}  // namespace

size_t utf8_len(char lead) {
  static constexpr size_t kLen[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
  return kLen[static_cast<uint8_t>(lead) >> 4];
}

uint32_t next_code_point(std::string_view text, size_t& pos) {
  const auto b0 = static_cast<uint8_t>(text[pos]);
  const size_t left = text.size() - pos;
  auto cont = [&](size_t i) {
    return static_cast<uint32_t>(static_cast<uint8_t>(text[pos + i]) & 0x3F);
  };
  if (b0 < 0x80) {
    pos += 1;
    return b0;
  }
  if ((b0 & 0xE0) == 0xC0 && left >= 2 && is_continuation(text, pos + 1)) {
    const uint32_t c = ((b0 & 0x1Fu) << 6) | cont(1);
    pos += 2;
    return c;
  }
  if ((b0 & 0xF0) == 0xE0 && left >= 3 && is_continuation(text, pos + 1) &&
      is_continuation(text, pos + 2)) {
    const uint32_t c = ((b0 & 0x0Fu) << 12) | (cont(1) << 6) | cont(2);
    pos += 3;
    return c;
  }
  if ((b0 & 0xF8) == 0xF0 && left >= 4 && is_continuation(text, pos + 1) &&
      is_continuation(text, pos + 2) && is_continuation(text, pos + 3)) {
    const uint32_t c = ((b0 & 0x07u) << 18) | (cont(1) << 12) | (cont(2) << 6) | cont(3);
    pos += 4;
    return c;
  }
  pos += 1;
  return kReplacementChar;
}

void append_utf8(std::string& out, uint32_t cpt) {
  if (cpt > 0x10FFFF) cpt = kReplacementChar;
  if (cpt < 0x80) {
    out += static_cast<char>(cpt);
  } else if (cpt < 0x800) {
    out += static_cast<char>(0xC0 | (cpt >> 6));
    out += static_cast<char>(0x80 | (cpt & 0x3F));
  } else if (cpt < 0x10000) {
    out += static_cast<char>(0xE0 | (cpt >> 12));
    out += static_cast<char>(0x80 | ((cpt >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cpt & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cpt >> 18));
    out += static_cast<char>(0x80 | ((cpt >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cpt >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cpt & 0x3F));
  }
}

std::string normalize_utf8(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t pos = 0; pos < text.size();) append_utf8(out, next_code_point(text, pos));
  return out;
}

std::string_view byte_to_unicode(uint8_t b) { return alphabet().text[b]; }

int unicode_to_byte(uint32_t cpt) {
  const auto& a = alphabet();
  return cpt < a.byte_of.size() ? a.byte_of[cpt] : -1;
}

std::string nfc(std::string_view text) {
  if (std::all_of(text.begin(), text.end(), [](char c) { return static_cast<uint8_t>(c) < 0x80; }))
    return std::string(text);  // ASCII is its own NFC
  if (text.size() > size_t(INT32_MAX)) return std::string(text);
  UErrorCode st = U_ZERO_ERROR;
  int32_t units = 0;
  u_strFromUTF8(nullptr, 0, &units, text.data(), int32_t(text.size()), &st);  // validates
  if (st != U_BUFFER_OVERFLOW_ERROR && U_FAILURE(st)) return std::string(text);
  st = U_ZERO_ERROR;
  const icu::Normalizer2* n = icu::Normalizer2::getNFCInstance(st);
  const icu::UnicodeString u = icu::UnicodeString::fromUTF8(icu::StringPiece(text.data(), int32_t(text.size())));
  if (U_FAILURE(st) || n->isNormalized(u, st)) return std::string(text);
  st = U_ZERO_ERROR;
  const icu::UnicodeString composed = n->normalize(u, st);
  if (U_FAILURE(st)) return std::string(text);
  std::string out;
  composed.toUTF8String(out);
  return out;
}

}  // namespace joule::tok
