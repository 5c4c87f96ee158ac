// The Prometheus text exposition format (version 0.0.4) and the two kinds of series parleyd keeps
// for it, as pure code: a histogram with fixed buckets and a counter whose labels the server
// names itself. No sockets, no clocks, no locks: everything runs on the event loop's thread.
// Written by hand rather than with prometheus-cpp: the format is a few lines of rules, and the
// library's registry is built for many threads (atomics, mutexes) that parleyd does not have.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace parley::server {

// Counts observations into fixed buckets chosen at construction. observe() is a short search
// and three adds: cheap enough for every handshake and every loop-lag tick.
class Histogram {
 public:
  // Finite, strictly ascending upper bounds; the +Inf bucket is implied.
  explicit Histogram(std::vector<double> upper_bounds);

  // `value` falls in the first bucket whose bound is >= value (Prometheus' `le`, inclusive).
  // NaN is dropped: it would turn the sum into NaN for good.
  void observe(double value);

  const std::vector<double>& upper_bounds() const { return bounds_; }
  // Per bucket, not cumulative; one more than upper_bounds(): the last is above every bound.
  const std::vector<std::uint64_t>& bucket_counts() const { return counts_; }
  double sum() const { return sum_; }
  std::uint64_t count() const { return count_; }

 private:
  std::vector<double> bounds_;
  std::vector<std::uint64_t> counts_;
  double sum_ = 0;
  std::uint64_t count_ = 0;
};

// A counter family with labels whose values the server chooses (status code names, suite names,
// fixed reasons), never a peer: a peer cannot mint series. Even so the number of series is
// capped; past the cap every value becomes "other", so a bug cannot grow it without bound.
class LabeledCounter {
 public:
  static constexpr std::size_t kMaxSeries = 64;

  explicit LabeledCounter(std::vector<std::string> label_names);

  // One more for these label values (as many as label names, in their order). Adds a series the
  // first time a combination is seen; a linear search otherwise (a handful of series).
  void add(std::initializer_list<std::string_view> values, std::uint64_t n = 1);
  // Makes the series exist at 0, so rate() sees it from the first scrape (Prometheus practice).
  void preset(std::initializer_list<std::string_view> values) { add(values, 0); }
  // The count for these values, 0 if never seen (tests).
  std::uint64_t value(std::initializer_list<std::string_view> values) const;

  struct Series {
    std::vector<std::string> values;
    std::uint64_t count = 0;
  };
  const std::vector<std::string>& label_names() const { return names_; }
  const std::vector<Series>& series() const { return series_; }

 private:
  std::vector<std::string> names_;
  std::vector<Series> series_;
};

using Label = std::pair<std::string_view, std::string_view>;
using Labels = std::vector<Label>;

// Builds one exposition: call family() once per metric name, then its samples, in order.
class TextWriter {
 public:
  // "# HELP name help" and "# TYPE name type" (type: counter, gauge, histogram).
  void family(std::string_view name, std::string_view type, std::string_view help);
  void sample(std::string_view name, const Labels& labels, std::uint64_t value);
  void sample(std::string_view name, const Labels& labels, double value);
  // Every series of the counter, named `name` (which ends in _total).
  void counter(std::string_view name, const LabeledCounter& counter);
  // name_bucket{...,le="..."} cumulative and ending with le="+Inf", then name_sum, name_count.
  void histogram(std::string_view name, const Labels& labels, const Histogram& histogram);

  const std::string& text() const { return out_; }
  std::string take() { return std::move(out_); }

 private:
  void series(std::string_view name, std::string_view suffix, const Labels& labels,
              const Label* extra);

  std::string out_;
};

// The format's escapes: in HELP text a backslash and a line feed; in a label value also a
// double quote.
std::string escape_help(std::string_view text);
std::string escape_label_value(std::string_view value);
// A sample value or an `le` bound: the shortest text that reads back as the same double, and
// "+Inf", "-Inf", "NaN" as the format spells them.
std::string format_value(double value);

}  // namespace parley::server
