// Latency statistics and process accounting for the load generator.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

namespace parley::bench {

// A log-linear histogram in the spirit of HdrHistogram: values below 256 are exact, above
// that each power of two is split into 128 buckets, so any reported value is within 0.4% of
// a recorded one. Fixed size (about 60 KiB), O(1) record: cheap enough for every delivery.
class Histogram {
 public:
  Histogram();
  void record(std::int64_t value);
  void reset();
  std::uint64_t count() const { return count_; }
  std::int64_t min() const { return count_ ? min_ : 0; }
  std::int64_t max() const { return max_; }
  double mean() const;
  // Nearest rank: the smallest bucket value with at least q of the samples at or below it
  // (the bucket's midpoint); q in [0, 1]. 0 without samples.
  std::int64_t percentile(double q) const;

  // Exposed for tests.
  static std::size_t bucket_of(std::int64_t value);
  static std::int64_t bucket_low(std::size_t bucket);
  static std::int64_t bucket_high(std::size_t bucket);

 private:
  std::vector<std::uint64_t> counts_;
  std::uint64_t count_ = 0;
  std::int64_t min_ = 0;
  std::int64_t max_ = 0;
  long double sum_ = 0;
};

// Nearest-rank percentile of sorted samples; q in [0, 1]. 0 for no samples.
std::int64_t percentile(const std::vector<std::int64_t>& sorted, double q);

// (max - min) / max of the values: how far a series that should be flat moved, as a fraction
// of its peak. 0 for no values or a peak of 0.
double spread(const std::vector<double>& values);

// CPU time and memory of a process, from /proc/PID/stat and /proc/PID/status.
struct ProcSample {
  bool ok = false;
  double cpu_s = 0;             // user + system
  std::uint64_t rss_bytes = 0;  // VmRSS
  std::uint64_t hwm_bytes = 0;  // VmHWM (peak RSS)
  // Time its threads were runnable but waited for a CPU (/proc/PID/task/*/schedstat): other
  // processes on the same core. Non-zero growth during a measurement means a noisy machine.
  double runqueue_wait_s = 0;
};
ProcSample sample_process(pid_t pid);
// Open descriptors of a process: the entries of /proc/PID/fd (nothing when it cannot be read:
// the process is gone, or belongs to another user).
std::optional<std::size_t> count_descriptors(pid_t pid);
// This process's own CPU time (getrusage), user + system, in seconds.
double self_cpu_seconds();
// The first CPU a process may run on (sched_getaffinity), -1 if unknown.
int first_cpu_of(pid_t pid);
// Busy time of one CPU from /proc/stat (everything but idle and iowait), in seconds. Less the
// CPU time of the process pinned there, it is what other processes took from that core.
double cpu_busy_seconds(int cpu);

}  // namespace parley::bench
