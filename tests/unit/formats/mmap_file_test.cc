#include "formats/mmap_file.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "test_util.h"

namespace joule {
namespace {

TEST(MappedFile, MapsContents) {
  testutil::ScopedTempDir dir;
  const std::string path = dir.file("data.bin");
  const std::vector<uint8_t> bytes = {1, 2, 3, 250};
  testutil::write_bytes(path, bytes);

  auto m = MappedFile::open(path);
  ASSERT_TRUE(m.ok()) << m.status().message();
  ASSERT_EQ(m->size(), bytes.size());
  EXPECT_EQ(std::vector<uint8_t>(m->data(), m->data() + m->size()), bytes);

  MappedFile moved = std::move(m).value();  // the mapping moves, the bytes stay where they are
  EXPECT_EQ(moved.size(), bytes.size());
  EXPECT_EQ(moved.data()[3], 250);
}

TEST(MappedFile, EmptyFile) {
  testutil::ScopedTempDir dir;
  const std::string path = dir.file("empty.bin");
  testutil::write_bytes(path, {});
  auto m = MappedFile::open(path);
  ASSERT_TRUE(m.ok()) << m.status().message();
  EXPECT_EQ(m->size(), 0u);
  EXPECT_TRUE(m->bytes().empty());
}

TEST(MappedFile, MissingFileIsNotFound) {
  testutil::ScopedTempDir dir;
  const std::string path = dir.file("absent.bin");
  auto m = MappedFile::open(path);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), ErrorCode::kNotFound);
  EXPECT_EQ(m.status().message(), path + ": cannot open: No such file or directory");
}

TEST(MappedFile, DirectoryIsIoError) {
  testutil::ScopedTempDir dir;
  const std::string path = dir.file("");
  auto m = MappedFile::open(path);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), ErrorCode::kIo);
  EXPECT_NE(m.status().message().find("not a regular file"), std::string::npos);
}

TEST(MappedFile, UnreadableFileIsPermission) {
  if (::geteuid() == 0) GTEST_SKIP() << "root can read anything";
  testutil::ScopedTempDir dir;
  const std::string path = dir.file("secret.bin");
  testutil::write_bytes(path, {1});
  std::filesystem::permissions(path, std::filesystem::perms::none);
  auto m = MappedFile::open(path);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), ErrorCode::kPermission);
  EXPECT_NE(m.status().message().find(path), std::string::npos);
}

}  // namespace
}  // namespace joule
