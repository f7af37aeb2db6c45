// Progress of long work on stderr: on a terminal one line redrawn in place (at most twice a
// second); otherwise (a log file, a pipe, CI) whole lines, at most one every few seconds, so logs
// stay readable and small.
#pragma once

#include <chrono>
#include <string>

namespace joule::cli {

class ProgressBar {
 public:
  // "[prefix] label 12/100 (12 %) 3 s, ETA 21 s detail"
  ProgressBar(std::string prefix, std::string label);
  ~ProgressBar();  // ends a line left open on a terminal
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;

  void update(int done, int total, const std::string& detail = "");

 private:
  std::string prefix_, label_;
  bool tty_;
  bool open_line_ = false;  // a redrawn line without its newline yet
  std::chrono::steady_clock::time_point t0_, last_;
};

}  // namespace joule::cli
