#include "eval/datasets.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace joule::eval {
namespace {

std::string write(const std::string& name, const std::string& text) {
  const std::string path = (std::filesystem::path(::testing::TempDir()) / name).string();
  std::ofstream(path, std::ios::binary) << text;
  return path;
}

void expect_error(const Status& s, const std::string& needle) {
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find(needle), std::string::npos) << s.message();
}

TEST(Csv, QuotesEscapesLineBreaksAndBom) {
  auto rows = parse_csv("\xEF\xBB\xBF" "a,\"b,c\",\"say \"\"hi\"\"\"\r\n\"two\nlines\",,x\n", "t.csv");
  ASSERT_TRUE(rows.ok()) << rows.status().message();
  ASSERT_EQ(rows->size(), 2u);
  EXPECT_EQ((*rows)[0], (std::vector<std::string>{"a", "b,c", "say \"hi\""}));
  EXPECT_EQ((*rows)[1], (std::vector<std::string>{"two\nlines", "", "x"}));
  expect_error(parse_csv("a,\"open\nb\n", "bad.csv").status(), "bad.csv:1: unterminated quoted field");
}

TEST(Mmlu, BothLayouts) {
  const std::string header = write("algebra_dev.csv",
                                   "question,choice0,choice1,choice2,choice3,answer\n"
                                   "\"What is 1+1, roughly?\",1,2,3,4,1\n");
  auto a = load_mmlu_csv(header, "algebra");
  ASSERT_TRUE(a.ok()) << a.status().message();
  ASSERT_EQ(a->size(), 1u);
  EXPECT_EQ((*a)[0].question, "What is 1+1, roughly?");
  EXPECT_EQ((*a)[0].choices[1], "2");
  EXPECT_EQ((*a)[0].gold, 1);
  EXPECT_EQ((*a)[0].group, "algebra");
  const std::string original = write("chem_dev.csv", "Which is an acid?,HCl,H2O,NaCl,KOH,A\n");
  auto b = load_mmlu_csv(original, "chem");
  ASSERT_TRUE(b.ok()) << b.status().message();
  EXPECT_EQ((*b)[0].gold, 0);
  EXPECT_EQ((*b)[0].labels, (std::vector<std::string>{"A", "B", "C", "D"}));
}

TEST(Mmlu, MalformedRowsAreNamed) {
  expect_error(load_mmlu_csv(write("m1.csv", "q,a,b,c,E\n"), "s").status(), "m1.csv: row 1: expected 6 fields");
  expect_error(load_mmlu_csv(write("m2.csv", "q,a,b,c,d,E\n"), "s").status(), "m2.csv: row 1: answer 'E' is not A-D");
  expect_error(load_mmlu_csv(write("m3.csv", "question,choice0,choice1,choice2,choice3,answer\nq,a,b,c,d,B\n"), "s").status(),
               "m3.csv: row 2: answer 'B' is not 0-3 (header form)");
  expect_error(load_mmlu_csv("/nonexistent/x.csv", "s").status(), "cannot open /nonexistent/x.csv");
}

TEST(Arc, BothSchemas) {
  const std::string ai2 = write("arc_ai2.jsonl",
                                R"({"id": "q1", "question": {"stem": "Why?", "choices": [{"text": "a", "label": "A"}, {"text": "b", "label": "B"}, {"text": "c", "label": "C"}]}, "answerKey": "C"})"
                                "\n\n");
  auto a = load_arc_jsonl(ai2);
  ASSERT_TRUE(a.ok()) << a.status().message();
  EXPECT_EQ((*a)[0].id, "q1");
  EXPECT_EQ((*a)[0].question, "Why?");
  EXPECT_EQ((*a)[0].gold, 2);
  const std::string hf = write("arc_hf.jsonl",
                               R"({"id": "q2", "question": "How?", "choices": {"text": ["x", "y", "z", "w", "v"], "label": ["1", "2", "3", "4", "5"]}, "answerKey": "4"})");
  auto b = load_arc_jsonl(hf);
  ASSERT_TRUE(b.ok()) << b.status().message();
  EXPECT_EQ((*b)[0].choices.size(), 5u);
  EXPECT_EQ((*b)[0].gold, 3);
}

TEST(Arc, MalformedLinesAreNamed) {
  expect_error(load_arc_jsonl(write("a1.jsonl", "{\"id\": 1\n")).status(), "a1.jsonl:1: not valid JSON");
  expect_error(load_arc_jsonl(write("a2.jsonl", R"({"id": "x", "question": "q", "choices": {"text": ["a", "b"], "label": ["A", "B"]}, "answerKey": "C"})")).status(),
               "a2.jsonl:1: answerKey 'C' is not one of the labels");
  expect_error(load_arc_jsonl(write("a3.jsonl", R"({"id": "x", "answerKey": "A", "question": 5})")).status(),
               "neither an object (AI2) nor a string");
  expect_error(load_arc_jsonl(write("a4.jsonl", R"({"question": "q"})")).status(), "a4.jsonl:1: missing string field 'id'");
}

TEST(HellaSwag, LlamaCppTextForm) {
  auto a = load_hellaswag(write("hs.txt", "Roof: A man is on a roof. he\n3\na\nb\nc\nd\n"));
  ASSERT_TRUE(a.ok()) << a.status().message();
  ASSERT_EQ(a->size(), 1u);
  EXPECT_EQ((*a)[0].question, "Roof: A man is on a roof. he");
  EXPECT_EQ((*a)[0].group, "Roof");
  EXPECT_EQ((*a)[0].gold, 3);
  expect_error(load_hellaswag(write("hs_bad.txt", "ctx\n3\na\nb\n")).status(), "6 per item");
  expect_error(load_hellaswag(write("hs_bad2.txt", "ctx\n7\na\nb\nc\nd\n")).status(), "hs_bad2.txt:2: gold index '7'");
}

TEST(HellaSwag, OriginalJsonlIsPreprocessedLikeTheHarness) {
  auto a = load_hellaswag(write("hs.jsonl",
                                R"({"ind": 4, "activity_label": "Making a cake", "ctx_a": "She mixes flour.", "ctx_b": "SHE then [header] adds eggs", "endings": ["bakes  it [title] Done", "sings", "x", "y"], "label": 0})"));
  ASSERT_TRUE(a.ok()) << a.status().message();
  EXPECT_EQ((*a)[0].question, "Making a cake: She mixes flour. She then adds eggs");
  EXPECT_EQ((*a)[0].choices[0], "bakes it. Done");
  EXPECT_EQ((*a)[0].id, "4");
  expect_error(load_hellaswag(write("hs_nolabel.jsonl", R"({"activity_label": "a", "ctx_a": "b", "ctx_b": "c", "endings": ["1", "2"], "label": ""})")).status(),
               "'label' is missing or out of range");
}

TEST(TruthfulQa, ChoiceOrderIsTheFileOrder) {
  auto a = load_truthfulqa_mc(write("tqa.json", R"([{"question": "Q?", "mc1_targets": {"zeta": 0, "alpha": 1, "mid": 0},
                                                       "mc2_targets": {"b": 1, "a": 0, "c": 1}}])"));
  ASSERT_TRUE(a.ok()) << a.status().message();
  EXPECT_EQ((*a)[0].choices, (std::vector<std::string>{"zeta", "alpha", "mid"}));
  EXPECT_EQ((*a)[0].gold, 1);
  EXPECT_EQ((*a)[0].mc2_choices, (std::vector<std::string>{"b", "a", "c"}));
  EXPECT_EQ((*a)[0].mc2_true, (std::vector<int>{1, 0, 1}));
  expect_error(load_truthfulqa_mc(write("tqa2.json", R"([{"question": "Q", "mc1_targets": {"a": 1, "b": 1}, "mc2_targets": {"a": 1}}])")).status(),
               "item 0: mc1_targets has more than one true answer");
  expect_error(load_truthfulqa_mc(write("tqa3.json", R"({"question": "Q"})")).status(), "expected a list of questions");
}

TEST(Mmlu, CategoriesMapSubjectsThroughSubcategories) {
  auto c = load_mmlu_categories(write("cat.json", R"({"subcategories": {"algebra": ["math"], "ethics": ["philosophy"]},
                                                     "categories": {"STEM": ["math"], "humanities": ["philosophy"]}})"));
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->at("algebra"), "STEM");
  EXPECT_EQ(c->at("ethics"), "humanities");
  expect_error(load_mmlu_categories(write("cat2.json", R"({"subcategories": {"x": ["nope"]}, "categories": {}})")).status(),
               "subject x's subcategory is in no category");
  expect_error(load_mmlu_categories(write("cat3.json", "[]")).status(), "expected {\"subcategories\"");
}

TEST(Gsm8k, TargetAfterTheHashes) {
  auto a = load_gsm8k_jsonl(write("g.jsonl", R"({"question": "How many?", "answer": "2 + 2 = <<2+2=4>>4\n#### 1,234"})"));
  ASSERT_TRUE(a.ok()) << a.status().message();
  EXPECT_EQ((*a)[0].target, "1234");
  expect_error(load_gsm8k_jsonl(write("g2.jsonl", R"({"question": "q", "answer": "no marker"})")).status(),
               "g2.jsonl:1: the answer has no '#### N' line");
}

// The benchmark data joule ships (data/, see its README): every file loads and the item counts
// are the published ones.
TEST(ShippedData, EveryFileLoadsWithThePublishedCounts) {
  const std::filesystem::path data = std::filesystem::path(JOULE_SOURCE_DIR) / "data";
  auto mmlu_dev = load_mmlu_dir((data / "mmlu").string(), "dev");
  ASSERT_TRUE(mmlu_dev.ok()) << mmlu_dev.status().message();
  EXPECT_EQ(mmlu_dev->size(), 285u);
  auto mmlu_test = load_mmlu_dir((data / "mmlu").string(), "test");
  ASSERT_TRUE(mmlu_test.ok()) << mmlu_test.status().message();
  EXPECT_EQ(mmlu_test->size(), 14042u);
  auto categories = load_mmlu_categories((data / "mmlu/categories.json").string());
  ASSERT_TRUE(categories.ok()) << categories.status().message();
  EXPECT_EQ(categories->size(), 57u);
  EXPECT_EQ(categories->at("abstract_algebra"), "STEM");
  EXPECT_EQ(categories->at("philosophy"), "humanities");
  auto original = load_mmlu_csv((data / "mmlu/original_format_sample/high_school_chemistry_test.csv").string(), "high_school_chemistry");
  ASSERT_TRUE(original.ok()) << original.status().message();
  const struct {
    const char* file;
    size_t n;
  } arc[] = {{"ARC-Easy-Test.jsonl", 2376}, {"ARC-Challenge-Test.jsonl", 1172}, {"hf_schema_ARC-Easy-Dev.jsonl", 570},
             {"hf_schema_ARC-Challenge-Train.jsonl", 1119}};
  for (const auto& [file, n] : arc) {
    auto a = load_arc_jsonl((data / "arc" / file).string());
    ASSERT_TRUE(a.ok()) << a.status().message();
    EXPECT_EQ(a->size(), n) << file;
  }
  auto hs = load_hellaswag((data / "hellaswag/hellaswag_val_full.txt").string());
  ASSERT_TRUE(hs.ok()) << hs.status().message();
  EXPECT_EQ(hs->size(), 10042u);
  auto tqa = load_truthfulqa_mc((data / "truthfulqa/mc_task.v0.json").string());
  ASSERT_TRUE(tqa.ok()) << tqa.status().message();
  EXPECT_EQ(tqa->size(), 817u);
  auto gsm = load_gsm8k_jsonl((data / "gsm8k/test.jsonl").string());
  ASSERT_TRUE(gsm.ok()) << gsm.status().message();
  EXPECT_EQ(gsm->size(), 1319u);
  EXPECT_EQ(gsm->front().target, "18");  // Janet's ducks
}

}  // namespace
}  // namespace joule::eval
