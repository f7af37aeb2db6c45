// Small string helpers shared by the text parsers and the report writers.
#pragma once

#include <cstdio>
#include <string>
#include <string_view>

namespace joule {

// s without leading and trailing spaces, tabs, CR and LF (Python's str.strip() for ASCII
// whitespace).
inline std::string_view trim(std::string_view s) {
  constexpr std::string_view kSpace = " \t\r\n";
  const size_t b = s.find_first_not_of(kSpace);
  if (b == std::string_view::npos) return {};
  return s.substr(b, s.find_last_not_of(kSpace) - b + 1);
}

// One number printed with a printf format ("%.2f"), for tables.
inline std::string format_number(const char* fmt, double v) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), fmt, v);
  return buf;
}

}  // namespace joule
