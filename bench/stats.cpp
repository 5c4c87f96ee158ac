#include "stats.hpp"

#include <sched.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace parley::bench {
namespace {

constexpr std::size_t kExact = 256;       // values 0..255 have a bucket each
constexpr std::size_t kPerOctave = 128;   // buckets per power of two above that
constexpr std::size_t kOctaves = 64 - 8;  // msb 8..63
constexpr std::size_t kBuckets = kExact + kOctaves * kPerOctave;

}  // namespace

Histogram::Histogram() : counts_(kBuckets, 0) {}

std::size_t Histogram::bucket_of(std::int64_t value) {
  if (value < 0) value = 0;
  const auto v = static_cast<std::uint64_t>(value);
  if (v < kExact) return static_cast<std::size_t>(v);
  const int msb = 63 - std::countl_zero(v);  // >= 8
  const int shift = msb - 7;
  const auto sub = static_cast<std::size_t>((v >> shift) - kPerOctave);
  return kExact + static_cast<std::size_t>(msb - 8) * kPerOctave + sub;
}

std::int64_t Histogram::bucket_low(std::size_t bucket) {
  if (bucket < kExact) return static_cast<std::int64_t>(bucket);
  const std::size_t octave = (bucket - kExact) / kPerOctave;
  const std::size_t sub = (bucket - kExact) % kPerOctave;
  const int shift = static_cast<int>(octave) + 1;
  return static_cast<std::int64_t>((kPerOctave + sub) << shift);
}

std::int64_t Histogram::bucket_high(std::size_t bucket) {
  if (bucket < kExact) return static_cast<std::int64_t>(bucket);
  const int shift = static_cast<int>((bucket - kExact) / kPerOctave) + 1;
  return bucket_low(bucket) + (std::int64_t{1} << shift) - 1;
}

void Histogram::record(std::int64_t value) {
  if (value < 0) value = 0;
  ++counts_[bucket_of(value)];
  if (count_ == 0 || value < min_) min_ = value;
  if (value > max_) max_ = value;
  ++count_;
  sum_ += value;
}

void Histogram::reset() {
  std::fill(counts_.begin(), counts_.end(), 0);
  count_ = 0;
  min_ = max_ = 0;
  sum_ = 0;
}

double Histogram::mean() const {
  return count_ ? static_cast<double>(sum_ / count_) : 0.0;
}

std::int64_t Histogram::percentile(double q) const {
  if (count_ == 0) return 0;
  q = std::clamp(q, 0.0, 1.0);
  auto rank = static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(count_)));
  if (rank == 0) rank = 1;
  std::uint64_t seen = 0;
  for (std::size_t b = 0; b < counts_.size(); ++b) {
    seen += counts_[b];
    if (seen >= rank) {
      const std::int64_t mid = bucket_low(b) + (bucket_high(b) - bucket_low(b)) / 2;
      return std::clamp(mid, min_, max_);
    }
  }
  return max_;
}

std::int64_t percentile(const std::vector<std::int64_t>& sorted, double q) {
  if (sorted.empty()) return 0;
  q = std::clamp(q, 0.0, 1.0);
  const auto rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(sorted.size())));
  return sorted[rank == 0 ? 0 : rank - 1];
}

double spread(const std::vector<double>& values) {
  if (values.empty()) return 0;
  const auto [min, max] = std::minmax_element(values.begin(), values.end());
  return *max > 0 ? (*max - *min) / *max : 0;
}

std::optional<std::size_t> count_descriptors(pid_t pid) {
  std::error_code ec;
  std::filesystem::directory_iterator it("/proc/" + std::to_string(pid) + "/fd", ec);
  if (ec) return std::nullopt;
  std::size_t n = 0;
  for (const std::filesystem::directory_iterator end; it != end; it.increment(ec)) {
    if (ec) return std::nullopt;
    ++n;
  }
  return n;
}

ProcSample sample_process(pid_t pid) {
  ProcSample s;
  const std::string dir = "/proc/" + std::to_string(pid);
  {
    std::ifstream in(dir + "/stat");
    std::string line;
    if (!std::getline(in, line)) return s;
    // The command name may contain spaces and parentheses: fields start after the last ')'.
    const auto close = line.rfind(')');
    if (close == std::string::npos) return s;
    std::istringstream fields(line.substr(close + 2));
    std::string field;
    unsigned long long utime = 0, stime = 0;
    for (int i = 3; i <= 15 && fields >> field; ++i) {
      if (i == 14) utime = std::stoull(field);
      if (i == 15) stime = std::stoull(field);
    }
    static const long ticks = ::sysconf(_SC_CLK_TCK);
    s.cpu_s = static_cast<double>(utime + stime) / static_cast<double>(ticks);
  }
  {
    std::ifstream in(dir + "/status");
    std::string key;
    while (in >> key) {
      std::uint64_t kib = 0;
      if (key == "VmRSS:" && in >> kib) s.rss_bytes = kib * 1024;
      if (key == "VmHWM:" && in >> kib) s.hwm_bytes = kib * 1024;
      in.ignore(1 << 16, '\n');
    }
  }
  std::error_code ec;
  for (const auto& task : std::filesystem::directory_iterator(dir + "/task", ec)) {
    std::ifstream in(task.path() / "schedstat");
    unsigned long long on_cpu = 0, waiting = 0;
    if (in >> on_cpu >> waiting) s.runqueue_wait_s += static_cast<double>(waiting) / 1e9;
  }
  s.ok = true;
  return s;
}

double self_cpu_seconds() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  auto secs = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6;
  };
  return secs(u.ru_utime) + secs(u.ru_stime);
}

int first_cpu_of(pid_t pid) {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (::sched_getaffinity(pid, sizeof set, &set) != 0) return -1;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu)
    if (CPU_ISSET(cpu, &set)) return cpu;
  return -1;
}

double cpu_busy_seconds(int cpu) {
  if (cpu < 0) return 0;
  std::ifstream in("/proc/stat");
  const std::string name = "cpu" + std::to_string(cpu);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string label;
    fields >> label;
    if (label != name) continue;
    unsigned long long v[8] = {};
    for (auto& x : v)
      fields >> x;
    // user nice system idle iowait irq softirq steal
    const unsigned long long busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7];
    static const long ticks = ::sysconf(_SC_CLK_TCK);
    return static_cast<double>(busy) / static_cast<double>(ticks);
  }
  return 0;
}

}  // namespace parley::bench
