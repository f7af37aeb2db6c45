#include "core/process.h"

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <vector>

namespace joule {
namespace {

namespace fs = std::filesystem;

struct ProcStat {
  pid_t ppid = 0;
  double cpu_s = 0;  // utime + stime + cutime + cstime
};

// /proc/PID/stat: "pid (comm) state ppid ... utime(14) stime(15) cutime(16) cstime(17) ...";
// comm may hold spaces and parentheses, so fields are counted from the last ')'.
bool read_stat(const fs::path& file, ProcStat* out) {
  std::ifstream in(file);
  std::string line;
  if (!std::getline(in, line)) return false;
  const size_t close = line.rfind(')');
  if (close == std::string::npos) return false;
  std::istringstream rest(line.substr(close + 1));
  std::string state;
  long long ppid = 0;
  rest >> state >> ppid;
  std::string skip;
  for (int field = 5; field < 14 && rest >> skip; ++field) {
  }
  unsigned long long ticks[4] = {};
  for (auto& t : ticks)
    if (!(rest >> t)) return false;
  static const double kTickS = 1.0 / static_cast<double>(sysconf(_SC_CLK_TCK));
  out->ppid = static_cast<pid_t>(ppid);
  out->cpu_s = static_cast<double>(ticks[0] + ticks[1] + ticks[2] + ticks[3]) * kTickS;
  return true;
}

bool is_pid(const std::string& name) {
  return !name.empty() && name.find_first_not_of("0123456789") == std::string::npos;
}

// Socket inodes listening on `port` from /proc/net/tcp{,6}: "sl local_address rem_address st ...
// inode", addresses as HEX_IP:HEX_PORT, st 0A = LISTEN.
std::set<std::string> listening_inodes(int port, const fs::path& proc) {
  std::set<std::string> inodes;
  for (const char* table : {"net/tcp", "net/tcp6"}) {
    std::ifstream in(proc / table);
    std::string line;
    std::getline(in, line);  // header
    while (std::getline(in, line)) {
      std::istringstream f(line);
      std::string sl, local, remote, st, queues, timer, retr, uid, timeout, inode;
      if (!(f >> sl >> local >> remote >> st >> queues >> timer >> retr >> uid >> timeout >> inode)) continue;
      const size_t colon = local.rfind(':');
      if (st != "0A" || colon == std::string::npos) continue;
      if (std::stoi(local.substr(colon + 1), nullptr, 16) == port) inodes.insert(inode);
    }
  }
  return inodes;
}

}  // namespace

Expected<double> process_tree_cpu_seconds(pid_t pid, const std::string& proc_root) {
  const fs::path proc(proc_root);
  std::map<pid_t, ProcStat> all;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(proc, ec)) {
    const std::string name = entry.path().filename().string();
    if (!is_pid(name)) continue;
    ProcStat s;
    if (read_stat(entry.path() / "stat", &s)) all[static_cast<pid_t>(std::stol(name))] = s;
  }
  if (ec) return IoError("cannot list " + proc.string() + ": " + ec.message());
  if (!all.count(pid)) return NotFound("process " + std::to_string(pid) + " does not exist");
  std::map<pid_t, std::vector<pid_t>> children;
  for (const auto& [p, s] : all) children[s.ppid].push_back(p);
  double cpu_s = 0;
  std::vector<pid_t> todo = {pid};
  while (!todo.empty()) {
    const pid_t p = todo.back();
    todo.pop_back();
    cpu_s += all[p].cpu_s;
    for (pid_t c : children[p]) todo.push_back(c);
  }
  return cpu_s;
}

Expected<pid_t> listening_pid(int port, const std::string& proc_root) {
  const fs::path proc(proc_root);
  const std::set<std::string> inodes = listening_inodes(port, proc);
  if (inodes.empty()) return NotFound("no process listens on TCP port " + std::to_string(port));
  bool unreadable = false;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(proc, ec)) {
    const std::string name = entry.path().filename().string();
    if (!is_pid(name)) continue;
    std::error_code fd_ec;
    fs::directory_iterator fds(entry.path() / "fd", fd_ec);
    if (fd_ec) {
      unreadable = true;
      continue;
    }
    for (const auto& fd : fds) {
      std::error_code link_ec;
      const std::string target = fs::read_symlink(fd.path(), link_ec).string();
      if (link_ec || target.rfind("socket:[", 0) != 0) continue;
      if (inodes.count(target.substr(8, target.size() - 9))) return static_cast<pid_t>(std::stol(name));
    }
  }
  if (unreadable)
    return Status(ErrorCode::kPermission, "a process listens on TCP port " + std::to_string(port) +
                           " but joule may not read every process's file descriptors to find which");
  return NotFound("no process found for the listener on TCP port " + std::to_string(port));
}

}  // namespace joule
