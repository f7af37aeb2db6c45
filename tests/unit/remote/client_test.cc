// The client against real HTTP servers (cpp-httplib in this process) that misbehave in the ways
// engines do: refused connections, 429 and 503 before an answer, answers that are not JSON,
// unknown models, several models, an answer slower than the timeout.
#include "remote/client.h"

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <thread>

#include <gtest/gtest.h>

namespace joule::remote {
namespace {

using nlohmann::json;

class TestServer {
 public:
  explicit TestServer(const std::function<void(httplib::Server&)>& routes) {
    routes(svr_);
    port_ = svr_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { svr_.listen_after_bind(); });
    while (!svr_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~TestServer() {
    svr_.stop();
    thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/v1"; }

 private:
  httplib::Server svr_;
  int port_ = 0;
  std::thread thread_;
};

void models(httplib::Server& s, const json& ids) {
  s.Get("/v1/models", [ids](const httplib::Request&, httplib::Response& res) {
    json data = json::array();
    for (const json& id : ids) data.push_back({{"id", id}, {"object", "model"}});
    res.set_content(json{{"object", "list"}, {"data", data}}.dump(), "application/json");
  });
}

EndpointOptions fast(const std::string& url) {
  return {.url = url, .model = "", .api_key = "", .timeout_s = 2, .max_retries = 3, .backoff_s = 0.01};
}

TEST(Urls, SplitHostPortLoopback) {
  auto parts = split_url("http://127.0.0.1:8000/v1/");
  ASSERT_TRUE(parts.ok());
  EXPECT_EQ(parts->first, "http://127.0.0.1:8000");
  EXPECT_EQ(parts->second, "/v1");
  EXPECT_EQ(split_url("ftp://x/v1").status().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(split_url("http:///v1").status().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(url_host("http://[::1]:9000/v1"), "::1");
  EXPECT_EQ(url_port("http://[::1]:9000/v1"), 9000);
  EXPECT_EQ(url_host("https://gpu-node-3/v1"), "gpu-node-3");
  EXPECT_EQ(url_port("https://gpu-node-3/v1"), 443);
  EXPECT_EQ(url_port("http://localhost/v1"), 80);
  EXPECT_TRUE(is_loopback_host("localhost"));
  EXPECT_TRUE(is_loopback_host("127.0.0.2"));
  EXPECT_TRUE(is_loopback_host("::1"));
  EXPECT_FALSE(is_loopback_host("10.0.0.1"));
}

TEST(Client, FindsTheOnlyModelAndChecksANamedOne) {
  TestServer srv([](httplib::Server& s) { models(s, {"smollm2"}); });
  auto c = Client::connect(fast(srv.url()));
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->model(), "smollm2");
  EXPECT_EQ(c->models_answer()["data"][0]["id"], "smollm2");
  EndpointOptions o = fast(srv.url());
  o.model = "llama-7b";
  auto missing = Client::connect(o);
  EXPECT_EQ(missing.status().code(), ErrorCode::kNotFound);
  EXPECT_NE(missing.status().message().find("does not serve model 'llama-7b'; it serves smollm2"), std::string::npos);
}

TEST(Client, SeveralModelsNeedAName) {
  TestServer srv([](httplib::Server& s) { models(s, {"a", "b"}); });
  auto c = Client::connect(fast(srv.url()));
  EXPECT_EQ(c.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(c.status().message().find("--served-model"), std::string::npos);
}

TEST(Client, RefusedConnectionIsAClearError) {
  int port = 0;
  {
    httplib::Server probe;  // a port that was free a moment ago and has no listener now
    port = probe.bind_to_any_port("127.0.0.1");
  }
  auto c = Client::connect(fast("http://127.0.0.1:" + std::to_string(port) + "/v1"));
  EXPECT_EQ(c.status().code(), ErrorCode::kIo);
  EXPECT_NE(c.status().message().find("cannot reach"), std::string::npos) << c.status().message();
}

TEST(Client, BareOriginGetsAHint) {
  TestServer srv([](httplib::Server& s) { models(s, {"m"}); });
  const std::string origin = srv.url().substr(0, srv.url().size() - 3);
  auto c = Client::connect(fast(origin));
  EXPECT_NE(c.status().message().find("did you mean"), std::string::npos) << c.status().message();
}

TEST(Client, RetriesOverloadAndServerErrorsThenSucceeds) {
  std::atomic<int> calls{0};
  TestServer srv([&](httplib::Server& s) {
    models(s, {"m"});
    s.Post("/v1/completions", [&](const httplib::Request&, httplib::Response& res) {
      const int n = ++calls;
      if (n == 1) {
        res.status = 429;
        res.set_header("Retry-After", "0");
        res.set_content(R"({"error": {"message": "busy"}})", "application/json");
      } else if (n == 2) {
        res.status = 503;
        res.set_content("unavailable", "text/plain");
      } else {
        res.set_content(R"({"ok": true})", "application/json");
      }
    });
  });
  auto c = Client::connect(fast(srv.url()));
  ASSERT_TRUE(c.ok());
  auto a = c->post("/completions", {{"prompt", "x"}});
  ASSERT_TRUE(a.ok()) << a.status().message();
  EXPECT_EQ((*a)["ok"], true);
  EXPECT_EQ(calls.load(), 3);
}

TEST(Client, GivesUpAfterTheRetriesWithTheLastError) {
  std::atomic<int> calls{0};
  TestServer srv([&](httplib::Server& s) {
    models(s, {"m"});
    s.Post("/v1/completions", [&](const httplib::Request&, httplib::Response& res) {
      ++calls;
      res.status = 500;
      res.set_content(R"({"error": {"message": "CUDA out of memory"}})", "application/json");
    });
  });
  auto c = Client::connect(fast(srv.url()));
  ASSERT_TRUE(c.ok());
  auto a = c->post("/completions", {{"prompt", "x"}});
  EXPECT_EQ(a.status().code(), ErrorCode::kIo);
  EXPECT_NE(a.status().message().find("500: CUDA out of memory (after 3 retries)"), std::string::npos)
      << a.status().message();
  EXPECT_EQ(calls.load(), 4);
}

TEST(Client, ClientErrorsAreNotRetried) {
  std::atomic<int> calls{0};
  TestServer srv([&](httplib::Server& s) {
    models(s, {"m"});
    s.Post("/v1/completions", [&](const httplib::Request&, httplib::Response& res) {
      ++calls;
      res.status = 400;
      res.set_content(R"({"error": {"message": "max_tokens must be at least 1"}})", "application/json");
    });
  });
  auto c = Client::connect(fast(srv.url()));
  ASSERT_TRUE(c.ok());
  auto a = c->post("/completions", {{"prompt", "x"}});
  EXPECT_EQ(a.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(a.status().message().find("max_tokens must be at least 1"), std::string::npos);
  EXPECT_EQ(calls.load(), 1);
}

TEST(Client, NonJsonAnswerIsAFormatError) {
  TestServer srv([](httplib::Server& s) {
    models(s, {"m"});
    s.Post("/v1/completions", [](const httplib::Request&, httplib::Response& res) {
      res.set_content("<html>gateway</html>", "text/html");
    });
  });
  auto c = Client::connect(fast(srv.url()));
  ASSERT_TRUE(c.ok());
  auto a = c->post("/completions", {{"prompt", "x"}});
  EXPECT_EQ(a.status().code(), ErrorCode::kFormat);
  EXPECT_NE(a.status().message().find("not JSON: '<html>gateway</html>'"), std::string::npos) << a.status().message();
}

TEST(Client, ASlowAnswerTimesOutOnceWithoutRetrying) {
  std::atomic<int> calls{0};
  TestServer srv([&](httplib::Server& s) {
    models(s, {"m"});
    s.Post("/v1/completions", [&](const httplib::Request&, httplib::Response& res) {
      ++calls;
      std::this_thread::sleep_for(std::chrono::milliseconds(1500));
      res.set_content("{}", "application/json");
    });
  });
  EndpointOptions o = fast(srv.url());
  o.timeout_s = 0.3;
  auto c = Client::connect(o);
  ASSERT_TRUE(c.ok()) << c.status().message();
  auto a = c->post("/completions", {{"prompt", "x"}});
  EXPECT_EQ(a.status().code(), ErrorCode::kIo);
  EXPECT_NE(a.status().message().find("no answer"), std::string::npos) << a.status().message();
  EXPECT_EQ(calls.load(), 1);
}

}  // namespace
}  // namespace joule::remote
