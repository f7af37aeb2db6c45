#include "core/process.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <ctime>

#include <gtest/gtest.h>

namespace joule {
namespace {

TEST(ProcessTreeCpu, CountsABusyChild) {
  auto before = process_tree_cpu_seconds(getpid());
  ASSERT_TRUE(before.ok()) << before.status().message();
  int ready[2];
  ASSERT_EQ(pipe(ready), 0);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {  // busy until it has used 0.3 s of CPU (however loaded the machine), then waits
    volatile double x = 0;
    timespec ts{};
    do {
      for (int i = 0; i < 100000; ++i) x = x + 1;
      clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    } while (ts.tv_sec + ts.tv_nsec * 1e-9 < 0.3);
    (void)!write(ready[1], "x", 1);
    pause();
    _exit(0);
  }
  char c;
  ASSERT_EQ(read(ready[0], &c, 1), 1);
  auto after = process_tree_cpu_seconds(getpid());
  auto child_only = process_tree_cpu_seconds(child);
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
  close(ready[0]);
  close(ready[1]);
  ASSERT_TRUE(after.ok());
  ASSERT_TRUE(child_only.ok());
  EXPECT_GE(*child_only, 0.25);  // /proc counts clock ticks (10 ms); the child used 0.3 s
  EXPECT_GE(*after - *before, 0.25);
}

TEST(ProcessTreeCpu, AMissingProcessIsNotFound) {
  EXPECT_EQ(process_tree_cpu_seconds(999999999).status().code(), ErrorCode::kNotFound);
}

TEST(ListeningPid, FindsThisProcessesListener) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(listen(fd, 1), 0);
  socklen_t len = sizeof(addr);
  ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  const int port = ntohs(addr.sin_port);
  auto pid = listening_pid(port);
  close(fd);
  ASSERT_TRUE(pid.ok()) << pid.status().message();
  EXPECT_EQ(*pid, getpid());
  EXPECT_EQ(listening_pid(port).status().code(), ErrorCode::kNotFound);
}

}  // namespace
}  // namespace joule
