// A strict reader of the Prometheus text format (0.0.4) for tests: it checks what promtool
// checks and what parleyd promises on top (every family has HELP then TYPE, once, before its
// samples; counters end in _total and never go negative; histogram buckets ascend to +Inf and
// are cumulative, with _sum and _count; only the format's three escapes; no timestamps, no
// duplicate series, no blank lines), and hands back the samples so a test can read values.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace parley::test {

using PromLabels = std::map<std::string, std::string>;

struct PromSample {
  std::string name;
  PromLabels labels;
  double value = 0;
};

struct PromFamily {
  std::string name;
  std::string type;
  std::string help;  // unescaped
  std::vector<PromSample> samples;
};

struct PromText {
  std::vector<PromFamily> families;
  std::vector<std::string> errors;  // "line 12: ..."; empty when the text is valid

  bool ok() const { return errors.empty(); }
  const PromFamily* family(std::string_view name) const;
  // The sample with exactly these labels, if there is one.
  std::optional<double> value(std::string_view name, const PromLabels& labels = {}) const;
  std::size_t sample_count() const;
  std::string errors_text() const;
};

PromText parse_prom_text(std::string_view text);

}  // namespace parley::test
