// Ctrl-R: incremental search backwards through the lines entered, as in bash. Pure code over
// the history the caller keeps (oldest first).
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace parley::client {

class ReverseSearch {
 public:
  explicit ReverseSearch(const std::vector<std::string>& history) : history_(history) {}

  // The query grows by `text`: the newest line at or before the current match that holds it.
  void type(std::string_view text);
  // The query loses its last character: searched again from the newest line.
  void erase();
  // Ctrl-R again: the next older line that holds the query.
  void older();

  const std::string& query() const { return query_; }
  // The line found (an index into the history), if any.
  std::optional<std::size_t> match() const { return match_; }
  // Where the query starts within the line found (for the cursor).
  std::size_t offset() const { return offset_; }
  // The last step found nothing (the previous match stays shown, as bash does).
  bool failing() const { return failing_; }

 private:
  // Searches from index `from` down to the oldest line.
  void search_from(std::size_t from);

  const std::vector<std::string>& history_;
  std::string query_;
  std::optional<std::size_t> match_;
  std::size_t offset_ = 0;
  bool failing_ = false;
};

}  // namespace parley::client
