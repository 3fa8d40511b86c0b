#pragma once

// Shared pieces of the tool definitions: schema fragments, argument readers that enforce the
// contract's rules the schema language cannot say (ids measured in UTF-8 bytes, no NUL,
// value sizes on the compact form), and the glue from a Store callback to a ToolReply.
// Arguments reaching these readers have already passed the tool's input schema.

#include <QString>

#include <optional>

#include "protocol/json.h"
#include "protocol/toolregistry.h"
#include "store/store.h"
#include "tools.h"

namespace sidecar::tools {

// ---- schema fragments (JSON text pieces spliced into each tool's schema)
#define SIDECAR_ID_SCHEMA(what) "{\"type\":\"string\",\"minLength\":1,\"description\":\"" what "\"}"
#define SIDECAR_TTL_SCHEMA(what) \
    "{\"type\":\"number\",\"minimum\":0.001,\"maximum\":31536000,\"description\":\"" what "\"}"
#define SIDECAR_FENCE_SCHEMA \
    "{\"type\":\"integer\",\"minimum\":0,\"description\":\"The fencing token of the grant the caller holds.\"}"
#define SIDECAR_LIMIT_SCHEMA \
    "{\"type\":\"integer\",\"minimum\":1,\"maximum\":10000,\"description\":\"Page size; without it every match is " \
    "returned.\"}"
#define SIDECAR_CURSOR_SCHEMA \
    "{\"type\":\"string\",\"description\":\"The next_cursor of the previous page, sent with the same filters.\"}"
#define SIDECAR_PREFIX_SCHEMA(what) \
    "{\"type\":\"string\",\"description\":\"Only " what " starting with this literal text (case-sensitive, no " \
    "wildcards).\"}"
#define SIDECAR_ANY_JSON "{}"
#define SIDECAR_NULLABLE(type) "{\"type\":[\"" type "\",\"null\"]}"

inline constexpr int kMaxIdBytes = 512;

// A required identifier (key, run id, ...): non-empty UTF-8 of at most 512 bytes, no NUL.
Result<QString> idArg(const json::Value &args, std::string_view name);
// The same for an optional one: nullopt when absent.
Result<std::optional<QString>> optIdArg(const json::Value &args, std::string_view name);
QString strArg(const json::Value &args, std::string_view name); // empty when absent
std::optional<std::int64_t> intArg(const json::Value &args, std::string_view name);
std::optional<double> numArg(const json::Value &args, std::string_view name);
std::optional<bool> boolArg(const json::Value &args, std::string_view name);
// A JSON value's compact text, checked against SIDECAR_MAX_VALUE_BYTES (too_large).
Result<QByteArray> valueArg(const json::Value &value, std::string_view name, const ToolOptions &options);
// An object of strings, in the order sent.
std::vector<std::pair<QString, QString>> tagsArg(const json::Value &args, std::string_view name);
Result<std::optional<store::LeaseGuard>> leaseGuardArg(const json::Value &args, std::string_view name);

// Writes a WorkflowMeta object (`meta` and the items of `runs`).
void writeRun(json::Writer &w, const store::WorkflowMeta &run);
void writeHistoryEntry(json::Writer &w, const store::HistoryEntry &e);

struct EntriesWritten
{
    qint64 count = 0;
    std::int64_t lastRevision = 0;
    bool cut = false; // stopped before the end to keep the reply under the limit
};
// Writes history entries as a JSON array, stopping before the reply would pass maxReply
// (always at least one entry).
EntriesWritten writeEntries(json::Writer &w, const std::vector<store::HistoryEntry> &entries, qint64 maxReply);

// A Store callback that answers `reply` with format(value), or with the Store's error.
template<class T, class Format>
store::Callback<T> answer(protocol::ToolReply reply, Format format)
{
    return [reply = std::move(reply), format = std::move(format)](Result<T> result) {
        if (!result) {
            reply(tl::unexpected(result.error()));
            return;
        }
        json::Writer w(256);
        format(w, *result);
        reply(w.take());
    };
}

// Answers a list, or too_large when a list the caller did not page would pass
// SIDECAR_MAX_REPLY_BYTES (lists never stop early unless the caller pages).
void replyList(const protocol::ToolReply &reply, json::Writer &w, bool paged, qint64 maxReply);

inline tl::unexpected<Error> argError(Error e)
{
    return tl::unexpected<Error>(std::move(e));
}

// ---- result objects shared by a tool and its resource (TOOLS.md, "Resources"): one writer
// each, so that resources/read of an item returns exactly what the tool returns.
// state_get's object.
void writeKvEntry(json::Writer &w, const store::KvEntry &e);
// workflow_status's object.
void writeWorkflowStatus(json::Writer &w, const store::WorkflowMeta &m);
// One item of lease_list's `leases`.
void writeLeaseInfo(json::Writer &w, const store::LeaseInfo &l);
// session_restore's object.
void writeSessionRestore(json::Writer &w, const store::SessionRestoreResult &r);
// One item of session_list's `sessions`.
void writeSessionInfo(json::Writer &w, const store::SessionInfo &s);

} // namespace sidecar::tools
