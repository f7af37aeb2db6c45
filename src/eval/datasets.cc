#include "eval/datasets.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/file.h"
#include "core/strings.h"

namespace joule::eval {
namespace {

// Lines without their terminator (LF or CRLF); a last line without one counts.
std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    lines.push_back(std::move(line));
  }
  return lines;
}

// Python's str.strip() (core/strings.h), as a string.
std::string strip(const std::string& s) { return std::string(trim(s)); }

// The non-empty lines of a jsonl file, parsed; errors name the file and line.
template <class Fn>
Status for_each_json_line(const std::string& path, Fn fn) {
  JOULE_ASSIGN_OR_RETURN(std::string text, read_file(path));
  const std::vector<std::string> lines = split_lines(text);
  for (size_t i = 0; i < lines.size(); ++i) {
    if (strip(lines[i]).empty()) continue;
    const std::string where = path + ":" + std::to_string(i + 1) + ": ";
    nlohmann::json j = nlohmann::json::parse(lines[i], nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) return FormatError(where + "not valid JSON");
    if (!j.is_object()) return FormatError(where + "expected a JSON object");
    try {
      JOULE_RETURN_IF_ERROR(fn(j, where));
    } catch (const nlohmann::json::exception& e) {  // a field of the wrong type
      return FormatError(where + e.what());
    }
  }
  return Status::Ok();
}

// A string field that must be there.
Expected<std::string> string_field(const nlohmann::json& j, const char* key, const std::string& where) {
  if (!j.contains(key) || !j[key].is_string()) return FormatError(where + "missing string field '" + key + "'");
  return j[key].get<std::string>();
}

// Python's str.capitalize() for ASCII: the first character upper case, the rest lower case
// (other bytes are left alone).
std::string capitalize(std::string s) {
  for (size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) s[i] = static_cast<char>(i == 0 ? std::toupper(c) : std::tolower(c));
  }
  return s;
}

// lm-evaluation-harness's hellaswag preprocess(): strip, " [title]" -> ". ", drop "[...]" tags,
// then one pass of "  " -> " " (non-overlapping, as Python's str.replace).
std::string hellaswag_preprocess(const std::string& text) {
  std::string s = strip(text);
  for (size_t at; (at = s.find(" [title]")) != std::string::npos;) s.replace(at, 8, ". ");
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '[') {
      const size_t close = s.find(']', i);
      if (close != std::string::npos) {
        i = close;
        continue;
      }
    }
    out += s[i];
  }
  std::string once;
  for (size_t i = 0; i < out.size(); ++i) {
    once += out[i];
    if (out[i] == ' ' && i + 1 < out.size() && out[i + 1] == ' ') ++i;
  }
  return once;
}

}  // namespace

Expected<std::vector<std::vector<std::string>>> parse_csv(const std::string& text, const std::string& source) {
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> row;
  std::string field;
  bool quoted = false, field_started = false;
  size_t i = text.rfind("\xEF\xBB\xBF", 0) == 0 ? 3 : 0;
  int line = 1, quote_line = 0;
  auto end_field = [&] {
    row.push_back(std::move(field));
    field.clear();
    field_started = false;
  };
  for (; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') {
        field += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        if (c == '\n') ++line;
        field += c;
      }
      continue;
    }
    if (c == '"' && !field_started) {
      quoted = field_started = true;
      quote_line = line;
    } else if (c == ',') {
      end_field();
    } else if (c == '\n' || c == '\r') {
      if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
      end_field();
      rows.push_back(std::move(row));
      row.clear();
      ++line;
    } else {
      field += c;
      field_started = true;
    }
  }
  if (quoted) return FormatError(source + ":" + std::to_string(quote_line) + ": unterminated quoted field");
  if (field_started || !row.empty()) {
    end_field();
    rows.push_back(std::move(row));
  }
  return rows;
}

Expected<std::vector<McItem>> load_mmlu_csv(const std::string& path, const std::string& subject) {
  JOULE_ASSIGN_OR_RETURN(std::string text, read_file(path));
  JOULE_ASSIGN_OR_RETURN(auto rows, parse_csv(text, path));
  std::vector<McItem> items;
  const bool header = !rows.empty() && !rows[0].empty() && rows[0][0] == "question";
  for (size_t r = header ? 1 : 0; r < rows.size(); ++r) {
    const std::vector<std::string>& f = rows[r];
    const std::string where = path + ": row " + std::to_string(r + 1) + ": ";
    if (f.size() == 1 && f[0].empty()) continue;  // a blank line
    if (f.size() != 6) return FormatError(where + "expected 6 fields (question, 4 choices, answer), got " + std::to_string(f.size()));
    const std::string answer = strip(f[5]);
    int gold = -1;
    if (header && answer.size() == 1 && answer[0] >= '0' && answer[0] <= '3') gold = answer[0] - '0';
    if (!header && answer.size() == 1 && answer[0] >= 'A' && answer[0] <= 'D') gold = answer[0] - 'A';
    if (gold < 0)
      return FormatError(where + "answer '" + answer + "' is not " + (header ? "0-3" : "A-D") +
                         (header ? " (header form)" : " (original form, no header)"));
    McItem item;
    item.id = subject + "/" + std::to_string(items.size());
    item.group = subject;
    item.question = f[0];
    item.choices = {f[1], f[2], f[3], f[4]};
    item.labels = {"A", "B", "C", "D"};
    item.gold = gold;
    items.push_back(std::move(item));
  }
  return items;
}

Expected<std::vector<McItem>> load_mmlu_dir(const std::string& dir, const std::string& split) {
  const std::filesystem::path folder = std::filesystem::path(dir) / split;
  std::error_code ec;
  if (!std::filesystem::is_directory(folder, ec)) return NotFound("no MMLU folder " + folder.string());
  const std::string suffix = "_" + split + ".csv";
  std::vector<std::filesystem::path> files;
  for (const auto& e : std::filesystem::directory_iterator(folder, ec)) {
    const std::string name = e.path().filename().string();
    if (name.size() > suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0)
      files.push_back(e.path());
  }
  if (ec) return IoError("cannot list " + folder.string() + ": " + ec.message());
  if (files.empty()) return NotFound("no *" + suffix + " files in " + folder.string());
  std::sort(files.begin(), files.end());
  std::vector<McItem> all;
  for (const auto& f : files) {
    const std::string name = f.filename().string();
    JOULE_ASSIGN_OR_RETURN(auto items, load_mmlu_csv(f.string(), name.substr(0, name.size() - suffix.size())));
    all.insert(all.end(), std::make_move_iterator(items.begin()), std::make_move_iterator(items.end()));
  }
  return all;
}

Expected<std::map<std::string, std::string>> load_mmlu_categories(const std::string& path) {
  JOULE_ASSIGN_OR_RETURN(std::string text, read_file(path));
  const nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("subcategories") || !j.contains("categories") ||
      !j["subcategories"].is_object() || !j["categories"].is_object())
    return FormatError(path + ": expected {\"subcategories\": {...}, \"categories\": {...}}");
  std::map<std::string, std::string> category_of_sub, out;
  try {
    for (const auto& [category, subs] : j["categories"].items())
      for (const auto& sub : subs) category_of_sub[sub.get<std::string>()] = category;
    for (const auto& [subject, subs] : j["subcategories"].items()) {
      const auto it = category_of_sub.find(subs.at(0).get<std::string>());
      if (it == category_of_sub.end())
        return FormatError(path + ": subject " + subject + "'s subcategory is in no category");
      out[subject] = it->second;
    }
  } catch (const nlohmann::json::exception& e) {
    return FormatError(path + ": " + e.what());
  }
  return out;
}

Expected<std::vector<McItem>> load_arc_jsonl(const std::string& path) {
  std::vector<McItem> items;
  JOULE_RETURN_IF_ERROR(for_each_json_line(path, [&](const nlohmann::json& j, const std::string& where) -> Status {
    McItem item;
    JOULE_ASSIGN_OR_RETURN(item.id, string_field(j, "id", where));
    JOULE_ASSIGN_OR_RETURN(std::string key, string_field(j, "answerKey", where));
    if (!j.contains("question")) return FormatError(where + "missing field 'question'");
    const nlohmann::json& q = j["question"];
    if (q.is_object()) {  // AI2
      JOULE_ASSIGN_OR_RETURN(item.question, string_field(q, "stem", where));
      if (!q.contains("choices") || !q["choices"].is_array()) return FormatError(where + "missing 'question.choices'");
      for (const auto& c : q["choices"]) {
        item.choices.push_back(c.at("text").get<std::string>());
        item.labels.push_back(c.at("label").get<std::string>());
      }
    } else if (q.is_string()) {  // Hugging Face
      item.question = q.get<std::string>();
      if (!j.contains("choices") || !j["choices"].is_object()) return FormatError(where + "missing 'choices'");
      item.choices = j["choices"].at("text").get<std::vector<std::string>>();
      item.labels = j["choices"].at("label").get<std::vector<std::string>>();
      if (item.choices.size() != item.labels.size())
        return FormatError(where + "'choices' has " + std::to_string(item.choices.size()) + " texts and " +
                           std::to_string(item.labels.size()) + " labels");
    } else {
      return FormatError(where + "'question' is neither an object (AI2) nor a string (Hugging Face)");
    }
    if (item.choices.size() < 2) return FormatError(where + "fewer than 2 choices");
    const auto it = std::find(item.labels.begin(), item.labels.end(), key);
    if (it == item.labels.end()) return FormatError(where + "answerKey '" + key + "' is not one of the labels");
    item.gold = static_cast<int>(it - item.labels.begin());
    items.push_back(std::move(item));
    return Status::Ok();
  }));
  return items;
}

Expected<std::vector<McItem>> load_hellaswag(const std::string& path) {
  std::vector<McItem> items;
  const bool text_form = path.size() >= 4 && path.compare(path.size() - 4, 4, ".txt") == 0;
  if (text_form) {
    JOULE_ASSIGN_OR_RETURN(std::string text, read_file(path));
    std::vector<std::string> lines = split_lines(text);
    while (!lines.empty() && lines.back().empty()) lines.pop_back();
    if (lines.size() % 6 != 0)
      return FormatError(path + ": " + std::to_string(lines.size()) +
                         " lines; llama.cpp's HellaSwag text has 6 per item (context, gold index, 4 endings)");
    for (size_t i = 0; i < lines.size(); i += 6) {
      const std::string& gold = lines[i + 1];
      if (gold.size() != 1 || gold[0] < '0' || gold[0] > '3')
        return FormatError(path + ":" + std::to_string(i + 2) + ": gold index '" + gold + "' is not 0-3");
      McItem item;
      item.id = std::to_string(i / 6);
      item.question = lines[i];
      item.group = item.question.substr(0, item.question.find(':'));
      item.choices.assign(lines.begin() + static_cast<long>(i) + 2, lines.begin() + static_cast<long>(i) + 6);
      item.gold = gold[0] - '0';
      items.push_back(std::move(item));
    }
    return items;
  }
  JOULE_RETURN_IF_ERROR(for_each_json_line(path, [&](const nlohmann::json& j, const std::string& where) -> Status {
    McItem item;
    JOULE_ASSIGN_OR_RETURN(item.group, string_field(j, "activity_label", where));
    JOULE_ASSIGN_OR_RETURN(std::string ctx_a, string_field(j, "ctx_a", where));
    JOULE_ASSIGN_OR_RETURN(std::string ctx_b, string_field(j, "ctx_b", where));
    item.question = hellaswag_preprocess(item.group + ": " + ctx_a + " " + capitalize(ctx_b));
    if (!j.contains("endings") || !j["endings"].is_array()) return FormatError(where + "missing 'endings'");
    for (const auto& e : j["endings"]) item.choices.push_back(hellaswag_preprocess(e.get<std::string>()));
    const nlohmann::json& label = j.contains("label") ? j["label"] : nlohmann::json();
    item.gold = label.is_number_integer() ? label.get<int>()
                : label.is_string() && !label.get<std::string>().empty() ? std::atoi(label.get<std::string>().c_str())
                                                                         : -1;
    if (item.gold < 0 || item.gold >= static_cast<int>(item.choices.size()))
      return FormatError(where + "'label' is missing or out of range (test-split files have no labels)");
    item.id = j.contains("ind") ? j["ind"].dump() : std::to_string(items.size());
    items.push_back(std::move(item));
    return Status::Ok();
  }));
  return items;
}

Expected<std::vector<McItem>> load_truthfulqa_mc(const std::string& path) {
  JOULE_ASSIGN_OR_RETURN(std::string text, read_file(path));
  // ordered_json keeps the keys in file order: the choice order of the task.
  const nlohmann::ordered_json j = nlohmann::ordered_json::parse(text, nullptr, false);
  if (j.is_discarded()) return FormatError(path + ": not valid JSON");
  if (!j.is_array()) return FormatError(path + ": expected a list of questions");
  std::vector<McItem> items;
  for (size_t i = 0; i < j.size(); ++i) {
    const std::string where = path + ": item " + std::to_string(i) + ": ";
    const auto& q = j[i];
    if (!q.is_object() || !q.contains("question") || !q["question"].is_string())
      return FormatError(where + "missing 'question'");
    McItem item;
    item.id = std::to_string(i);
    item.question = q["question"].get<std::string>();
    for (const char* key : {"mc1_targets", "mc2_targets"})
      if (!q.contains(key) || !q[key].is_object() || q[key].empty())
        return FormatError(where + "missing or empty '" + key + "'");
    for (const auto& [answer, v] : q["mc1_targets"].items()) {
      if (!v.is_number_integer()) return FormatError(where + "mc1_targets values must be 0 or 1");
      if (v.get<int>() == 1) {
        if (item.gold >= 0) return FormatError(where + "mc1_targets has more than one true answer");
        item.gold = static_cast<int>(item.choices.size());
      }
      item.choices.push_back(answer);
    }
    if (item.gold < 0) return FormatError(where + "mc1_targets has no true answer");
    for (const auto& [answer, v] : q["mc2_targets"].items()) {
      if (!v.is_number_integer()) return FormatError(where + "mc2_targets values must be 0 or 1");
      item.mc2_choices.push_back(answer);
      item.mc2_true.push_back(v.get<int>() == 1 ? 1 : 0);
    }
    items.push_back(std::move(item));
  }
  return items;
}

Expected<std::vector<Gsm8kItem>> load_gsm8k_jsonl(const std::string& path) {
  std::vector<Gsm8kItem> items;
  JOULE_RETURN_IF_ERROR(for_each_json_line(path, [&](const nlohmann::json& j, const std::string& where) -> Status {
    Gsm8kItem item;
    JOULE_ASSIGN_OR_RETURN(item.question, string_field(j, "question", where));
    JOULE_ASSIGN_OR_RETURN(item.answer, string_field(j, "answer", where));
    const size_t hashes = item.answer.rfind("####");
    if (hashes == std::string::npos) return FormatError(where + "the answer has no '#### N' line");
    for (char c : strip(item.answer.substr(hashes + 4)))
      if (c != ',') item.target += c;
    if (item.target.empty()) return FormatError(where + "nothing after '####'");
    items.push_back(std::move(item));
    return Status::Ok();
  }));
  return items;
}

}  // namespace joule::eval
