// concat(a, b, ...): pieces of text joined into one std::string, by appending.
//
// Instead of `"literal" + std::string(...)` where g++ 12 at -O3 misfires: it inlines that
// operator+ (an insert at the front of the right-hand string) into a memcpy it cannot prove
// disjoint and reports -Wrestrict (GCC bug 105651), an error under PARLEY_WERROR. Appending
// says the same thing, draws no warning, and allocates once.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace parley {

template <typename... Parts>
std::string concat(const Parts&... parts) {
  const std::string_view views[] = {std::string_view(parts)...};
  std::size_t size = 0;
  for (const std::string_view v : views)
    size += v.size();
  std::string out;
  out.reserve(size);
  for (const std::string_view v : views)
    out.append(v);
  return out;
}

}  // namespace parley
