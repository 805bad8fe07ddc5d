// HTTP-date parsing and formatting (RFC 9110 §5.6.7).
#include "cache/http_date.hpp"

#include <array>
#include <cstdio>

#include "cache/headers_view.hpp"

namespace portico::cache {

namespace {

constexpr std::array<std::string_view, 12> kMonths{"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
constexpr std::array<std::string_view, 7> kDays{"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
constexpr std::array<std::string_view, 7> kLongDays{"Sunday",   "Monday", "Tuesday", "Wednesday",
                                                    "Thursday", "Friday", "Saturday"};

// A tiny cursor over the text; every reader fails (returns false) without consuming on mismatch.
struct Cursor {
    std::string_view s;
    bool literal(std::string_view lit) {
        if (s.substr(0, lit.size()) != lit) return false;
        s.remove_prefix(lit.size());
        return true;
    }
    bool digits(size_t min_n, size_t max_n, int& out) {
        size_t n = 0;
        int v = 0;
        while (n < max_n && n < s.size() && s[n] >= '0' && s[n] <= '9') v = v * 10 + (s[n++] - '0');
        if (n < min_n) return false;
        s.remove_prefix(n);
        out = v;
        return true;
    }
    bool month(int& out) {
        for (size_t i = 0; i < kMonths.size(); ++i)
            if (literal(kMonths[i])) {
                out = static_cast<int>(i) + 1;
                return true;
            }
        return false;
    }
    template <size_t N>
    bool one_of(const std::array<std::string_view, N>& names) {
        for (std::string_view name : names)
            if (literal(name)) return true;
        return false;
    }
    bool time_of_day(int& h, int& m, int& sec) {
        return digits(2, 2, h) && literal(":") && digits(2, 2, m) && literal(":") && digits(2, 2, sec);
    }
};

std::optional<Instant> make(int year, int month, int day, int h, int m, int sec) {
    if (h > 23 || m > 59 || sec > 60) return std::nullopt;
    if (sec == 60) sec = 59;  // a leap second names a real instant; one second early is close enough
    std::chrono::year_month_day ymd{std::chrono::year{year}, std::chrono::month{static_cast<unsigned>(month)},
                                    std::chrono::day{static_cast<unsigned>(day)}};
    if (!ymd.ok()) return std::nullopt;
    return Instant{std::chrono::sys_days{ymd}} + std::chrono::hours{h} + std::chrono::minutes{m} + Seconds{sec};
}

}  // namespace

std::optional<Instant> parse_http_date(std::string_view text) {
    Cursor c{trim_ows(text)};
    int day = 0, month = 0, year = 0, h = 0, m = 0, sec = 0;
    Cursor imf = c;
    if (imf.one_of(kDays) && imf.literal(", ")) {
        // IMF-fixdate: day-name "," SP date1 SP time-of-day SP GMT
        if (imf.digits(2, 2, day) && imf.literal(" ") && imf.month(month) && imf.literal(" ") &&
            imf.digits(4, 4, year) && imf.literal(" ") && imf.time_of_day(h, m, sec) && imf.literal(" GMT") &&
            imf.s.empty())
            return make(year, month, day, h, m, sec);
        return std::nullopt;
    }
    Cursor rfc850 = c;
    if (rfc850.one_of(kLongDays) && rfc850.literal(", ")) {
        // rfc850-date: day-name-l "," SP date2 SP time-of-day SP GMT; date2 = day "-" month "-" 2DIGIT
        if (rfc850.digits(2, 2, day) && rfc850.literal("-") && rfc850.month(month) && rfc850.literal("-") &&
            rfc850.digits(2, 2, year) && rfc850.literal(" ") && rfc850.time_of_day(h, m, sec) &&
            rfc850.literal(" GMT") && rfc850.s.empty())
            return make(year + (year < 70 ? 2000 : 1900), month, day, h, m, sec);
        return std::nullopt;
    }
    Cursor asc = c;
    if (asc.one_of(kDays) && asc.literal(" ")) {
        // asctime-date: day-name SP date3 SP time-of-day SP year; date3 = month SP ( 2DIGIT / ( SP DIGIT ))
        if (!asc.month(month) || !asc.literal(" ")) return std::nullopt;
        if (asc.literal(" ")) {
            if (!asc.digits(1, 1, day)) return std::nullopt;
        } else if (!asc.digits(2, 2, day)) {
            return std::nullopt;
        }
        if (asc.literal(" ") && asc.time_of_day(h, m, sec) && asc.literal(" ") && asc.digits(4, 4, year) &&
            asc.s.empty())
            return make(year, month, day, h, m, sec);
    }
    return std::nullopt;
}

void append_http_date(std::string& out, Instant t) {
    auto days = std::chrono::floor<std::chrono::days>(t);
    std::chrono::year_month_day ymd{days};
    std::chrono::hh_mm_ss hms{t - days};
    std::chrono::weekday wd{days};
    char buf[40];
    int n = std::snprintf(buf, sizeof buf, "%s, %02u %s %04d %02d:%02d:%02d GMT",
                          kDays[wd.c_encoding()].data(), static_cast<unsigned>(ymd.day()),
                          kMonths[static_cast<unsigned>(ymd.month()) - 1].data(), static_cast<int>(ymd.year()),
                          static_cast<int>(hms.hours().count()), static_cast<int>(hms.minutes().count()),
                          static_cast<int>(hms.seconds().count()));
    if (n > 0) out.append(buf, static_cast<size_t>(n));
}

}  // namespace portico::cache
