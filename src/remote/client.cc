#include "remote/client.h"

#include <httplib.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <thread>

namespace joule::remote {
namespace {

using nlohmann::json;

constexpr double kMaxRetryAfterS = 30;

httplib::Headers headers(const EndpointOptions& o) {
  httplib::Headers h;
  if (!o.api_key.empty()) h.emplace("Authorization", "Bearer " + o.api_key);
  return h;
}

void set_timeouts(httplib::Client& cli, const EndpointOptions& o) {
  const auto t = std::chrono::duration<double>(o.timeout_s);
  cli.set_connection_timeout(std::chrono::duration_cast<std::chrono::microseconds>(std::min(t, std::chrono::duration<double>(10))));
  cli.set_read_timeout(t);
  cli.set_write_timeout(t);
}

Expected<json> parse_answer(const std::string& what, const httplib::Result& res) {
  json j = json::parse(res->body, nullptr, false);
  if (j.is_discarded())
    return FormatError(what + " answered " + std::to_string(res->status) + " with something that is not JSON: '" +
                       res->body.substr(0, 200) + "'");
  return j;
}

}  // namespace

Expected<std::pair<std::string, std::string>> split_url(const std::string& url) {
  const size_t scheme = url.find("://");
  if (scheme == std::string::npos || (url.rfind("http://", 0) != 0 && url.rfind("https://", 0) != 0))
    return InvalidArgument("--url must start with http:// or https://, got '" + url + "'");
  const size_t path = url.find('/', scheme + 3);
  std::string base = path == std::string::npos ? "" : url.substr(path);
  while (!base.empty() && base.back() == '/') base.pop_back();
  const std::string origin = url.substr(0, path);
  if (origin.size() <= scheme + 3) return InvalidArgument("--url has no host: '" + url + "'");
  return std::make_pair(origin, base);
}

namespace {
// "host:port" or "[v6]:port" after the scheme, without the path.
std::string authority(const std::string& url) {
  const size_t scheme = url.find("://");
  if (scheme == std::string::npos) return "";
  const size_t start = scheme + 3;
  return url.substr(start, url.find('/', start) - start);
}
}  // namespace

std::string url_host(const std::string& url) {
  const std::string a = authority(url);
  if (!a.empty() && a[0] == '[') return a.substr(1, a.find(']') - 1);
  return a.substr(0, a.find(':'));
}

int url_port(const std::string& url) {
  const std::string a = authority(url);
  const size_t close = a[0] == '[' ? a.find(']') : 0;
  const size_t colon = a.find(':', close == std::string::npos ? 0 : close);
  if (colon != std::string::npos) return std::atoi(a.c_str() + colon + 1);
  return url.rfind("https://", 0) == 0 ? 443 : 80;
}

bool is_loopback_host(const std::string& host) {
  return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

int get_status(const std::string& url, double timeout_s) {
  const auto parts = split_url(url);
  if (!parts.ok()) return 0;
  httplib::Client cli(parts->first);
  const auto t = std::chrono::duration<double>(timeout_s);
  cli.set_connection_timeout(std::chrono::duration_cast<std::chrono::microseconds>(t));
  cli.set_read_timeout(t);
  auto res = cli.Get(parts->second.empty() ? "/" : parts->second);
  return res ? res->status : 0;
}

std::string error_message(const std::string& body) {
  const json j = json::parse(body, nullptr, false);
  if (!j.is_discarded() && j.is_object() && j.contains("error")) {
    const json& e = j["error"];
    if (e.is_object() && e.contains("message") && e["message"].is_string()) return e["message"].get<std::string>();
    if (e.is_string()) return e.get<std::string>();
  }
  return body.substr(0, 300);
}

Expected<Client> Client::connect(EndpointOptions o) {
  JOULE_ASSIGN_OR_RETURN(auto parts, split_url(o.url));
  if (o.timeout_s <= 0) return InvalidArgument("the request timeout must be > 0 s");
  if (o.max_retries < 0) return InvalidArgument("the number of retries must be >= 0");
  Client c(std::move(o));
  c.origin_ = parts.first;
  c.base_ = parts.second;
  httplib::Client cli(c.origin_);
  set_timeouts(cli, c.o_);
  auto res = cli.Get(c.base_ + "/models", headers(c.o_));
  if (!res) return IoError("cannot reach " + c.o_.url + "/models: " + httplib::to_string(res.error()));
  if (res->status != 200) {
    // The OpenAI client's base_url includes /v1; a bare origin is the usual slip.
    const std::string hint = res->status == 404 && c.base_.empty() ? " (did you mean " + c.o_.url + "/v1?)" : "";
    return IoError(c.o_.url + "/models answered " + std::to_string(res->status) + hint + ": " + error_message(res->body));
  }
  c.server_ = res->get_header_value("Server");
  JOULE_ASSIGN_OR_RETURN(c.models_, parse_answer(c.o_.url + "/models", res));
  std::vector<std::string> ids;
  if (c.models_.contains("data") && c.models_["data"].is_array())
    for (const json& m : c.models_["data"])
      if (m.is_object() && m.contains("id") && m["id"].is_string()) ids.push_back(m["id"].get<std::string>());
  std::string listed;
  for (const std::string& id : ids) listed += (listed.empty() ? "" : ", ") + id;
  if (c.o_.model.empty()) {
    if (ids.empty()) return FormatError(c.o_.url + "/models lists no model; name one with --served-model");
    if (ids.size() > 1)
      return InvalidArgument(c.o_.url + " serves several models (" + listed + "); choose one with --served-model");
    c.o_.model = ids[0];
  } else if (!ids.empty() && std::find(ids.begin(), ids.end(), c.o_.model) == ids.end()) {
    return NotFound(c.o_.url + " does not serve model '" + c.o_.model + "'; it serves " + listed);
  }
  return c;
}

Expected<json> Client::get(const std::string& path) const {
  httplib::Client cli(origin_);
  set_timeouts(cli, o_);
  auto res = cli.Get(base_ + path, headers(o_));
  if (!res) return IoError("cannot reach " + o_.url + path + ": " + httplib::to_string(res.error()));
  if (res->status != 200)
    return IoError(o_.url + path + " answered " + std::to_string(res->status) + ": " + error_message(res->body));
  return parse_answer(o_.url + path, res);
}

Expected<json> Client::post(const std::string& path, const json& body) const {
  const std::string what = o_.url + path;
  const std::string payload = body.dump();
  double wait_s = o_.backoff_s;
  std::string last;
  for (int attempt = 0;; ++attempt) {
    httplib::Client cli(origin_);
    set_timeouts(cli, o_);
    auto res = cli.Post(base_ + path, headers(o_), payload, "application/json");
    double retry_after_s = 0;
    if (!res && res.error() == httplib::Error::Read) {
      // Sent, but no whole answer within the timeout: retrying would repeat a long request.
      return IoError(what + ": no answer (" + httplib::to_string(res.error()) + ") within " +
                     std::to_string(static_cast<int>(o_.timeout_s)) + " s");
    } else if (!res) {
      last = "cannot reach " + what + ": " + httplib::to_string(res.error());
    } else if (res->status == 200) {
      return parse_answer(what, res);
    } else if (res->status == 429 || res->status >= 500) {
      last = what + " answered " + std::to_string(res->status) + ": " + error_message(res->body);
      if (res->has_header("Retry-After"))
        retry_after_s = std::min(kMaxRetryAfterS, std::atof(res->get_header_value("Retry-After").c_str()));
    } else {
      const std::string msg = what + " answered " + std::to_string(res->status) + ": " + error_message(res->body);
      return res->status < 500 && res->status >= 400 ? Status(InvalidArgument(msg)) : Status(IoError(msg));
    }
    if (attempt >= o_.max_retries)
      return IoError(last + (o_.max_retries > 0 ? " (after " + std::to_string(o_.max_retries) + " retries)" : ""));
    std::this_thread::sleep_for(std::chrono::duration<double>(std::max(wait_s, retry_after_s)));
    wait_s *= 2;
  }
}

}  // namespace joule::remote
