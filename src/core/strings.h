// Small string helpers shared by the text parsers.
#pragma once

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

}  // namespace joule
