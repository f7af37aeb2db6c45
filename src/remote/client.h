// A client for OpenAI-compatible servers (joule serve, vLLM, llama.cpp's llama-server, TGI):
// the URL checked, the served model found, JSON requests with bounded retries, and one clear
// error for each way a server can fail (refused, timed out, not JSON, 4xx, 429/5xx after retries).
#pragma once

#include <string>
#include <utility>

#include <nlohmann/json.hpp>

#include "core/status.h"

namespace joule::remote {

struct EndpointOptions {
  std::string url;           // the API base, as the OpenAI client's base_url: http://host:port/v1
  std::string model;         // "" = the one /models lists (an error if it lists several)
  std::string api_key;       // sent as "Authorization: Bearer KEY"
  double timeout_s = 600;    // per request (connect, read, write)
  int max_retries = 4;       // for connection failures, 429 and 5xx; then the error
  double backoff_s = 0.5;    // first wait, doubled each retry (a server's Retry-After wins, up to 30 s)
};

// "http://host:port/v1" -> ("http://host:port", "/v1"); kInvalidArgument for other schemes or no host.
Expected<std::pair<std::string, std::string>> split_url(const std::string& url);

// The host of an http(s) URL ("127.0.0.1", "::1", "gpu-node-3").
std::string url_host(const std::string& url);
// The port of an http(s) URL (80 / 443 when it names none).
int url_port(const std::string& url);
// localhost, 127.0.0.0/8 or ::1: the engine runs on this machine.
bool is_loopback_host(const std::string& host);

class Client {
 public:
  // Checks the URL and asks GET /models which model to use (o.model, which it must list, or the
  // only one it lists).
  static Expected<Client> connect(EndpointOptions o);

  const std::string& url() const { return o_.url; }
  const std::string& model() const { return o_.model; }
  const nlohmann::json& models_answer() const { return models_; }  // /models as the server said it
  const std::string& server_header() const { return server_; }     // its Server: header, if any

  // POST base + path with a JSON body; the answer's JSON. Connection failures, 429 and 5xx are
  // retried (max_retries, exponential backoff, Retry-After honoured); other statuses are errors
  // with the server's message (kInvalidArgument for 4xx, kIo otherwise).
  Expected<nlohmann::json> post(const std::string& path, const nlohmann::json& body) const;
  // GET base + path (no retries); the answer's JSON.
  Expected<nlohmann::json> get(const std::string& path) const;

 private:
  explicit Client(EndpointOptions o) : o_(std::move(o)) {}
  EndpointOptions o_;
  std::string origin_, base_;
  nlohmann::json models_;
  std::string server_;
};

// The HTTP status of GET url (0 when nothing answers), for health checks.
int get_status(const std::string& url, double timeout_s);

// The "message" of an OpenAI-style error body ({"error": {"message": ...}}), else the body's
// first 300 bytes.
std::string error_message(const std::string& body);

}  // namespace joule::remote
