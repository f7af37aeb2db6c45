// Small string helpers shared by the text parsers and the report writers.
#pragma once

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"

namespace joule {

// s without leading and trailing spaces, tabs, CR and LF (Python's str.strip() for ASCII
// whitespace).
inline std::string_view trim(std::string_view s) {
  constexpr std::string_view kSpace = " \t\r\n";
  const size_t b = s.find_first_not_of(kSpace);
  if (b == std::string_view::npos) return {};
  return s.substr(b, s.find_last_not_of(kSpace) - b + 1);
}

// The words of s, split at spaces and tabs (a sysfs list such as scaling_available_governors).
inline std::vector<std::string> split_words(std::string_view s) {
  std::vector<std::string> out;
  size_t i = 0;
  while ((i = s.find_first_not_of(" \t\r\n", i)) != std::string_view::npos) {
    const size_t end = std::min(s.find_first_of(" \t\r\n", i), s.size());
    out.emplace_back(s.substr(i, end - i));
    i = end;
  }
  return out;
}

// Characters (code points) of UTF-8 text: every byte that starts one. A lone continuation byte
// (a character split over tokens) counts for none, so the pieces of a split character add up.
inline size_t utf8_length(std::string_view s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

inline std::string join(const std::vector<std::string>& items, std::string_view sep) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) (out += i ? sep : "") += items[i];
  return out;
}

// One number printed with a printf format ("%.2f"), for tables.
inline std::string format_number(const char* fmt, double v) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), fmt, v);
  return buf;
}

// "name:number,name:number" (spaces around either allowed) as (name, number) pairs in order;
// kInvalidArgument, starting with `what`, for an item that is not NAME:NUMBER. Flags such as
// --goodput ttft:500,tpot:50 and --mix urgent:0.1,normal:0.9 are written so.
inline Expected<std::vector<std::pair<std::string, double>>> parse_named_numbers(std::string_view text,
                                                                                 std::string_view what) {
  std::vector<std::pair<std::string, double>> out;
  while (!text.empty()) {
    const size_t comma = text.find(',');
    const std::string_view item = trim(text.substr(0, comma));
    text = comma == std::string_view::npos ? std::string_view{} : text.substr(comma + 1);
    const size_t colon = item.find(':');
    const std::string_view name = trim(item.substr(0, colon));
    const std::string_view num = colon == std::string_view::npos ? std::string_view{} : trim(item.substr(colon + 1));
    double v = 0;
    const auto [end, ec] = std::from_chars(num.data(), num.data() + num.size(), v);
    if (name.empty() || num.empty() || ec != std::errc() || end != num.data() + num.size())
      return InvalidArgument(std::string(what) + ": '" + std::string(item) + "' is not NAME:NUMBER");
    out.emplace_back(std::string(name), v);
  }
  return out;
}

}  // namespace joule
