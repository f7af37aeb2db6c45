#include "quant/policy.h"

#include <gtest/gtest.h>

#include "quant/precision.h"

namespace joule {
namespace {

TEST(GlobMatch, StarMatchesAnyRunIncludingDots) {
  EXPECT_TRUE(glob_match("*", ""));
  EXPECT_TRUE(glob_match("*", "blk.0.attn_q.weight"));
  EXPECT_TRUE(glob_match("blk.*.ffn_down.weight", "blk.12.ffn_down.weight"));
  EXPECT_TRUE(glob_match("blk.*.weight", "blk.1.attn_q.weight"));
  EXPECT_TRUE(glob_match("*_q.*", "blk.1.attn_q.weight"));
  EXPECT_TRUE(glob_match("output.weight", "output.weight"));
  EXPECT_FALSE(glob_match("output.weight", "output.weights"));
  EXPECT_FALSE(glob_match("blk.*.ffn_down.weight", "blk.1.ffn_up.weight"));
  EXPECT_FALSE(glob_match("blk.1*", "blk.21.ffn_up.weight"));
  EXPECT_TRUE(glob_match("a*b*c", "aXbYbZc"));
  EXPECT_FALSE(glob_match("a*b*c", "aXbYbZ"));
}

TEST(Policy, FirstMatchingRuleDecides) {
  auto p = Policy::parse(
      "# mixed\n"
      "blk.*.ffn_down.weight = q8_0   # sensitive\n"
      "\n"
      "output.weight = keep\n"
      "* = int8-dynamic\n",
      "mixed.policy");
  ASSERT_TRUE(p.ok()) << p.status().message();
  EXPECT_EQ(p->rules().size(), 3u);
  EXPECT_EQ(p->rules()[0].line, 2);
  EXPECT_EQ(p->type_for("blk.3.ffn_down.weight", DType::kQ4_1), DType::kQ8_0);
  EXPECT_EQ(p->type_for("output.weight", DType::kQ4_1), DType::kQ4_1);  // keep
  EXPECT_EQ(p->type_for("blk.3.attn_q.weight", DType::kQ4_1), DType::kI8_DYN);
}

TEST(Policy, UnmatchedMatricesKeepTheirType) {
  auto p = Policy::parse("blk.0.* = f16\n", "p");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->type_for("blk.1.attn_q.weight", DType::kQ4_0), DType::kQ4_0);
  EXPECT_EQ(p->match("blk.1.attn_q.weight"), nullptr);
}

TEST(Policy, AcceptsPrecisionAndGgufTypeNames) {
  auto p = Policy::parse("a = int4\nb = i8_dyn\nc = bf16\n", "p");
  ASSERT_TRUE(p.ok()) << p.status().message();
  EXPECT_EQ(p->type_for("a", DType::kF32), DType::kQ4_0);
  EXPECT_EQ(p->type_for("b", DType::kF32), DType::kI8_DYN);
  EXPECT_EQ(p->type_for("c", DType::kF32), DType::kBF16);
}

TEST(Policy, MalformedLinesAreRejectedWithTheirLineNumber) {
  struct Case {
    const char* text;
    const char* message;
  };
  const Case cases[] = {
      {"* = q8_0\nblk.0.attn_q.weight q8_0\n", "bad.policy:2: expected 'PATTERN = PRECISION'"},
      {"a = b = c\n", "bad.policy:1: expected 'PATTERN = PRECISION'"},
      {"\n\n = q8_0\n", "bad.policy:3: the pattern is empty"},
      {"blk 0 = q8_0\n", "bad.policy:1: the pattern 'blk 0' contains a space"},
      {"* = int3\n", "bad.policy:1: unknown precision 'int3'"},
      {"* =\n", "bad.policy:1: unknown precision ''"},
      {"# only a comment\n\n", "bad.policy: the policy has no rules"},
  };
  for (const Case& c : cases) {
    auto p = Policy::parse(c.text, "bad.policy");
    ASSERT_FALSE(p.ok()) << c.text;
    EXPECT_EQ(p.status().code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(p.status().message().find(c.message), std::string::npos) << p.status().message();
  }
}

TEST(Policy, RuleMatchingNoMatrixIsAnError) {
  auto p = Policy::parse("blk.*.ffn_dwn.weight = q8_0\n* = q4_0\n", "typo.policy");
  ASSERT_TRUE(p.ok());
  const Status s = p->check_every_rule_matches({"blk.0.ffn_down.weight", "blk.0.attn_q.weight"});
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("typo.policy:1: rule 'blk.*.ffn_dwn.weight' matches no weight matrix"),
            std::string::npos)
      << s.message();
  EXPECT_TRUE(p->check_every_rule_matches({"blk.0.ffn_dwn.weight"}).ok());
}

TEST(Policy, TextRoundTrips) {
  Policy p;
  p.add("blk.*.ffn_down.weight", DType::kQ8_0);
  p.add("output.weight", std::nullopt);
  p.add("*", DType::kI8_DYN);
  const std::string text = p.to_text();
  EXPECT_EQ(text, "blk.*.ffn_down.weight = q8_0\noutput.weight = keep\n* = int8-dynamic\n");
  auto q = Policy::parse(text, "round");
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q->to_text(), text);
}

TEST(Policy, MissingFileIsNotFound) {
  auto p = Policy::load("/nonexistent/joule.policy");
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), ErrorCode::kNotFound);
}

TEST(Precision, EveryPrecisionNamesItsType) {
  for (const Precision& p : precisions()) {
    auto found = find_precision(p.name);
    ASSERT_TRUE(found) << p.name;
    EXPECT_EQ(found->type, p.type);
    EXPECT_EQ(precision_name(p.type), p.name);
  }
  EXPECT_EQ(find_precision("int4")->type, DType::kQ4_0);
  EXPECT_FALSE(find_precision("int3"));
  EXPECT_FALSE(find_precision("i8_act"));  // an activation format, not a precision
}

// Users bring llama.cpp's spellings: any case, and its presets where they mean a joule type.
TEST(Precision, NamesInAnyCaseAndLlamaCppPresets) {
  EXPECT_EQ(find_precision("Q8_0")->type, DType::kQ8_0);
  EXPECT_EQ(find_precision("F16")->type, DType::kF16);
  EXPECT_EQ(find_precision("INT8-Dynamic")->type, DType::kI8_DYN);
  std::string note;
  EXPECT_EQ(find_precision("Q4_K_M", &note)->type, DType::kQ4_K);
  EXPECT_NE(note.find("Q4_K_M is taken as q4_k"), std::string::npos) << note;
  note.clear();
  EXPECT_EQ(find_precision("q6_k", &note)->type, DType::kQ6_K);
  EXPECT_EQ(note, "");  // an exact name needs no note
  EXPECT_EQ(find_precision("Q5_K_M", &note)->type, DType::kQ5_K);
  EXPECT_NE(note.find("Q5_K_M is taken as q5_k"), std::string::npos) << note;
  EXPECT_EQ(find_precision("Q3_K_L")->type, DType::kQ3_K);
  EXPECT_FALSE(find_precision("IQ4_XS"));  // a type joule does not have
}

}  // namespace
}  // namespace joule
