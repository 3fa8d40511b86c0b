#include "metrics.h"

#include <QDateTime>
#include <QThread>
#include <QtGlobal>

#include <charconv>
#include <cmath>
#include <initializer_list>
#include <utility>

namespace sidecar::http {

namespace {

struct Label
{
    const char *name;
    QByteArray value; // unescaped
};

// A sample value or an `le` bound: the shortest text that reads back the same ("0.0005", "2.5",
// "1700000000.25", "1e-07"), with the format's spellings of the non-finite values.
void appendNumber(QByteArray &out, double v)
{
    if (std::isnan(v)) {
        out += "NaN";
        return;
    }
    if (std::isinf(v)) {
        out += v > 0 ? "+Inf" : "-Inf";
        return;
    }
    // Plain decimals where they stay short (start times, sums of seconds), exponents beyond.
    const double magnitude = std::fabs(v);
    const bool plain = magnitude == 0 || (magnitude >= 1e-4 && magnitude < 1e15);
    char buffer[64];
    const auto [end, ec] = plain ? std::to_chars(buffer, buffer + sizeof buffer, v, std::chars_format::fixed)
                                 : std::to_chars(buffer, buffer + sizeof buffer, v);
    Q_ASSERT(ec == std::errc());
    out.append(buffer, qsizetype(end - buffer));
}

QByteArray numberText(double v)
{
    QByteArray text;
    appendNumber(text, v);
    return text;
}

void appendFamily(QByteArray &out, const Metrics::FamilyInfo &info)
{
    out += "# HELP ";
    out += info.name;
    out += ' ';
    out += info.help; // fixed texts without backslash or line feed
    out += "\n# TYPE ";
    out += info.name;
    out += ' ';
    out += info.type;
    out += '\n';
}

void appendLabels(QByteArray &out, std::initializer_list<Label> labels)
{
    if (labels.size() == 0)
        return;
    out += '{';
    bool first = true;
    for (const Label &l : labels) {
        if (!first)
            out += ',';
        first = false;
        out += l.name;
        out += "=\"";
        out += Metrics::escapeLabelValue(l.value);
        out += '"';
    }
    out += '}';
}

void appendSample(QByteArray &out, const char *name, const char *suffix, std::initializer_list<Label> labels,
                  double value)
{
    out += name;
    out += suffix;
    appendLabels(out, labels);
    out += ' ';
    appendNumber(out, value);
    out += '\n';
}

void appendSample(QByteArray &out, const char *name, const char *suffix, std::initializer_list<Label> labels,
                  quint64 value)
{
    out += name;
    out += suffix;
    appendLabels(out, labels);
    out += ' ';
    out += QByteArray::number(value);
    out += '\n';
}

void appendGauge(QByteArray &out, const Metrics::FamilyInfo &info, std::optional<qint64> value)
{
    appendFamily(out, info);
    if (value) {
        out += info.name;
        out += ' ';
        out += QByteArray::number(*value);
        out += '\n';
    }
}

// The _bucket (cumulative, ending in +Inf), _sum and _count lines of one histogram; `label`, when
// given a name, is carried by all three.
void appendHistogram(QByteArray &out, const char *name, const Label &label, const Metrics::Histogram &h)
{
    quint64 cumulative = 0;
    for (std::size_t i = 0; i < h.counts.size(); ++i) {
        cumulative += h.counts[i];
        const QByteArray le = i < h.bounds.size() ? numberText(h.bounds[i]) : QByteArrayLiteral("+Inf");
        if (label.name)
            appendSample(out, name, "_bucket", {label, {"le", le}}, cumulative);
        else
            appendSample(out, name, "_bucket", {{"le", le}}, cumulative);
    }
    if (label.name) {
        appendSample(out, name, "_sum", {label}, h.sum);
        appendSample(out, name, "_count", {label}, h.count);
    } else {
        appendSample(out, name, "_sum", {}, h.sum);
        appendSample(out, name, "_count", {}, h.count);
    }
}

constexpr std::array<const char *, 3> kOutcomeNames = {"ok", "tool_error", "rpc_error"};

// Indexes into kFamilies, which is in the order render() writes the families.
enum FamilyId : std::size_t {
    ToolCalls,
    ToolErrors,
    ToolCallDuration,
    CommitBatchSize,
    CommitDuration,
    CommitFailures,
    Revision,
    Keys,
    Workflows,
    Leases,
    Sessions,
    BackendUp,
    HttpConnections,
    McpSessions,
    PendingWatches,
    Uptime,
    ProcessStartTime,
    BuildInfo,
    FamilyCount
};

constexpr std::span<const double> kNoBuckets;
constexpr char kWhenBackendAnswered[] = "Only when the backend answered at scrape time.";

constexpr Metrics::FamilyInfo kFamilies[] = {
    {"sidecar_tool_calls_total", "counter", "tool,outcome",
     "Finished tools/call requests by tool and outcome.", kNoBuckets,
     "One series per tool and outcome (`ok`, `tool_error`, `rpc_error`) from the start, at zero. Calls "
     "naming a tool the server does not have count as `tool=\"unknown\"`, whose series appear with the "
     "first."},
    {"sidecar_tool_errors_total", "counter", "tool,code",
     "Tool errors (isError results) by tool and error code.", kNoBuckets,
     "A series appears with the first error of its tool and code; `code` is the error's code "
     "(`invalid_argument`, `not_found`, `conflict`, `forbidden`, `unavailable`, `too_large`, `internal`)."},
    {"sidecar_tool_call_duration_seconds", "histogram", "tool",
     "Time from a tools/call request to its answer, by tool.", Metrics::kDurationBuckets,
     "One series per tool from the start, at zero (`unknown` as above)."},
    {"sidecar_store_commit_batch_size", "histogram", "", "Writes per committed store transaction.",
     Metrics::kBatchSizeBuckets,
     "Always; observed by the SQLite backend (the Redis backend reports no commits: it stays at zero)."},
    {"sidecar_store_commit_duration_seconds", "histogram", "",
     "Time to commit one store transaction (a batch of writes).", Metrics::kCommitDurationBuckets,
     "Always; observed by the SQLite backend, as above."},
    {"sidecar_store_commit_failures_total", "counter", "", "Store transactions that failed to commit.",
     kNoBuckets, "Always; counted by the SQLite backend, as above."},
    {"sidecar_revision", "gauge", "", "The store-wide revision of the last mutation.", kNoBuckets,
     kWhenBackendAnswered},
    {"sidecar_keys", "gauge", "", "Live (unexpired) keys.", kNoBuckets, kWhenBackendAnswered},
    {"sidecar_workflows", "gauge", "status", "Workflow runs by status.", kNoBuckets,
     "Only when the backend answered at scrape time: one sample per status (`created`, `claimed`, `running`, "
     "`done`, `failed`, zeros included)."},
    {"sidecar_leases", "gauge", "", "Live leases.", kNoBuckets, kWhenBackendAnswered},
    {"sidecar_sessions", "gauge", "", "Saved agent sessions.", kNoBuckets, kWhenBackendAnswered},
    {"sidecar_backend_up", "gauge", "backend", "1 when the storage backend answered at scrape time, else 0.",
     kNoBuckets, "Always; `backend` is `sqlite` or `redis`."},
    {"sidecar_http_connections", "gauge", "", "Open HTTP connections.", kNoBuckets, "Always."},
    {"sidecar_mcp_sessions", "gauge", "", "Live MCP sessions.", kNoBuckets, "Always."},
    {"sidecar_pending_watches", "gauge", "", "Watch calls waiting for a change.", kNoBuckets, "Always."},
    {"sidecar_uptime_seconds", "gauge", "", "Seconds since the server started.", kNoBuckets, "Always."},
    {"process_start_time_seconds", "gauge", "", "Start time of the process since the Unix epoch in seconds.",
     kNoBuckets, "Always."},
    {"sidecar_build_info", "gauge", "version,qt_version", "Always 1; the labels name the build.", kNoBuckets,
     "Always; `version` is the sidecar's version, `qt_version` that of the Qt library it runs on."},
};
static_assert(std::size(kFamilies) == FamilyCount);

constexpr const Metrics::FamilyInfo &family(FamilyId id)
{
    return kFamilies[id];
}

} // namespace

Metrics::Histogram::Histogram(std::span<const double> upperBounds)
    : bounds(upperBounds), counts(upperBounds.size() + 1, 0)
{}

void Metrics::Histogram::observe(double value)
{
    // le is inclusive: a value equal to a bound falls in that bound's bucket. NaN lands in +Inf.
    std::size_t i = 0;
    while (i < bounds.size() && !(value <= bounds[i]))
        ++i;
    ++counts[i];
    sum += value;
    ++count;
}

Metrics::Metrics(const QStringList &tools, QObject *parent)
    : QObject(parent), m_startTime(double(QDateTime::currentMSecsSinceEpoch()) / 1000.0)
{
    m_uptime.start();
    for (const QString &tool : tools)
        addTool(tool);
}

void Metrics::addTool(const QString &tool)
{
    Q_ASSERT(QThread::currentThread() == thread());
    m_tools.try_emplace(tool);
}

Metrics::ToolSeries &Metrics::series(const QString &tool)
{
    const auto it = m_tools.find(tool);
    if (it != m_tools.end())
        return it->second;
    return m_tools[QString::fromLatin1(kUnknownTool)];
}

void Metrics::recordCall(const QString &tool, Outcome outcome, double seconds)
{
    Q_ASSERT(QThread::currentThread() == thread());
    ToolSeries &s = series(tool);
    ++s.calls[std::size_t(outcome)];
    s.duration.observe(seconds);
}

void Metrics::recordCall(const QString &tool, ErrorCode toolError, double seconds)
{
    Q_ASSERT(QThread::currentThread() == thread());
    ToolSeries &s = series(tool);
    ++s.calls[std::size_t(Outcome::ToolError)];
    ++s.errors[toolError];
    s.duration.observe(seconds);
}

void Metrics::recordCommit(qint64 batchSize, double seconds, bool ok)
{
    const std::lock_guard lock(m_commitMutex);
    if (!ok) {
        ++m_commitFailures;
        return;
    }
    m_commitBatch.observe(double(batchSize));
    m_commitDuration.observe(seconds);
}

std::span<const Metrics::FamilyInfo> Metrics::families()
{
    return kFamilies;
}

QByteArray Metrics::numberText(double value)
{
    return sidecar::http::numberText(value);
}

QByteArray Metrics::escapeLabelValue(QByteArrayView value)
{
    QByteArray out;
    out.reserve(value.size());
    for (const char c : value) {
        switch (c) {
        case '\\': out += "\\\\"; break;
        case '"': out += "\\\""; break;
        case '\n': out += "\\n"; break;
        default: out += c;
        }
    }
    return out;
}

QByteArray Metrics::render(const Snapshot &snapshot) const
{
    Q_ASSERT(QThread::currentThread() == thread());
    QByteArray out;
    out.reserve(qsizetype(8192 + m_tools.size() * 2048));

    appendFamily(out, family(ToolCalls));
    for (const auto &[tool, s] : m_tools) {
        for (std::size_t o = 0; o < kOutcomeNames.size(); ++o)
            appendSample(out, family(ToolCalls).name, "",
                         {{"tool", tool.toUtf8()}, {"outcome", kOutcomeNames[o]}}, s.calls[o]);
    }

    appendFamily(out, family(ToolErrors));
    for (const auto &[tool, s] : m_tools) {
        for (const auto &[code, n] : s.errors)
            appendSample(out, family(ToolErrors).name, "",
                         {{"tool", tool.toUtf8()}, {"code", errorCodeName(code)}}, n);
    }

    appendFamily(out, family(ToolCallDuration));
    for (const auto &[tool, s] : m_tools)
        appendHistogram(out, family(ToolCallDuration).name, {"tool", tool.toUtf8()}, s.duration);

    {
        std::unique_lock lock(m_commitMutex);
        const Histogram batch = m_commitBatch;
        const Histogram duration = m_commitDuration;
        const quint64 failures = m_commitFailures;
        lock.unlock();
        appendFamily(out, family(CommitBatchSize));
        appendHistogram(out, family(CommitBatchSize).name, {nullptr, {}}, batch);
        appendFamily(out, family(CommitDuration));
        appendHistogram(out, family(CommitDuration).name, {nullptr, {}}, duration);
        appendFamily(out, family(CommitFailures));
        appendSample(out, family(CommitFailures).name, "", {}, failures);
    }

    appendGauge(out, family(Revision), snapshot.revision);
    appendGauge(out, family(Keys), snapshot.liveKeys);
    appendFamily(out, family(Workflows));
    for (const auto &[status, n] : snapshot.workflowsByStatus)
        appendSample(out, family(Workflows).name, "", {{"status", status.toUtf8()}}, double(n));
    appendGauge(out, family(Leases), snapshot.leases);
    appendGauge(out, family(Sessions), snapshot.sessions);
    appendFamily(out, family(BackendUp));
    appendSample(out, family(BackendUp).name, "", {{"backend", snapshot.backend.toUtf8()}},
                 quint64(snapshot.backendUp ? 1 : 0));
    appendGauge(out, family(HttpConnections), snapshot.httpConnections);
    appendGauge(out, family(McpSessions), snapshot.mcpSessions);
    appendGauge(out, family(PendingWatches), snapshot.pendingWatches);

    appendFamily(out, family(Uptime));
    appendSample(out, family(Uptime).name, "", {}, double(m_uptime.elapsed()) / 1000.0);
    appendFamily(out, family(ProcessStartTime));
    appendSample(out, family(ProcessStartTime).name, "", {}, m_startTime);
    appendFamily(out, family(BuildInfo));
    appendSample(out, family(BuildInfo).name, "", {{"version", SIDECAR_VERSION}, {"qt_version", qVersion()}},
                 quint64(1));
    return out;
}

} // namespace sidecar::http
