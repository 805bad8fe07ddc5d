// Edit distance and the closest known key, for unknown-key errors.
#include "conf/suggest.hpp"

#include <algorithm>
#include <vector>

namespace portico::conf {
namespace {
char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }
}  // namespace

size_t edit_distance(std::string_view a, std::string_view b) {
    const size_t n = a.size(), m = b.size();
    // Three rows suffice for the transposition rule, which looks two rows back.
    std::vector<size_t> prev2(m + 1), prev(m + 1), cur(m + 1);
    for (size_t j = 0; j <= m; ++j) prev[j] = j;
    for (size_t i = 1; i <= n; ++i) {
        cur[0] = i;
        for (size_t j = 1; j <= m; ++j) {
            size_t cost = lower(a[i - 1]) == lower(b[j - 1]) ? 0 : 1;
            cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost});
            if (i > 1 && j > 1 && lower(a[i - 1]) == lower(b[j - 2]) &&
                lower(a[i - 2]) == lower(b[j - 1]))
                cur[j] = std::min(cur[j], prev2[j - 2] + 1);
        }
        std::swap(prev2, prev);
        std::swap(prev, cur);
    }
    return prev[m];
}

std::string closest_match(std::string_view word, std::initializer_list<std::string_view> candidates) {
    std::string_view best;
    size_t best_distance = SIZE_MAX;
    for (std::string_view c : candidates) {
        size_t d = edit_distance(word, c);
        if (d < best_distance) {
            best_distance = d;
            best = c;
        }
    }
    size_t limit = std::max<size_t>(1, std::max(word.size(), best.size()) / 3);
    if (best.empty() || best_distance > limit) return {};
    return std::string(best);
}

}  // namespace portico::conf
