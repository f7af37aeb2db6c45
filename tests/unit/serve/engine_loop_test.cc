// The engine thread with HTTP left out: requests submitted from many threads are answered on their
// own channels with the tokens they get alone, cancellation and shutdown free them, the inbox is
// bounded, and the energy charged to requests plus idle equals what the meter measured.
#include "serve/engine_loop.h"

#include <gtest/gtest.h>

#include <thread>

#include "tiny_serve_model.h"
#include "core/clock.h"
#include "energy/estimate.h"

namespace joule::serve {
namespace {

using testing::prompt_of;

class EngineLoopTest : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::TinyServeModel m = testing::load_tiny_serve_model("loop_tiny.gguf");
    model_ = std::move(m.model);
    tok_ = std::move(m.tok);
    // The real CPU estimate through the real meter: its energy follows this process's CPU time.
    auto est = energy::make_estimate_model({}, "test cpu", 2);
    ASSERT_TRUE(est.ok());
    std::vector<std::unique_ptr<energy::Sensor>> sensors;
    sensors.push_back(std::make_unique<energy::CpuEstimateSensor>(*est));
    meter_ = std::move(energy::Meter::create(std::move(sensors), {.sample_hz = 10})).value();
  }

  struct Served {
    std::vector<TokenId> tokens;
    FinishedRequest done;
    bool rejected = false;
    ApiError error;
  };

  // Reads a channel to its end.
  static Served drain(Channel& ch) {
    Served s;
    for (;;) {
      std::optional<Event> ev = ch.pop(30);
      if (!ev) {
        ADD_FAILURE() << "no event for 30 s";
        return s;
      }
      if (ev->kind == Event::kRejected) {
        s.rejected = true;
        s.error = ev->error;
        return s;
      }
      if (ev->kind == Event::kToken) s.tokens.push_back(ev->token.token);
      if (ev->kind == Event::kFinished) {
        s.done = ev->done;
        return s;
      }
    }
  }


  static GenerationParams greedy(int max_tokens) {
    GenerationParams p;
    p.max_tokens = max_tokens;
    p.sampler.temperature = 0;
    return p;
  }

  std::unique_ptr<Model> model_;
  std::unique_ptr<Tokenizer> tok_;
  std::unique_ptr<energy::Meter> meter_;
  ThreadPool pool_{2};
  sched::KvBlockPool blocks_{64, 8};
  sched::FcfsPolicy fcfs_;
  sched::Scheduler scheduler_{{.max_sequences = 4, .max_batch_tokens = 32, .max_waiting = {8, 8, 8}}, blocks_, fcfs_};
};

TEST_F(EngineLoopTest, ConcurrentRequestsGetTheirOwnTokensAndTheEnergyAddsUp) {
  BatchEngine engine(*model_, *tok_, scheduler_, pool_, cpu::best_kernels());
  int finished_hook = 0;
  EngineLoop loop(engine, meter_.get(), {.on_step = nullptr, .on_finish = [&](const FinishedRequest&) { ++finished_hook; }});
  loop.start();
  constexpr int kRequests = 6;
  // Enough work that the meter window's edges (thread start and join, outside the ledger's
  // readings) stay far below 1 % of it.
  constexpr int kTokens = 60;
  std::vector<Served> served(kRequests);
  std::vector<std::thread> clients;
  for (int i = 0; i < kRequests; ++i)
    clients.emplace_back([&, i] {
      auto ch = loop.submit(uint64_t(i + 1), {prompt_of(5 + 7 * i, i), greedy(kTokens), monotonic_seconds()});
      std::optional<Event> first = ch->pop(30);
      ASSERT_TRUE(first && first->kind == Event::kAccepted);
      served[size_t(i)] = drain(*ch);
    });
  for (std::thread& t : clients) t.join();
  EXPECT_TRUE(loop.wait_idle(5));
  loop.stop();

  // Alone, through a fresh engine: the same tokens.
  double requests_j = 0;
  for (int i = 0; i < kRequests; ++i) {
    const Served& s = served[size_t(i)];
    EXPECT_EQ(s.done.finish, sched::FinishReason::kLength);
    EXPECT_EQ(s.done.completion_tokens, kTokens);
    EXPECT_EQ(int(s.tokens.size()), kTokens);
    ASSERT_TRUE(s.done.ttft_s && s.done.tpot_s);
    EXPECT_LE(*s.done.ttft_s, s.done.e2e_s);
    ASSERT_TRUE(s.done.energy);
    EXPECT_GT(s.done.energy->prefill_j, 0);
    EXPECT_GT(s.done.energy->decode_j, 0);
    EXPECT_EQ(s.done.energy->source, "estimated");
    requests_j += s.done.energy->energy_j;

    sched::KvBlockPool b(64, 8);
    sched::Scheduler alone_sched({.max_sequences = 1, .max_batch_tokens = 32, .max_waiting = {1, 1, 1}}, b, fcfs_);
    BatchEngine alone(*model_, *tok_, alone_sched, pool_, cpu::best_kernels());
    ASSERT_TRUE(alone.submit(1, prompt_of(5 + 7 * i, i), greedy(kTokens), 0).ok());
    std::vector<TokenId> tokens;
    while (!alone.idle()) {
      auto out = alone.step();
      ASSERT_TRUE(out.ok());
      for (const Emitted& e : *out) tokens.push_back(e.token);
      alone.take_finished();
    }
    EXPECT_EQ(s.tokens, tokens) << "request " << i;
  }
  EXPECT_EQ(finished_hook, kRequests);

  // Shares plus idle are the ledger's total, which is what the meter's own window over the
  // same time measured.
  const EnergyLedger& l = loop.ledger();
  EXPECT_NEAR(requests_j, l.charged_j(), 1e-9 * l.charged_j());
  ASSERT_TRUE(loop.metered_j());
  const double metered_j = *loop.metered_j();
  EXPECT_GT(l.charged_j(), 0);
  EXPECT_NEAR(l.total_j(), metered_j, 0.01 * metered_j) << "charged " << l.charged_j() << " idle " << l.idle_j();
}

TEST_F(EngineLoopTest, CancelAndStopEndRequestsAndFreeTheirBlocks) {
  BatchEngine engine(*model_, *tok_, scheduler_, pool_, cpu::best_kernels());
  EngineLoop loop(engine, nullptr, {});
  loop.start();
  auto a = loop.submit(1, {prompt_of(20, 1), greedy(200), monotonic_seconds()});
  ASSERT_EQ(a->pop(30)->kind, Event::kAccepted);
  ASSERT_EQ(a->pop(30)->kind, Event::kToken);  // running
  loop.cancel(1);
  Served s = drain(*a);
  EXPECT_EQ(s.done.finish, sched::FinishReason::kCancelled);
  EXPECT_FALSE(s.done.energy);  // no meter, no figure
  EXPECT_TRUE(loop.wait_idle(5));

  auto b = loop.submit(2, {prompt_of(20, 2), greedy(200), monotonic_seconds()});
  ASSERT_EQ(b->pop(30)->kind, Event::kAccepted);
  auto too_long = loop.submit(3, {prompt_of(20, 3), greedy(100000), monotonic_seconds()});
  Served r = drain(*too_long);
  EXPECT_TRUE(r.rejected);
  EXPECT_EQ(r.error.status, 400);
  EXPECT_NE(r.error.message.find("exceed the model's context"), std::string::npos) << r.error.message;
  loop.stop();  // b is still running: stop cancels it
  EXPECT_EQ(drain(*b).done.finish, sched::FinishReason::kCancelled);
  EXPECT_EQ(loop.live(), 0);
  EXPECT_EQ(scheduler_.stats().kv.used_blocks, 0);
  EXPECT_TRUE(drain(*loop.submit(4, {prompt_of(3, 4), greedy(2), 0})).rejected);  // 503 after stop
}

TEST_F(EngineLoopTest, TheInboxIsBounded) {
  BatchEngine engine(*model_, *tok_, scheduler_, pool_, cpu::best_kernels());
  EngineLoop loop(engine, nullptr, {}, /*max_inbox=*/2);  // not started: nothing leaves the inbox
  auto a = loop.submit(1, {prompt_of(3, 1), greedy(2), 0});
  auto b = loop.submit(2, {prompt_of(3, 2), greedy(2), 0});
  Served c = drain(*loop.submit(3, {prompt_of(3, 3), greedy(2), 0}));
  EXPECT_TRUE(c.rejected);
  EXPECT_EQ(c.error.status, 429);
  loop.cancel(2);  // still in the inbox: gone at once
  EXPECT_EQ(loop.live(), 1);
  loop.start();
  EXPECT_EQ(drain(*a).done.finish, sched::FinishReason::kLength);
  EXPECT_TRUE(loop.wait_idle(5));
}

}  // namespace
}  // namespace joule::serve
