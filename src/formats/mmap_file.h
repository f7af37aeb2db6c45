// A read-only memory mapping of a whole file. Model weights are used in place from the mapping, so
// opening a multi-GB model costs page-table setup rather than a copy.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "core/status.h"

namespace joule {

class MappedFile {
 public:
  // kNotFound (missing file), kPermission (unreadable) or kIo (anything else, e.g. a directory);
  // messages name the path and carry the errno text. An empty file maps to size() == 0.
  static Expected<MappedFile> open(const std::string& path);

  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  ~MappedFile();

  const uint8_t* data() const { return data_; }  // nullptr when size() == 0
  size_t size() const { return size_; }
  std::span<const uint8_t> bytes() const { return {data_, size_}; }
  // Drops this process's copies of the whole pages inside [p, p + n) (which must lie in the
  // mapping), so they stop counting as its memory; touched again, they are read back from the
  // page cache. For data copied elsewhere (weights packed at load). Only a hint.
  void release(const uint8_t* p, size_t n) const;

 private:
  MappedFile(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  void unmap();

  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace joule
