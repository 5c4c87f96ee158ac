#include "prom_text.hpp"

#include <cmath>
#include <cstdlib>
#include <set>

namespace parley::test {
namespace {

bool name_start(char c, bool colon) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon && c == ':');
}
bool name_char(char c, bool colon) {
  return name_start(c, colon) || (c >= '0' && c <= '9');
}

// The longest metric name (colon allowed) or label name at the front of `s`.
std::string_view take_name(std::string_view& s, bool colon) {
  std::size_t n = 0;
  if (s.empty() || !name_start(s[0], colon)) return {};
  while (n < s.size() && name_char(s[n], colon))
    ++n;
  const auto out = s.substr(0, n);
  s.remove_prefix(n);
  return out;
}

// A sample value: a decimal float or +Inf, -Inf, NaN; nothing Go's parser would read otherwise
// (hex, "inf", spaces).
std::optional<double> parse_value(std::string_view s) {
  if (s == "+Inf") return HUGE_VAL;
  if (s == "-Inf") return -HUGE_VAL;
  if (s == "NaN") return std::nan("");
  if (s.empty()) return std::nullopt;
  for (const char c : s)
    if (!((c >= '0' && c <= '9') || c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-'))
      return std::nullopt;
  const std::string copy(s);
  char* end = nullptr;
  const double v = std::strtod(copy.c_str(), &end);
  if (end != copy.c_str() + copy.size()) return std::nullopt;
  return v;
}

std::string series_key(const std::string& name, const PromLabels& labels, bool drop_le) {
  std::string key = name + "{";
  for (const auto& [k, v] : labels) {
    if (drop_le && k == "le") continue;
    key += k + "=\"" + v + "\",";
  }
  return key + "}";
}

class Reader {
 public:
  PromText out;

  void line(std::size_t number, std::string_view text) {
    number_ = number;
    if (text.empty()) return error("blank line");
    if (text.find('\r') != std::string_view::npos) return error("carriage return");
    if (text.starts_with('#')) return comment(text);
    sample(text);
  }

  void finish() {
    for (const auto& f : out.families) {
      if (f.type.empty()) error_at(0, f.name + ": HELP without TYPE");
      if (f.samples.empty()) error_at(0, f.name + ": no samples");
      if (f.type == "histogram") histogram(f);
    }
  }

 private:
  void error(const std::string& what) { error_at(number_, what); }
  void error_at(std::size_t line, const std::string& what) {
    out.errors.push_back((line ? "line " + std::to_string(line) + ": " : std::string()) + what);
  }

  void comment(std::string_view text) {
    const bool help = text.starts_with("# HELP ");
    const bool type = text.starts_with("# TYPE ");
    if (!help && !type) return error("a comment that is neither HELP nor TYPE");
    std::string_view rest = text.substr(7);
    const std::string name(take_name(rest, true));
    if (name.empty()) return error("bad metric name in " + std::string(text));
    if (!rest.starts_with(' ') || rest.size() < 2) return error(name + ": nothing after the name");
    rest.remove_prefix(1);
    if (help) {
      for (const auto& f : out.families)
        if (f.name == name) return error(name + ": a second HELP");
      std::string unescaped;
      for (std::size_t i = 0; i < rest.size(); ++i) {
        if (rest[i] != '\\') {
          unescaped += rest[i];
          continue;
        }
        if (i + 1 == rest.size()) return error(name + ": HELP ends in a backslash");
        const char e = rest[++i];
        if (e == '\\') {
          unescaped += '\\';
        } else if (e == 'n') {
          unescaped += '\n';
        } else {
          return error(name + ": bad escape in HELP");
        }
      }
      out.families.push_back(PromFamily{name, "", unescaped, {}});
      return;
    }
    // TYPE right after its HELP, before any sample.
    if (out.families.empty() || out.families.back().name != name ||
        !out.families.back().type.empty() || !out.families.back().samples.empty())
      return error(name + ": TYPE not right after its HELP");
    const std::string t(rest);
    if (t != "counter" && t != "gauge" && t != "histogram")
      return error(name + ": type " + t + " (parleyd uses counter, gauge, histogram)");
    if (t == "counter" && !name.ends_with("_total"))
      return error(name + ": a counter's name ends in _total");
    if (t != "counter" && name.ends_with("_total"))
      return error(name + ": only counters end in _total");
    out.families.back().type = t;
  }

  void sample(std::string_view text) {
    std::string_view rest = text;
    PromSample s;
    s.name = std::string(take_name(rest, true));
    if (s.name.empty()) return error("a sample without a metric name");
    if (rest.starts_with('{')) {
      rest.remove_prefix(1);
      bool first = true;
      while (!rest.starts_with('}')) {
        if (!first) {
          if (!rest.starts_with(',')) return error(s.name + ": expected , or } in the labels");
          rest.remove_prefix(1);
        }
        first = false;
        const std::string label(take_name(rest, false));
        if (label.empty()) return error(s.name + ": bad label name");
        if (label.starts_with("__")) return error(s.name + ": reserved label name " + label);
        if (!rest.starts_with("=\"")) return error(s.name + ": expected =\" after " + label);
        rest.remove_prefix(2);
        std::string value;
        for (;;) {
          if (rest.empty()) return error(s.name + ": unterminated label value");
          const char c = rest.front();
          rest.remove_prefix(1);
          if (c == '"') break;
          if (c != '\\') {
            value += c;
            continue;
          }
          if (rest.empty()) return error(s.name + ": unterminated escape");
          const char e = rest.front();
          rest.remove_prefix(1);
          if (e == '\\' || e == '"') {
            value += e;
          } else if (e == 'n') {
            value += '\n';
          } else {
            return error(s.name + ": bad escape in a label value");
          }
        }
        if (!s.labels.emplace(label, value).second)
          return error(s.name + ": label " + label + " twice");
      }
      rest.remove_prefix(1);
    }
    if (!rest.starts_with(' ')) return error(s.name + ": expected one space before the value");
    rest.remove_prefix(1);
    if (rest.find(' ') != std::string_view::npos)
      return error(s.name + ": a timestamp or trailing text (parleyd sends none)");
    const auto v = parse_value(rest);
    if (!v) return error(s.name + ": bad value " + std::string(rest));
    s.value = *v;

    if (out.families.empty() || out.families.back().type.empty())
      return error(s.name + ": a sample before any HELP and TYPE");
    PromFamily& f = out.families.back();
    if (f.type == "histogram") {
      const bool bucket = s.name == f.name + "_bucket";
      if (!bucket && s.name != f.name + "_sum" && s.name != f.name + "_count")
        return error(s.name + ": not a series of histogram " + f.name);
      if (bucket != (s.labels.count("le") == 1))
        return error(s.name + ": le belongs on _bucket series, and only there");
    } else {
      if (s.name != f.name) return error(s.name + ": not in family " + f.name);
      if (s.labels.count("le") || s.labels.count("quantile"))
        return error(s.name + ": le or quantile outside a histogram or summary");
    }
    if (f.type == "counter" && !(s.value >= 0)) return error(s.name + ": a counter below 0 or NaN");
    if (!seen_.insert(series_key(s.name, s.labels, false)).second)
      return error(s.name + ": the same series twice");
    f.samples.push_back(std::move(s));
  }

  void histogram(const PromFamily& f) {
    struct Group {
      std::vector<std::pair<double, double>> buckets;  // le, count, in order of appearance
      std::optional<double> sum, count;
    };
    std::map<std::string, Group> groups;
    for (const auto& s : f.samples) {
      Group& g = groups[series_key(f.name, s.labels, true)];
      if (s.name.ends_with("_bucket")) {
        const auto le = parse_value(s.labels.at("le"));
        if (!le || std::isnan(*le)) {
          error_at(0, f.name + ": bad le " + s.labels.at("le"));
          continue;
        }
        g.buckets.emplace_back(*le, s.value);
      } else if (s.name.ends_with("_sum")) {
        g.sum = s.value;
      } else {
        g.count = s.value;
      }
    }
    for (const auto& [key, g] : groups) {
      if (g.buckets.empty() || !std::isinf(g.buckets.back().first))
        error_at(0, key + ": the last bucket is not le=\"+Inf\"");
      for (std::size_t i = 0; i < g.buckets.size(); ++i) {
        const auto [le, n] = g.buckets[i];
        if (n < 0 || n != std::floor(n)) error_at(0, key + ": a bucket count that is not a count");
        if (i > 0 && le <= g.buckets[i - 1].first) error_at(0, key + ": le not ascending");
        if (i > 0 && n < g.buckets[i - 1].second) error_at(0, key + ": buckets not cumulative");
      }
      if (!g.sum) error_at(0, key + ": no _sum");
      if (!g.count) error_at(0, key + ": no _count");
      if (g.count && !g.buckets.empty() && *g.count != g.buckets.back().second)
        error_at(0, key + ": _count differs from the +Inf bucket");
    }
  }

  std::size_t number_ = 0;
  std::set<std::string> seen_;
};

}  // namespace

const PromFamily* PromText::family(std::string_view name) const {
  for (const auto& f : families)
    if (f.name == name) return &f;
  return nullptr;
}

std::optional<double> PromText::value(std::string_view name, const PromLabels& labels) const {
  for (const auto& f : families)
    for (const auto& s : f.samples)
      if (s.name == name && s.labels == labels) return s.value;
  return std::nullopt;
}

std::size_t PromText::sample_count() const {
  std::size_t n = 0;
  for (const auto& f : families)
    n += f.samples.size();
  return n;
}

std::string PromText::errors_text() const {
  std::string all;
  for (const auto& e : errors)
    all += e + "\n";
  return all;
}

PromText parse_prom_text(std::string_view text) {
  Reader r;
  if (text.empty()) {
    r.out.errors.push_back("empty exposition");
    return std::move(r.out);
  }
  if (!text.ends_with('\n')) r.out.errors.push_back("the last line has no line feed");
  std::size_t number = 1;
  while (!text.empty()) {
    const auto end = text.find('\n');
    const auto line = text.substr(0, end);
    r.line(number++, line);
    if (end == std::string_view::npos) break;
    text.remove_prefix(end + 1);
  }
  r.finish();
  return std::move(r.out);
}

}  // namespace parley::test
