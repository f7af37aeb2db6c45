// Small sysfs files (powercap, cpufreq, hwmon, thermal): one line read or written with POSIX
// calls, so errno says why it failed and a permission problem is kPermission, not an I/O error.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"

namespace joule {

// The first line, without its newline.
Expected<std::string> read_sysfs_line(const std::string& path);
// The first line as an unsigned decimal integer; kFormat otherwise.
Expected<uint64_t> read_sysfs_u64(const std::string& path);
// Writes `value` (a sysfs attribute takes one write).
Status write_sysfs(const std::string& path, const std::string& value);

// The directory named by the environment variable when it is set and not empty (tests point it
// at a fake tree), else `fallback`.
std::string sysfs_root(const char* env_var, const char* fallback);
// Paths of the entries of `dir` whose names match the regular expression `pattern` (whole name),
// sorted; none when `dir` cannot be listed.
std::vector<std::string> sysfs_entries(const std::string& dir, const std::string& pattern);

}  // namespace joule
