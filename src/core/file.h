// Whole-file reads with the errors every loader reports the same way.
#pragma once

#include <string>

#include "core/status.h"

namespace joule {

// The file's bytes. kNotFound "cannot open <what> <path>" when it cannot be opened (what may be
// empty), kIo when reading fails.
Expected<std::string> read_file(const std::string& path, const std::string& what = "");

}  // namespace joule
