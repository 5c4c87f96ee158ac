// Test doubles for the hub: a member that records every event it is delivered, and a
// deterministic guest-suffix generator. Shared by the hub's and the cluster directory's tests.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "hub.hpp"
#include "parley/event.hpp"

namespace parley::server::testing_support {

struct FakeMember : Member {
  std::vector<std::string> delivered;
  std::vector<const char*> data;           // addresses, to prove a fan-out shares one serialization
  std::size_t event_limit = 65536 - 33;    // as a session with the default max_frame
  std::size_t reply_budget = 1048576 / 2;  // as a session with the default outbox_bytes

  std::size_t max_event_bytes() const override { return event_limit; }
  std::size_t reply_budget_bytes() const override { return reply_budget; }
  void end_session(StatusCode code, std::string_view reason) override {
    ended.emplace_back(code, reason);
  }
  std::vector<std::pair<StatusCode, std::string>> ended;

  void deliver(std::string_view json) override {
    delivered.emplace_back(json);
    data.push_back(json.data());
  }

  std::vector<evt::Event> events() const {
    std::vector<evt::Event> out;
    for (const std::string& json : delivered) {
      auto parsed = evt::parse(json);
      EXPECT_TRUE(std::holds_alternative<evt::Event>(parsed)) << json;
      if (auto* event = std::get_if<evt::Event>(&parsed)) out.push_back(std::move(*event));
    }
    return out;
  }

  template <typename T>
  std::vector<T> all() const {
    std::vector<T> out;
    for (auto& event : events()) {
      if (auto* typed = std::get_if<T>(&event)) out.push_back(*typed);
    }
    return out;
  }

  // The single event delivered since the last clear(), which must be a T.
  template <typename T>
  T only() const {
    const auto got = events();
    EXPECT_EQ(got.size(), 1u) << (delivered.empty() ? "" : delivered.back());
    if (got.size() != 1 || !std::holds_alternative<T>(got.front())) {
      ADD_FAILURE() << "unexpected event " << (delivered.empty() ? "" : delivered.back());
      return T{};
    }
    return std::get<T>(got.front());
  }

  void clear() {
    delivered.clear();
    data.clear();
  }
};

// Yields the given suffixes in order, then repeats the last one.
inline std::function<std::uint16_t()> suffixes(std::vector<std::uint16_t> values) {
  auto index = std::make_shared<std::size_t>(0);
  return [values = std::move(values), index]() {
    const std::uint16_t value = values[std::min(*index, values.size() - 1)];
    ++*index;
    return value;
  };
}

}  // namespace parley::server::testing_support
