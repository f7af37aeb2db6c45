// Prompts of the five tasks as lm-evaluation-harness v0.4 writes them (docs/tasks.md has the
// reasoning and the harness files they follow). A multiple-choice item becomes one context and
// one continuation per choice, scored by log-likelihood; GSM8K becomes a prompt to generate from.
#pragma once

#include <string>
#include <vector>

#include "eval/datasets.h"

namespace joule::eval {

struct McRequest {
  std::string context;                     // few-shot examples, then the question
  std::vector<std::string> continuations;  // " " + choice (the harness's target delimiter)
  int gold = -1;
  std::vector<int> mc2_true;               // TruthfulQA MC2 only
};

// MMLU: the subject's description line, the shots (first five of the subject's dev split),
// then "question\nA. ..\nB. ..\nC. ..\nD. ..\nAnswer:"; continuations " A" .. " D".
McRequest mmlu_request(const McItem& item, const std::vector<McItem>& shots);
// ARC: "Question: {question}\nAnswer:", continuations " {choice text}".
McRequest arc_request(const McItem& item, const std::vector<McItem>& shots);
// HellaSwag: the (preprocessed) context, continuations " {ending}".
McRequest hellaswag_request(const McItem& item, const std::vector<McItem>& shots);
// TruthfulQA, 0-shot after the harness's six-question QA preamble: "...\n\nQ: {question}\nA:",
// continuations " {answer}"; mc2 = false gives MC1's choices, true MC2's.
McRequest truthfulqa_request(const McItem& item, bool mc2);

// GSM8K: shots "Question: {q}\nAnswer: {worked answer}" joined by blank lines, then
// "Question: {q}\nAnswer:"; generation stops at any of gsm8k_stop_strings().
std::string gsm8k_prompt(const Gsm8kItem& item, const std::vector<Gsm8kItem>& shots);
const std::vector<std::string>& gsm8k_stop_strings();
// The harness's two answer filters: "strict" takes the first "#### N", "flexible" the last
// number in the text; empty when there is none.
std::string gsm8k_strict_answer(const std::string& generation);
std::string gsm8k_flexible_answer(const std::string& generation);
// Exact match after the harness's normalization of both sides (case, ",", "$", everything up
// to "#### ", a final ".").
bool gsm8k_exact_match(const std::string& extracted, const std::string& target);

}  // namespace joule::eval
