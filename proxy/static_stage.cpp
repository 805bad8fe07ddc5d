// The static stage; see static_stage.hpp.
#include "proxy/static_stage.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <llhttp.h>

#include "cache/accept_encoding.hpp"
#include "core/log.hpp"
#include "proxy/mime_types.hpp"

namespace portico::proxy {

namespace {

// The client takes gzip: named with q > 0, or not named and `*` with q > 0 (RFC 9110 §12.5.3).
// No Accept-Encoding at all means plain bytes, as for Portico's own compression.
bool accepts_gzip(cache::HeaderList fields) {
    cache::AcceptEncoding accept = cache::parse_accept_encoding(fields);
    if (!accept.present) return false;
    return accept.gzip > 0 || (accept.gzip < 0 && accept.star > 0);
}

void count(StaticResult& out, OpenFileCache::Lookup how) {
    switch (how) {
        case OpenFileCache::Lookup::hit: ++out.cache_hits; break;
        case OpenFileCache::Lookup::miss: ++out.cache_misses; break;
        case OpenFileCache::Lookup::expired: ++out.cache_expired; break;
    }
}

}  // namespace

StaticFiles::StaticFiles(size_t capacity, uint64_t valid_ns) : valid_ns_(valid_ns), files_(capacity, valid_ns) {}

StaticFiles::~StaticFiles() {
    for (auto& [root, dir] : roots_)
        if (dir.fd >= 0) close(dir.fd);
}

int StaticFiles::root_fd(const std::string& root, uint64_t now_ns) {
    Root& dir = roots_[root];
    if (dir.opened_ns != 0 && now_ns - dir.opened_ns < valid_ns_) return dir.fd;
    if (dir.fd >= 0) close(dir.fd);  // openings made through it are independent of it
    dir.fd = ::open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    dir.opened_ns = now_ns;
    if (dir.fd < 0) {
        // At most once per validity period per worker: a missing root is the operator's to fix.
        core::log(core::LogLevel::warn, "static", "root {} cannot be opened: every request under it is a 404",
                  root);
    }
    return dir.fd;
}

OpenFilePtr StaticFiles::open(const conf::RouteStatic& route, const StaticPath& path, std::string_view suffix,
                              uint64_t now_ns, OpenFileCache::Lookup& how) {
    // Root, index and the path written as a directory or not all change what the key opens.
    key_.assign(route.root);
    key_.push_back('\0');
    key_.append(route.index);
    key_.push_back('\0');
    key_.append(path.relative);
    key_.append(path.directory ? "/" : "");
    // Apart from the path, or "a.css" + ".gz" would be the key of a request for "a.css.gz" itself
    // (typed application/gzip, not text/css).
    key_.push_back('\0');
    key_.append(suffix);
    if (OpenFilePtr found = files_.find(key_, now_ns, how)) return found;
    auto made = std::make_shared<OpenFile>();
    int root = root_fd(route.root, now_ns);
    if (root >= 0) {
        StaticPath named = path;
        named.relative.append(suffix);
        made->outcome = open_static(root, named, route.index, made->file);
    }
    if (made->outcome == OpenOutcome::ok) {
        made->etag = file_etag(made->file.info());
        made->last_modified = file_last_modified(made->file.info());
        std::string_view name = made->file.name();
        if (!suffix.empty() && name.size() >= suffix.size()) name.remove_suffix(suffix.size());
        made->content_type = MimeTypes::system().lookup(name);
    }
    files_.insert(key_, made, now_ns);
    return made;
}

StaticVerdict static_stage(StaticFiles& files, const conf::RouteStatic& route, std::string_view pattern,
                           const MessageHead& request, std::string_view path, cache::HeaderList fields,
                           std::string_view boundary, uint64_t now_ns, StaticResult& out) {
    out = StaticResult{};
    if (request.method != HTTP_GET && request.method != HTTP_HEAD) {
        out.answer.status = 405;
        out.answer.fields = "Allow: GET, HEAD\r\n";
        return StaticVerdict::answer;
    }
    auto fallback_or = [&](int status) {
        if (route.fallback_upstream && status == 404) return StaticVerdict::fallback;
        out.answer.status = status;
        return StaticVerdict::answer;
    };
    std::optional<StaticPath> named = static_path(path, pattern);
    if (!named) return fallback_or(404);
    OpenFileCache::Lookup how{};
    OpenFilePtr file = files.open(route, *named, "", now_ns, how);
    count(out, how);
    switch (file->outcome) {
        case OpenOutcome::ok: break;
        case OpenOutcome::not_found: return fallback_or(404);
        case OpenOutcome::forbidden: return fallback_or(403);
        case OpenOutcome::directory: {
            // Found, so never a fallback: the app would only see a path the disk answers.
            std::string_view target = request.target();
            size_t question = target.find('?');
            std::string_view query = question == std::string_view::npos ? std::string_view() : target.substr(question + 1);
            out.answer.status = 301;
            out.answer.fields = "Location: ";
            out.answer.fields.append(directory_location(pattern, named->relative, query));
            out.answer.fields.append("\r\n");
            return StaticVerdict::answer;
        }
    }
    if (route.precompressed && accepts_gzip(fields)) {
        // The sibling of the file actually served ("dir/" → "dir/index.html.gz").
        StaticPath sibling{file->file.name(), /*directory=*/false};
        OpenFilePtr gz = files.open(route, sibling, ".gz", now_ns, how);
        count(out, how);
        if (gz->outcome == OpenOutcome::ok) {
            // Typed as the plain file (app.css.gz is text/css): StaticFiles::open types by the name
            // without the suffix.
            out.precompressed = true;
            file = std::move(gz);
        }
    }
    StaticRequest req;
    req.head = request.method == HTTP_HEAD;
    req.fields = fields;
    req.conditional = request.count(FieldId::if_none_match) > 0 || request.count(FieldId::if_modified_since) > 0;
    req.range = request.find(FieldId::range);
    req.if_range = request.find(FieldId::if_range);
    FileFacts facts;
    facts.size = file->file.size();
    facts.etag = file->etag;
    facts.last_modified = file->last_modified;
    facts.content_type = file->content_type;
    facts.gzip = out.precompressed;
    StaticHeadSettings settings{route.cache_control, route.precompressed, boundary};
    plan_static_answer(req, facts, settings, out.answer);
    out.file = std::move(file);
    return StaticVerdict::answer;
}

}  // namespace portico::proxy
