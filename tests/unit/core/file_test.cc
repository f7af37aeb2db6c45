// read_file, read_file_tail and sha256_file on small files with known contents and digests.
#include "core/file.h"

#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <unistd.h>

namespace joule {
namespace {

std::string write_temp(const std::string& name, const std::string& bytes) {
  const std::string path = ::testing::TempDir() + name + "." + std::to_string(getpid());
  std::ofstream(path, std::ios::binary) << bytes;
  return path;
}

TEST(File, ReadsBytesAndNamesWhatIsMissing) {
  const std::string path = write_temp("joule_file_read", std::string("a\0b", 3));
  auto got = read_file(path);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(*got, std::string("a\0b", 3));
  auto missing = read_file(path + ".absent", "model");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), ErrorCode::kNotFound);
  EXPECT_NE(missing.status().message().find("cannot open model "), std::string::npos);
}

TEST(File, TailReadsTheLastBytesOnly) {
  const std::string path = write_temp("joule_file_tail", "0123456789");
  EXPECT_EQ(*read_file_tail(path, 4), "6789");
  EXPECT_EQ(*read_file_tail(path, 10), "0123456789");
  EXPECT_EQ(*read_file_tail(path, 100), "0123456789");
  EXPECT_EQ(*read_file_tail(path, 0), "");
  EXPECT_EQ(*read_file_tail(write_temp("joule_file_tail_empty", ""), 4), "");
  EXPECT_EQ(read_file_tail(path + ".absent", 4, "engine log").status().code(), ErrorCode::kNotFound);
}

TEST(File, Sha256MatchesKnownDigests) {
  // FIPS 180-2 examples, and a file of three 1 MiB reads.
  EXPECT_EQ(*sha256_file(write_temp("joule_sha_empty", "")),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(*sha256_file(write_temp("joule_sha_abc", "abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(*sha256_file(write_temp("joule_sha_million", std::string(1000000, 'a'))),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  EXPECT_EQ(*sha256_file(write_temp("joule_sha_3m", std::string(3000000, 'a'))),  // Python's hashlib
            "2a152c894398719c0570f83fac34ac03a0f6e8e474b995c2403aa5434f7b9dd4");
  EXPECT_EQ(sha256_file("/nonexistent/joule.gguf").status().code(), ErrorCode::kNotFound);
}

}  // namespace
}  // namespace joule
