#include "progress.h"

#include <unistd.h>

#include <cstdio>

namespace joule::cli {
namespace {
constexpr auto kTerminalInterval = std::chrono::milliseconds(500);
constexpr auto kLogInterval = std::chrono::seconds(5);
}  // namespace

ProgressBar::ProgressBar(std::string prefix, std::string label)
    : prefix_(std::move(prefix)),
      label_(std::move(label)),
      tty_(::isatty(STDERR_FILENO) == 1),
      t0_(std::chrono::steady_clock::now()),
      last_(t0_) {}

ProgressBar::~ProgressBar() {
  if (open_line_) std::fputc('\n', stderr);
}

void ProgressBar::update(int done, int total, const std::string& detail) {
  const auto now = std::chrono::steady_clock::now();
  const bool finished = done >= total;
  if (!finished && now - last_ < (tty_ ? kTerminalInterval : kLogInterval)) return;
  last_ = now;
  const double elapsed_s = std::chrono::duration<double>(now - t0_).count();
  const double eta_s = done > 0 ? elapsed_s / done * (total - done) : 0;
  const double percent = total > 0 ? 100.0 * done / total : 100.0;
  std::fprintf(stderr, "%s[%s] %s %d/%d (%.0f %%) %.0f s, ETA %.0f s%s%s%s", tty_ ? "\r" : "", prefix_.c_str(),
               label_.c_str(), done, total, percent, elapsed_s, eta_s, detail.empty() ? "" : ", ",
               detail.c_str(), tty_ && !finished ? "   " : "\n");
  open_line_ = tty_ && !finished;
}

}  // namespace joule::cli
