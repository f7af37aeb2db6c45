#include "engine_process.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <thread>

#include "core/file.h"
#include "remote/client.h"

namespace joule::cli {
namespace {

// A port nothing listens on now (the engine binds it a moment later).
Expected<int> free_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return IoError(std::string("socket: ") + std::strerror(errno));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  const bool ok = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
                  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0;
  close(fd);
  if (!ok) return IoError(std::string("cannot find a free port: ") + std::strerror(errno));
  return static_cast<int>(ntohs(addr.sin_port));
}

std::string substitute(std::string text, const std::string& key, const std::string& value) {
  for (size_t at; (at = text.find(key)) != std::string::npos;) text.replace(at, key.size(), value);
  return text;
}

std::string describe(int status) {
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return "killed by signal " + std::to_string(WTERMSIG(status));
  return "ended (wait status " + std::to_string(status) + ")";
}

}  // namespace

Expected<std::unique_ptr<EngineProcess>> EngineProcess::spawn(const study::EngineSpec& spec,
                                                              const std::string& joule_binary,
                                                              const std::string& log_path) {
  JOULE_ASSIGN_OR_RETURN(const int port, free_port());
  std::unique_ptr<EngineProcess> p(new EngineProcess());
  p->spec_ = spec;
  auto fill = [&](const std::string& t) { return substitute(substitute(t, "{port}", std::to_string(port)), "{joule}", joule_binary); };
  p->command_ = fill(spec.start);
  p->url_ = fill(spec.url);
  if (spec.health.empty()) {
    JOULE_ASSIGN_OR_RETURN(auto parts, remote::split_url(p->url_));
    p->health_ = parts.first + "/health";
  } else {
    p->health_ = fill(spec.health);
  }
  p->log_path_ = log_path;
  const int log_fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (log_fd < 0) return IoError("cannot write the engine log " + log_path + ": " + std::strerror(errno));
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) {
    close(log_fd);
    return IoError(std::string("fork: ") + std::strerror(errno));
  }
  if (pid == 0) {
    setpgid(0, 0);                        // its own group: stop() signals everything it started
    prctl(PR_SET_PDEATHSIG, SIGTERM);     // and it does not outlive joule
    if (getppid() != parent) _exit(127);  // joule died before the line above
    dup2(log_fd, STDOUT_FILENO);
    dup2(log_fd, STDERR_FILENO);
    const int null_fd = open("/dev/null", O_RDONLY);
    if (null_fd >= 0) dup2(null_fd, STDIN_FILENO);
    execl("/bin/sh", "sh", "-c", p->command_.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  close(log_fd);
  setpgid(pid, pid);  // also here, so the group exists whichever side runs first
  p->pid_ = pid;
  return p;
}

EngineProcess::~EngineProcess() { stop(); }

std::optional<std::string> EngineProcess::ended() {
  if (!wait_status_ && pid_ > 0) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) wait_status_ = status;
  }
  if (wait_status_) return describe(*wait_status_);
  return std::nullopt;
}

std::string EngineProcess::log_tail() const {
  constexpr size_t kTailBytes = 2000;
  Expected<std::string> log = read_file_tail(log_path_, kTailBytes + 1, "engine log");
  if (!log.ok()) return log.status().message();
  std::string text = std::move(log).value();
  if (text.size() > kTailBytes) text = "..." + text.substr(text.size() - kTailBytes);
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return text;
}

Status EngineProcess::wait_healthy() {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(spec_.health_timeout_s);
  for (;;) {
    if (auto how = ended())
      return IoError("engine " + spec_.name + " " + *how + " before " + health_ + " answered (log " + log_path_ +
                     "):\n" + log_tail());
    if (remote::get_status(health_, 2) == 200) return Status::Ok();
    if (std::chrono::steady_clock::now() > deadline)
      return IoError("engine " + spec_.name + ": " + health_ + " did not answer 200 within " +
                     std::to_string(static_cast<int>(spec_.health_timeout_s)) + " s (log " + log_path_ + ")");
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
}

void EngineProcess::stop() {
  if (pid_ <= 0 || wait_status_) return;
  kill(-pid_, SIGTERM);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(spec_.stop_grace_s);
  while (!ended() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  kill(-pid_, SIGKILL);  // what is left of its group: the engine past its grace, a child that ignored SIGTERM
  if (!ended()) {
    int status = 0;
    if (waitpid(pid_, &status, 0) == pid_) wait_status_ = status;
  }
}

}  // namespace joule::cli
