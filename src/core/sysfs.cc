#include "core/sysfs.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <regex>

namespace joule {
namespace {

Status errno_status(const std::string& path, int err) {
  if (err == EACCES || err == EPERM) return Status(ErrorCode::kPermission, path + ": permission denied");
  if (err == EROFS) return Status(ErrorCode::kPermission, path + ": read-only file system");
  return IoError(path + ": " + std::strerror(err));
}

}  // namespace

Expected<std::string> read_sysfs_line(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno_status(path, errno);
  char buf[128];
  const ssize_t n = ::read(fd, buf, sizeof(buf) - 1);
  const int err = errno;
  ::close(fd);
  if (n < 0) return errno_status(path, err);
  std::string line(buf, static_cast<size_t>(n));
  if (const size_t nl = line.find('\n'); nl != std::string::npos) line.resize(nl);
  return line;
}

Expected<uint64_t> read_sysfs_u64(const std::string& path) {
  JOULE_ASSIGN_OR_RETURN(std::string s, read_sysfs_line(path));
  char* end = nullptr;
  errno = 0;
  const unsigned long long v = std::strtoull(s.c_str(), &end, 10);
  if (s.empty() || errno != 0 || (end && *end != '\0'))
    return FormatError(path + ": expected an unsigned integer, got '" + s + "'");
  return static_cast<uint64_t>(v);
}

Status write_sysfs(const std::string& path, const std::string& value) {
  // O_TRUNC: sysfs ignores it; the fake trees of the tests are regular files.
  const int fd = ::open(path.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC);
  if (fd < 0) return errno_status(path, errno);
  const ssize_t n = ::write(fd, value.data(), value.size());
  const int err = errno;
  ::close(fd);
  if (n < 0) return errno_status(path, err);
  if (size_t(n) != value.size()) return IoError(path + ": short write");
  return Status::Ok();
}

std::string sysfs_root(const char* env_var, const char* fallback) {
  const char* env = std::getenv(env_var);
  return env && *env ? env : fallback;
}

std::vector<std::string> sysfs_entries(const std::string& dir, const std::string& pattern) {
  const std::regex re(pattern);
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec))
    if (std::regex_match(e.path().filename().string(), re)) out.push_back(e.path().string());
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace joule
