// Asio's awaitable `a || b` completes with the first branch that *succeeds*: a branch that
// throws does not end it, so the other branch would go on waiting. Branches that can fail are
// therefore wrapped: guarded() turns an exception into a value (a ClientError: a successful
// completion), and the caller rethrows it once `||` has cancelled the other branch.
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
  } catch (const std::exception& e) {
    // Any other failure (reading stdin, say) must end the race too, or `||` would wait on.
    co_return ClientError(Exit::failure, e.what());
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
