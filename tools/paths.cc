#include "paths.h"

#include <cstdlib>
#include <filesystem>
#include <system_error>

namespace joule::cli {
namespace fs = std::filesystem;
namespace {

// True when `p` lies inside folder `dir` (both absolute, normalized).
bool is_inside(const fs::path& p, const fs::path& dir) {
  const fs::path rel = p.lexically_normal().lexically_relative(dir.lexically_normal());
  return !rel.empty() && *rel.begin() != "..";
}

const char* env(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? v : nullptr;
}

std::string looked_in(const std::vector<std::string>& places) {
  std::string s;
  for (const std::string& p : places) s += (s.empty() ? "" : ", ") + p;
  return s.empty() ? "(nowhere: the binary's location is unknown)" : s;
}

}  // namespace

std::string executable_path() {
  std::error_code ec;
  const fs::path p = fs::read_symlink("/proc/self/exe", ec);
  return ec ? std::string() : p.string();
}

std::vector<std::string> home_dirs() {
  std::vector<std::string> homes;
  const fs::path exe = executable_path();
  if (exe.empty()) return homes;
  // Installed: PREFIX/bin/joule -> PREFIX/share/joule (CMake's install data folder).
  homes.push_back((exe.parent_path().parent_path() / JOULE_INSTALL_HOME).lexically_normal().string());
  // Built: <build>/tools/joule -> the source tree it was built from (compiled in by CMake).
  if (is_inside(exe, JOULE_BUILD_DIR)) homes.push_back(JOULE_SOURCE_DIR);
  return homes;
}

Expected<std::string> find_data_dir(const std::string& flag) {
  auto check = [](const std::string& dir, const std::string& how) -> Expected<std::string> {
    if (fs::is_directory(dir)) return dir;
    return NotFound("benchmark data folder " + dir + " (from " + how + ") does not exist; joule ships it in " +
                    "its source tree's data/ and installs it to PREFIX/share/joule/data");
  };
  if (!flag.empty()) return check(flag, "--data");
  if (const char* e = env("JOULE_DATA_DIR")) return check(e, "JOULE_DATA_DIR");
  std::vector<std::string> tried;
  for (const std::string& home : home_dirs()) {
    const std::string dir = (fs::path(home) / "data").string();
    if (fs::is_directory(dir)) return dir;
    tried.push_back(dir);
  }
  return NotFound("benchmark data not found (looked in " + looked_in(tried) +
                  "); pass --data DIR or set JOULE_DATA_DIR to a folder laid out like joule's data/");
}

Expected<std::string> find_default_model() {
  if (const char* e = env("JOULE_MODEL")) {
    if (fs::exists(e)) return std::string(e);
    return NotFound(std::string("model file not found: ") + e + " (from JOULE_MODEL)");
  }
  std::vector<std::string> tried;
  for (const std::string& home : home_dirs()) {
    const std::string path = (fs::path(home) / "models" / kDefaultModelFile).string();
    if (fs::exists(path)) return path;
    tried.push_back(path);
  }
  return NotFound(std::string("the default model ") + kDefaultModelFile + " was not found (looked in " +
                  looked_in(tried) + "); run scripts/setup.sh in joule's source tree to fetch it, or pass " +
                  "-m FILE or set JOULE_MODEL");
}

}  // namespace joule::cli
