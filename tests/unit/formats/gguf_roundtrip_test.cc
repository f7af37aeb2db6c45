// Writer -> File round trips: every value type, tensors of several types, alignments, getters.
#include <gtest/gtest.h>

#include <cstring>
#include <limits>
#include <numeric>
#include <string>
#include <type_traits>
#include <variant>
#include <vector>

#include "formats/gguf/gguf.h"
#include "test_util.h"

namespace joule {
namespace {

using gguf::File;
using gguf::Value;
using gguf::ValueType;
using gguf::Writer;

Value scalar(ValueType t, uint64_t x) { return {t, x}; }
Value scalar(ValueType t, int64_t x) { return {t, x}; }
Value real(ValueType t, double x) { return {t, x}; }
Value str(std::string s) { return {ValueType::kString, std::move(s)}; }
Value array(ValueType elem, std::vector<Value> items) {
  return {ValueType::kArray, Value::Array{elem, std::move(items)}};
}

void expect_same(const Value& a, const Value& b, const std::string& where) {
  ASSERT_EQ(a.type, b.type) << where;
  ASSERT_EQ(a.v.index(), b.v.index()) << where;
  if (const auto* arr = std::get_if<Value::Array>(&a.v)) {
    const auto& brr = std::get<Value::Array>(b.v);
    ASSERT_EQ(arr->elem_type, brr.elem_type) << where;
    ASSERT_EQ(arr->items.size(), brr.items.size()) << where;
    for (size_t i = 0; i < arr->items.size(); ++i) {
      expect_same(arr->items[i], brr.items[i], where + "[" + std::to_string(i) + "]");
    }
    return;
  }
  const bool same = std::visit(
      [&](const auto& x) {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, Value::Array>) {
          return false;  // handled above
        } else {
          return x == std::get<T>(b.v);
        }
      },
      a.v);
  EXPECT_TRUE(same) << where << ": " << a.render() << " vs " << b.render();
}

File write_and_open(const Writer& w, const std::string& path) {
  Status s = w.write(path);
  EXPECT_TRUE(s.ok()) << s.message();
  auto f = File::open(path);
  if (!f.ok()) {
    ADD_FAILURE() << f.status().message();
    std::abort();
  }
  return std::move(f).value();
}

std::vector<uint8_t> pattern(size_t n, uint8_t seed) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(seed + i * 31);
  return v;
}

TEST(GgufRoundTrip, EveryValueType) {
  testutil::ScopedTempDir dir;
  const std::vector<gguf::KeyValue> kvs = {
      {"t.u8", scalar(ValueType::kU8, uint64_t{255})},
      {"t.i8", scalar(ValueType::kI8, int64_t{-128})},
      {"t.u16", scalar(ValueType::kU16, uint64_t{65535})},
      {"t.i16", scalar(ValueType::kI16, int64_t{-32768})},
      {"t.u32", scalar(ValueType::kU32, uint64_t{4000000000u})},
      {"t.i32", scalar(ValueType::kI32, int64_t{-2000000000})},
      {"t.u64", scalar(ValueType::kU64, std::numeric_limits<uint64_t>::max())},
      {"t.i64", scalar(ValueType::kI64, std::numeric_limits<int64_t>::min())},
      {"t.f32", real(ValueType::kF32, 1.5)},
      {"t.f64", real(ValueType::kF64, 0.1)},
      {"t.bool", {ValueType::kBool, true}},
      {"t.string", str("héllo wörld — 日本語 🙂")},
      {"t.empty_string", str("")},
      {"t.u8s", array(ValueType::kU8, {scalar(ValueType::kU8, uint64_t{0}),
                                       scalar(ValueType::kU8, uint64_t{7})})},
      {"t.strings", array(ValueType::kString, {str("Ġthe"), str(""), str("\n"), str("🙂")})},
      {"t.nested", array(ValueType::kArray,
                         {array(ValueType::kI32, {scalar(ValueType::kI32, int64_t{-1})}),
                          array(ValueType::kString, {str("a b")})})},
      {"t.empty_array", array(ValueType::kF64, {})},
  };
  Writer w;
  for (const auto& kv : kvs) w.set(kv.key, kv.value);
  const File f = write_and_open(w, dir.file("values.gguf"));

  EXPECT_EQ(f.version(), 3u);
  ASSERT_EQ(f.metadata().size(), kvs.size());
  for (size_t i = 0; i < kvs.size(); ++i) {
    EXPECT_EQ(f.metadata()[i].key, kvs[i].key);
    expect_same(f.metadata()[i].value, kvs[i].value, kvs[i].key);
  }
  EXPECT_TRUE(f.tensors().empty());
  EXPECT_EQ(f.find("t.missing"), nullptr);
  ASSERT_NE(f.find("t.bool"), nullptr);
}

TEST(GgufRoundTrip, TypedGetters) {
  testutil::ScopedTempDir dir;
  Writer w;
  w.set_string("name", "SmolLM2");
  w.set_u32("n", 30);
  w.set_i32("neg", -5);
  w.set_f32("eps", 1e-5f);
  w.set_bool("flag", true);
  w.set("big", scalar(ValueType::kU64, std::numeric_limits<uint64_t>::max()));
  w.set_string_array("tokens", {"a", "Ġb", "日本"});
  w.set_f32_array("scores", {0.5f, -1.25f});
  w.set_i32_array("types", {1, 2, 3});
  w.set("u32s", array(ValueType::kU32, {scalar(ValueType::kU32, uint64_t{4000000000u})}));
  const File f = write_and_open(w, dir.file("getters.gguf"));

  EXPECT_EQ(*f.get_string("name"), "SmolLM2");
  EXPECT_EQ(*f.get_int("n"), 30);
  EXPECT_EQ(*f.get_int("neg"), -5);
  EXPECT_FLOAT_EQ(static_cast<float>(*f.get_float("eps")), 1e-5f);
  EXPECT_DOUBLE_EQ(*f.get_float("n"), 30.0);  // integers are accepted as floats
  EXPECT_TRUE(*f.get_bool("flag"));
  EXPECT_EQ(*f.get_string_array("tokens"), (std::vector<std::string>{"a", "Ġb", "日本"}));
  EXPECT_EQ(*f.get_f32_array("scores"), (std::vector<float>{0.5f, -1.25f}));
  EXPECT_EQ(*f.get_f32_array("types"), (std::vector<float>{1, 2, 3}));
  EXPECT_EQ(*f.get_i32_array("types"), (std::vector<int32_t>{1, 2, 3}));

  EXPECT_EQ(*f.get_int_or("absent", 7), 7);
  EXPECT_EQ(*f.get_int_or("n", 7), 30);
  EXPECT_DOUBLE_EQ(*f.get_float_or("absent", 2.5), 2.5);
  EXPECT_FALSE(*f.get_bool_or("absent", false));

  auto missing = f.get_string("absent");
  EXPECT_EQ(missing.status().code(), ErrorCode::kNotFound);
  EXPECT_NE(missing.status().message().find("'absent'"), std::string::npos);
  EXPECT_EQ(f.get_int("name").status().code(), ErrorCode::kFormat);
  EXPECT_NE(f.get_int("name").status().message().find("has type string"), std::string::npos);
  EXPECT_EQ(f.get_int("big").status().code(), ErrorCode::kFormat);       // > INT64_MAX
  EXPECT_EQ(f.get_bool("n").status().code(), ErrorCode::kFormat);
  EXPECT_EQ(f.get_string("tokens").status().code(), ErrorCode::kFormat);
  EXPECT_EQ(f.get_string_array("scores").status().code(), ErrorCode::kFormat);
  EXPECT_EQ(f.get_i32_array("scores").status().code(), ErrorCode::kFormat);  // floats
  EXPECT_EQ(f.get_i32_array("u32s").status().code(), ErrorCode::kFormat);    // out of range
  EXPECT_EQ(f.get_int_or("name", 1).status().code(), ErrorCode::kFormat);   // present, wrong type
}

struct TensorCase {
  const char* name;
  DType type;
  std::vector<int64_t> dims;
};

void round_trip_tensors(size_t alignment) {
  testutil::ScopedTempDir dir;
  const std::vector<TensorCase> cases = {
      {"f32", DType::kF32, {8, 3}},
      {"f16", DType::kF16, {16, 2, 1}},
      {"q8_0", DType::kQ8_0, {64, 2}},
      {"q4_0", DType::kQ4_0, {32, 3}},
      {"q4_1", DType::kQ4_1, {64, 1, 2, 1}},
      {"q5_0", DType::kQ5_0, {32, 2}},
      {"q5_1", DType::kQ5_1, {64, 3}},
      {"q2_k", DType::kQ2_K, {256, 2}},
      {"q3_k", DType::kQ3_K, {512, 1}},
      {"q5_k", DType::kQ5_K, {256, 3}},
  };
  Writer w(3, alignment);
  w.set_string("general.architecture", "test");
  std::vector<std::vector<uint8_t>> data;
  for (size_t i = 0; i < cases.size(); ++i) {
    const auto& c = cases[i];
    const int64_t rows = std::accumulate(c.dims.begin() + 1, c.dims.end(), int64_t{1},
                                         std::multiplies<>());
    data.push_back(pattern(row_bytes(c.type, c.dims[0]) * rows, static_cast<uint8_t>(i)));
    Status s = w.add_tensor(c.name, c.type, c.dims, data.back().data(), data.back().size());
    ASSERT_TRUE(s.ok()) << s.message();
  }
  const File f = write_and_open(w, dir.file("tensors.gguf"));

  EXPECT_EQ(f.alignment(), alignment);
  EXPECT_EQ(f.data_offset() % alignment, 0u);
  // general.alignment is written only when it differs from the default.
  EXPECT_EQ(f.find("general.alignment") != nullptr, alignment != 32);
  ASSERT_EQ(f.tensors().size(), cases.size());
  for (size_t i = 0; i < cases.size(); ++i) {
    const gguf::TensorInfo* t = f.find_tensor(cases[i].name);
    ASSERT_NE(t, nullptr) << cases[i].name;
    EXPECT_EQ(t, &f.tensors()[i]);
    EXPECT_EQ(t->type, cases[i].type);
    EXPECT_EQ(t->dims, cases[i].dims);
    EXPECT_EQ(t->nbytes, data[i].size());
    EXPECT_EQ(t->offset % alignment, 0u);
    EXPECT_EQ(t->n_rows() * t->dims[0], t->n_elements());
    EXPECT_EQ(reinterpret_cast<uintptr_t>(f.tensor_data(*t)) % std::min<size_t>(alignment, 4096),
              0u);
    EXPECT_EQ(std::memcmp(f.tensor_data(*t), data[i].data(), data[i].size()), 0) << cases[i].name;
  }
  EXPECT_EQ(f.find_tensor("nope"), nullptr);
}

TEST(GgufRoundTrip, TensorsDefaultAlignment) { round_trip_tensors(32); }
TEST(GgufRoundTrip, TensorsAlignment64) { round_trip_tensors(64); }
TEST(GgufRoundTrip, TensorsAlignment4096) { round_trip_tensors(4096); }
TEST(GgufRoundTrip, TensorsAlignment1) { round_trip_tensors(1); }

TEST(GgufRoundTrip, Version2) {
  testutil::ScopedTempDir dir;
  Writer w(2);
  w.set_u32("x", 1);
  const File f = write_and_open(w, dir.file("v2.gguf"));
  EXPECT_EQ(f.version(), 2u);
  EXPECT_EQ(*f.get_int("x"), 1);
}

TEST(GgufWriter, SetReplacesInPlace) {
  testutil::ScopedTempDir dir;
  Writer w;
  w.set_u32("a", 1);
  w.set_u32("b", 2);
  w.set_string("a", "again");
  const File f = write_and_open(w, dir.file("replace.gguf"));
  ASSERT_EQ(f.metadata().size(), 2u);
  EXPECT_EQ(f.metadata()[0].key, "a");
  EXPECT_EQ(*f.get_string("a"), "again");
}

TEST(GgufWriter, CopyMetadataSkipsAlignment) {
  testutil::ScopedTempDir dir;
  Writer src(3, 64);
  src.set_string("general.architecture", "llama");
  src.set_u32("llama.block_count", 30);
  const File a = write_and_open(src, dir.file("a.gguf"));
  ASSERT_NE(a.find("general.alignment"), nullptr);

  Writer copy;
  copy.copy_metadata_from(a);
  const File b = write_and_open(copy, dir.file("b.gguf"));
  ASSERT_EQ(b.metadata().size(), 2u);
  EXPECT_EQ(b.metadata()[0].key, "general.architecture");
  EXPECT_EQ(b.metadata()[1].key, "llama.block_count");
  EXPECT_EQ(b.alignment(), 32u);
}

TEST(GgufWriter, RejectsInvalidInput) {
  testutil::ScopedTempDir dir;
  const std::vector<uint8_t> data(1024);
  Writer w;
  EXPECT_EQ(w.add_tensor("short", DType::kF32, {8}, data.data(), 31).code(),
            ErrorCode::kInvalidArgument);
  Status s = w.add_tensor("odd_row", DType::kQ4_0, {33}, data.data(), 18);
  EXPECT_EQ(s.code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(s.message().find("block size 32"), std::string::npos) << s.message();
  EXPECT_EQ(w.add_tensor("five_dims", DType::kF32, {1, 1, 1, 1, 1}, data.data(), 4).code(),
            ErrorCode::kInvalidArgument);
  ASSERT_TRUE(w.add_tensor("ok", DType::kF32, {2}, data.data(), 8).ok());
  EXPECT_EQ(w.add_tensor("ok", DType::kF32, {2}, data.data(), 8).code(),
            ErrorCode::kInvalidArgument);

  Writer bad_value;
  bad_value.set("x", {ValueType::kU8, uint64_t{256}});
  EXPECT_EQ(bad_value.write(dir.file("x.gguf")).code(), ErrorCode::kInvalidArgument);
  Writer bad_variant;
  bad_variant.set("x", {ValueType::kU32, std::string("not a number")});
  EXPECT_EQ(bad_variant.write(dir.file("x.gguf")).code(), ErrorCode::kInvalidArgument);
  Writer bad_alignment(3, 48);
  EXPECT_EQ(bad_alignment.write(dir.file("x.gguf")).code(), ErrorCode::kInvalidArgument);
  EXPECT_FALSE(std::filesystem::exists(dir.file("x.gguf")));
}

TEST(GgufWriter, UnwritablePathIsIoError) {
  testutil::ScopedTempDir dir;
  const std::string path = dir.file("no/such/dir/out.gguf");
  Status s = Writer().write(path);
  EXPECT_EQ(s.code(), ErrorCode::kIo);
  EXPECT_NE(s.message().find(path), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("No such file"), std::string::npos) << s.message();
}

TEST(GgufValue, Render) {
  EXPECT_EQ(str("llama").render(), "\"llama\"");
  EXPECT_EQ(scalar(ValueType::kU32, uint64_t{30}).render(), "30");
  EXPECT_EQ(scalar(ValueType::kI32, int64_t{-1}).render(), "-1");
  EXPECT_EQ(real(ValueType::kF32, 100000.0).render(), "1e+05");
  EXPECT_EQ(real(ValueType::kF32, static_cast<double>(1e-5f)).render(), "1e-05");
  EXPECT_EQ(real(ValueType::kF64, 0.1).render(), "0.1");
  EXPECT_EQ(Value({ValueType::kBool, false}).render(), "false");
  EXPECT_EQ(str("a\nb\"c").render(), "\"a\\nb\\\"c\"");

  EXPECT_EQ(array(ValueType::kI32, {scalar(ValueType::kI32, int64_t{1}),
                                    scalar(ValueType::kI32, int64_t{2})})
                .render(),
            "[1, 2]");
  std::vector<Value> many(49152, str("token"));
  EXPECT_EQ(array(ValueType::kString, std::move(many)).render(), "[49152 x string]");

  // Long strings are cut to max_chars, never inside a UTF-8 sequence.
  const std::string long_text = "ééééééééééééééééééééééééééééééééééééééééé";
  for (size_t max_chars = 6; max_chars < 40; ++max_chars) {
    const std::string r = str(long_text).render(max_chars);
    EXPECT_LE(r.size(), max_chars);
    EXPECT_EQ(r.substr(r.size() - 4), "...\"");
    EXPECT_EQ((r.size() - 5) % 2, 0u) << r;  // whole two-byte characters only
  }
}

}  // namespace
}  // namespace joule
