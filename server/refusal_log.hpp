// Admission refusals, aggregated for the log: a connect flood refused one line at a time would
// write gigabytes a day. The first refusal of a source for a reason in an interval is logged as
// it happens; the rest are counted, and logged as one line per source and reason when the
// interval ends. Pure: the server drives the intervals.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace parley::server {

class RefusalLog {
 public:
  // Sources tracked per interval; refusals from further sources are counted under "other".
  explicit RefusalLog(std::size_t max_sources = 1024) : max_sources_(max_sources) {}

  // True when this refusal is to be logged now: the first of its source and reason in this
  // interval. Otherwise it is counted.
  bool note(const std::string& source, std::string_view reason) {
    auto it = counts_.find(Key{source, reason});
    if (it != counts_.end()) {
      ++it->second;
      return false;
    }
    if (counts_.size() >= max_sources_) {
      ++counts_[Key{"other", std::string(reason)}];
      return false;
    }
    counts_.emplace(Key{source, std::string(reason)}, 0);
    return true;
  }

  struct Count {
    std::string source;
    std::string reason;
    std::uint64_t count;  // refusals not logged one by one
  };
  // The counts of the interval that ends now; the next one starts empty.
  std::vector<Count> end_interval() {
    std::vector<Count> out;
    for (auto& [key, count] : counts_)
      if (count > 0) out.push_back({key.first, key.second, count});
    counts_.clear();
    return out;
  }
  // Nothing refused in this interval so far.
  bool empty() const { return counts_.empty(); }

 private:
  using Key = std::pair<std::string, std::string>;
  std::size_t max_sources_;
  std::map<Key, std::uint64_t> counts_;
};

}  // namespace parley::server
