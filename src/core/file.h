// Whole-file reads and hashes, with the errors every loader reports the same way.
#pragma once

#include <cstddef>
#include <string>

#include "core/status.h"

namespace joule {

// The file's bytes. kNotFound "cannot open <what> <path>" when it cannot be opened (what may be
// empty), kIo when reading fails.
Expected<std::string> read_file(const std::string& path, const std::string& what = "");

// The file's last max_bytes bytes (all of it when shorter), read from there: a log's tail costs
// max_bytes whatever the log has grown to. Errors as read_file's.
Expected<std::string> read_file_tail(const std::string& path, size_t max_bytes, const std::string& what = "");

// The SHA-256 of the file's bytes as 64 lowercase hex digits, read in 1 MiB pieces (a 4 GiB
// model takes seconds, not its size in memory). Errors as read_file's.
Expected<std::string> sha256_file(const std::string& path, const std::string& what = "");

}  // namespace joule
