// `joule chat` driven through a real pseudo-terminal, as a person would use it: the prompt,
// slash commands, per-turn energy lines, Ctrl-C stopping a reply and ending the chat.
#include <gtest/gtest.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <filesystem>
#include <regex>
#include <string>
#include <vector>

#include "run_command.h"

namespace joule {
namespace {

using Clock = std::chrono::steady_clock;

const std::string kModel = std::string(JOULE_SOURCE_DIR) + "/models/SmolLM2-135M-Instruct.Q4_1.gguf";

// `joule chat ARGS` on the slave side of a pty (echo off, so the output is only the program's).
// Every wait shares one deadline, so a test can never hang; the destructor kills a child that is
// still running.
class ChatSession {
 public:
  explicit ChatSession(const std::vector<std::string>& args, double budget_s = 50)
      : deadline_(Clock::now() + std::chrono::milliseconds(int(budget_s * 1000))) {
    std::vector<std::string> argv = {JOULE_BINARY, "chat", "-m", kModel, "--temp", "0", "-n", "200", "-t", "1"};
    argv.insert(argv.end(), args.begin(), args.end());
    pid_ = forkpty(&fd_, nullptr, nullptr, nullptr);
    if (pid_ == 0) {
      termios t;
      if (tcgetattr(STDIN_FILENO, &t) == 0) {
        t.c_lflag &= ~tcflag_t(ECHO);  // keeps ICANON and ISIG: 0x03 is still a Ctrl-C
        tcsetattr(STDIN_FILENO, TCSANOW, &t);
      }
      std::vector<char*> cargv;
      for (std::string& a : argv) cargv.push_back(a.data());
      cargv.push_back(nullptr);
      execv(cargv[0], cargv.data());
      _exit(127);
    }
  }
  ~ChatSession() {
    if (pid_ > 0 && !exited_) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    if (fd_ >= 0) close(fd_);
  }

  bool started() const { return pid_ > 0; }
  const std::string& output() const { return out_; }

  // Reads until `needle` appears after the previous match; moves the mark past it.
  bool wait_for(const std::string& needle) {
    for (;;) {
      if (const size_t at = out_.find(needle, mark_); at != std::string::npos) {
        mark_ = at + needle.size();
        return true;
      }
      if (!read_some()) return false;
    }
  }
  // Reads until there is any output after the mark.
  bool wait_for_any() {
    while (out_.size() <= mark_)
      if (!read_some()) return false;
    return true;
  }
  void send(const std::string& s) {
    mark_ = out_.size();
    ASSERT_EQ(write(fd_, s.data(), s.size()), ssize_t(s.size()));
  }
  // The exit status, 128 + signal when killed by one, -1 if it did not end in time.
  int wait_exit() {
    while (Clock::now() < deadline_) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        exited_ = true;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      if (!read_some()) usleep(20'000);  // drain, so the child never blocks on a full pty
    }
    return -1;
  }

 private:
  // Appends what the child writes within the deadline; false at the deadline or end of output.
  bool read_some() {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline_ - Clock::now()).count();
    if (left <= 0) return false;
    pollfd p = {fd_, POLLIN, 0};
    if (poll(&p, 1, int(std::min<long long>(left, 200))) <= 0) return Clock::now() < deadline_;
    char buf[4096];
    const ssize_t n = read(fd_, buf, sizeof buf);
    if (n <= 0) return n < 0 && errno == EINTR;  // EIO: the child closed the terminal
    out_.append(buf, n);
    return true;
  }

  Clock::time_point deadline_;
  pid_t pid_ = -1;
  int fd_ = -1;
  bool exited_ = false;
  std::string out_;
  size_t mark_ = 0;
};

struct Turn {
  std::string reply;  // the reply text as shown (without the pty's line ends)
  int prompt_tokens = -1;
  int tokens = -1;
  std::string line;  // the "[joule] turn: ..." line
};

// Sends a message and waits for its reply, its turn line and the next prompt.
Turn chat_turn(ChatSession& s, const std::string& message) {
  Turn t;
  const size_t sent = s.output().size();
  s.send(message + "\n");
  if (!s.wait_for("[joule] turn:") || !s.wait_for("\n")) return t;
  const std::string& all = s.output();
  const size_t turn_at = all.rfind("[joule] turn:");
  t.reply = all.substr(sent, turn_at - sent);
  t.line = all.substr(turn_at, all.find('\n', turn_at) - turn_at);
  std::smatch m;
  if (std::regex_search(t.line, m, std::regex(R"((\d+) prompt tok, (\d+) tok)"))) {
    t.prompt_tokens = std::stoi(m[1]);
    t.tokens = std::stoi(m[2]);
  }
  s.wait_for("> ");
  return t;
}

std::string trimmed(std::string s) {
  s.erase(std::remove(s.begin(), s.end(), '\r'), s.end());
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.erase(0, 1);
  return s;
}

size_t count(const std::string& hay, const std::string& needle) {
  size_t n = 0;
  for (size_t at = hay.find(needle); at != std::string::npos; at = hay.find(needle, at + 1)) ++n;
  return n;
}

// The real model at -O0 under ASan decodes a few tokens a second, too slow for the deadlines
// that keep these tests from hanging; the Release run (and tests/first_hour.py) play the chat.
#if defined(NDEBUG) && !defined(__SANITIZE_ADDRESS__)
constexpr bool kFastBuild = true;
#else
constexpr bool kFastBuild = false;
#endif

#define SKIP_WITHOUT_MODEL()                                                                     \
  if (!kFastBuild) GTEST_SKIP() << "an unoptimized or sanitized build is too slow for the real model"; \
  if (!std::filesystem::exists(kModel)) GTEST_SKIP() << "no default model at " << kModel          \
                                                     << " (scripts/fetch_model.sh)"

TEST(ChatCli, ConversationCommandsAndCtrlC) {
  SKIP_WITHOUT_MODEL();
  ChatSession s({});
  ASSERT_TRUE(s.started());
  ASSERT_TRUE(s.wait_for("> ")) << s.output();

  const size_t before_help = s.output().size();
  s.send("/help\n");
  ASSERT_TRUE(s.wait_for("> ")) << s.output();
  const std::string help = s.output().substr(before_help);
  for (const char* c : {"/help", "/reset", "/system", "/exit"})
    EXPECT_NE(help.find(c), std::string::npos) << c << " missing in:\n" << help;

  s.send("/frobnicate\n");
  ASSERT_TRUE(s.wait_for("unknown command '/frobnicate'")) << s.output();
  ASSERT_TRUE(s.wait_for("/reset")) << s.output();
  ASSERT_TRUE(s.wait_for("> ")) << s.output();

  const Turn hi = chat_turn(s, "Hi");
  ASSERT_GE(hi.tokens, 1) << s.output();
  EXPECT_FALSE(trimmed(hi.reply).empty()) << s.output();
  EXPECT_NE(hi.line.find("; energy "), std::string::npos) << hi.line;
  EXPECT_NE(hi.line.find(" J"), std::string::npos) << hi.line;

  // Ctrl-C as soon as the reply streams: it stops well short of -n 200 and the prompt returns.
  s.send("Write a very long story about a dragon who learns to cook. Make it as long as you can.\n");
  ASSERT_TRUE(s.wait_for_any()) << s.output();
  s.send("\x03");
  ASSERT_TRUE(s.wait_for("[joule] reply stopped (Ctrl-C)")) << s.output();
  ASSERT_TRUE(s.wait_for("[joule] turn:")) << s.output();
  {
    const std::string rest = s.output().substr(s.output().rfind("[joule] turn:"));
    std::smatch m;
    ASSERT_TRUE(std::regex_search(rest, m, std::regex(R"((\d+) prompt tok, (\d+) tok)"))) << rest;
    EXPECT_LT(std::stoi(m[2]), 150) << rest;
  }
  ASSERT_TRUE(s.wait_for("> ")) << s.output();

  // The conversation goes on after the stopped reply, reusing the cached prefix.
  const Turn next = chat_turn(s, "What is the capital of France?");
  ASSERT_GE(next.tokens, 1) << s.output();
  EXPECT_FALSE(trimmed(next.reply).empty()) << s.output();
  EXPECT_LT(next.prompt_tokens, hi.prompt_tokens) << "history prefilled again:\n" << s.output();

  // /reset: the same first message gets the same (greedy) reply from a full prefill again.
  s.send("/reset\n");
  ASSERT_TRUE(s.wait_for("[joule] conversation reset")) << s.output();
  ASSERT_TRUE(s.wait_for("> ")) << s.output();
  const Turn again = chat_turn(s, "Hi");
  EXPECT_EQ(again.prompt_tokens, hi.prompt_tokens) << s.output();
  EXPECT_EQ(trimmed(again.reply), trimmed(hi.reply)) << s.output();

  // /system replaces SmolLM2's default system message: a different prompt.
  s.send("/system You are a pirate.\n");
  ASSERT_TRUE(s.wait_for("[joule] system message set; conversation reset")) << s.output();
  ASSERT_TRUE(s.wait_for("> ")) << s.output();
  const Turn pirate = chat_turn(s, "Hi");
  ASSERT_GE(pirate.tokens, 1) << s.output();
  EXPECT_NE(pirate.prompt_tokens, hi.prompt_tokens) << s.output();

  // The energy sources are explained once, not per turn.
  EXPECT_EQ(count(s.output(), "[joule] energy sources"), 1u) << s.output();

  // Ctrl-C at the prompt ends the chat with 130.
  s.send("\x03");
  EXPECT_EQ(s.wait_exit(), 130) << s.output();
}

TEST(ChatCli, ExitCommandAndNoEnergy) {
  SKIP_WITHOUT_MODEL();
  ChatSession s({"--no-energy"});
  ASSERT_TRUE(s.wait_for("> ")) << s.output();
  const Turn t = chat_turn(s, "Hi");
  ASSERT_GE(t.tokens, 1) << s.output();
  EXPECT_EQ(s.output().find("energy"), std::string::npos) << s.output();
  s.send("/exit\n");
  EXPECT_EQ(s.wait_exit(), 0) << s.output();
}

TEST(ChatCli, CtrlDEnds) {
  SKIP_WITHOUT_MODEL();
  ChatSession s({"--no-energy"});
  ASSERT_TRUE(s.wait_for("> ")) << s.output();
  s.send("\x04");  // VEOF at the start of a line: end of input
  EXPECT_EQ(s.wait_exit(), 0) << s.output();
}

// Without a terminal: stdout carries the replies and nothing else.
TEST(ChatCli, StdoutHasOnlyReplies) {
  SKIP_WITHOUT_MODEL();
  const testing::CommandResult r = testing::run_command(
      "printf 'Hi\\n/help\\n/bogus\\nHi\\n' | timeout 50 " + std::string(JOULE_BINARY) + " chat -m " + kModel +
      " --temp 0 -n 40 -t 1 2>/dev/null");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output.find("[joule]"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("> "), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("/reset"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("unknown"), std::string::npos) << r.output;
  EXPECT_GE(count(r.output, "\n"), 2u) << "two replies:\n" << r.output;
}

}  // namespace
}  // namespace joule
