#include "formats/safetensors/safetensors.h"

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace joule::safetensors {
namespace {

// A safetensors file: the 8-byte length, the header text as given, then `data`.
std::vector<uint8_t> file_bytes(const std::string& header, const std::vector<uint8_t>& data) {
  std::vector<uint8_t> out(8 + header.size() + data.size());
  const uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out[size_t(i)] = static_cast<uint8_t>(n >> (8 * i));
  std::memcpy(out.data() + 8, header.data(), header.size());
  if (!data.empty()) std::memcpy(out.data() + 8 + header.size(), data.data(), data.size());
  return out;
}

std::vector<uint8_t> ramp(size_t n) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(i);
  return v;
}

Status open_error(const std::string& header, size_t data_bytes) {
  const std::vector<uint8_t> bytes = file_bytes(header, ramp(data_bytes));
  auto f = File::open_memory("t.safetensors", bytes);
  return f.ok() ? Status::Ok() : f.status();
}

TEST(Safetensors, ReadsTensorsMetadataAndData) {
  const std::string header =
      R"({"__metadata__":{"format":"pt"},"b":{"dtype":"F32","shape":[2],"data_offsets":[12,20]},)"
      R"("a":{"dtype":"BF16","shape":[2,3],"data_offsets":[0,12]},"ids":{"dtype":"I64","shape":[1],"data_offsets":[20,28]}})";
  const std::vector<uint8_t> bytes = file_bytes(header, ramp(28));
  auto f = File::open_memory("t.safetensors", bytes);
  ASSERT_TRUE(f.ok()) << f.status().message();
  ASSERT_EQ(f->tensors().size(), 3u);
  EXPECT_EQ(f->tensors()[0].name, "a");  // in data order
  const TensorInfo* a = f->find("a");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(a->type, DType::kBF16);
  EXPECT_EQ(a->n_elements(), 6);
  EXPECT_EQ(f->data(*a), bytes.data() + 8 + header.size());
  EXPECT_EQ(f->data(*f->find("b"))[0], 12);
  EXPECT_EQ(f->find("b")->type, DType::kF32);
  EXPECT_FALSE(f->find("ids")->type.has_value());  // a dtype joule does not multiply
  EXPECT_EQ(f->metadata().at("format"), "pt");
  EXPECT_EQ(f->find("missing"), nullptr);
}

TEST(Safetensors, OpensAFileOnDisk) {
  const auto path = std::filesystem::temp_directory_path() / "joule_safetensors_test.safetensors";
  const std::vector<uint8_t> bytes =
      file_bytes(R"({"w":{"dtype":"F16","shape":[2,2],"data_offsets":[0,8]}}   )", ramp(8));
  std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
  auto f = File::open(path.string());
  ASSERT_TRUE(f.ok()) << f.status().message();
  EXPECT_EQ(f->find("w")->type, DType::kF16);
  EXPECT_TRUE(f->maps(f->data(*f->find("w")), 8));
  EXPECT_EQ(File::open((path.string() + ".missing")).status().code(), ErrorCode::kNotFound);
  std::filesystem::remove(path);
}

TEST(Safetensors, EmptyTensorsAndScalars) {
  EXPECT_TRUE(open_error(R"({"e":{"dtype":"F32","shape":[0,4],"data_offsets":[0,0]},)"
                         R"("s":{"dtype":"F32","shape":[],"data_offsets":[0,4]}})",
                         4)
                  .ok());
}

// Each malformed header is one clear error naming what is wrong.
TEST(Safetensors, RejectsMalformedFiles) {
  struct Case {
    std::string header;
    size_t data;
    std::string says;
  };
  const Case cases[] = {
      {"[1,2]", 0, "not a JSON object"},
      {"{\"a\":", 0, "not a JSON object"},
      {R"({"a":3})", 0, "not an object"},
      {R"({"a":{"shape":[1],"data_offsets":[0,4]}})", 4, "no \"dtype\""},
      {R"({"a":{"dtype":"F32","data_offsets":[0,4]}})", 4, "no \"shape\""},
      {R"({"a":{"dtype":"F32","shape":[1]}})", 4, "data_offsets"},
      {R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0]}})", 4, "data_offsets"},
      {R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[-4,0]}})", 4, "data_offsets"},
      {R"({"a":{"dtype":"Q4","shape":[1],"data_offsets":[0,4]}})", 4, "unknown dtype 'Q4'"},
      {R"({"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", 4, "non-negative"},
      {R"({"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}})", 4, "non-negative"},
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[4,0]}})", 8, "not a range"},
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 4, "not a range"},
      {R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8, "need 12 bytes"},
      {R"({"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}})", 8, "more elements"},
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
       8, "overlap"},
      {R"({"__metadata__":{"k":1}})", 0, "not a string"},
      {R"({"__metadata__":[]})", 0, "not an object"},
  };
  for (const Case& c : cases) {
    const Status s = open_error(c.header, c.data);
    EXPECT_EQ(s.code(), ErrorCode::kFormat) << c.header;
    EXPECT_NE(s.message().find(c.says), std::string::npos) << c.header << " -> " << s.message();
    EXPECT_EQ(s.message().rfind("t.safetensors: ", 0), 0u) << s.message();
  }
}

TEST(Safetensors, RejectsBadHeaderLengths) {
  const std::vector<uint8_t> short_file = {1, 2, 3};
  EXPECT_NE(File::open_memory("t", short_file).status().message().find("shorter"), std::string::npos);
  std::vector<uint8_t> too_long = file_bytes("{}", {});
  too_long[0] = 200;  // claims 200 header bytes, has 2
  EXPECT_NE(File::open_memory("t", too_long).status().message().find("exceeds the file"), std::string::npos);
  std::vector<uint8_t> huge = file_bytes("{}", {});
  huge[7] = 0xFF;  // 2^63-ish: must not overflow the bound check
  EXPECT_EQ(File::open_memory("t", huge).status().code(), ErrorCode::kFormat);
}

}  // namespace
}  // namespace joule::safetensors
