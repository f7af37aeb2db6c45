// joule info: what joule sees on this machine and in a model file.
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <map>

#include "common.h"
#include "energy_cli.h"
#include "core/cpu_features.h"
#include "core/strings.h"
#include "govern/device.h"
#include "tokenizer/chat_template.h"

namespace joule::cli {
namespace {

struct InfoOptions {
  ModelOptions model;
  bool model_given = false;
  bool json = false;
  energy::EstimateParams estimate;
};

nlohmann::json machine_json() {
  const CpuFeatures& f = cpu_features();
  return {{"cpu", f.model_name},
          {"physical_cores", f.physical_cores},
          {"logical_cpus", f.logical_cpus},
          {"features", f.summary()},
          {"kernels", cpu::best_kernels().isa},
          {"default_threads", default_threads()}};
}

nlohmann::json model_json(const LoadedModel& lm, const std::string& path) {
  const Model& m = *lm.model;
  const ModelConfig& c = m.config();
  std::map<std::string, int> types;
  for (const auto& t : m.file().tensors()) ++types[std::string(dtype_name(t.type))];
  std::string tmpl = "none";
  if (auto jinja = m.file().get_string("tokenizer.chat_template"); jinja.ok()) {
    auto t = detect_chat_template(*jinja);
    tmpl = t.ok() ? std::string(chat_format_name(t->format)) : "unknown";
  }
  return {{"path", path},
          {"name", c.name},
          {"arch", c.arch_name},
          {"params", m.n_params()},
          {"file_bytes", m.file().file_size()},
          {"gguf_version", m.file().version()},
          {"tensor_types", types},
          {"precision", lm.precision},
          {"weight_types", weight_types_json(m)},
          {"weight_bytes", m.weight_bytes()},
          {"context_length", c.ctx_train},
          {"layers", c.n_layers},
          {"d_model", c.d_model},
          {"d_ff", c.d_ff},
          {"heads", c.n_heads},
          {"kv_heads", c.n_kv_heads},
          {"head_dim", c.head_dim},
          {"rope_theta", c.rope_theta},
          {"vocab", c.n_vocab},
          {"tied_output", m.weights().tied_output},
          {"bytes_per_token", m.bytes_per_token()},
          {"tokenizer", lm.tokenizer->model() + " (pre: " + lm.tokenizer->pre() + ")"},
          {"chat_template", tmpl},
          {"load_ms", lm.load_ms}};
}

nlohmann::json control_json(const govern::ControlInfo& i) {
  return {{"name", i.name}, {"kind", govern::kind_name(i.kind)}, {"unit", i.unit}, {"value", i.original},
          {"min", i.min}, {"max", i.max}, {"writable", i.writable}, {"why_not", i.why_not},
          {"description", i.description}};
}

// Each device: what computes on it, what measures it, what joule serve's governor could turn
// (and why anything is missing) and how hot it is.
nlohmann::json devices_json(energy::Detection& d) {
  energy::NvmlSensor* nvml = nullptr;
  std::vector<energy::DomainInfo> domains;
  for (auto& s : d.sensors) {
    if (auto* n = dynamic_cast<energy::NvmlSensor*>(s.get())) nvml = n;
    domains.insert(domains.end(), s->domains().begin(), s->domains().end());
  }
  const govern::Devices devs = local_devices(domains, nvml);
  std::map<std::string, double> temp_c;
  for (const govern::Temperature& t : devs.thermal.read()) temp_c[t.sensor] = t.celsius;
  std::vector<energy::Reading> gpu_now(nvml ? nvml->domains().size() : 0);
  if (nvml && !nvml->read(gpu_now).ok()) gpu_now.assign(gpu_now.size(), {});
  nlohmann::json out = {{"devices", nlohmann::json::array()}, {"missing", devs.missing}};
  for (size_t i = 0; i < devs.devices.size(); ++i) {
    const govern::Device& dev = devs.devices[i];
    nlohmann::json j = {{"name", dev.name},
                        {"description", dev.description},
                        {"backend", dev.backend},
                        {"energy_domains", nlohmann::json::array()},
                        {"controls", nlohmann::json::array()},
                        {"temperatures", nlohmann::json::array()}};
    for (const energy::DomainInfo& e : dev.energy)
      j["energy_domains"].push_back({{"domain", e.name}, {"source", energy::source_name(e.source)}});
    for (const govern::Control* c : dev.controls) j["controls"].push_back(control_json(c->info()));
    if (dev.has_cpufreq_governor) {
      const govern::CpufreqGovernor& g = *devs.controls.cpufreq_governor;
      j["cpufreq_governor"] = {{"current", g.current()}, {"available", g.available()}, {"writable", g.writable()},
                               {"why_not", g.why_not()}};
    }
    for (const std::string& t : dev.temperatures) {
      if (auto it = temp_c.find(t); it != temp_c.end())
        j["temperatures"].push_back({{"sensor", t}, {"celsius", it->second}});
      else if (i > 0 && i - 1 < gpu_now.size() && gpu_now[i - 1].temp_c)
        j["temperatures"].push_back({{"sensor", t}, {"celsius", *gpu_now[i - 1].temp_c}});
    }
    out["devices"].push_back(j);
  }
  return out;
}

int run(const InfoOptions& o) {
  nlohmann::json out = {{"machine", machine_json()}};
  const Expected<std::string> model_file = model_path(o.model);  // -m's, else the default model
  const bool have_model = o.model_given || model_file.ok();
  if (have_model) {
    auto lm = load_model(o.model);
    if (!lm.ok()) return report_error(lm.status());
    out["model"] = model_json(*lm, lm->path);
  }
  energy::Detection detection = energy::detect_sensors(o.estimate);
  out["sensors"] = sensors_json(detection);
  out["devices"] = devices_json(detection);
  if (o.json) {
    std::cout << out.dump(2) << "\n";
    return 0;
  }
  const auto& mj = out["machine"];
  std::printf("machine\n");
  for (const auto& [k, v] : mj.items())
    std::printf("  %-16s %s\n", k.c_str(), v.is_string() ? v.get<std::string>().c_str() : v.dump().c_str());
  std::printf("energy sensors\n");
  for (const auto& d : out["sensors"]["domains"]) {
    std::string caps = d["energy"].get<bool>() ? "energy" : "";
    if (d["power"].get<bool>()) caps += caps.empty() ? "power" : "+power";
    std::printf("  %-16s %-9s %-12s %s\n", d["domain"].get<std::string>().c_str(),
                d["source"].get<std::string>().c_str(), caps.c_str(), d["description"].get<std::string>().c_str());
    if (d.contains("power_limit_w"))
      std::printf("  %-16s power limit %.0f W (default %.0f, range %.0f-%.0f)\n", "",
                  d["power_limit_w"]["current"].get<double>(), d["power_limit_w"]["default"].get<double>(),
                  d["power_limit_w"]["min"].get<double>(), d["power_limit_w"]["max"].get<double>());
  }
  for (const auto& m : out["sensors"]["missing"]) std::printf("  missing: %s\n", m.get<std::string>().c_str());
  std::printf("devices (controls: joule serve --power-cap-w / --max-temp-c / --governor energy)\n");
  for (const auto& dev : out["devices"]["devices"]) {
    std::printf("  %-16s %s; computes: %s\n", dev["name"].get<std::string>().c_str(),
                dev["description"].get<std::string>().c_str(), dev["backend"].get<std::string>().c_str());
    for (const auto& e : dev["energy_domains"])
      std::printf("    energy         %s (%s)\n", e["domain"].get<std::string>().c_str(),
                  e["source"].get<std::string>().c_str());
    for (const auto& c : dev["controls"])
      std::printf("    control        %s: %s %g %s (range %g-%g)%s%s\n", c["name"].get<std::string>().c_str(),
                  c["kind"].get<std::string>().c_str(), c["value"].get<double>(), c["unit"].get<std::string>().c_str(),
                  c["min"].get<double>(), c["max"].get<double>(), c["writable"].get<bool>() ? "" : "; not writable: ",
                  c["why_not"].get<std::string>().c_str());
    if (dev.contains("cpufreq_governor")) {
      const auto& g = dev["cpufreq_governor"];
      std::printf("    control        cpufreq governor %s (available: %s)%s%s\n", g["current"].get<std::string>().c_str(),
                  join(g["available"].get<std::vector<std::string>>(), " ").c_str(),
                  g["writable"].get<bool>() ? "" : "; not writable: ", g["why_not"].get<std::string>().c_str());
    }
    for (const auto& t : dev["temperatures"])
      std::printf("    temperature    %s %.1f C\n", t["sensor"].get<std::string>().c_str(), t["celsius"].get<double>());
  }
  for (const auto& m : out["devices"]["missing"]) std::printf("  missing: %s\n", m.get<std::string>().c_str());
  if (!have_model) {
    std::printf("model\n  (none: %s)\n", model_file.status().message().c_str());
    return 0;
  }
  std::printf("model\n");
  for (const auto& [k, v] : out["model"].items())
    std::printf("  %-16s %s\n", k.c_str(), v.is_string() ? v.get<std::string>().c_str() : v.dump().c_str());
  return 0;
}

}  // namespace

void register_info(CLI::App& app, Action& action) {
  auto o = std::make_shared<InfoOptions>();
  CLI::App* cmd = app.add_subcommand("info", "show CPU features, kernels, threads, energy sensors and model metadata");
  add_model_options(cmd, &o->model);
  add_estimate_options(cmd, &o->estimate);
  cmd->add_flag("--json", o->json, "print JSON");
  cmd->callback([o, cmd, &action] {
    o->model_given = cmd->count("--model") > 0;
    action = [o] { return run(*o); };
  });
}

}  // namespace joule::cli
