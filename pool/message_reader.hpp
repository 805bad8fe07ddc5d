// Frames a byte stream into whole protocol messages as reads arrive, split or coalesced, without
// copying a message that arrived whole; only a message cut by a read boundary is buffered.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "pool/protocol.hpp"

namespace portico::pool {

// One framed message. The views point into the bytes given to feed() or into the reader's own
// buffer: they stay valid until the next call to next() or feed().
struct Message {
    char type = 0;          // the type byte; 0 for startup-phase packets, which have none
    std::string_view body;  // after the length word (empty for a part: see `part`)
    std::string_view raw;   // the whole message as received (type, length, body): forward it as is
    // A message above ReaderLimits::stream_above comes as parts, each `raw` a run of its bytes in
    // order (the first holds the header), so a 100 MB CopyData or DataRow is forwarded as it
    // arrives and never held whole. `first` and `last` mark the message's first and last part.
    bool part = false;
    bool first = true;
    bool last = true;
};

// A typed message's first five bytes, for callers that pass a message through without buffering it
// (a 100 MB DataRow or CopyData): `length` counts itself and the body, not the type byte.
struct TypedHeader {
    char type;
    uint32_t length;
    size_t total() const { return size_t(length) + 1; }
};
// nullopt when fewer than five bytes are given. The length is not checked here.
std::optional<TypedHeader> peek_typed_header(std::string_view bytes);

// Before StartupMessage, packets have no type byte (StartupMessage, SSLRequest, GSSENCRequest,
// CancelRequest); after it, every message has one. The caller switches phase once it has read the
// StartupMessage; a reader of server connections starts typed.
enum class Phase : uint8_t { startup, typed };

struct ReaderLimits {
    size_t max_message = kDefaultMaxMessage;  // largest length word of a typed message
    size_t max_startup = kMaxStartupPacket;   // largest length word of a startup packet
    // Typed messages whose length word is above this come as parts (Message::part); 0 = never.
    size_t stream_above = 0;
    // Types that always come whole, however long (a Parse: its text is kept to prepare it again).
    std::string_view whole_types;
};

// The limits the pooler's connections read with (pool/client_connection.cpp, server_connection.cpp).
// Client messages: large ones (COPY data, big Binds) stream through in parts; Postgres allows up to
// 1 GiB for a message; a Parse is kept whole, its text being what another server is given to prepare
// it again.
ReaderLimits client_reader_limits();
// Server messages are trusted for framing, but a DataRow or CopyData may be huge: anything above
// 256 KiB passes through in parts rather than held whole; errors and command tags are read
// (statement_tracker.hpp), so they come whole.
ReaderLimits server_reader_limits();

class MessageReader {
public:
    enum class Status : uint8_t { message, need_more, error };  // a part is a `message` too

    explicit MessageReader(Phase phase = Phase::typed, ReaderLimits limits = {});

    Phase phase() const { return phase_; }
    void set_phase(Phase phase) { phase_ = phase; }
    void set_limits(ReaderLimits limits) { limits_ = limits; }

    // Hands over the next bytes read from the socket. The reader keeps a view only: call next()
    // until it answers need_more or error before the caller's buffer is reused (libuv's read buffer
    // is per thread, core/read_buffer.hpp); by then any partial message has been copied. Calling
    // feed() again before that is allowed: the undrained bytes are copied then, so they must still
    // be alive at that call.
    void feed(std::string_view bytes);

    // The next whole message into `out`; need_more when the bytes so far end mid-message; error
    // (sticky) when a length word is invalid or above the limit: the connection must be closed after
    // answering error(). An oversize message is refused from its header, before its body is read.
    Status next(Message& out);

    const ProtocolError& error() const { return error_; }
    // Bytes received and not yet returned as messages (buffered or pending in the fed view).
    size_t pending() const { return (buf_.size() - buf_pos_) + in_.size(); }

private:
    size_t header_size() const { return phase_ == Phase::typed ? 5 : 4; }
    // From a complete header: the message's total size, or 0 after setting the error.
    size_t check_header(const char* header);
    Status fail(ProtocolErrc code, std::string message);
    Message frame(std::string_view whole) const;
    bool streams(size_t total, char type) const {
        return phase_ == Phase::typed && limits_.stream_above != 0 && total - 1 > limits_.stream_above &&
               limits_.whole_types.find(type) == std::string_view::npos;
    }
    Status first_part(std::string_view bytes, size_t total, Message& out);
    Status next_part(Message& out);
    void take_into_buffer(size_t n);

    Phase phase_;
    ReaderLimits limits_;
    std::string buf_;       // a message cut by a read boundary, collected here
    size_t buf_pos_ = 0;    // how much of buf_ was already returned
    std::string_view in_;   // the caller's bytes not yet framed
    bool failed_ = false;
    ProtocolError error_;
    size_t part_left_ = 0;  // bytes of the streamed message still to come
    char part_type_ = 0;
};

// The next message queued in `rest` (whole messages as framed by a MessageReader, maybe ending in
// the first bytes of one still streaming in), taken off its front: whole, or that first part
// (part, first, not last). False when not even a header is left. The pooler walks what a client
// queued before it had a server with this (pool/client_connection.cpp).
bool next_queued(std::string_view& rest, Message& m);

}  // namespace portico::pool
