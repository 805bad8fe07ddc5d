// The static stage's part of the client connection (DESIGN.md step 4): a route with `static:`
// answers from disk — a file body through the FileSender, or a bodiless answer (HEAD, 304, 416,
// 301/403/404/405) written at once — counted per route and status; `fallback: upstream` hands a miss
// on to the cache and the app.
#include "core/clock.hpp"
#include "core/log.hpp"
#include "proxy/cache_stage.hpp"
#include "proxy/client_connection.hpp"
#include "proxy/static_stage.hpp"
#include "proxy/worker.hpp"

namespace portico::proxy {

bool ClientConnection::serve_static() {
    const MessageHead& head = parser_.head();
    std::vector<cache::HeaderField>& fields = worker_.request_fields();
    collect_fields(head, fields);
    std::string boundary;  // for multipart/byteranges: 32 random hex digits never met in a file by chance
    if (head.count(FieldId::range) > 0) worker_.make_request_id(boundary);
    uint64_t now = core::now_ns();
    StaticResult result;
    StaticVerdict verdict = static_stage(worker_.static_files(), *route_->static_files, route_->pattern, head,
                                         request_path_, fields, boundary, now, result);
    auto& counters = worker_.metrics().static_files;
    counters.open_cache_hits.inc(result.cache_hits);
    counters.open_cache_misses.inc(result.cache_misses);
    counters.open_cache_expired.inc(result.cache_expired);
    const OpenFileCache& cache = worker_.static_files().cache();
    counters.open_cache_entries.set(cache.size());
    counters.open_cache_evictions.set(cache.evictions());
    if (verdict == StaticVerdict::fallback) {
        counters.fallback.inc();
        return false;
    }
    StaticAnswer& answer = result.answer;
    worker_.metrics().static_responses.inc(route_id_, answer.status);
    // A body still on its way is not read: the connection closes after the answer.
    bool close = close_after_ || !request_complete_ || worker_.draining();
    if (!result.file) {
        // 301 (its Location made from the normalised path), 403, 404, 405: Portico's short text,
        // never the path on disk or the reason the file was refused.
        answer.fields.append(policy_fields_);
        respond_local(answer.status, {}, close, answer.fields);
        return true;
    }
    if (result.precompressed) counters.precompressed.inc();
    ClientResponseContext context;
    context.request_id = request_id_;
    context.portico_ms = core::ns_to_ms(now - started_ns_);
    context.close = close;
    context.keep_alive_1_0 = head.version_minor == 0 && !close;
    context.framing = ClientFraming::content_length;
    context.content_length = answer.content_length;
    context.extra_headers = policy_fields_;
    std::string& out = worker_.scratch();
    out.clear();
    build_cached_response_head(out, answer.status, answer.fields, context, /*omit_length=*/!answer.states_length);
    if (answer.body.empty()) {
        send_local(answer.status, out, close);
        return true;
    }
    status_ = answer.status;
    response_started_ = true;
    close_after_ = close;
    set_state(State::sending_file);
    file_progress_ = 0;
    // nginx's send_timeout: a client that takes nothing for idle_timeout is dropped.
    arm_timer(static_cast<uint64_t>(config_->limits.idle_timeout.count()));
    answer.body.front().text.insert(0, out);  // the head leaves with the first part's text
    file_sender_.start(std::move(result.file), std::move(answer.body));
    return true;
}

void ClientConnection::on_file_sent(void* owner, int status) {
    auto* self = static_cast<ClientConnection*>(owner);
    self->response_bytes_ += self->file_sender_.bytes_sent();
    self->worker_.metrics().static_files.bytes_sent.inc(self->file_sender_.file_bytes_sent());
    if (status < 0) {
        if (status == UV_EIO) {
            core::log(core::LogLevel::warn, "static", "{} {}: the file shrank while it was sent; connection closed",
                      self->request_id_, self->request_line_);
        }
        self->client_gone_ = status != UV_EIO;
        self->set_state(State::closing);  // so abort() does not count the bytes twice
        self->abort();
        return;
    }
    self->finish_exchange();
}

// The send timeout fired: drop the client unless it took something since it was armed.
void ClientConnection::file_send_timeout() {
    uint64_t sent = file_sender_.bytes_sent();
    if (sent != file_progress_) {
        file_progress_ = sent;
        arm_timer(static_cast<uint64_t>(config_->limits.idle_timeout.count()));
        return;
    }
    core::log(core::LogLevel::debug, "static", "{} {}: client took nothing for idle_timeout", request_id_,
              request_line_);
    client_gone_ = true;
    abort();
}

}  // namespace portico::proxy
