#include "ban_list.hpp"

#include <unistd.h>

#include <boost/asio/ip/address.hpp>
#include <nlohmann/json.hpp>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <stdexcept>

#include "parley/authorized_keys.hpp"
#include "parley/bounded_file.hpp"
#include "parley/file_io.hpp"

namespace parley::server {
namespace {

constexpr std::uint64_t kMaxDuration = 10ull * 366 * 86400;

std::optional<Ban::Kind> kind_named(std::string_view name) {
  if (name == "address") return Ban::Kind::address;
  if (name == "fingerprint") return Ban::Kind::fingerprint;
  return std::nullopt;
}

}  // namespace

std::string_view name_of(Ban::Kind kind) {
  return kind == Ban::Kind::fingerprint ? "fingerprint" : "address";
}

std::variant<Ban, std::string> parse_ban_target(std::string_view text) {
  if (text.starts_with("SHA256:")) {
    if (!config::is_fingerprint(text))
      return std::string("not a fingerprint (SHA256: and 43 characters of base64)");
    return Ban{Ban::Kind::fingerprint, std::string(text), std::nullopt};
  }
  boost::system::error_code ec;
  const auto address = boost::asio::ip::make_address(std::string(text), ec);
  if (ec || text.find('%') != std::string_view::npos)
    return std::string("not an IP address or a SHA256: fingerprint");
  return Ban{Ban::Kind::address, address.to_string(), std::nullopt};
}

std::optional<std::uint64_t> parse_duration(std::string_view text) {
  std::uint64_t unit = 1;
  if (!text.empty()) {
    switch (text.back()) {
      case 's':
        unit = 1;
        break;
      case 'm':
        unit = 60;
        break;
      case 'h':
        unit = 3600;
        break;
      case 'd':
        unit = 86400;
        break;
      case 'w':
        unit = 7 * 86400;
        break;
      default:
        unit = 0;
    }
    if (unit != 0)
      text.remove_suffix(1);
    else
      unit = 1;
  }
  std::uint64_t n = 0;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (text.empty() || ec != std::errc() || ptr != text.data() + text.size() || n == 0 ||
      n > kMaxDuration / unit)
    return std::nullopt;
  return n * unit;
}

void BanList::add(Ban ban) {
  std::string key = ban.target;
  bans_.insert_or_assign(std::move(key), std::move(ban));
}

bool BanList::remove(std::string_view target) {
  const auto it = bans_.find(target);
  if (it == bans_.end()) return false;
  bans_.erase(it);
  return true;
}

bool BanList::banned(std::string_view target, Ban::Kind kind, UnixSeconds now) const {
  const auto it = bans_.find(target);
  return it != bans_.end() && it->second.kind == kind &&
         (!it->second.expires || *it->second.expires > now);
}

bool BanList::address_banned(std::string_view canonical_address, UnixSeconds now) const {
  return !bans_.empty() && banned(canonical_address, Ban::Kind::address, now);
}

bool BanList::fingerprint_banned(std::string_view fingerprint, UnixSeconds now) const {
  return !bans_.empty() && banned(fingerprint, Ban::Kind::fingerprint, now);
}

bool BanList::drop_expired(UnixSeconds now) {
  return std::erase_if(bans_, [now](const auto& entry) {
           return entry.second.expires && *entry.second.expires <= now;
         }) != 0;
}

std::vector<Ban> BanList::all() const {
  std::vector<Ban> out;
  for (const auto& [target, ban] : bans_)
    out.push_back(ban);
  return out;
}

std::string BanList::to_json() const {
  nlohmann::ordered_json list = nlohmann::ordered_json::array();
  for (const auto& [target, ban] : bans_)
    list.push_back({{"kind", name_of(ban.kind)},
                    {"target", ban.target},
                    {"expires", ban.expires ? nlohmann::ordered_json(*ban.expires) : nullptr}});
  return nlohmann::ordered_json{{"bans", list}}.dump(1) + "\n";
}

std::variant<BanList, std::string> BanList::from_json(std::string_view text, UnixSeconds now) {
  const auto doc = nlohmann::json::parse(text, nullptr, false);
  if (doc.is_discarded() || !doc.is_object() || !doc.contains("bans") || !doc["bans"].is_array())
    return std::string("expected {\"bans\": [...]}");
  BanList list;
  std::size_t index = 0;
  for (const auto& entry : doc["bans"]) {
    const std::string where = "bans[" + std::to_string(index++) + "]: ";
    if (!entry.is_object() || !entry.contains("kind") || !entry["kind"].is_string() ||
        !entry.contains("target") || !entry["target"].is_string())
      return where + "expected an object with a string kind and target";
    const auto kind = kind_named(entry["kind"].get_ref<const std::string&>());
    auto parsed = parse_ban_target(entry["target"].get_ref<const std::string&>());
    if (auto* error = std::get_if<std::string>(&parsed)) return where + *error;
    Ban ban = std::get<Ban>(std::move(parsed));
    if (!kind || *kind != ban.kind) return where + "kind does not match the target";
    if (const auto it = entry.find("expires"); it != entry.end() && !it->is_null()) {
      if (!it->is_number_integer()) return where + "expires: expected an integer or null";
      ban.expires = it->get<UnixSeconds>();
    }
    if (!ban.expires || *ban.expires > now) list.add(std::move(ban));
  }
  return list;
}

BanList BanFile::load(UnixSeconds now) const {
  if (::access(path_.c_str(), F_OK) != 0) return {};
  auto text = config::read_bounded_file(path_);
  if (auto* error = std::get_if<config::FileError>(&text))
    throw std::runtime_error("bans: " + error->message);
  auto parsed = BanList::from_json(std::get<std::string>(text), now);
  if (auto* error = std::get_if<std::string>(&parsed))
    throw std::runtime_error("bans " + path_ + ": " + *error);
  return std::get<BanList>(std::move(parsed));
}

std::string BanFile::path_beside(const std::string& identity_key) {
  return parley::sibling_path(identity_key, "bans.json");
}

}  // namespace parley::server
