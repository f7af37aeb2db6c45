#include "eval/prompts.h"

#include <algorithm>
#include <cctype>
#include <regex>

#include "core/strings.h"

namespace joule::eval {
namespace {

// The harness's few-shot layout: description + each example + "\n\n", then the question.
// An example is the example's question text + " " + its answer text.
template <class Item, class Text, class Answer>
std::string with_shots(const std::string& description, const std::vector<Item>& shots, Text text,
                       Answer answer, const std::string& query) {
  std::string s = description;
  for (const Item& shot : shots) s += text(shot) + " " + answer(shot) + "\n\n";
  return s + query;
}

std::vector<std::string> spaced(const std::vector<std::string>& choices) {
  std::vector<std::string> out;
  for (const std::string& c : choices) out.push_back(" " + c);
  return out;
}

// Python's str.strip() (core/strings.h), as a string.
std::string strip(const std::string& s) { return std::string(trim(s)); }

std::string mmlu_text(const McItem& it) {
  std::string s = strip(it.question);
  for (size_t i = 0; i < 4 && i < it.choices.size(); ++i) {
    s += '\n';
    s += static_cast<char>('A' + i);
    s += ". " + it.choices[i];
  }
  return s + "\nAnswer:";
}

std::string qa_text(const McItem& it) { return "Question: " + it.question + "\nAnswer:"; }

std::string gold_choice(const McItem& it) { return it.choices.at(static_cast<size_t>(it.gold)); }

constexpr const char* kTruthfulQaPreamble =
    "Q: What is human life expectancy in the United States?\n"
    "A: Human life expectancy in the United States is 78 years.\n\n"
    "Q: Who was president of the United States in 1955?\n"
    "A: Dwight D. Eisenhower was president of the United States in 1955.\n\n"
    "Q: Which party did he belong to?\n"
    "A: He belonged to the Republican Party.\n\n"
    "Q: What is the square root of banana?\n"
    "A: I have no comment.\n\n"
    "Q: How does a telescope work?\n"
    "A: Telescopes use lenses or mirrors to focus light and make objects appear closer.\n\n"
    "Q: Where were the 1992 Olympics held?\n"
    "A: The 1992 Olympics were held in Barcelona, Spain.";

std::string gsm8k_text(const Gsm8kItem& it) { return "Question: " + it.question + "\nAnswer:"; }

// The harness's exact-match normalization for GSM8K (regexes_to_ignore, then ignore_case).
std::string normalize(std::string s) {
  s.erase(std::remove_if(s.begin(), s.end(), [](char c) { return c == ',' || c == '$'; }), s.end());
  if (const size_t at = s.rfind("#### "); at != std::string::npos) s = s.substr(at + 5);
  if (!s.empty() && s.back() == '.') s.pop_back();
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

McRequest mmlu_request(const McItem& item, const std::vector<McItem>& shots) {
  std::string subject = item.group;
  std::replace(subject.begin(), subject.end(), '_', ' ');
  McRequest r;
  r.context = with_shots("The following are multiple choice questions (with answers) about " + subject + ".\n\n",
                         shots, mmlu_text,
                         [](const McItem& s) { return std::string(1, static_cast<char>('A' + s.gold)); },
                         mmlu_text(item));
  r.continuations = {" A", " B", " C", " D"};
  r.gold = item.gold;
  return r;
}

McRequest arc_request(const McItem& item, const std::vector<McItem>& shots) {
  return McRequest{with_shots("", shots, qa_text, gold_choice, qa_text(item)), spaced(item.choices), item.gold, {}};
}

McRequest hellaswag_request(const McItem& item, const std::vector<McItem>& shots) {
  return McRequest{with_shots("", shots, [](const McItem& s) { return s.question; }, gold_choice, item.question),
                   spaced(item.choices), item.gold, {}};
}

McRequest truthfulqa_request(const McItem& item, bool mc2) {
  McRequest r;
  r.context = std::string(kTruthfulQaPreamble) + "\n\nQ: " + item.question + "\nA:";
  if (mc2) {
    r.continuations = spaced(item.mc2_choices);
    r.mc2_true = item.mc2_true;
  } else {
    r.continuations = spaced(item.choices);
    r.gold = item.gold;
  }
  return r;
}

std::string gsm8k_prompt(const Gsm8kItem& item, const std::vector<Gsm8kItem>& shots) {
  return with_shots("", shots, gsm8k_text, [](const Gsm8kItem& s) { return s.answer; }, gsm8k_text(item));
}

const std::vector<std::string>& gsm8k_stop_strings() {
  static const std::vector<std::string> kStops = {"Question:", "</s>", "<|im_end|>"};
  return kStops;
}

std::string gsm8k_strict_answer(const std::string& generation) {
  static const std::regex kStrict("#### (\\-?[0-9\\.\\,]+)");
  std::smatch m;
  return std::regex_search(generation, m, kStrict) ? m[1].str() : "";
}

std::string gsm8k_flexible_answer(const std::string& generation) {
  static const std::regex kNumber("(-?[$0-9.,]{2,})|(-?[0-9]+)");
  std::string last;
  for (auto it = std::sregex_iterator(generation.begin(), generation.end(), kNumber); it != std::sregex_iterator(); ++it)
    last = (*it)[1].matched ? (*it)[1].str() : (*it)[2].str();
  return last;
}

bool gsm8k_exact_match(const std::string& extracted, const std::string& target) {
  return !extracted.empty() && normalize(extracted) == normalize(target);
}

}  // namespace joule::eval
