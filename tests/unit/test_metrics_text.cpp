// The Prometheus text format as parleyd writes it (server/prometheus_text.*), and the strict
// reader the tests check every exposition with (tests/support/prom_text.*).
#include <gtest/gtest.h>

#include <limits>
#include <string>

#include "prom_text.hpp"
#include "prometheus_text.hpp"

namespace parley::server {
namespace {

using test::parse_prom_text;

TEST(MetricsText, EscapesHelpAndLabelValues) {
  EXPECT_EQ(escape_help("a\\b\nc\"d"), "a\\\\b\\nc\"d");  // a quote needs no escape in HELP
  EXPECT_EQ(escape_label_value("a\\b\nc\"d"), "a\\\\b\\nc\\\"d");
  EXPECT_EQ(escape_label_value("AES-256-GCM"), "AES-256-GCM");

  TextWriter w;
  w.family("odd_total", "counter", "Back\\slash and\nnewline.");
  w.sample("odd_total", {{"v", "say \"hi\"\\\n"}, {"w", ""}}, std::uint64_t{3});
  EXPECT_EQ(w.text(),
            "# HELP odd_total Back\\\\slash and\\nnewline.\n"
            "# TYPE odd_total counter\n"
            "odd_total{v=\"say \\\"hi\\\"\\\\\\n\",w=\"\"} 3\n");
  // And it reads back as it was.
  const auto parsed = parse_prom_text(w.text());
  ASSERT_TRUE(parsed.ok()) << parsed.errors_text();
  EXPECT_EQ(parsed.family("odd_total")->help, "Back\\slash and\nnewline.");
  EXPECT_EQ(parsed.value("odd_total", {{"v", "say \"hi\"\\\n"}, {"w", ""}}), 3.0);
}

TEST(MetricsText, Values) {
  EXPECT_EQ(format_value(1.0), "1");
  EXPECT_EQ(format_value(0.25), "0.25");
  EXPECT_EQ(format_value(0.005), "0.005");
  EXPECT_EQ(format_value(1e-05), "1e-05");
  EXPECT_EQ(format_value(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(format_value(-std::numeric_limits<double>::infinity()), "-Inf");
  EXPECT_EQ(format_value(std::numeric_limits<double>::quiet_NaN()), "NaN");
  TextWriter w;
  w.sample("big", {}, std::numeric_limits<std::uint64_t>::max());
  w.sample("third", {}, 1.0 / 3);
  EXPECT_EQ(w.text(), "big 18446744073709551615\nthird 0.3333333333333333\n");
}

TEST(MetricsText, HistogramBucketsAreCumulativeAndEndWithInf) {
  // Bounds and values exact in binary, so the sum prints exactly.
  Histogram h({0.125, 1, 8});
  for (double v : {0.0625, 0.125, 0.5, 4.0, 64.0})
    h.observe(v);
  h.observe(std::numeric_limits<double>::quiet_NaN());  // dropped, sum stays a number
  EXPECT_EQ(h.bucket_counts(), (std::vector<std::uint64_t>{2, 1, 1, 1}));
  EXPECT_EQ(h.count(), 5u);

  TextWriter w;
  w.family("wait_seconds", "histogram", "How long.");
  w.histogram("wait_seconds", {{"queue", "a"}}, h);
  EXPECT_EQ(w.text(),
            "# HELP wait_seconds How long.\n"
            "# TYPE wait_seconds histogram\n"
            // 0.125 itself is in le="0.125": `le` is inclusive.
            "wait_seconds_bucket{queue=\"a\",le=\"0.125\"} 2\n"
            "wait_seconds_bucket{queue=\"a\",le=\"1\"} 3\n"
            "wait_seconds_bucket{queue=\"a\",le=\"8\"} 4\n"
            "wait_seconds_bucket{queue=\"a\",le=\"+Inf\"} 5\n"
            "wait_seconds_sum{queue=\"a\"} 68.6875\n"
            "wait_seconds_count{queue=\"a\"} 5\n");
  const auto parsed = parse_prom_text(w.text());
  ASSERT_TRUE(parsed.ok()) << parsed.errors_text();

  // An empty one still has every bucket, at 0.
  TextWriter empty;
  empty.family("idle_seconds", "histogram", "Nothing yet.");
  empty.histogram("idle_seconds", {}, Histogram({1}));
  EXPECT_EQ(empty.text(),
            "# HELP idle_seconds Nothing yet.\n# TYPE idle_seconds histogram\n"
            "idle_seconds_bucket{le=\"1\"} 0\nidle_seconds_bucket{le=\"+Inf\"} 0\n"
            "idle_seconds_sum 0\nidle_seconds_count 0\n");
}

TEST(MetricsText, HistogramBoundsMustAscend) {
  EXPECT_THROW(Histogram({1, 1}), std::invalid_argument);
  EXPECT_THROW(Histogram({2, 1}), std::invalid_argument);
  EXPECT_THROW(Histogram({1, std::numeric_limits<double>::infinity()}), std::invalid_argument);
  EXPECT_NO_THROW(Histogram({}));  // only +Inf
}

TEST(MetricsText, LabeledCounter) {
  LabeledCounter c({"result", "suite"});
  c.preset({"ok", "AES-256-GCM"});
  c.add({"timeout", "none"});
  c.add({"timeout", "none"}, 2);
  EXPECT_EQ(c.value({"ok", "AES-256-GCM"}), 0u);
  EXPECT_EQ(c.value({"timeout", "none"}), 3u);
  EXPECT_EQ(c.value({"tls", "none"}), 0u);
  EXPECT_THROW(c.add({"only one"}), std::invalid_argument);

  TextWriter w;
  w.family("parley_handshakes_total", "counter", "Handshakes.");
  w.counter("parley_handshakes_total", c);
  EXPECT_EQ(w.text(),
            "# HELP parley_handshakes_total Handshakes.\n"
            "# TYPE parley_handshakes_total counter\n"
            "parley_handshakes_total{result=\"ok\",suite=\"AES-256-GCM\"} 0\n"
            "parley_handshakes_total{result=\"timeout\",suite=\"none\"} 3\n");
}

TEST(MetricsText, LabeledCounterIsBounded) {
  LabeledCounter c({"reason"});
  for (int i = 0; i < 100; ++i)
    c.add({"reason-" + std::to_string(i)});
  ASSERT_EQ(c.series().size(), LabeledCounter::kMaxSeries);
  EXPECT_EQ(c.value({"reason-62"}), 1u);
  EXPECT_EQ(c.value({"reason-63"}), 0u);  // went to "other"
  EXPECT_EQ(c.value({"other"}), 100u - (LabeledCounter::kMaxSeries - 1));
  c.add({"reason-0"});  // a series that exists keeps counting
  EXPECT_EQ(c.value({"reason-0"}), 2u);
}

// The reader has to catch what it is there to catch, or a test passing through it proves nothing.
TEST(PromTextReader, RefusesWhatIsWrong) {
  const std::string head = "# HELP h_seconds H.\n# TYPE h_seconds histogram\n";
  const std::string good = head +
                           "h_seconds_bucket{le=\"1\"} 1\nh_seconds_bucket{le=\"+Inf\"} 2\n"
                           "h_seconds_sum 3\nh_seconds_count 2\n";
  ASSERT_TRUE(parse_prom_text(good).ok()) << parse_prom_text(good).errors_text();
  EXPECT_EQ(parse_prom_text(good).value("h_seconds_bucket", {{"le", "1"}}), 1.0);

  const std::vector<std::pair<std::string, std::string>> bad = {
      {"", "empty"},
      {"# HELP a_total A.\n# TYPE a_total counter\na_total 1", "no final line feed"},
      {head + "h_seconds_bucket{le=\"1\"} 2\nh_seconds_bucket{le=\"+Inf\"} 1\n"
              "h_seconds_sum 3\nh_seconds_count 1\n",
       "not cumulative"},
      {head + "h_seconds_bucket{le=\"1\"} 1\nh_seconds_sum 3\nh_seconds_count 1\n", "no +Inf"},
      {head + "h_seconds_bucket{le=\"1\"} 1\nh_seconds_bucket{le=\"+Inf\"} 2\n"
              "h_seconds_sum 3\nh_seconds_count 3\n",
       "_count is not the +Inf bucket"},
      {head + "h_seconds_bucket{le=\"1\"} 1\nh_seconds_bucket{le=\"+Inf\"} 2\nh_seconds_count 2\n",
       "no _sum"},
      {head + "h_seconds_bucket{le=\"2\"} 1\nh_seconds_bucket{le=\"1\"} 1\n"
              "h_seconds_bucket{le=\"+Inf\"} 1\nh_seconds_sum 3\nh_seconds_count 1\n",
       "le descending"},
      {"# HELP a_total A.\n# TYPE a_total counter\na_total{x=\"\\t\"} 1\n", "bad escape"},
      {"# HELP a_total A.\n# TYPE a_total counter\na_total{x=\"1\",x=\"2\"} 1\n", "label twice"},
      {"a_total 1\n", "no HELP and TYPE"},
      {"# HELP a A.\n# TYPE a counter\na 1\n", "counter without _total"},
      {"# HELP a_total A.\n# TYPE a_total gauge\na_total 1\n", "gauge with _total"},
      {"# HELP a_total A.\n# TYPE a_total counter\na_total -1\n", "negative counter"},
      {"# HELP a_total A.\n# TYPE a_total counter\na_total 1\na_total 2\n", "same series twice"},
      {"# HELP a_total A.\n# TYPE a_total counter\na_total 1 1700000000\n", "timestamp"},
      {"# HELP a_total A.\n# TYPE a_total counter\n\na_total 1\n", "blank line"},
      {"# HELP a_total A.\n# TYPE a_total counter\nb_total 1\n", "sample of another family"},
      {"# HELP a_total A.\n# TYPE a_total counter\n", "family without samples"},
      {"# HELP a_total A.\n# TYPE a_total counter\na_total 0x1\n", "hex value"},
      {"# HELP a_total A.\n# TYPE a_total counter\na_total{1x=\"1\"} 1\n", "bad label name"},
      {"# TYPE a_total counter\n# HELP a_total A.\na_total 1\n", "TYPE before HELP"},
      {"# a comment\n# HELP a_total A.\n# TYPE a_total counter\na_total 1\n", "other comment"},
      {"# HELP g G.\n# TYPE g gauge\ng{le=\"1\"} 1\n", "le outside a histogram"},
  };
  for (const auto& [text, why] : bad)
    EXPECT_FALSE(parse_prom_text(text).ok()) << why << ":\n" << text;
}

}  // namespace
}  // namespace parley::server
