#include "sched/request.h"

#include <string>

#include "core/strings.h"

namespace joule::sched {

std::string_view finish_reason_name(FinishReason r) {
  switch (r) {
    case FinishReason::kNone: return "";
    case FinishReason::kStop: return "stop";
    case FinishReason::kLength: return "length";
    case FinishReason::kCancelled: return "cancelled";
    case FinishReason::kError: return "error";
  }
  return "";
}

std::string_view priority_name(Priority p) {
  switch (p) {
    case Priority::kUrgent: return "urgent";
    case Priority::kNormal: return "normal";
    case Priority::kLow: return "low";
  }
  return "";
}

std::optional<Priority> parse_priority(std::string_view name) {
  for (int i = 0; i < kNumPriorities; ++i)
    if (name == priority_name(Priority(i))) return Priority(i);
  return std::nullopt;
}

Expected<PerClassValues> parse_per_class(std::string_view text, std::string_view what) {
  JOULE_ASSIGN_OR_RETURN(const auto items, parse_named_numbers(text, what));
  PerClassValues out;
  for (const auto& [name, v] : items) {
    const auto cls = parse_priority(name);
    if (!cls) return InvalidArgument(std::string(what) + ": '" + name + "' is not a class: urgent, normal or low");
    auto& slot = out[size_t(index_of(*cls))];
    if (slot) return InvalidArgument(std::string(what) + ": " + name + " is given twice");
    slot = v;
  }
  return out;
}

}  // namespace joule::sched
