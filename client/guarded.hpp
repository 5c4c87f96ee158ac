// Asio's awaitable `a || b` completes with the first branch that *succeeds*: a branch that
// throws does not end it, so the other branch would go on waiting. Branches that can fail are
// therefore wrapped: guarded() turns a ClientError into a value (a successful completion), and
// the caller rethrows it once `||` has cancelled the other branch.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <optional>

#include "exit_codes.hpp"

namespace parley::client {

inline boost::asio::awaitable<std::optional<ClientError>> guarded(
    boost::asio::awaitable<void> branch) {
  try {
    co_await std::move(branch);
  } catch (const ClientError& e) {
    co_return e;
  }
  co_return std::nullopt;
}

// For the variant `||` yields from guarded branches: rethrows the error a branch ended with.
template <class Variant>
void rethrow_branch_error(const Variant& outcome) {
  std::visit(
      [](const auto& result) {
        if constexpr (std::is_same_v<std::decay_t<decltype(result)>, std::optional<ClientError>>)
          if (result) throw *result;
      },
      outcome);
}

}  // namespace parley::client
