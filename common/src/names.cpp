#include "parley/names.hpp"

namespace parley {
namespace {

bool is_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '.' || c == '-';
}

// Fixed-width, zero-padded decimal. Hand-rolled rather than snprintf so the output cannot
// depend on the locale and the compiler has no format-truncation width to second-guess.
void put_digits(std::string& out, long long value, int width) {
  std::string digits(static_cast<std::size_t>(width), '0');
  for (int i = width - 1; i >= 0 && value > 0; --i) {
    digits[static_cast<std::size_t>(i)] = static_cast<char>('0' + value % 10);
    value /= 10;
  }
  out += digits;
}

}  // namespace

bool is_valid_name(std::string_view name) {
  if (name.empty() || name.size() > kMaxNameBytes) return false;
  for (char c : name) {
    if (!is_name_char(c)) return false;
  }
  return true;
}

std::string fold_name(std::string_view name) {
  std::string out(name);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

std::string format_timestamp(std::chrono::system_clock::time_point when) {
  using namespace std::chrono;
  // floor, not duration_cast: before 1970 the latter rounds toward zero and would put
  // 1969-12-31T23:59:59.999 on the wrong day. No gmtime_r, so no time_t range to worry about.
  const auto ms = floor<milliseconds>(when);
  const auto day = floor<days>(ms);
  const year_month_day ymd{day};
  const hh_mm_ss<milliseconds> tod{ms - day};

  // system_clock spans about +-292 years around 1970 in libstdc++, so the year always has
  // four digits and is positive, as RFC 3339 requires.
  std::string out;
  out.reserve(24);
  put_digits(out, static_cast<int>(ymd.year()), 4);
  out += '-';
  put_digits(out, static_cast<unsigned>(ymd.month()), 2);
  out += '-';
  put_digits(out, static_cast<unsigned>(ymd.day()), 2);
  out += 'T';
  put_digits(out, tod.hours().count(), 2);
  out += ':';
  put_digits(out, tod.minutes().count(), 2);
  out += ':';
  put_digits(out, tod.seconds().count(), 2);
  out += '.';
  put_digits(out, tod.subseconds().count(), 3);
  out += 'Z';
  return out;
}

}  // namespace parley
