#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include <map>
#include <vector>

#include "signing_budget.hpp"

namespace parley::server {
namespace {

namespace asio = boost::asio;

// One "signer": acquires the budget, then records which loop turn it got in.
asio::awaitable<void> sign_once(SigningBudget& budget, const int& turn, std::vector<int>& turns,
                                std::size_t units = 1) {
  co_await budget.acquire(units);
  turns.push_back(turn);
}

// Counts loop turns: each tick re-posts itself, so one tick runs per pass over the queue.
void tick(asio::io_context& io, int& turn, int remaining) {
  if (remaining == 0) return;
  ++turn;
  asio::post(io, [&io, &turn, remaining] { tick(io, turn, remaining - 1); });
}

TEST(SigningBudget, AtMostPerTurnSignaturesInOneTurn) {
  asio::io_context io;
  SigningBudget budget(io.get_executor(), 3);
  int turn = 0;
  std::vector<int> turns;
  for (int i = 0; i < 10; ++i)
    asio::co_spawn(io, sign_once(budget, turn, turns), asio::detached);
  asio::post(io, [&] { tick(io, turn, 50); });
  io.run();
  ASSERT_EQ(turns.size(), 10u);
  std::map<int, int> per_turn;
  for (int t : turns)
    ++per_turn[t];
  for (const auto& [t, n] : per_turn)
    EXPECT_LE(n, 3) << "turn " << t;
  EXPECT_GE(per_turn.size(), 4u) << "10 signatures at 3 per turn need at least 4 turns";
}

TEST(SigningBudget, LargeKeysCostMoreUnitsAndGetATurnToThemselves) {
  EXPECT_EQ(rsa_work_units(2048), 1u);
  EXPECT_EQ(rsa_work_units(1024), 1u);
  EXPECT_EQ(rsa_work_units(3072), 3u);  // 2.25, rounded up
  EXPECT_EQ(rsa_work_units(4096), 4u);
  EXPECT_EQ(rsa_work_units(8192), 16u);

  asio::io_context io;
  SigningBudget budget(io.get_executor(), 4);
  int turn = 0;
  std::vector<int> small, large;
  for (int i = 0; i < 4; ++i)
    asio::co_spawn(io, sign_once(budget, turn, small), asio::detached);
  asio::co_spawn(io, sign_once(budget, turn, large, rsa_work_units(8192)), asio::detached);
  for (int i = 0; i < 4; ++i)
    asio::co_spawn(io, sign_once(budget, turn, small), asio::detached);
  asio::post(io, [&] { tick(io, turn, 50); });
  io.run();
  ASSERT_EQ(small.size(), 8u);
  ASSERT_EQ(large.size(), 1u);
  for (int t : small)
    EXPECT_NE(t, large[0]) << "the 8192-bit key shared its turn";
  std::map<int, int> per_turn;
  for (int t : small)
    ++per_turn[t];
  for (const auto& [t, n] : per_turn)
    EXPECT_LE(n, 4) << "turn " << t;
}

}  // namespace
}  // namespace parley::server
