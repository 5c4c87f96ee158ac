#include "reverse_search.hpp"

#include "utf8.hpp"

namespace parley::client {

void ReverseSearch::search_from(std::size_t from) {
  for (std::size_t i = from + 1; i-- > 0;) {
    const auto at = history_[i].find(query_);
    if (at != std::string::npos) {
      match_ = i;
      offset_ = at;
      failing_ = false;
      return;
    }
  }
  failing_ = true;
}

void ReverseSearch::type(std::string_view text) {
  query_ += text;
  if (history_.empty()) {
    failing_ = true;
    return;
  }
  search_from(match_.value_or(history_.size() - 1));
}

void ReverseSearch::erase() {
  if (query_.empty()) return;
  query_.erase(last_character_start(query_));
  match_.reset();
  offset_ = 0;
  failing_ = false;
  if (!query_.empty() && !history_.empty()) search_from(history_.size() - 1);
}

void ReverseSearch::older() {
  if (query_.empty() || !match_ || *match_ == 0) {
    if (!query_.empty()) failing_ = true;
    return;
  }
  const std::size_t before = *match_;
  search_from(before - 1);
  if (failing_) match_ = before;
}

}  // namespace parley::client
