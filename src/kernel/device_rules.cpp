#include "containerfs/kernel/device_rules.hpp"

#include <algorithm>
#include <initializer_list>
#include <span>
#include <tuple>

#include <fmt/format.h>

#include "containerfs/util/text.hpp"

namespace containerfs::kernel {

namespace {

// One line of a write: `a`/`-a` (no pattern) or `[-]T MAJ:MIN ACCESS`.
struct DeviceLine {
  bool allow = true;
  std::optional<DeviceException> pattern;  // nullopt: every device (`a`)
};

// Results holding an optional are built in place: libc++ 16 (the fuzz
// build) turns a converted optional into an error.
using MaybeNumber = Result<std::optional<std::uint32_t>>;
using MaybeLine = Result<std::optional<DeviceLine>>;

// A decimal u32 (digits only) or `*` (nullopt); EINVAL otherwise.
MaybeNumber device_number(std::string_view s) {
  if (s == "*") return MaybeNumber(std::in_place);
  if (s.empty() || s.find_first_not_of("0123456789") != std::string_view::npos) return fail(EINVAL);
  auto value = whole_number<std::uint32_t>(s);
  if (!value) return fail(EINVAL);
  return MaybeNumber(std::in_place, *value);
}

// `rwm` in any order, each letter at most once, at least one.
Result<std::uint8_t> access_bits(std::string_view s) {
  if (s.empty()) return fail(EINVAL);
  std::uint8_t bits = 0;
  for (char c : s) {
    std::uint8_t bit = c == 'r' ? kDeviceRead : c == 'w' ? kDeviceWrite : c == 'm' ? kDeviceMknod : 0;
    if (bit == 0 || (bits & bit)) return fail(EINVAL);
    bits |= bit;
  }
  return bits;
}

std::string access_text(std::uint8_t bits) {
  std::string out;
  if (bits & kDeviceRead) out += 'r';
  if (bits & kDeviceWrite) out += 'w';
  if (bits & kDeviceMknod) out += 'm';
  return out;
}

// nullopt for a blank line.
MaybeLine parse_line(std::string_view line) {
  auto w = words(line);
  if (w.empty()) return MaybeLine(std::in_place);
  if (w.size() != 1 && w.size() != 3) return fail(EINVAL);
  DeviceLine out;
  std::string_view type = w[0];
  if (type.starts_with('-')) {
    out.allow = false;
    type.remove_prefix(1);
  }
  if (type.size() != 1) return fail(EINVAL);
  if (type == "a") {
    // Every device: `a` alone or spelled out in full, nothing narrower.
    if (w.size() == 3) {
      auto bits = access_bits(w[2]);
      if (w[1] != "*:*" || !bits || *bits != kDeviceAllAccess) return fail(EINVAL);
    }
    return MaybeLine(std::in_place, out);
  }
  if (w.size() != 3) return fail(EINVAL);
  DeviceException ex;
  if (type == "b") ex.type = DeviceType::block;
  else if (type == "c") ex.type = DeviceType::character;
  else return fail(EINVAL);
  auto colon = w[1].find(':');
  if (colon == std::string_view::npos) return fail(EINVAL);
  auto major = device_number(w[1].substr(0, colon));
  auto minor = device_number(w[1].substr(colon + 1));
  auto bits = access_bits(w[2]);
  if (!major || !minor || !bits) return fail(EINVAL);
  ex.major = *major;
  ex.minor = *minor;
  ex.access = *bits;
  out.pattern = ex;
  return MaybeLine(std::in_place, out);
}

// Listing order: block before character, then major, then minor, numbers
// ascending before `*`.
auto order_key(const DeviceException& e) {
  return std::make_tuple(e.type, !e.major, e.major.value_or(0), !e.minor, e.minor.value_or(0));
}

// `values` sorted, without repeats, plus the smallest value not among them.
std::vector<std::uint32_t> with_an_unused_value(std::vector<std::uint32_t> values) {
  std::sort(values.begin(), values.end());
  values.erase(std::unique(values.begin(), values.end()), values.end());
  std::uint32_t unused = 0;
  for (auto v : values) {
    if (v != unused) break;
    ++unused;
  }
  values.push_back(unused);
  return values;
}

// What one rule set says about the devices of one type and major: the
// bits of the exceptions that apply to every minor, and of those that
// apply to one minor, sorted by it.
class MajorView {
 public:
  MajorView(const DeviceRules& rules, DeviceType type, std::uint32_t major) : default_allow_(rules.default_allow()) {
    for (const auto& e : rules.exceptions()) {
      if (e.type != type || (e.major && *e.major != major)) continue;
      if (e.minor) by_minor_.emplace_back(*e.minor, e.access);
      else every_minor_ |= e.access;
    }
    std::sort(by_minor_.begin(), by_minor_.end());
  }

  std::uint8_t allowed(std::uint32_t minor) const {
    std::uint8_t bits = every_minor_;
    auto it = std::lower_bound(by_minor_.begin(), by_minor_.end(), std::make_pair(minor, std::uint8_t{0}));
    for (; it != by_minor_.end() && it->first == minor; ++it) bits |= it->second;
    return default_allow_ ? static_cast<std::uint8_t>(kDeviceAllAccess & ~bits) : bits;
  }

  void add_minors(std::vector<std::uint32_t>& out) const {
    for (const auto& entry : by_minor_) out.push_back(entry.first);
  }

 private:
  bool default_allow_;
  std::uint8_t every_minor_ = 0;
  std::vector<std::pair<std::uint32_t, std::uint8_t>> by_minor_;
};

// Calls visit(allowed) for devices that stand for every device in
// `region` (all devices when nullopt) as far as the rule sets can tell
// them apart, `allowed` holding the bits each set allows there, until
// visit returns false; returns false then.
// Exact: for a type and major, what applies to a minor depends only on
// which minors of the exceptions that apply to that major it equals, so
// those minors plus one none of them names cover every case; the same
// holds for majors. A number the region fixes is the only one visited.
template <typename Visit>
bool every_representative_device(std::initializer_list<const DeviceRules*> sets,
                                 const std::optional<DeviceException>& region, Visit visit) {
  for (DeviceType type : {DeviceType::block, DeviceType::character}) {
    if (region && region->type != type) continue;
    std::vector<std::uint32_t> majors;
    if (region && region->major) {
      majors = {*region->major};
    } else {
      for (const auto* set : sets)
        for (const auto& e : set->exceptions())
          if (e.type == type && e.major) majors.push_back(*e.major);
      majors = with_an_unused_value(std::move(majors));
    }
    for (auto major : majors) {
      std::vector<MajorView> views;
      for (const auto* set : sets) views.emplace_back(*set, type, major);
      std::vector<std::uint32_t> minors;
      if (region && region->minor) {
        minors = {*region->minor};
      } else {
        for (const auto& view : views) view.add_minors(minors);
        minors = with_an_unused_value(std::move(minors));
      }
      std::vector<std::uint8_t> allowed(views.size());
      for (auto minor : minors) {
        for (size_t i = 0; i < views.size(); ++i) allowed[i] = views[i].allowed(minor);
        if (!visit(std::span<const std::uint8_t>(allowed))) return false;
      }
    }
  }
  return true;
}

}  // namespace

DeviceRules DeviceRules::allow_all() {
  DeviceRules r;
  r.default_allow_ = true;
  return r;
}

DeviceRules DeviceRules::deny_all() { return DeviceRules(); }

DeviceRules DeviceRules::own_dev() {
  DeviceRules r;
  const std::pair<std::uint32_t, std::optional<std::uint32_t>> devices[] = {
      {1, 3}, {1, 5}, {1, 7}, {1, 8}, {1, 9},  // null zero full random urandom
      {5, 0}, {5, 1}, {5, 2},                  // tty console ptmx
      {136, std::nullopt},                     // pts
  };
  for (auto [major, minor] : devices)
    r.exceptions_.push_back({DeviceType::character, major, minor, kDeviceAllAccess});
  return r;
}

Result<DeviceRules> DeviceRules::parse(std::string_view listing) { return deny_all().apply(listing); }

Result<DeviceRules> DeviceRules::apply(std::string_view lines) const {
  DeviceRules out = *this;
  for (auto line : Lines(lines)) {
    auto parsed = parse_line(line);
    if (!parsed) return fail(parsed.error());
    if (!*parsed) continue;
    if (auto ok = out.edit((*parsed)->allow, (*parsed)->pattern); !ok) return fail(ok.error());
  }
  return out;
}

Status DeviceRules::edit(bool allow, const std::optional<DeviceException>& pattern) {
  if (!pattern) {
    default_allow_ = allow;
    exceptions_.clear();
    return {};
  }
  const DeviceException& x = *pattern;
  auto same = std::find_if(exceptions_.begin(), exceptions_.end(), [&](const auto& e) { return e.same_devices(x); });
  // An exception records what differs from the default: allowing in
  // deny-all mode (or denying in allow-all mode) adds to it.
  if (allow != default_allow_) {
    if (same != exceptions_.end()) {
      same->access |= x.access;
    } else {
      if (exceptions_.size() >= kMaxDeviceExceptions) return fail(ENOSPC);
      auto at = std::upper_bound(exceptions_.begin(), exceptions_.end(), x,
                                 [](const auto& a, const auto& b) { return order_key(a) < order_key(b); });
      exceptions_.insert(at, x);
    }
  } else if (same != exceptions_.end()) {
    same->access &= static_cast<std::uint8_t>(~x.access);
    if (same->access == 0) exceptions_.erase(same);
  }
  // The edit must have taken effect on every device the line names.
  const bool took_effect = every_representative_device({this}, x, [&](std::span<const std::uint8_t> allowed) {
    const auto bits = allowed[0] & x.access;
    return allow ? bits == x.access : bits == 0;
  });
  if (!took_effect) return fail(EINVAL);
  return {};
}

std::string DeviceRules::format() const {
  std::string out;
  if (default_allow_) out += "a *:* rwm\n";
  for (const auto& e : exceptions_) {
    out += fmt::format("{}{} {}:{} {}\n", default_allow_ ? "-" : "", e.type == DeviceType::block ? 'b' : 'c',
                       e.major ? fmt::to_string(*e.major) : "*", e.minor ? fmt::to_string(*e.minor) : "*",
                       access_text(e.access));
  }
  return out;
}

std::uint8_t DeviceRules::allowed(DeviceType type, std::uint32_t major, std::uint32_t minor) const {
  std::uint8_t bits = 0;
  for (const auto& e : exceptions_)
    if (e.applies_to(type, major, minor)) bits |= e.access;
  return default_allow_ ? static_cast<std::uint8_t>(kDeviceAllAccess & ~bits) : bits;
}

bool DeviceRules::allows(DeviceType type, std::uint32_t major, std::uint32_t minor, std::uint8_t access) const {
  const auto bits = allowed(type, major, minor);
  return access == 0 ? bits != 0 : (access & ~bits) == 0;
}

bool DeviceRules::within(const DeviceRules& parent) const {
  return every_representative_device({this, &parent}, std::nullopt, [](std::span<const std::uint8_t> allowed) {
    return (allowed[0] & ~allowed[1]) == 0;
  });
}

}  // namespace containerfs::kernel
