// One monotonic clock for every duration joule measures (timings, energy samples, windows).
#pragma once

#include <chrono>

namespace joule {

// Seconds on the steady clock (arbitrary epoch): only differences mean anything.
inline double monotonic_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace joule
