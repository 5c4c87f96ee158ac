#include "nats_fixture.hpp"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <sstream>

namespace parley::it {
namespace {

// nats-server logs this line once it accepts clients, JetStream enabled before it.
constexpr std::string_view kReady = "Server is ready";
// It starts in milliseconds; the bound is for a loaded machine and the sanitizer build.
constexpr milliseconds kNatsStartTimeout{10000};

bool executable(const std::string& path) {
  return ::access(path.c_str(), X_OK) == 0;
}

}  // namespace

std::optional<std::string> NatsServer::binary() {
  if (const char* env = std::getenv("PARLEY_TEST_NATS_SERVER"); env != nullptr && *env != '\0')
    return executable(env) ? std::optional<std::string>(env) : std::nullopt;
  for (const char* path : {"/usr/sbin/nats-server", "/usr/bin/nats-server"})
    if (executable(path)) return std::string(path);
  if (const char* path = std::getenv("PATH")) {
    std::istringstream dirs(path);
    for (std::string dir; std::getline(dirs, dir, ':');)
      if (!dir.empty() && executable(dir + "/nats-server")) return dir + "/nats-server";
  }
  return std::nullopt;
}

std::uint16_t unused_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 0;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  std::uint16_t port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0)
    port = ntohs(addr.sin_port);
  ::close(fd);
  return port;
}

NatsServer::NatsServer() : port_(unused_port()) {}

NatsServer::~NatsServer() {
  kill();
}

::testing::AssertionResult NatsServer::start() {
  const auto path = binary();
  if (!path) return ::testing::AssertionFailure() << "nats-server is not installed";
  if (process_) return ::testing::AssertionFailure() << "nats-server runs already";
  if (port_ == 0) return ::testing::AssertionFailure() << "no free loopback port";
  process_ = std::make_unique<ChildProcess>(std::vector<std::string>{
      *path, "-js", "-a", "127.0.0.1", "-p", std::to_string(port_), "-sd", dir_.file("store")});
  if (!process_->started()) {
    const std::string why = process_->start_error();
    process_.reset();
    return ::testing::AssertionFailure() << "cannot start nats-server: " << why;
  }
  if (!process_->wait_for_stderr(kReady, kNatsStartTimeout * kSlowdown)) {
    last_log_ = process_->stderr_text();
    process_.reset();  // kills it
    return ::testing::AssertionFailure()
           << "nats-server on port " << port_ << " did not become ready; its log:\n"
           << last_log_;
  }
  return ::testing::AssertionSuccess();
}

void NatsServer::stop() {
  if (!process_) return;
  process_->signal(SIGTERM);
  process_->wait_exit(kDefaultTimeout * kSlowdown);  // kills at the deadline
  last_log_ = process_->stderr_text();
  process_.reset();
}

void NatsServer::kill() {
  if (!process_) return;
  process_->signal(SIGKILL);
  process_->wait_exit(kDefaultTimeout);
  last_log_ = process_->stderr_text();
  process_.reset();
}

::testing::AssertionResult NatsServer::restart() {
  stop();
  return start();
}

std::string NatsServer::log() const {
  return process_ ? process_->stderr_text() : last_log_;
}

nlohmann::json with_cluster(ServerProcess& server, const std::vector<std::string>& servers,
                            const std::string& node) {
  auto config = server.default_config();
  config["cluster"] = {{"servers", servers}, {"name", "parleytest"}};
  if (!node.empty()) config["cluster"]["node"] = node;
  return config;
}

::testing::AssertionResult start_nodes(const NatsServer& nats,
                                       const std::vector<std::string>& names,
                                       std::vector<std::unique_ptr<ServerProcess>>& nodes) {
  for (const std::string& node : names) {
    auto& server = *nodes.emplace_back(std::make_unique<ServerProcess>());
    auto config = with_cluster(server, {nats.url()}, node);
    config["limits"]["rate"] = 10000;
    config["limits"]["burst"] = 10000;
    if (!server.start(config))
      return ::testing::AssertionFailure() << "node " << node << " did not start";
    if (!server.wait_for_event("cluster_joined", kStartTimeout * kSlowdown))
      return ::testing::AssertionFailure() << "node " << node << " did not join:\n"
                                           << server.log_text();
  }
  return ::testing::AssertionSuccess();
}

}  // namespace parley::it
