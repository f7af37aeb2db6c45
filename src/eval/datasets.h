// Loaders for the evaluation data, in the layouts the benchmarks are published in (and those
// users download elsewhere): every loader validates what it reads and names the file and line
// (or item) of anything malformed. The tasks built on them live next to this file.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "core/status.h"

namespace joule::eval {

// One multiple-choice question.
struct McItem {
  std::string id;                   // the file's id, or "<group>/<index>"
  std::string group;                // MMLU subject, HellaSwag activity label, ...
  std::string question;             // the question (HellaSwag: the context)
  std::vector<std::string> choices;
  std::vector<std::string> labels;  // as printed in the file ("A".."E", "1".."5"), or empty
  int gold = -1;                    // index of the correct choice (TruthfulQA: MC1's)
  // TruthfulQA MC2 (the same question, its own choices): 1 for each true one, else 0.
  std::vector<std::string> mc2_choices;
  std::vector<int> mc2_true;
};

struct Gsm8kItem {
  std::string question;
  std::string answer;  // the worked solution, "<<calc>>" notes and the "#### N" line included
  std::string target;  // the number after "####", commas removed
};

// MMLU, one subject: either the original CSV (no header; question, 4 choices, answer A-D) or the
// header form ("question,choice0,...,answer" with answer 0-3). `subject` becomes the group.
Expected<std::vector<McItem>> load_mmlu_csv(const std::string& path, const std::string& subject);
// Every subject of a split in an MMLU folder: DIR/SPLIT/<subject>_SPLIT.csv, sorted by subject.
Expected<std::vector<McItem>> load_mmlu_dir(const std::string& dir, const std::string& split);

// MMLU's categories.json ({"subcategories": {subject: [sub]}, "categories": {category: [sub]}}):
// subject -> its category ("STEM", "humanities", "social sciences", "other (business, health,
// misc.)").
Expected<std::map<std::string, std::string>> load_mmlu_categories(const std::string& path);

// ARC jsonl, either AI2's schema ({"question": {"stem", "choices": [{"text","label"}]}}) or the
// Hugging Face one ({"question": "...", "choices": {"text": [...], "label": [...]}}), per line.
Expected<std::vector<McItem>> load_arc_jsonl(const std::string& path);

// HellaSwag: llama.cpp's text form (6 lines an item: context, gold index, 4 endings; as
// preprocessed, used as they are) when the path ends in .txt, else the original jsonl
// (ind, activity_label, ctx_a, ctx_b, endings, label), preprocessed as lm-evaluation-harness
// does (context = activity_label + ": " + ctx_a + " " + capitalized ctx_b; " [title]" removed,
// "[header]"-style tags dropped, double spaces collapsed).
Expected<std::vector<McItem>> load_hellaswag(const std::string& path);

// TruthfulQA's mc_task.json: a list of {question, mc1_targets, mc2_targets}; the choice order is
// the key order in the file.
Expected<std::vector<McItem>> load_truthfulqa_mc(const std::string& path);

// GSM8K jsonl ({"question", "answer"}); the answer must end with "#### N".
Expected<std::vector<Gsm8kItem>> load_gsm8k_jsonl(const std::string& path);

// RFC 4180 CSV: quoted fields with "" escapes and line breaks, CRLF or LF; a UTF-8 BOM skipped.
Expected<std::vector<std::vector<std::string>>> parse_csv(const std::string& text, const std::string& source);

}  // namespace joule::eval
