#include "prometheus_text.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <stdexcept>

namespace parley::server {

Histogram::Histogram(std::vector<double> upper_bounds) : bounds_(std::move(upper_bounds)) {
  for (std::size_t i = 0; i < bounds_.size(); ++i) {
    if (!std::isfinite(bounds_[i]) || (i > 0 && bounds_[i] <= bounds_[i - 1]))
      throw std::invalid_argument("histogram bounds must be finite and strictly ascending");
  }
  counts_.assign(bounds_.size() + 1, 0);
}

void Histogram::observe(double value) {
  if (std::isnan(value)) return;
  const auto it = std::lower_bound(bounds_.begin(), bounds_.end(), value);
  ++counts_[static_cast<std::size_t>(it - bounds_.begin())];
  sum_ += value;
  ++count_;
}

LabeledCounter::LabeledCounter(std::vector<std::string> label_names)
    : names_(std::move(label_names)) {}

namespace {

bool matches(const std::vector<std::string>& have, std::initializer_list<std::string_view> want) {
  if (have.size() != want.size()) return false;
  auto it = want.begin();
  for (const auto& h : have)
    if (h != *it++) return false;
  return true;
}

}  // namespace

void LabeledCounter::add(std::initializer_list<std::string_view> values, std::uint64_t n) {
  if (values.size() != names_.size()) throw std::invalid_argument("label count mismatch");
  for (auto& s : series_) {
    if (matches(s.values, values)) {
      s.count += n;
      return;
    }
  }
  Series fresh;
  if (series_.size() + 1 < kMaxSeries) {
    fresh.values.assign(values.begin(), values.end());
  } else {
    // The last slot is the overflow series; find or make it.
    fresh.values.assign(names_.size(), "other");
    for (auto& s : series_) {
      if (s.values == fresh.values) {
        s.count += n;
        return;
      }
    }
  }
  fresh.count = n;
  series_.push_back(std::move(fresh));
}

std::uint64_t LabeledCounter::value(std::initializer_list<std::string_view> values) const {
  for (const auto& s : series_)
    if (matches(s.values, values)) return s.count;
  return 0;
}

std::string escape_help(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string escape_label_value(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (const char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string format_value(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  char buf[64];
  const auto result = std::to_chars(buf, buf + sizeof buf, value);
  return std::string(buf, result.ptr);
}

void TextWriter::family(std::string_view name, std::string_view type, std::string_view help) {
  out_ += "# HELP ";
  out_ += name;
  out_ += ' ';
  out_ += escape_help(help);
  out_ += "\n# TYPE ";
  out_ += name;
  out_ += ' ';
  out_ += type;
  out_ += '\n';
}

void TextWriter::series(std::string_view name, std::string_view suffix, const Labels& labels,
                        const Label* extra) {
  out_ += name;
  out_ += suffix;
  if (labels.empty() && extra == nullptr) {
    out_ += ' ';
    return;
  }
  out_ += '{';
  bool first = true;
  auto put = [&](const Label& l) {
    if (!first) out_ += ',';
    first = false;
    out_ += l.first;
    out_ += "=\"";
    out_ += escape_label_value(l.second);
    out_ += '"';
  };
  for (const auto& l : labels)
    put(l);
  if (extra != nullptr) put(*extra);
  out_ += "} ";
}

void TextWriter::sample(std::string_view name, const Labels& labels, std::uint64_t value) {
  series(name, "", labels, nullptr);
  out_ += std::to_string(value);
  out_ += '\n';
}

void TextWriter::sample(std::string_view name, const Labels& labels, double value) {
  series(name, "", labels, nullptr);
  out_ += format_value(value);
  out_ += '\n';
}

void TextWriter::counter(std::string_view name, const LabeledCounter& counter) {
  for (const auto& s : counter.series()) {
    Labels labels;
    for (std::size_t i = 0; i < s.values.size(); ++i)
      labels.emplace_back(counter.label_names()[i], s.values[i]);
    sample(name, labels, s.count);
  }
}

void TextWriter::histogram(std::string_view name, const Labels& labels, const Histogram& h) {
  std::uint64_t cumulative = 0;
  const auto& counts = h.bucket_counts();
  for (std::size_t i = 0; i < counts.size(); ++i) {
    cumulative += counts[i];
    const std::string le =
        i < h.upper_bounds().size() ? format_value(h.upper_bounds()[i]) : std::string("+Inf");
    const Label bound{"le", le};
    series(name, "_bucket", labels, &bound);
    out_ += std::to_string(cumulative);
    out_ += '\n';
  }
  series(name, "_sum", labels, nullptr);
  out_ += format_value(h.sum());
  out_ += '\n';
  series(name, "_count", labels, nullptr);
  out_ += std::to_string(h.count());
  out_ += '\n';
}

}  // namespace parley::server
