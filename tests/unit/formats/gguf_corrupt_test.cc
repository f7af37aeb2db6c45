// Malformed GGUF input: every failure must be a clean error naming the file and the item.
#include <gtest/gtest.h>

#include <limits>
#include <string>
#include <vector>

#include "formats/gguf/gguf.h"
#include "test_util.h"

namespace joule {
namespace {

using gguf::File;
using testutil::RawGguf;

constexpr uint32_t kF32 = 0;
constexpr uint32_t kQ4_0 = 2;
constexpr uint32_t kTypeU32 = 4;
constexpr uint32_t kTypeArray = 9;

class GgufCorrupt : public testing::Test {
 protected:
  // Writes `bytes` to a file, opens it, and expects failure with `code` and `substring`.
  void expect_error(const std::vector<uint8_t>& bytes, ErrorCode code, const std::string& substring) {
    const std::string path = dir_.file("bad.gguf");
    testutil::write_bytes(path, bytes);
    auto f = File::open(path);
    ASSERT_FALSE(f.ok()) << "opened a corrupt file; expected: " << substring;
    EXPECT_EQ(f.status().code(), code) << f.status().message();
    EXPECT_EQ(f.status().message().rfind(path + ": ", 0), 0u) << f.status().message();
    EXPECT_NE(f.status().message().find(substring), std::string::npos)
        << "message: " << f.status().message() << "\nexpected substring: " << substring;
  }
  void expect_format_error(const std::vector<uint8_t>& bytes, const std::string& substring) {
    expect_error(bytes, ErrorCode::kFormat, substring);
  }

  testutil::ScopedTempDir dir_;
};

// One tensor "w" of `type` and `dims` at `offset`, with `data_bytes` bytes of data.
std::vector<uint8_t> one_tensor(const std::vector<uint64_t>& dims, uint32_t type, uint64_t offset,
                                size_t data_bytes) {
  return RawGguf(3, 1, 0).tensor("w", dims, type, offset).pad_to(32).zeros(data_bytes).bytes();
}

TEST_F(GgufCorrupt, ValidRawFileOpens) {
  const std::string path = dir_.file("ok.gguf");
  testutil::write_bytes(path, one_tensor({4, 2}, kF32, 0, 32));
  auto f = File::open(path);
  ASSERT_TRUE(f.ok()) << f.status().message();
  EXPECT_EQ(f->tensors().at(0).nbytes, 32u);
}

TEST_F(GgufCorrupt, EveryTruncationFailsCleanly) {
  gguf::Writer w;
  w.set_string("general.architecture", "llama");
  w.set_string_array("tokenizer.ggml.tokens", {"a", "bc", "🙂"});
  w.set_f32_array("scores", {1, 2, 3});
  const std::vector<uint8_t> data(64, 0x5A);
  ASSERT_TRUE(w.add_tensor("a", DType::kF32, {4, 2}, data.data(), 32).ok());
  ASSERT_TRUE(w.add_tensor("b", DType::kQ8_0, {32}, data.data(), 34).ok());
  const std::string path = dir_.file("full.gguf");
  ASSERT_TRUE(w.write(path).ok());
  const std::vector<uint8_t> full = testutil::read_bytes(path);

  auto whole = File::open(path);
  ASSERT_TRUE(whole.ok()) << whole.status().message();
  const gguf::TensorInfo& last = whole->tensors().back();
  const size_t data_end = whole->data_offset() + last.offset + last.nbytes;
  ASSERT_LE(data_end, full.size());

  for (size_t len = 0; len < data_end; ++len) {
    // An exact-size heap copy, so ASan would flag any read past the end.
    const std::vector<uint8_t> prefix(full.begin(), full.begin() + len);
    auto f = File::open_memory("prefix", prefix);
    ASSERT_FALSE(f.ok()) << "prefix of " << len << " bytes opened";
    ASSERT_EQ(f.status().code(), ErrorCode::kFormat) << f.status().message();
    const std::string& msg = f.status().message();
    ASSERT_EQ(msg.rfind("prefix: ", 0), 0u) << msg;
    const char* expected = len < whole->data_offset() ? "truncated" : "exceeds the data section";
    ASSERT_NE(msg.find(expected), std::string::npos) << len << ": " << msg;
  }
}

TEST_F(GgufCorrupt, BadMagic) {
  std::vector<uint8_t> bytes = RawGguf(3, 0, 0).bytes();
  bytes[3] = 'X';
  expect_format_error(bytes, "not a GGUF file (bad magic)");
}

TEST_F(GgufCorrupt, EmptyFile) { expect_format_error({}, "truncated"); }

TEST_F(GgufCorrupt, UnsupportedVersions) {
  expect_error(RawGguf(1, 0, 0).bytes(), ErrorCode::kUnsupported, "unsupported GGUF version 1");
  expect_format_error(RawGguf(99, 0, 0).bytes(), "unsupported GGUF version 99");
  expect_format_error(RawGguf(0, 0, 0).bytes(), "unsupported GGUF version 0");
  expect_error(RawGguf(0x03000000, 0, 0).bytes(), ErrorCode::kUnsupported, "big-endian");
}

TEST_F(GgufCorrupt, HugeCounts) {
  expect_format_error(RawGguf(3, 0, std::numeric_limits<uint64_t>::max()).bytes(), "kv count");
  expect_format_error(RawGguf(3, uint64_t{1} << 62, 0).bytes(), "tensor count");
  // Each count alone fits the bytes, both together do not.
  expect_format_error(RawGguf(3, 1, 3).zeros(39 + 31).bytes(), "tensor count");
}

TEST_F(GgufCorrupt, HugeStringLength) {
  expect_format_error(RawGguf(3, 0, 1).u64(uint64_t{1} << 60).zeros(16).bytes(),
                      "metadata entry #0: truncated: key needs 1152921504606846976 bytes");
  expect_format_error(RawGguf(3, 0, 1).str("k").u32(8).u64(~uint64_t{0}).bytes(),
                      "metadata key 'k': truncated: string needs");
}

TEST_F(GgufCorrupt, HugeArrayCount) {
  expect_format_error(
      RawGguf(3, 0, 1).str("a").u32(kTypeArray).u32(kTypeU32).u64(uint64_t{1} << 61).zeros(64).bytes(),
      "metadata key 'a': truncated: array of 2305843009213693952 u32");
}

TEST_F(GgufCorrupt, ArraysNestedTooDeep) {
  RawGguf raw(3, 0, 1);
  raw.str("deep").u32(kTypeArray);
  for (int i = 0; i < 3; ++i) raw.u32(kTypeArray).u64(1);
  raw.u32(kTypeU32).u64(1).u32(7);
  expect_format_error(raw.bytes(), "nested more than 2 deep");
}

TEST_F(GgufCorrupt, BadValues) {
  expect_format_error(RawGguf(3, 0, 1).str("k").u32(13).zeros(8).bytes(), "unknown value type 13");
  expect_format_error(RawGguf(3, 0, 1).str("b").u32(7).u8(2).bytes(), "bool value 2");
  expect_format_error(RawGguf(3, 0, 2).kv_u32("k", 1).kv_u32("k", 2).bytes(),
                      "duplicate metadata key 'k'");
}

TEST_F(GgufCorrupt, BadAlignment) {
  expect_format_error(RawGguf(3, 0, 1).kv_u32("general.alignment", 48).bytes(),
                      "general.alignment 48 is not a nonzero power of two");
  expect_format_error(RawGguf(3, 0, 1).kv_u32("general.alignment", 0).bytes(),
                      "not a nonzero power of two");
  expect_format_error(RawGguf(3, 0, 1).str("general.alignment").u32(8).str("32").bytes(),
                      "general.alignment has type string, expected u32");
}

TEST_F(GgufCorrupt, BadTensorShapes) {
  expect_format_error(one_tensor({1, 1, 1, 1, 1}, kF32, 0, 32), "tensor 'w': n_dims 5 is outside 1..4");
  expect_format_error(one_tensor({}, kF32, 0, 32), "n_dims 0");
  expect_format_error(one_tensor({4, 0}, kF32, 0, 32), "dimension 1 is 0");
  expect_format_error(one_tensor({~uint64_t{0}}, kF32, 0, 32), "more than 2^63-1");
  expect_format_error(one_tensor({uint64_t{1} << 40, uint64_t{1} << 40}, kF32, 0, 32), "overflows");
  expect_format_error(one_tensor({uint64_t{1} << 62}, kF32, 0, 32), "overflows");  // bytes only
  expect_format_error(one_tensor({4}, 99, 0, 32), "tensor 'w': unknown tensor type 99");
  // A ggml type joule does not load is named, and is kUnsupported rather than a corrupt file.
  expect_error(one_tensor({256}, 16, 0, 32), ErrorCode::kUnsupported, "tensor 'w': IQ2_XXS (type 16) is not supported yet");
  expect_format_error(one_tensor({33}, kQ4_0, 0, 32),
                      "row length 33 is not a multiple of the q4_0 block size 32");
}

TEST_F(GgufCorrupt, BadTensorPlacement) {
  expect_format_error(one_tensor({4}, kF32, 8, 64),
                      "tensor 'w' offset 8 is not a multiple of the alignment 32");
  expect_format_error(one_tensor({8}, kF32, 0, 16),
                      "tensor 'w' data [offset 0, 32 bytes] exceeds the data section (16 bytes)");
  expect_format_error(one_tensor({8}, kF32, uint64_t{1} << 63, 64), "exceeds the data section");
  // The infos end mid-padding: the data section would start past the end of the file.
  expect_format_error(RawGguf(3, 1, 0).tensor("w", {8}, kF32, 0).bytes(),
                      "truncated: the data section starts at offset 64");
}

TEST_F(GgufCorrupt, DuplicateTensorName) {
  expect_format_error(RawGguf(3, 2, 0)
                          .tensor("w", {8}, kF32, 0)
                          .tensor("w", {8}, kF32, 32)
                          .pad_to(32)
                          .zeros(64)
                          .bytes(),
                      "duplicate tensor name 'w'");
}

TEST_F(GgufCorrupt, MissingFile) {
  const std::string path = dir_.file("absent.gguf");
  auto f = File::open(path);
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.status().code(), ErrorCode::kNotFound);
  EXPECT_NE(f.status().message().find(path), std::string::npos) << f.status().message();
}

}  // namespace
}  // namespace joule
