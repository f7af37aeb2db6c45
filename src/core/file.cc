#include "core/file.h"

#include <fstream>
#include <sstream>

namespace joule {

Expected<std::string> read_file(const std::string& path, const std::string& what) {
  const std::string named = what.empty() ? path : what + " " + path;
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFound("cannot open " + named);
  std::ostringstream s;
  s << in.rdbuf();
  if (in.bad()) return IoError("cannot read " + named);
  return s.str();
}

}  // namespace joule
