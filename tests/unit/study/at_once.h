// Processes started at the same instant, for the tests of runners sharing one database.
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <thread>
#include <vector>

namespace joule::study {

// Runs child(i) for i in [0, procs) in forked processes that all begin 300 ms from now (so that
// they race); each exits with what child returns. Returns the wait statuses, in order.
inline std::vector<int> run_at_once(int procs, const std::function<int(int)>& child) {
  const auto start = std::chrono::system_clock::now() + std::chrono::milliseconds(300);
  std::vector<pid_t> pids;
  for (int i = 0; i < procs; ++i) {
    const pid_t pid = fork();
    if (pid == 0) {
      std::this_thread::sleep_until(start);
      _exit(child(i));
    }
    pids.push_back(pid);
  }
  std::vector<int> statuses;
  for (pid_t pid : pids) {
    int status = -1;
    if (pid > 0) waitpid(pid, &status, 0);
    statuses.push_back(status);
  }
  return statuses;
}

inline bool exited_zero(int status) { return status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0; }

}  // namespace joule::study
