// An engine a study starts: its command run by /bin/sh in a process group of its own (which dies
// with joule), waited for until its health URL answers 200, and stopped with SIGTERM, then
// SIGKILL after a grace period. Its output goes to a log whose tail names what went wrong.
#pragma once

#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>

#include "core/status.h"
#include "study/spec.h"

namespace joule::cli {

class EngineProcess {
 public:
  // Starts spec.start with {port} (a free port) and {joule} (this binary) substituted; returns
  // once the process is running (not yet healthy).
  static Expected<std::unique_ptr<EngineProcess>> spawn(const study::EngineSpec& spec, const std::string& joule_binary,
                                                        const std::string& log_path);
  ~EngineProcess();  // stop()

  // Polls the health URL until it answers 200: kIo naming the exit status and the log's tail if
  // the process ends first, or the timeout.
  Status wait_healthy();
  // SIGTERM to the process group, SIGKILL after stop_grace_s; idempotent.
  void stop();

  pid_t pid() const { return pid_; }
  const std::string& url() const { return url_; }
  const std::string& command() const { return command_; }
  // "exited with status 3" / "killed by signal 9" once it has ended, else nullopt.
  std::optional<std::string> ended();
  // The log's last lines (at most ~2 KB), for error messages.
  std::string log_tail() const;

 private:
  EngineProcess() = default;
  study::EngineSpec spec_;
  std::string command_, url_, health_, log_path_;
  pid_t pid_ = -1;
  std::optional<int> wait_status_;
};

}  // namespace joule::cli
