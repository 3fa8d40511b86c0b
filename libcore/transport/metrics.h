#pragma once

// The server's metrics, rendered for GET /metrics in the Prometheus text exposition format 0.0.4
// (https://prometheus.io/docs/instrumenting/exposition_formats/).
//
// Families: families() lists every one (name, type, labels, help) in the order render() writes
// them; sidecar-docgen prints docs/metrics.md from it. Tool calls and errors come from
// recordCall(), store commits from recordCommit(), the gauges of the store and the server from the
// Snapshot given to render().
//
// The tool label takes only the names given to the constructor or addTool(): a call naming any
// other tool (the name comes from the client, so its values are unbounded) counts as
// tool="unknown". Known tools have their series from the start, at zero, as Prometheus advises.
//
// Thread: the object lives on the main thread. recordCall() and render() run there only, without
// locks. recordCommit() may be called from any thread (the store's writer): it takes a mutex that
// guards the two commit histograms alone, once per committed batch. The object must outlive
// every thread that reports commits.

#include <QByteArray>
#include <QElapsedTimer>
#include <QObject>
#include <QString>
#include <QStringList>

#include <array>
#include <map>
#include <mutex>
#include <optional>
#include <span>
#include <vector>

#include "protocol/result.h"

namespace sidecar::http {

class Metrics : public QObject
{
    Q_OBJECT
public:
    enum class Outcome { Ok, ToolError, RpcError };

    // Upper bounds (le) of the histograms; +Inf is implied.
    static constexpr std::array<double, 14> kDurationBuckets = {
        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
    static constexpr std::array<double, 15> kCommitDurationBuckets = {
        0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5};
    static constexpr std::array<double, 12> kBatchSizeBuckets = {1,  2,   4,   8,   16,   32,
                                                                 64, 128, 256, 512, 1024, 4096};

    // One family of the exposition: its # HELP and # TYPE lines, and what the reference says of it.
    struct FamilyInfo
    {
        const char *name;
        const char *type;                // counter | gauge | histogram
        const char *labels;              // label names, comma-separated ("" for none; le not counted)
        const char *help;                // the HELP text: no backslash, no line feed
        std::span<const double> buckets; // a histogram's upper bounds (+Inf implied); else empty
        const char *samples;             // for the reference: when samples appear, label values
    };

    // Every family, in the order render() writes them.
    static std::span<const FamilyInfo> families();

    // The Content-Type of render()'s output.
    static constexpr char kContentType[] = "text/plain; version=0.0.4; charset=utf-8";
    static constexpr char kUnknownTool[] = "unknown";

    // What the caller knows at scrape time. An absent value (the backend did not answer) leaves its
    // family without samples rather than reporting a false zero.
    struct Snapshot
    {
        QString backend;       // "sqlite" | "redis": the label of sidecar_backend_up
        bool backendUp = true; // the backend answered
        std::optional<qint64> revision;
        std::optional<qint64> liveKeys;
        std::map<QString, qint64> workflowsByStatus; // every status the caller knows, zeros included
        std::optional<qint64> leases;
        std::optional<qint64> sessions; // saved agent sessions (session_save)
        qint64 httpConnections = 0;     // open TCP connections
        qint64 mcpSessions = 0;         // live MCP sessions
        qint64 pendingWatches = 0;      // long-polling watch calls waiting for a change
    };

    explicit Metrics(const QStringList &tools = {}, QObject *parent = nullptr);

    // Gives `tool` its own label value. Main thread.
    void addTool(const QString &tool);

    // One finished tools/call. Main thread. The ErrorCode overload counts a tool error (outcome
    // tool_error) and its code.
    void recordCall(const QString &tool, Outcome outcome, double seconds);
    void recordCall(const QString &tool, ErrorCode toolError, double seconds);

    // One committed (or failed) store transaction holding `batchSize` writes. Any thread.
    void recordCommit(qint64 batchSize, double seconds, bool ok = true);

    // The exposition text. Main thread.
    QByteArray render(const Snapshot &snapshot) const;

    // Label values escaped as the text format requires: backslash, double quote and line feed.
    static QByteArray escapeLabelValue(QByteArrayView value);
    // A sample value or an le bound as render() writes it ("0.0005", "2.5", "+Inf").
    static QByteArray numberText(double value);

    // Counts and sum of observations per histogram; `counts` per bucket, not cumulative, the last
    // one for +Inf.
    struct Histogram
    {
        explicit Histogram(std::span<const double> upperBounds);
        void observe(double value);

        std::span<const double> bounds;
        std::vector<quint64> counts;
        double sum = 0;
        quint64 count = 0;
    };

private:
    struct ToolSeries
    {
        std::array<quint64, 3> calls{}; // by Outcome
        std::map<ErrorCode, quint64> errors;
        Histogram duration{kDurationBuckets};
    };

    ToolSeries &series(const QString &tool);

    std::map<QString, ToolSeries> m_tools; // sorted: render() lists them in order
    QElapsedTimer m_uptime;
    double m_startTime = 0; // Unix seconds

    // Written by any thread through recordCommit().
    mutable std::mutex m_commitMutex;
    Histogram m_commitBatch{kBatchSizeBuckets};         // guarded by m_commitMutex
    Histogram m_commitDuration{kCommitDurationBuckets}; // guarded by m_commitMutex
    quint64 m_commitFailures = 0;                       // guarded by m_commitMutex
};

} // namespace sidecar::http
