// The session's pure policies (server/liveness, rate_guard, idle_trim, ending), the admission
// slot, and the deadline that ends a pending operation without a parallel group.
#include <gtest/gtest.h>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include "admission.hpp"
#include "deadline.hpp"
#include "ending.hpp"
#include "idle_trim.hpp"
#include "liveness.hpp"
#include "rate_guard.hpp"

namespace parley::server {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
const Clock::time_point t0 = Clock::time_point{} + 1000h;

TEST(Liveness, PingAfterTheIntervalThenGiveUpAfterTheTimeout) {
  Liveness l(10s, 5s, t0);
  EXPECT_EQ(l.deadline(), t0 + 10s);
  EXPECT_EQ(l.on_deadline(t0 + 9s), Liveness::Due::nothing);  // early: nothing
  EXPECT_EQ(l.on_deadline(t0 + 10s), Liveness::Due::ping);
  EXPECT_TRUE(l.ping_outstanding());
  EXPECT_EQ(l.deadline(), t0 + 15s);
  EXPECT_EQ(l.on_deadline(t0 + 14s), Liveness::Due::nothing);
  EXPECT_EQ(l.on_deadline(t0 + 15s), Liveness::Due::give_up);
}

TEST(Liveness, AnyRecordAnswersThePingAndRestartsTheInterval) {
  Liveness l(10s, 5s, t0);
  EXPECT_EQ(l.on_deadline(t0 + 10s), Liveness::Due::ping);
  l.heard(t0 + 12s);
  EXPECT_FALSE(l.ping_outstanding());
  EXPECT_EQ(l.deadline(), t0 + 22s);
  EXPECT_EQ(l.on_deadline(t0 + 16s), Liveness::Due::nothing);
}

// The reload found by an operator: 10/5 lowered to 3/1 must not close sessions just pinged.
TEST(Liveness, LoweringOnReloadGivesAnOutstandingPingTheWholeNewTimeout) {
  Liveness l(10s, 5s, t0);
  EXPECT_EQ(l.on_deadline(t0 + 10s), Liveness::Due::ping);
  l.reconfigure(3s, 1s, t0 + 12s);
  EXPECT_EQ(l.deadline(), t0 + 13s);  // not t0 + 11s, already past
  EXPECT_EQ(l.on_deadline(t0 + 12s + 999ms), Liveness::Due::nothing);
  EXPECT_EQ(l.on_deadline(t0 + 13s), Liveness::Due::give_up);
}

TEST(Liveness, LoweringOnReloadPingsALongSilenceAtOnceThenWaitsTheNewTimeout) {
  Liveness l(10s, 5s, t0);
  l.reconfigure(3s, 1s, t0 + 8s);  // silent for 8 s, the new interval is 3 s
  EXPECT_EQ(l.on_deadline(t0 + 8s), Liveness::Due::ping);
  EXPECT_EQ(l.deadline(), t0 + 9s);
  EXPECT_EQ(l.on_deadline(t0 + 8s + 500ms), Liveness::Due::nothing);
}

TEST(RateGuard, BurstThenRefusalsThenFloodingAtTheStrikeLimit) {
  RateGuard g(1.0, 3.0, 3, t0);
  for (int i = 0; i < 3; ++i)
    EXPECT_EQ(g.take(t0), RateGuard::Verdict::allowed);
  EXPECT_EQ(g.take(t0), RateGuard::Verdict::first_strike);
  EXPECT_EQ(g.take(t0), RateGuard::Verdict::refused);
  EXPECT_EQ(g.take(t0), RateGuard::Verdict::flooding);
}

TEST(RateGuard, AnAllowedRequestClearsTheStrikes) {
  RateGuard g(1.0, 1.0, 2, t0);
  EXPECT_EQ(g.take(t0), RateGuard::Verdict::allowed);
  EXPECT_EQ(g.take(t0), RateGuard::Verdict::first_strike);
  EXPECT_EQ(g.take(t0 + 1s), RateGuard::Verdict::allowed);       // refilled
  EXPECT_EQ(g.take(t0 + 1s), RateGuard::Verdict::first_strike);  // a new run
}

TEST(RateGuard, ReconfigureCutsTheSavedTokensToTheNewBurst) {
  RateGuard g(1000.0, 1000.0, 100, t0);
  g.reconfigure(1.0, 2.0, 100);
  EXPECT_EQ(g.take(t0), RateGuard::Verdict::allowed);
  EXPECT_EQ(g.take(t0), RateGuard::Verdict::allowed);
  EXPECT_EQ(g.take(t0), RateGuard::Verdict::first_strike);
}

TEST(IdleTrim, EverythingGoesAtTheFirstLookWhenNothingWasSealedSinceTheLastRequest) {
  IdleTrim t(2s, t0, 0);
  t.heard(t0, 3);  // a request and its replies: 3 records sealed so far
  EXPECT_EQ(t.deadline(), t0 + 2s);
  auto early = t.on_deadline(t0 + 1s, 3, true, true);
  EXPECT_FALSE(early.input || early.output) << "called early: nothing";
  auto first = t.on_deadline(t0 + 2s, 3, true, true);
  EXPECT_TRUE(first.input && first.output);
  EXPECT_EQ(t.deadline(), Clock::time_point::max()) << "nothing left to give back";
  t.heard(t0 + 10s, 4);
  EXPECT_EQ(t.deadline(), t0 + 12s);
}

TEST(IdleTrim, ABusyOrBackedUpSealerIsKept) {
  IdleTrim t(2s, t0, 0);
  t.heard(t0, 5);
  auto first = t.on_deadline(t0 + 2s, 9, true, true);  // deliveries sealed meanwhile
  EXPECT_TRUE(first.input);
  EXPECT_FALSE(first.output) << "sealed since the last request";
  EXPECT_EQ(t.deadline(), t0 + 4s) << "looked at again";
  EXPECT_FALSE(t.on_deadline(t0 + 4s, 10, true, true).output) << "sealed since the last look";
  EXPECT_FALSE(t.on_deadline(t0 + 6s, 10, false, true).output) << "output still unsent";
  EXPECT_TRUE(t.on_deadline(t0 + 8s, 10, true, true).output);
}

TEST(IdleTrim, AReleasedSealerKeyedAgainIsLookedAtAgain) {
  IdleTrim t(2s, t0, 0);
  t.heard(t0, 1);
  auto first = t.on_deadline(t0 + 2s, 1, true, false);  // the sealer holds no cipher already
  EXPECT_TRUE(first.input);
  EXPECT_FALSE(first.output);
  EXPECT_EQ(t.deadline(), Clock::time_point::max());
  t.rekeyed(t0 + 5s, 2);  // a delivery to the silent member
  EXPECT_EQ(t.deadline(), t0 + 7s);
  t.rekeyed(t0 + 6s, 3);  // already looked at: no change
  EXPECT_EQ(t.deadline(), t0 + 7s);
  EXPECT_FALSE(t.on_deadline(t0 + 7s, 3, true, true).output) << "sealed since it was keyed";
  EXPECT_TRUE(t.on_deadline(t0 + 9s, 3, true, true).output);
}

TEST(Ending, WhoSendsTheCloseRecord) {
  EXPECT_TRUE(Ending::by_server(StatusCode::policy, "flooding", "flooding").server_sends_close());
  const Ending peer = Ending::by_peer(CloseRecord{StatusCode::normal, "bye"});
  EXPECT_FALSE(peer.server_sends_close());
  EXPECT_EQ(peer.reason, "bye");
  EXPECT_EQ(peer.quit, "connection closed");
  const Ending lost = Ending::lost("bad record");
  EXPECT_FALSE(lost.server_sends_close());
  EXPECT_FALSE(lost.code.has_value());
  EXPECT_EQ(lost.quit, "connection lost");
}

TEST(AdmissionSlot, GivesItsPendingHandshakeBackExactlyOnce) {
  Admission admission(AdmissionLimits{});
  const auto source = boost::asio::ip::make_address("192.0.2.1");
  ASSERT_EQ(admission.admit(1, source, t0).verdict, Admission::Verdict::admitted);
  ASSERT_EQ(admission.admit(2, source, t0).verdict, Admission::Verdict::admitted);
  const AdmissionSlot other(admission, 2);
  {
    AdmissionSlot slot(admission, 1);
    AdmissionSlot moved = std::move(slot);
    EXPECT_EQ(admission.pending(), 2u);
    AdmissionSlot assigned;
    assigned = std::move(moved);
    EXPECT_EQ(admission.pending(), 2u);
  }
  EXPECT_EQ(admission.pending(), 1u) << "its own handshake only";
  EXPECT_EQ(admission.pending_from(source), 1u);
}

// A Deadline and an "operation" bound to it: a wait that only the deadline ends. The wait's
// handler records the end and stops the deadline's timer (else it keeps the loop busy).
class DeadlineTest : public ::testing::Test {
 protected:
  DeadlineTest() { deadline.set_owner(owner); }

  void start_operation() {
    never.expires_at(Clock::time_point::max());
    never.async_wait(boost::asio::bind_cancellation_slot(
        deadline.slot(), [this](const boost::system::error_code& ec) {
          ended = ec;
          done = true;
          deadline.stop();
        }));
  }

  boost::asio::io_context io;
  std::shared_ptr<int> owner = std::make_shared<int>(0);
  Deadline deadline{io.get_executor()};
  boost::asio::steady_timer never{io};
  bool done = false;
  boost::system::error_code ended;
};

// The deadline ends a pending wait through its slot when the time has passed, not before; moving
// it later lets the operation run on.
TEST_F(DeadlineTest, EndsTheBoundOperationOnlyOnceTheTimeHasPassed) {
  deadline.arm(Clock::now() + 20ms);
  deadline.arm(Clock::now() + 60ms);  // later: the timer fires at 20 ms and waits again
  const auto started = Clock::now();
  start_operation();
  io.run_for(5s);
  EXPECT_TRUE(done);
  EXPECT_EQ(ended, boost::asio::error::operation_aborted);
  EXPECT_TRUE(deadline.passed());
  EXPECT_GE(Clock::now() - started, 55ms);
}

TEST_F(DeadlineTest, BringingItForwardEndsThePendingOperationEarlier) {
  deadline.arm(Clock::now() + 10s);
  start_operation();
  deadline.bring_forward(Clock::now() + 30ms);
  deadline.bring_forward(Clock::now() + 5s);  // later: ignored
  const auto started = Clock::now();
  io.run_for(3s);
  EXPECT_TRUE(done);
  EXPECT_TRUE(deadline.passed());
  EXPECT_LT(Clock::now() - started, 2s);
}

TEST_F(DeadlineTest, CancelNowEndsTheOperationWithoutPassing) {
  deadline.arm(Clock::now() + 10s);
  start_operation();
  boost::asio::post(io, [&] { deadline.cancel_now(); });
  io.run_for(5s);
  EXPECT_TRUE(done);
  EXPECT_FALSE(deadline.passed());
}

}  // namespace
}  // namespace parley::server
