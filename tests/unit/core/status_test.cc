#include "core/status.h"

#include <gtest/gtest.h>

namespace joule {
namespace {

Expected<int> half(int x) {
  if (x % 2) return InvalidArgument("odd: " + std::to_string(x));
  return x / 2;
}

Status quarter(int x, int* out) {
  JOULE_ASSIGN_OR_RETURN(int h, half(x));
  JOULE_ASSIGN_OR_RETURN(*out, half(h));
  return Status::Ok();
}

TEST(Status, ExpectedCarriesValueOrError) {
  EXPECT_EQ(*half(4), 2);
  auto e = half(3);
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(e.status().message(), "odd: 3");
}

TEST(Status, MacrosPropagate) {
  int out = 0;
  EXPECT_TRUE(quarter(8, &out).ok());
  EXPECT_EQ(out, 2);
  Status s = quarter(6, &out);
  EXPECT_EQ(s.message(), "odd: 3");
}

}  // namespace
}  // namespace joule
