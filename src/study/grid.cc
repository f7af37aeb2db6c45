#include "study/grid.h"

#include <charconv>

namespace joule::study {

std::string Cell::key() const {
  return "model=" + model.name + ";precision=" + precision + ";device=" + device + ";threads=" +
         std::to_string(threads) + ";task=" + task.name + ";limit=" + std::to_string(task.limit) +
         ";sample=" + std::to_string(task.sample) + ";seed=" + std::to_string(task.seed) +
         ";shots=" + std::to_string(task.shots) + ";repeat=" + std::to_string(repeat);
}

std::string Cell::group() const {
  return "model=" + model.name + ";precision=" + precision + ";device=" + device + ";threads=" + std::to_string(threads);
}

std::vector<Cell> expand(const StudySpec& s) {
  std::vector<Cell> cells;
  for (const ModelSpec& m : s.models)
    for (const std::string& p : s.precisions)
      for (const DeviceSpec& d : s.devices) {
        std::vector<std::pair<std::string, int>> placements;  // (device, threads)
        if (d.kind == "cpu")
          for (int t : d.threads) placements.emplace_back("cpu", t);
        else
          for (int id : d.ids) placements.emplace_back("gpu:" + std::to_string(id), 0);
        for (const auto& [device, threads] : placements)
          for (const TaskSpec& t : s.tasks)
            for (int r = 1; r <= s.repeats; ++r) {
              Cell c;
              c.index = static_cast<int>(cells.size());
              c.model = m;
              c.precision = p;
              c.device = device;
              c.threads = threads;
              c.task = t;
              c.repeat = r;
              cells.push_back(std::move(c));
            }
      }
  return cells;
}

Expected<Shard> parse_shard(const std::string& text) {
  const size_t slash = text.find('/');
  int i = 0, n = 0;
  const char* end = text.data() + text.size();
  const bool ok = slash != std::string::npos &&
                  std::from_chars(text.data(), text.data() + slash, i).ptr == text.data() + slash &&
                  std::from_chars(text.data() + slash + 1, end, n).ptr == end;
  if (!ok || n < 1 || i < 1 || i > n) return InvalidArgument("--shard '" + text + "' is not i/N with 1 <= i <= N");
  return Shard{i - 1, n};
}

std::vector<Cell> take_shard(const std::vector<Cell>& cells, Shard shard) {
  std::vector<Cell> out;
  for (const Cell& c : cells)
    if (c.index % shard.count == shard.index) out.push_back(c);
  return out;
}

}  // namespace joule::study
