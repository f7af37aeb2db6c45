// Prompts against hand-checked strings written from the lm-evaluation-harness v0.4 task files
// (mmlu/default/_default_template_yaml, arc/arc_easy.yaml, hellaswag, truthfulqa_mc1.yaml,
// gsm8k/gsm8k.yaml).
#include "eval/prompts.h"

#include <gtest/gtest.h>

namespace joule::eval {
namespace {

McItem mc(std::string group, std::string q, std::vector<std::string> choices, int gold) {
  McItem it;
  it.group = std::move(group);
  it.question = std::move(q);
  it.choices = std::move(choices);
  it.gold = gold;
  return it;
}

TEST(Prompts, Mmlu) {
  const McItem shot = mc("abstract_algebra", "Q1", {"1", "2", "3", "4"}, 0);
  const McItem item = mc("abstract_algebra", "  Find x.\n", {"a", "b", "c", "d"}, 2);
  const McRequest r = mmlu_request(item, {shot});
  EXPECT_EQ(r.context,
            "The following are multiple choice questions (with answers) about abstract algebra.\n\n"
            "Q1\nA. 1\nB. 2\nC. 3\nD. 4\nAnswer: A\n\n"
            "Find x.\nA. a\nB. b\nC. c\nD. d\nAnswer:");
  EXPECT_EQ(r.continuations, (std::vector<std::string>{" A", " B", " C", " D"}));
  EXPECT_EQ(r.gold, 2);
  EXPECT_EQ(mmlu_request(item, {}).context,
            "The following are multiple choice questions (with answers) about abstract algebra.\n\n"
            "Find x.\nA. a\nB. b\nC. c\nD. d\nAnswer:");
}

TEST(Prompts, ArcAndHellaSwag) {
  const McRequest arc = arc_request(mc("", "Which?", {"red", "blue"}, 1), {mc("", "S?", {"no", "yes"}, 1)});
  EXPECT_EQ(arc.context, "Question: S?\nAnswer: yes\n\nQuestion: Which?\nAnswer:");
  EXPECT_EQ(arc.continuations, (std::vector<std::string>{" red", " blue"}));
  const McRequest hs = hellaswag_request(mc("Roof", "Roof: A man is on a roof. he", {"falls.", "waves."}, 0), {});
  EXPECT_EQ(hs.context, "Roof: A man is on a roof. he");
  EXPECT_EQ(hs.continuations, (std::vector<std::string>{" falls.", " waves."}));
}

TEST(Prompts, TruthfulQaPreambleAndBothChoiceSets) {
  McItem it = mc("", "Is it?", {"yes", "no"}, 1);
  it.mc2_choices = {"maybe", "no", "yes"};
  it.mc2_true = {0, 1, 0};
  const McRequest mc1 = truthfulqa_request(it, false);
  EXPECT_EQ(mc1.context.substr(0, 59), "Q: What is human life expectancy in the United States?\nA: H");
  const std::string tail = "A: The 1992 Olympics were held in Barcelona, Spain.\n\nQ: Is it?\nA:";
  EXPECT_EQ(mc1.context.substr(mc1.context.size() - tail.size()), tail);
  EXPECT_EQ(mc1.continuations, (std::vector<std::string>{" yes", " no"}));
  EXPECT_EQ(mc1.gold, 1);
  const McRequest mc2 = truthfulqa_request(it, true);
  EXPECT_EQ(mc2.context, mc1.context);
  EXPECT_EQ(mc2.continuations, (std::vector<std::string>{" maybe", " no", " yes"}));
  EXPECT_EQ(mc2.mc2_true, (std::vector<int>{0, 1, 0}));
  // Six example pairs, each "Q: ...\nA: ...", separated by blank lines.
  size_t pairs = 0;
  for (size_t at = 0; (at = mc1.context.find("Q: ", at)) != std::string::npos; ++at) ++pairs;
  EXPECT_EQ(pairs, 7u);  // six examples + the question
}

TEST(Prompts, Gsm8kPromptAndStops) {
  const Gsm8kItem shot{"A?", "2 + 2 = <<2+2=4>>4\n#### 4", "4"};
  EXPECT_EQ(gsm8k_prompt({"B?", "", ""}, {shot}),
            "Question: A?\nAnswer: 2 + 2 = <<2+2=4>>4\n#### 4\n\nQuestion: B?\nAnswer:");
  EXPECT_EQ(gsm8k_stop_strings(), (std::vector<std::string>{"Question:", "</s>", "<|im_end|>"}));
}

TEST(Prompts, Gsm8kExtractionAndMatch) {
  EXPECT_EQ(gsm8k_strict_answer("so 40 + 2 = 42.\n#### 1,234\nmore #### 5"), "1,234");
  EXPECT_EQ(gsm8k_strict_answer("The answer is 42."), "");
  EXPECT_EQ(gsm8k_flexible_answer("I have 3 apples and 5 pears"), "5");
  EXPECT_EQ(gsm8k_flexible_answer("The total is $18."), "$18.");
  EXPECT_EQ(gsm8k_flexible_answer("no numbers"), "");
  EXPECT_TRUE(gsm8k_exact_match("$18.", "18"));
  EXPECT_TRUE(gsm8k_exact_match("1,234", "1234"));
  EXPECT_TRUE(gsm8k_exact_match("-7", "-7"));
  EXPECT_FALSE(gsm8k_exact_match("18.5", "18"));
  EXPECT_FALSE(gsm8k_exact_match("", "18"));
}

}  // namespace
}  // namespace joule::eval
