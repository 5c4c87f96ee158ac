// Admission under attack (the hardening issue, items 1, 5 and 6): slow senders from a few or
// many addresses must not lock out a newcomer, max_clients holds however the handshakes
// interleave, and one address cannot take every seat.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <thread>

#include <botan/auto_rng.h>
#include <botan/bigint.h>
#include <botan/rsa.h>
#include <botan/x509_key.h>

#include "harness.hpp"
#include "parley/rsa_key.hpp"
#include "trickler.hpp"

namespace parley::it {
namespace {

using namespace std::chrono_literals;

std::vector<std::string> addresses(const std::string& prefix, int first, int count) {
  std::vector<std::string> out;
  for (int i = first; i < first + count; ++i)
    out.push_back(prefix + std::to_string(i));
  return out;
}

// `count` connections one after another from `source`, each connect and handshake timed.
void expect_each_gets_in_fast(ServerProcess& server, const std::string& source, int count) {
  for (int i = 0; i < count; ++i) {
    TestClient client;
    const auto start = Clock::now();
    ASSERT_TRUE(client.connect(server.port(), {.source_address = source}));
    const auto outcome = client.handshake();
    const auto took = Clock::now() - start;
    EXPECT_TRUE(outcome.established) << "connection " << i << ": " << outcome.what;
    EXPECT_LT(took, milliseconds(1000 * kSlowdown))
        << "connection " << i << " took " << std::chrono::duration_cast<milliseconds>(took).count()
        << " ms";
  }
}

// Admission as shipped: the harness raises the per-source rate for its own bursts.
void shipped_admission(nlohmann::json& cfg) {
  cfg["limits"].erase("handshakes_per_source_per_s");
  cfg["limits"].erase("handshake_burst_per_source");
}

// Handshakes that ended for this reason, and from where.
std::vector<std::string> peers_failed_with(const ServerProcess& server, std::string_view reason) {
  std::vector<std::string> peers;
  for (const auto& j : server.events("handshake_failed"))
    if (j.value("reason", "").find(reason) != std::string::npos)
      peers.push_back(j.value("peer", ""));
  return peers;
}

bool from_any_of(const std::string& peer, const std::vector<std::string>& sources) {
  for (const auto& s : sources)
    if (peer.rfind(s + ":", 0) == 0) return true;
  return false;
}

TEST(Lockout, TrickleFromFourAddressesLocksNobodyOut) {
  ServerProcess server;
  auto cfg = server.default_config();
  shipped_admission(cfg);
  ASSERT_TRUE(server.start(cfg));

  const auto attackers = addresses("127.0.0.", 2, 4);
  Trickler trickle(server.port(), {attackers, 25, 1000});
  // Until the attackers hold all the handshakes their caps allow them.
  const auto deadline = Clock::now() + 5s * kSlowdown;
  while (trickle.held() < attackers.size() * 16 && Clock::now() < deadline)
    std::this_thread::sleep_for(50ms);
  ASSERT_GE(trickle.held(), attackers.size() * 16) << "the attack did not build up";
  // And keeps on: sockets time out, are refused and come back, as in the attack on record.
  std::this_thread::sleep_for(2s);

  expect_each_gets_in_fast(server, "127.0.0.6", 20);

  // The per-source caps, not luck, kept the table open: the attackers were refused, and held
  // no more than their share.
  bool refused = false;
  for (const auto& j : server.events("admission_refused")) {
    EXPECT_TRUE(from_any_of(j.value("peer", ""), attackers)) << j.dump();
    refused = true;
  }
  EXPECT_TRUE(refused);
  EXPECT_LE(trickle.held(), attackers.size() * 16 + attackers.size() * 2)
      << "beyond the per-source cap (plus sockets the server has not yet refused)";
}

TEST(Lockout, SixtyFourTricklingAddressesMakeRoomByEviction) {
  ServerProcess server;
  auto cfg = server.default_config();
  // Each attacker stays under its per-source cap, together they fill the table, and neither
  // deadline frees a place during the test: only eviction can let a newcomer in.
  cfg["limits"]["max_pending_handshakes"] = 256;
  cfg["limits"]["max_pending_per_source"] = 16;
  cfg["limits"]["hello_timeout_ms"] = 120000;
  cfg["limits"]["handshake_timeout_ms"] = 120000;
  ASSERT_TRUE(server.start(cfg));

  const auto attackers = addresses("127.0.1.", 1, 64);
  Trickler trickle(server.port(), {attackers, 50, 4});
  const auto deadline = Clock::now() + 10s * kSlowdown;
  while (trickle.held() < 256 && Clock::now() < deadline)
    std::this_thread::sleep_for(50ms);
  ASSERT_EQ(trickle.held(), 256u) << "the attack did not fill the table";
  // Older than the eviction grace (one second).
  std::this_thread::sleep_for(1200ms);
  ASSERT_EQ(trickle.closed_by_server(), 0u) << "the table is not full: nothing to prove";

  // Each newcomer stops after its ServerHello and so keeps its place in the table: every one
  // of them needs an eviction. Two addresses, so that they stay under the per-source cap too.
  std::vector<std::unique_ptr<TestClient>> newcomers;
  for (int i = 0; i < 20; ++i) {
    newcomers.push_back(std::make_unique<TestClient>());
    const auto start = Clock::now();
    const std::string source = i % 2 == 0 ? "127.0.0.200" : "127.0.0.201";
    ASSERT_TRUE(newcomers.back()->connect(server.port(), {.source_address = source}));
    const auto outcome = newcomers.back()->handshake_until_finished();
    const auto took = Clock::now() - start;
    EXPECT_FALSE(outcome.failure) << "newcomer " << i << ": " << outcome.what;
    EXPECT_LT(took, milliseconds(1000 * kSlowdown))
        << "newcomer " << i << " took " << std::chrono::duration_cast<milliseconds>(took).count()
        << " ms";
  }
  for (auto& n : newcomers)
    EXPECT_TRUE(n->finish_handshake().established);

  const auto evicted = peers_failed_with(server, "evicted");
  EXPECT_GE(evicted.size(), 20u);
  for (const auto& peer : evicted)
    EXPECT_TRUE(from_any_of(peer, attackers)) << "evicted a newcomer: " << peer;
}

TEST(Lockout, MaxClientsHoldsWhenEveryClientHelloComesFirst) {
  ServerProcess server;
  auto cfg = server.default_config();
  cfg["limits"]["max_clients"] = 5;
  ASSERT_TRUE(server.start(cfg));
  std::vector<std::unique_ptr<TestClient>> clients;
  std::size_t server_hellos = 0;
  for (int i = 0; i < 20; ++i) {
    clients.push_back(std::make_unique<TestClient>());
    ASSERT_TRUE(clients.back()->connect(server.port()));
    const auto outcome = clients.back()->handshake_until_finished();
    if (!outcome.failure) {
      ++server_hellos;
      continue;
    }
    EXPECT_EQ(outcome.failure->code, StatusCode::server_full) << outcome.what;
  }
  EXPECT_EQ(server_hellos, 5u) << "a seat is taken with the ServerHello";
  std::size_t established = 0;
  for (auto& c : clients) {
    if (c->eof() || !c->finish_handshake().established) continue;
    ++established;
    c->expect_alive();
  }
  EXPECT_EQ(established, 5u);
}

TEST(Lockout, OneAddressCannotTakeEverySeat) {
  ServerProcess server;
  auto cfg = server.default_config();
  cfg["limits"]["max_sessions_per_source"] = 3;
  ASSERT_TRUE(server.start(cfg));
  std::vector<std::unique_ptr<TestClient>> held;
  for (int i = 0; i < 3; ++i) {
    held.push_back(std::make_unique<TestClient>());
    ASSERT_TRUE(held.back()->open(server.port(), {}, {.source_address = "127.0.0.2"}));
  }
  TestClient fourth;
  ASSERT_TRUE(fourth.connect(server.port(), {.source_address = "127.0.0.2"}));
  const auto refused = fourth.handshake();
  ASSERT_TRUE(refused.failure.has_value()) << "a fourth session from one address";
  EXPECT_EQ(refused.failure->code, StatusCode::server_full);
  EXPECT_NE(refused.failure->reason.find("too many sessions from this address"), std::string::npos)
      << refused.failure->reason;

  TestClient elsewhere;
  EXPECT_TRUE(elsewhere.open(server.port(), {}, {.source_address = "127.0.0.3"}));

  // A seat given back (when the session's close is logged) can be taken again.
  const auto mark = server.log_mark();
  ASSERT_TRUE(held.front()->send(req::Quit{}));
  EXPECT_TRUE(held.front()->wait_closed().close_record);
  ASSERT_TRUE(server.wait_for_event("session_close", kDefaultTimeout, mark));
  TestClient again;
  EXPECT_TRUE(again.open(server.port(), {}, {.source_address = "127.0.0.2"}));

  // Lowering the limit below what the address holds closes nobody.
  cfg["limits"]["max_sessions_per_source"] = 1;
  server.write_config(cfg);
  const auto reload_mark = server.log_mark();
  server.signal(SIGHUP);
  ASSERT_TRUE(server.wait_for_event("reload", kDefaultTimeout, reload_mark));
  for (std::size_t i = 1; i < held.size(); ++i)
    held[i]->expect_alive();
  again.expect_alive();
}

TEST(Lockout, ConnectFloodIsLoggedAsCounts) {
  ServerProcess server;
  auto cfg = server.default_config();
  cfg["limits"]["handshakes_per_source_per_s"] = 1;
  cfg["limits"]["handshake_burst_per_source"] = 2;
  ASSERT_TRUE(server.start(cfg));
  std::size_t refused = 0;
  for (int i = 0; i < 100; ++i) {
    TestClient c;
    ASSERT_TRUE(c.connect(server.port(), {.source_address = "127.0.0.7"}));
    // The burst, and a token more each second on a slow machine, is admitted (and closed here
    // unfinished); the rest is refused at once.
    if (i < 2) continue;
    auto error = c.read_error_frame(1s);
    if (!error) continue;
    EXPECT_EQ(error->code, StatusCode::server_full);
    ++refused;
  }
  EXPECT_GE(refused, 90u);
  // The counts are logged at the end of the interval, or at shutdown.
  server.signal(SIGTERM);
  EXPECT_TRUE(server.wait_exit().clean());
  const auto lines = server.events("admission_refused");
  ASSERT_EQ(lines.size(), 1u) << "one line for the first refusal of the interval";
  EXPECT_EQ(lines[0].value("reason", ""), "handshake rate from this source");
  std::uint64_t counted = 0;
  for (const auto& j : server.events("admission_refused_more")) {
    EXPECT_EQ(j.value("source", ""), "v4:127.0.0.7");
    EXPECT_EQ(j.value("interval_s", 0), 10);
    counted += j.value("count", std::uint64_t{0});
  }
  EXPECT_EQ(counted + 1, refused) << "every refusal is counted once";
}

// A ClientHello frame whose transport key has `bits` bits and e = 2^32 - 1: a random odd modulus,
// as an attacker would send (it needs no private key to make the server work).
Bytes costly_client_hello(std::size_t bits) {
  Botan::AutoSeeded_RNG rng;
  Botan::BigInt n;
  n.randomize(rng, bits);
  n.set_bit(bits - 1);
  n.set_bit(0);
  const Botan::RSA_PublicKey key(n, Botan::BigInt(4294967295u));
  const auto der = Botan::X509::BER_encode(key);
  ClientHello hello;
  rng.randomize(hello.random.data(), hello.random.size());
  hello.suites = {static_cast<std::uint16_t>(SuiteId::aes_256_gcm)};
  hello.transport_key.assign(der.begin(), der.end());
  hello.transport_key_sha256 = sha256(hello.transport_key);
  return encode_frame(encode(hello));
}

TEST(Lockout, LargeKeyHellosCostTheirShareOfTheSourceRate) {
  ServerProcess server;
  auto cfg = server.default_config();
  shipped_admission(cfg);  // 20 handshakes a second per source, 40 at once
  ASSERT_TRUE(server.start(cfg));
  const Bytes hello = costly_client_hello(8192);  // 16 handshakes' worth of work

  const auto start = Clock::now();
  std::size_t served = 0, refused = 0;
  for (int i = 0; i < 12; ++i) {
    TestClient attacker;
    ASSERT_TRUE(attacker.connect(server.port(), {.source_address = "127.0.0.2"}));
    ASSERT_TRUE(attacker.send_raw(hello));
    if (auto error = attacker.read_error_frame(3s * kSlowdown)) {
      // At its hello ("handshake rate from this source") or, the bucket empty, at accept.
      EXPECT_EQ(error->code, StatusCode::server_full) << error->reason;
      ++refused;
    } else {
      ++served;  // a ServerHello (not an Error frame) came back
    }
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  // 40 tokens at once and 20 a second, 16 per hello: 2 at once, then one every 0.8 s.
  EXPECT_LE(static_cast<double>(served), 2 + seconds * 20 / 16 + 1)
      << served << " served in " << seconds << " s";
  EXPECT_GE(refused, 6u);
  EXPECT_FALSE(peers_failed_with(server, "handshake rate from this source").empty())
      << "no hello was charged for its key";

  // A 2048-bit client from the same address pays one token: once the bucket has refilled a
  // little, it gets in, and one from elsewhere at once.
  TestClient other;
  EXPECT_TRUE(other.open(server.port(), {}, {.source_address = "127.0.0.3"}));
}

}  // namespace
}  // namespace parley::it

namespace parley::it {
namespace {

// The attack on record: `rooms` with 1,500 rooms made an 84 KB frame against a max_frame of
// 65,536, and the real client gave up. Now every reply fits, and the pages add up to the list.
TEST(Listings, FifteenHundredRoomsComeInPagesThatFit) {
  ServerProcess server;
  auto cfg = server.default_config();
  cfg["limits"]["max_frame"] = 16384;
  cfg["limits"]["max_message_bytes"] = 1024;
  cfg["limits"]["rate"] = 100000;
  cfg["limits"]["burst"] = 100000;
  ASSERT_TRUE(server.start(cfg));
  TestClient a;
  ASSERT_TRUE(a.open(server.port()));
  const auto& features = a.welcome().features;
  EXPECT_NE(std::find(features.begin(), features.end(), "paging"), features.end());
  EXPECT_NE(std::find(features.begin(), features.end(), "seq_ack"), features.end());

  // 15 members of 100 rooms each (the per-session limit), names as long as names go.
  std::vector<std::unique_ptr<TestClient>> owners;
  for (int o = 0; o < 15; ++o) {
    owners.push_back(std::make_unique<TestClient>());
    ASSERT_TRUE(owners.back()->open(server.port()));
    std::vector<req::Request> joins;
    for (int r = 0; r < 100; ++r)
      joins.push_back(request(
          req::Join{std::string(26, 'r') + std::to_string(100000 + o * 100 + r)}, std::int64_t{r}));
    ASSERT_TRUE(owners.back()->send_burst(joins));
    for (int r = 0; r < 100; ++r)
      ASSERT_TRUE(owners.back()->wait_for<evt::Ack>());
  }
  TestClient latecomer;
  ASSERT_TRUE(latecomer.open(server.port()));
  ASSERT_TRUE(latecomer.send(req::Join{"one"}, std::int64_t{1}));
  ASSERT_TRUE(latecomer.send(req::Join{"two"}, std::int64_t{2}));

  std::set<std::string> listed;
  std::optional<std::string> after;
  int pages = 0;
  for (; pages < 100; ++pages) {
    req::Rooms ask;
    ask.after = after;
    ask.limit = 1000;
    ASSERT_TRUE(a.send(ask, std::int64_t{pages}));
    const auto page = a.expect<evt::Rooms>();
    for (const auto& room : page.rooms)
      EXPECT_TRUE(listed.insert(room.name).second) << room.name << " listed twice";
    if (!page.next) break;
    after = page.next;
  }
  EXPECT_GT(pages, 2) << "16 KiB frames cannot hold 1,500 rooms in one or two";
  EXPECT_EQ(listed.size(), 1502u);  // and the two rooms of the latecomer
  a.expect_alive();                 // every reply opened: none was over the announced max_frame
}

}  // namespace
}  // namespace parley::it
