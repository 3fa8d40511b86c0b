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

void appendFamily(QByteArray &out, const char *name, const char *type, const char *help)
{
    out += "# HELP ";
    out += name;
    out += ' ';
    out += help; // fixed texts without backslash or line feed
    out += "\n# TYPE ";
    out += name;
    out += ' ';
    out += type;
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

void appendGauge(QByteArray &out, const char *name, const char *help, std::optional<qint64> value)
{
    appendFamily(out, name, "gauge", help);
    if (value) {
        out += name;
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

    appendFamily(out, "sidecar_tool_calls_total", "counter",
                 "Finished tools/call requests by tool and outcome.");
    for (const auto &[tool, s] : m_tools) {
        for (std::size_t o = 0; o < kOutcomeNames.size(); ++o)
            appendSample(out, "sidecar_tool_calls_total", "",
                         {{"tool", tool.toUtf8()}, {"outcome", kOutcomeNames[o]}}, s.calls[o]);
    }

    appendFamily(out, "sidecar_tool_errors_total", "counter",
                 "Tool errors (isError results) by tool and error code.");
    for (const auto &[tool, s] : m_tools) {
        for (const auto &[code, n] : s.errors)
            appendSample(out, "sidecar_tool_errors_total", "",
                         {{"tool", tool.toUtf8()}, {"code", errorCodeName(code)}}, n);
    }

    appendFamily(out, "sidecar_tool_call_duration_seconds", "histogram",
                 "Time from a tools/call request to its answer, by tool.");
    for (const auto &[tool, s] : m_tools)
        appendHistogram(out, "sidecar_tool_call_duration_seconds", {"tool", tool.toUtf8()}, s.duration);

    {
        std::unique_lock lock(m_commitMutex);
        const Histogram batch = m_commitBatch;
        const Histogram duration = m_commitDuration;
        const quint64 failures = m_commitFailures;
        lock.unlock();
        appendFamily(out, "sidecar_store_commit_batch_size", "histogram",
                     "Writes per committed store transaction.");
        appendHistogram(out, "sidecar_store_commit_batch_size", {nullptr, {}}, batch);
        appendFamily(out, "sidecar_store_commit_duration_seconds", "histogram",
                     "Time to commit one store transaction (a batch of writes).");
        appendHistogram(out, "sidecar_store_commit_duration_seconds", {nullptr, {}}, duration);
        appendFamily(out, "sidecar_store_commit_failures_total", "counter",
                     "Store transactions that failed to commit.");
        appendSample(out, "sidecar_store_commit_failures_total", "", {}, failures);
    }

    appendGauge(out, "sidecar_revision", "The store-wide revision of the last mutation.", snapshot.revision);
    appendGauge(out, "sidecar_keys", "Live (unexpired) keys.", snapshot.liveKeys);
    appendFamily(out, "sidecar_workflows", "gauge", "Workflow runs by status.");
    for (const auto &[status, n] : snapshot.workflowsByStatus)
        appendSample(out, "sidecar_workflows", "", {{"status", status.toUtf8()}}, double(n));
    appendGauge(out, "sidecar_leases", "Live leases.", snapshot.leases);
    appendGauge(out, "sidecar_sessions", "Saved agent sessions.", snapshot.sessions);
    appendFamily(out, "sidecar_backend_up", "gauge",
                 "1 when the storage backend answered at scrape time, else 0.");
    appendSample(out, "sidecar_backend_up", "", {{"backend", snapshot.backend.toUtf8()}},
                 quint64(snapshot.backendUp ? 1 : 0));
    appendGauge(out, "sidecar_http_connections", "Open HTTP connections.", snapshot.httpConnections);
    appendGauge(out, "sidecar_mcp_sessions", "Live MCP sessions.", snapshot.mcpSessions);
    appendGauge(out, "sidecar_pending_watches", "Watch calls waiting for a change.", snapshot.pendingWatches);

    appendFamily(out, "sidecar_uptime_seconds", "gauge", "Seconds since the server started.");
    appendSample(out, "sidecar_uptime_seconds", "", {}, double(m_uptime.elapsed()) / 1000.0);
    appendFamily(out, "process_start_time_seconds", "gauge",
                 "Start time of the process since the Unix epoch in seconds.");
    appendSample(out, "process_start_time_seconds", "", {}, m_startTime);
    appendFamily(out, "sidecar_build_info", "gauge", "Always 1; the labels name the build.");
    appendSample(out, "sidecar_build_info", "", {{"version", SIDECAR_VERSION}, {"qt_version", qVersion()}},
                 quint64(1));
    return out;
}

} // namespace sidecar::http
