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

namespace {
Cell make_cell(size_t index, ModelSpec model, std::string precision, std::string device, int threads, TaskSpec task,
               int repeat) {
  Cell c;
  c.index = static_cast<int>(index);
  c.model = std::move(model);
  c.precision = std::move(precision);
  c.device = std::move(device);
  c.threads = threads;
  c.task = std::move(task);
  c.repeat = repeat;
  return c;
}
}  // namespace

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
            for (int r = 1; r <= s.repeats; ++r) cells.push_back(make_cell(cells.size(), m, p, device, threads, t, r));
      }
  for (size_t e = 0; e < s.engines.size(); ++e)
    for (const TaskSpec& t : s.tasks) {
      if (!s.engines[e].runs(t.name)) continue;
      for (int r = 1; r <= s.repeats; ++r) {
        cells.push_back(make_cell(cells.size(), {s.engines[e].model, ""}, s.engines[e].precision, s.engines[e].device, 0, t, r));
        cells.back().engine = static_cast<int>(e);
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
