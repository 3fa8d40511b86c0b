// Metrics: the Prometheus text exposition (format 0.0.4) that GET /metrics serves. Every render is
// read back by a small checker written here from the format's description (sample lines, HELP and
// TYPE, families not repeated, histogram buckets cumulative up to +Inf == _count), and the checker
// is itself shown to reject broken texts. Also: counting by tool and outcome, bucket boundaries,
// unknown tool names folded, commit reports from other threads, snapshot gauges, label escaping.

#include <QtTest>

#include <cmath>
#include <limits>
#include <map>
#include <set>
#include <thread>
#include <vector>

#include "transport/metrics.h"

using namespace Qt::StringLiterals;
using sidecar::ErrorCode;
using sidecar::http::Metrics;

namespace {

using Labels = std::map<QByteArray, QByteArray>; // unescaped values

struct Sample
{
    QByteArray name;
    Labels labels;
    double value = 0;
};

struct Family
{
    QByteArray type;
    QByteArray help;
    std::vector<Sample> samples;
};

struct Exposition
{
    std::map<QByteArray, Family> families;
    std::vector<QByteArray> order; // families as their TYPE lines came

    // The value of the one sample `name` with exactly `labels`, or NaN.
    double value(const QByteArray &name, const Labels &labels = {}) const
    {
        for (const auto &[_, family] : families) {
            for (const Sample &s : family.samples) {
                if (s.name == name && s.labels == labels)
                    return s.value;
            }
        }
        return std::nan("");
    }
    int count(const QByteArray &name) const
    {
        int n = 0;
        for (const auto &[_, family] : families) {
            for (const Sample &s : family.samples)
                n += s.name == name ? 1 : 0;
        }
        return n;
    }
};

bool isMetricName(QByteArrayView s)
{
    if (s.isEmpty())
        return false;
    for (qsizetype i = 0; i < s.size(); ++i) {
        const char c = s[i];
        const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
        if (!alpha && !(i > 0 && c >= '0' && c <= '9'))
            return false;
    }
    return true;
}

bool isLabelName(QByteArrayView s)
{
    return isMetricName(s) && !s.contains(':');
}

std::optional<double> parseValue(const QByteArray &text)
{
    if (text == "+Inf" || text == "Inf")
        return std::numeric_limits<double>::infinity();
    if (text == "-Inf")
        return -std::numeric_limits<double>::infinity();
    if (text == "NaN")
        return std::nan("");
    for (const char c : text) { // digits, sign, point, exponent: no "inf", "nan", "0x"
        if (!((c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.' || c == 'e' || c == 'E'))
            return std::nullopt;
    }
    bool ok = false;
    const double v = text.toDouble(&ok);
    return ok ? std::optional<double>(v) : std::nullopt;
}

// Reads `name{labels} value [timestamp]`; returns an error or an empty string.
QString parseSample(const QByteArray &line, Sample &sample)
{
    qsizetype pos = 0;
    while (pos < line.size() && line[pos] != '{' && line[pos] != ' ')
        ++pos;
    sample.name = line.left(pos);
    if (!isMetricName(sample.name))
        return u"bad metric name"_s;
    if (pos < line.size() && line[pos] == '{') {
        ++pos;
        while (true) {
            if (pos >= line.size())
                return u"unterminated label set"_s;
            if (line[pos] == '}') {
                ++pos;
                break;
            }
            const qsizetype eq = line.indexOf('=', pos);
            if (eq < 0)
                return u"label without '='"_s;
            const QByteArray name = line.mid(pos, eq - pos);
            if (!isLabelName(name))
                return u"bad label name '%1'"_s.arg(QString::fromUtf8(name));
            pos = eq + 1;
            if (pos >= line.size() || line[pos] != '"')
                return u"label value not quoted"_s;
            ++pos;
            QByteArray value;
            bool closed = false;
            while (pos < line.size()) {
                const char c = line[pos++];
                if (c == '"') {
                    closed = true;
                    break;
                }
                if (c == '\\') {
                    if (pos >= line.size())
                        return u"dangling backslash"_s;
                    const char e = line[pos++];
                    if (e == '\\')
                        value += '\\';
                    else if (e == '"')
                        value += '"';
                    else if (e == 'n')
                        value += '\n';
                    else
                        return u"bad escape \\%1"_s.arg(QLatin1Char(e));
                } else {
                    value += c;
                }
            }
            if (!closed)
                return u"unterminated label value"_s;
            if (!sample.labels.emplace(name, value).second)
                return u"label '%1' repeated"_s.arg(QString::fromUtf8(name));
            if (pos < line.size() && line[pos] == ',')
                ++pos;
            else if (pos >= line.size() || line[pos] != '}')
                return u"expected ',' or '}' after a label"_s;
        }
    }
    if (pos >= line.size() || line[pos] != ' ')
        return u"no space before the value"_s;
    const QList<QByteArray> rest = line.mid(pos + 1).split(' ');
    if (rest.isEmpty() || rest.size() > 2)
        return u"expected a value and an optional timestamp"_s;
    const std::optional<double> v = parseValue(rest[0]);
    if (!v)
        return u"bad value '%1'"_s.arg(QString::fromUtf8(rest[0]));
    sample.value = *v;
    if (rest.size() == 2) {
        bool ok = false;
        rest[1].toLongLong(&ok);
        if (!ok)
            return u"bad timestamp"_s;
    }
    return {};
}

// Buckets of each series cumulative, le increasing, ending with +Inf equal to _count; _sum there.
QString checkHistogram(const QByteArray &name, const Family &family)
{
    struct Series
    {
        std::vector<std::pair<double, double>> buckets; // le, count in order of appearance
        std::optional<double> sum, count;
    };
    std::map<Labels, Series> series;
    for (const Sample &s : family.samples) {
        Labels labels = s.labels;
        if (s.name == name + "_bucket") {
            const auto le = labels.find("le");
            if (le == labels.end())
                return u"bucket without le"_s;
            const std::optional<double> bound = parseValue(le->second);
            if (!bound)
                return u"bad le '%1'"_s.arg(QString::fromUtf8(le->second));
            labels.erase(le);
            series[labels].buckets.emplace_back(*bound, s.value);
        } else if (s.labels.count("le")) {
            return u"le on %1"_s.arg(QString::fromUtf8(s.name));
        } else if (s.name == name + "_sum") {
            series[labels].sum = s.value;
        } else if (s.name == name + "_count") {
            series[labels].count = s.value;
        }
    }
    for (const auto &[labels, s] : series) {
        if (s.buckets.empty() || !s.sum || !s.count)
            return u"a series lacks buckets, _sum or _count"_s;
        for (std::size_t i = 1; i < s.buckets.size(); ++i) {
            if (!(s.buckets[i].first > s.buckets[i - 1].first))
                return u"le not increasing"_s;
            if (s.buckets[i].second < s.buckets[i - 1].second)
                return u"buckets not cumulative"_s;
        }
        if (!std::isinf(s.buckets.back().first))
            return u"last bucket is not +Inf"_s;
        if (s.buckets.back().second != *s.count)
            return u"+Inf bucket differs from _count"_s;
    }
    return {};
}

// Parses and checks an exposition; returns the first problem ("line N: ...") or an empty string.
QString parseExposition(const QByteArray &text, Exposition &out)
{
    if (!text.endsWith('\n'))
        return u"the text does not end with a line feed"_s;
    const QList<QByteArray> lines = text.chopped(1).split('\n');
    QByteArray current; // the family whose samples may come now
    std::set<QByteArray> seenSeries;
    for (qsizetype n = 0; n < lines.size(); ++n) {
        const QByteArray &line = lines[n];
        const auto error = [n](const QString &what) { return u"line %1: %2"_s.arg(n + 1).arg(what); };
        if (line.trimmed().isEmpty())
            continue;
        if (line.startsWith('#')) {
            const QList<QByteArray> words = line.split(' ');
            if (words.size() < 3 || words[0] != "#" || (words[1] != "HELP" && words[1] != "TYPE"))
                continue; // a plain comment
            const QByteArray &name = words[2];
            if (!isMetricName(name))
                return error(u"bad family name"_s);
            Family &family = out.families[name];
            if (words[1] == "HELP") {
                if (!family.help.isNull())
                    return error(u"HELP repeated"_s);
                family.help = line.mid(words[0].size() + words[1].size() + name.size() + 3);
                if (family.help.isNull())
                    family.help = "";
                for (qsizetype i = 0; i < family.help.size(); ++i) {
                    if (family.help[i] == '\\'
                        && (i + 1 >= family.help.size()
                            || (family.help[i + 1] != '\\' && family.help[i + 1] != 'n')))
                        return error(u"bad escape in HELP"_s);
                    if (family.help[i] == '\\')
                        ++i;
                }
                continue;
            }
            if (words.size() != 4)
                return error(u"TYPE takes one word"_s);
            static const std::set<QByteArray> types = {"counter", "gauge", "histogram", "summary", "untyped"};
            if (!types.count(words[3]))
                return error(u"unknown type"_s);
            if (!family.type.isEmpty())
                return error(u"TYPE repeated (family %1)"_s.arg(QString::fromUtf8(name)));
            if (!family.samples.empty())
                return error(u"TYPE after samples"_s);
            family.type = words[3];
            out.order.push_back(name);
            current = name;
            continue;
        }
        Sample sample;
        if (const QString problem = parseSample(line, sample); !problem.isEmpty())
            return error(problem);
        QByteArray familyName = sample.name;
        auto it = out.families.find(familyName);
        if (it == out.families.end() || it->second.type.isEmpty()) {
            for (const char *suffix : {"_bucket", "_sum", "_count"}) {
                if (!sample.name.endsWith(suffix))
                    continue;
                const QByteArray base = sample.name.chopped(qsizetype(qstrlen(suffix)));
                const auto baseIt = out.families.find(base);
                if (baseIt != out.families.end()
                    && (baseIt->second.type == "histogram" || baseIt->second.type == "summary")) {
                    familyName = base;
                    it = baseIt;
                }
            }
        }
        if (it == out.families.end() || it->second.type.isEmpty())
            return error(u"sample %1 without TYPE"_s.arg(QString::fromUtf8(sample.name)));
        if (it->second.type == "histogram" && familyName == sample.name)
            return error(u"histogram sample without suffix"_s);
        if (familyName != current)
            return error(u"family %1 repeated or interleaved"_s.arg(QString::fromUtf8(familyName)));
        if (it->second.type == "counter" && !(sample.value >= 0))
            return error(u"negative counter"_s);
        QByteArray key = sample.name;
        for (const auto &[k, v] : sample.labels)
            key += '\0' + k + '\0' + v;
        if (!seenSeries.insert(key).second)
            return error(u"series repeated"_s);
        it->second.samples.push_back(std::move(sample));
    }
    for (const auto &[name, family] : out.families) {
        if (family.type.isEmpty())
            return u"family %1 has HELP but no TYPE"_s.arg(QString::fromUtf8(name));
        if (family.type == "histogram") {
            if (const QString problem = checkHistogram(name, family); !problem.isEmpty())
                return u"histogram %1: %2"_s.arg(QString::fromUtf8(name), problem);
        }
    }
    return {};
}

// The smallest le whose cumulative count is non-zero, for the series with `labels`.
double firstFilledBucket(const Exposition &e, const QByteArray &family, const Labels &labels)
{
    double best = std::nan("");
    for (const Sample &s : e.families.at(family).samples) {
        if (s.name != family + "_bucket" || s.value == 0)
            continue;
        Labels rest = s.labels;
        const double le = *parseValue(rest["le"]);
        rest.erase("le");
        if (rest == labels && !(le >= best))
            best = le;
    }
    return best;
}

} // namespace

// Renders and checks; fails the test on any problem.
#define RENDER_AND_CHECK(metrics, snapshot, exposition)                                                      \
    do {                                                                                                     \
        const QByteArray text_ = (metrics).render(snapshot);                                                 \
        const QString problem_ = parseExposition(text_, exposition);                                         \
        QVERIFY2(problem_.isEmpty(), qPrintable(problem_ + u"\n"_s + QString::fromUtf8(text_)));             \
    } while (false)

class TestMetrics : public QObject
{
    Q_OBJECT
private slots:
    void checkerRejects_data();
    void checkerRejects();
    void freshRenderIsValid();
    void countsByToolAndOutcome();
    void durationBuckets_data();
    void durationBuckets();
    void unknownToolsFolded();
    void commitsFromOtherThreads();
    void snapshotGauges();
    void absentGaugesHaveNoSamples();
    void escapeLabelValue_data();
    void escapeLabelValue();
    void escapedLabelsRoundTrip();
};

void TestMetrics::checkerRejects_data()
{
    QTest::addColumn<QByteArray>("text");
    QTest::addColumn<QString>("problem");
    QTest::newRow("counter sample named apart from its TYPE")
        << QByteArray("# TYPE a counter\na_total 1\n# TYPE a_total counter\na_total{x=\"1\"} 2\n")
        << u"sample a_total without TYPE"_s;
    QTest::newRow("no final newline")
        << QByteArray("# TYPE a gauge\na 1") << u"does not end with a line feed"_s;
    QTest::newRow("no TYPE") << QByteArray("a 1\n") << u"without TYPE"_s;
    QTest::newRow("HELP only") << QByteArray("# HELP a x\n") << u"HELP but no TYPE"_s;
    QTest::newRow("TYPE twice") << QByteArray("# TYPE a gauge\n# TYPE a gauge\n") << u"TYPE repeated"_s;
    QTest::newRow("family interleaved")
        << QByteArray("# TYPE a gauge\n# TYPE b gauge\na 1\n") << u"repeated or interleaved"_s;
    QTest::newRow("family resumed") << QByteArray(
        "# TYPE a gauge\na{x=\"1\"} 1\n# TYPE b gauge\nb 1\na{x=\"2\"} 1\n")
                                    << u"repeated or interleaved"_s;
    QTest::newRow("series twice") << QByteArray("# TYPE a gauge\na{x=\"1\"} 1\na{x=\"1\"} 2\n")
                                  << u"series repeated"_s;
    QTest::newRow("bad escape") << QByteArray("# TYPE a gauge\na{x=\"\\t\"} 1\n") << u"bad escape"_s;
    QTest::newRow("unquoted") << QByteArray("# TYPE a gauge\na{x=1} 1\n") << u"not quoted"_s;
    QTest::newRow("raw quote") << QByteArray("# TYPE a gauge\na{x=\"a\"b\"} 1\n") << u"expected ','"_s;
    QTest::newRow("no value") << QByteArray("# TYPE a gauge\na\n") << u"no space before the value"_s;
    QTest::newRow("bad value") << QByteArray("# TYPE a gauge\na one\n") << u"bad value"_s;
    QTest::newRow("negative counter") << QByteArray("# TYPE a counter\na -1\n") << u"negative counter"_s;
    QTest::newRow("not cumulative") << QByteArray(
        "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n")
                                    << u"not cumulative"_s;
    QTest::newRow("no +Inf") << QByteArray("# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_sum 1\nh_count 1\n")
                             << u"not +Inf"_s;
    QTest::newRow("+Inf != count") << QByteArray(
        "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 2\n")
                                   << u"differs from _count"_s;
    QTest::newRow("no sum") << QByteArray("# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nh_count 1\n")
                            << u"lacks"_s;
    QTest::newRow("le unordered") << QByteArray(
        "# TYPE h histogram\nh_bucket{le=\"2\"} 1\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 1\nh_sum "
        "1\nh_count 1\n") << u"le not increasing"_s;
}

void TestMetrics::checkerRejects()
{
    QFETCH(QByteArray, text);
    QFETCH(QString, problem);
    Exposition e;
    const QString found = parseExposition(text, e);
    QVERIFY2(found.contains(problem), qPrintable(u"got: "_s + found));

    // And a text that follows every rule passes.
    Exposition good;
    const QByteArray valid =
        "# HELP a A gauge with \\\\ and \\n.\n# TYPE a gauge\na{x=\"q\\\"\\\\\\n\",y=\"\"} -1.5e3\n"
        "# TYPE h histogram\nh_bucket{le=\"0.5\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 3\nh_count 2\n"
        "# TYPE c_total counter\nc_total 0 1700000000000\n";
    const QString none = parseExposition(valid, good);
    QVERIFY2(none.isEmpty(), qPrintable(none));
    QCOMPARE(good.value("a", {{"x", "q\"\\\n"}, {"y", ""}}), -1500.0);
}

void TestMetrics::freshRenderIsValid()
{
    Metrics metrics({u"state_get"_s, u"state_set"_s});
    Exposition e;
    RENDER_AND_CHECK(metrics, Metrics::Snapshot{}, e);

    const std::map<QByteArray, QByteArray> expected = {
        {"sidecar_tool_calls_total", "counter"},
        {"sidecar_tool_errors_total", "counter"},
        {"sidecar_tool_call_duration_seconds", "histogram"},
        {"sidecar_store_commit_batch_size", "histogram"},
        {"sidecar_store_commit_duration_seconds", "histogram"},
        {"sidecar_store_commit_failures_total", "counter"},
        {"sidecar_revision", "gauge"},
        {"sidecar_keys", "gauge"},
        {"sidecar_workflows", "gauge"},
        {"sidecar_leases", "gauge"},
        {"sidecar_sessions", "gauge"},
        {"sidecar_backend_up", "gauge"},
        {"sidecar_http_connections", "gauge"},
        {"sidecar_mcp_sessions", "gauge"},
        {"sidecar_pending_watches", "gauge"},
        {"sidecar_uptime_seconds", "gauge"},
        {"process_start_time_seconds", "gauge"},
        {"sidecar_build_info", "gauge"},
    };
    QCOMPARE(e.families.size(), expected.size());
    for (const auto &[name, type] : expected) {
        QVERIFY2(e.families.count(name), name.constData());
        QCOMPARE(e.families.at(name).type, type);
        QVERIFY2(!e.families.at(name).help.isEmpty(), name.constData());
    }

    // Known tools have every series from the start, at zero.
    for (const QByteArray tool : {"state_get", "state_set"}) {
        for (const QByteArray outcome : {"ok", "tool_error", "rpc_error"})
            QCOMPARE(e.value("sidecar_tool_calls_total", {{"tool", tool}, {"outcome", outcome}}), 0.0);
        QCOMPARE(e.value("sidecar_tool_call_duration_seconds_count", {{"tool", tool}}), 0.0);
        QCOMPARE(e.value("sidecar_tool_call_duration_seconds_bucket", {{"tool", tool}, {"le", "+Inf"}}), 0.0);
        QCOMPARE(e.value("sidecar_tool_call_duration_seconds_bucket", {{"tool", tool}, {"le", "0.0005"}}),
                 0.0);
    }
    QCOMPARE(e.count("sidecar_tool_call_duration_seconds_bucket"),
             int(2 * (Metrics::kDurationBuckets.size() + 1)));
    QCOMPARE(e.count("sidecar_tool_errors_total"), 0);
    QCOMPARE(e.value("sidecar_store_commit_batch_size_count"), 0.0);
    QCOMPARE(e.value("sidecar_store_commit_failures_total"), 0.0);
    QCOMPARE(e.value("sidecar_build_info", {{"version", SIDECAR_VERSION}, {"qt_version", qVersion()}}), 1.0);
    QVERIFY(e.value("sidecar_uptime_seconds") >= 0);
    QVERIFY(e.value("process_start_time_seconds") > 1.6e9);
    QCOMPARE(QByteArray(Metrics::kContentType), QByteArray("text/plain; version=0.0.4; charset=utf-8"));
}

void TestMetrics::countsByToolAndOutcome()
{
    Metrics metrics({u"state_get"_s, u"state_set"_s, u"lease_acquire"_s});
    metrics.recordCall(u"state_set"_s, Metrics::Outcome::Ok, 0.002);
    metrics.recordCall(u"state_set"_s, Metrics::Outcome::Ok, 0.003);
    metrics.recordCall(u"state_set"_s, ErrorCode::Conflict, 0.001);
    metrics.recordCall(u"state_set"_s, ErrorCode::Conflict, 0.001);
    metrics.recordCall(u"state_set"_s, ErrorCode::TooLarge, 0.001);
    metrics.recordCall(u"state_get"_s, Metrics::Outcome::RpcError, 0.5);
    metrics.recordCall(u"lease_acquire"_s, Metrics::Outcome::ToolError, 0.01);

    Exposition e;
    RENDER_AND_CHECK(metrics, Metrics::Snapshot{}, e);
    QCOMPARE(e.value("sidecar_tool_calls_total", {{"tool", "state_set"}, {"outcome", "ok"}}), 2.0);
    QCOMPARE(e.value("sidecar_tool_calls_total", {{"tool", "state_set"}, {"outcome", "tool_error"}}), 3.0);
    QCOMPARE(e.value("sidecar_tool_calls_total", {{"tool", "state_set"}, {"outcome", "rpc_error"}}), 0.0);
    QCOMPARE(e.value("sidecar_tool_calls_total", {{"tool", "state_get"}, {"outcome", "rpc_error"}}), 1.0);
    QCOMPARE(e.value("sidecar_tool_calls_total", {{"tool", "lease_acquire"}, {"outcome", "tool_error"}}),
             1.0);
    QCOMPARE(e.value("sidecar_tool_errors_total", {{"tool", "state_set"}, {"code", "conflict"}}), 2.0);
    QCOMPARE(e.value("sidecar_tool_errors_total", {{"tool", "state_set"}, {"code", "too_large"}}), 1.0);
    QCOMPARE(e.count("sidecar_tool_errors_total"),
             2); // a tool error without a code counts only as an outcome
    QCOMPARE(e.value("sidecar_tool_call_duration_seconds_count", {{"tool", "state_set"}}), 5.0);
    QVERIFY(qFuzzyCompare(e.value("sidecar_tool_call_duration_seconds_sum", {{"tool", "state_set"}}), 0.008));
    QCOMPARE(e.value("sidecar_tool_call_duration_seconds_count", {{"tool", "state_get"}}), 1.0);
}

void TestMetrics::durationBuckets_data()
{
    QTest::addColumn<double>("seconds");
    QTest::addColumn<double>("le"); // the smallest bucket that counts it
    const double inf = std::numeric_limits<double>::infinity();
    QTest::newRow("zero") << 0.0 << 0.0005;
    QTest::newRow("tiny") << 0.0001 << 0.0005;
    QTest::newRow("on a bound (le is inclusive)") << 0.0005 << 0.0005;
    QTest::newRow("just above a bound") << 0.00051 << 0.001;
    QTest::newRow("one second") << 1.0 << 1.0;
    QTest::newRow("between") << 3.0 << 5.0;
    QTest::newRow("last bound") << 10.0 << 10.0;
    QTest::newRow("beyond") << 11.0 << inf;
}

void TestMetrics::durationBuckets()
{
    QFETCH(double, seconds);
    QFETCH(double, le);
    Metrics metrics({u"state_get"_s});
    metrics.recordCall(u"state_get"_s, Metrics::Outcome::Ok, seconds);
    Exposition e;
    RENDER_AND_CHECK(metrics, Metrics::Snapshot{}, e);
    QCOMPARE(firstFilledBucket(e, "sidecar_tool_call_duration_seconds", {{"tool", "state_get"}}), le);
    QCOMPARE(e.value("sidecar_tool_call_duration_seconds_sum", {{"tool", "state_get"}}), seconds);
    QCOMPARE(e.value("sidecar_tool_call_duration_seconds_bucket", {{"tool", "state_get"}, {"le", "+Inf"}}),
             1.0);
}

void TestMetrics::unknownToolsFolded()
{
    Metrics metrics({u"state_get"_s});
    for (int i = 0; i < 100; ++i)
        metrics.recordCall(u"client_made_up_%1"_s.arg(i), Metrics::Outcome::RpcError, 0.0001);
    Exposition e;
    const QByteArray text = metrics.render({});
    QVERIFY(parseExposition(text, e).isEmpty());
    QVERIFY(!text.contains("client_made_up"));
    QCOMPARE(e.value("sidecar_tool_calls_total", {{"tool", Metrics::kUnknownTool}, {"outcome", "rpc_error"}}),
             100.0);
    QCOMPARE(e.count("sidecar_tool_calls_total"), 6); // state_get and unknown, three outcomes each

    metrics.addTool(u"late_tool"_s);
    metrics.recordCall(u"late_tool"_s, Metrics::Outcome::Ok, 0.0001);
    Exposition after;
    RENDER_AND_CHECK(metrics, Metrics::Snapshot{}, after);
    QCOMPARE(after.value("sidecar_tool_calls_total", {{"tool", "late_tool"}, {"outcome", "ok"}}), 1.0);
}

void TestMetrics::commitsFromOtherThreads()
{
    Metrics metrics;
    constexpr int kThreads = 4;
    constexpr int kCommits = 2000;
    std::vector<std::thread> writers;
    for (int t = 0; t < kThreads; ++t) {
        writers.emplace_back([&metrics] {
            for (int i = 0; i < kCommits; ++i)
                metrics.recordCommit(i % 64 + 1, 0.001, i % 100 != 0);
        });
    }
    // Scrapes while the writers report.
    for (int i = 0; i < 20; ++i) {
        Exposition e;
        RENDER_AND_CHECK(metrics, Metrics::Snapshot{}, e);
    }
    for (std::thread &w : writers)
        w.join();

    Exposition e;
    RENDER_AND_CHECK(metrics, Metrics::Snapshot{}, e);
    const int failures = kThreads * (kCommits / 100);
    const int committed = kThreads * kCommits - failures;
    double batchSum = 0;
    int ones = 0; // committed batches of one write, per thread
    for (int i = 0; i < kCommits; ++i) {
        if (i % 100 == 0)
            continue;
        batchSum += i % 64 + 1;
        ones += i % 64 == 0 ? 1 : 0;
    }
    QCOMPARE(e.value("sidecar_store_commit_failures_total"), double(failures));
    QCOMPARE(e.value("sidecar_store_commit_batch_size_count"), double(committed));
    QCOMPARE(e.value("sidecar_store_commit_batch_size_sum"), kThreads * batchSum);
    QCOMPARE(e.value("sidecar_store_commit_duration_seconds_count"), double(committed));
    QVERIFY(qFuzzyCompare(e.value("sidecar_store_commit_duration_seconds_sum"), committed * 0.001));
    QCOMPARE(e.value("sidecar_store_commit_duration_seconds_bucket", {{"le", "0.001"}}), double(committed));
    QCOMPARE(e.value("sidecar_store_commit_duration_seconds_bucket", {{"le", "0.0005"}}), 0.0);
    QCOMPARE(e.value("sidecar_store_commit_batch_size_bucket", {{"le", "1"}}), double(kThreads * ones));
    QCOMPARE(e.value("sidecar_store_commit_batch_size_bucket", {{"le", "64"}}), double(committed));
}

void TestMetrics::snapshotGauges()
{
    Metrics metrics;
    Metrics::Snapshot snapshot;
    snapshot.backend = u"sqlite"_s;
    snapshot.revision = 12345678901LL;
    snapshot.liveKeys = 42;
    snapshot.workflowsByStatus = {{u"created"_s, 3}, {u"running"_s, 2}, {u"done"_s, 0}};
    snapshot.leases = 7;
    snapshot.sessions = 5;
    snapshot.httpConnections = 9;
    snapshot.mcpSessions = 4;
    snapshot.pendingWatches = 2;
    Exposition e;
    RENDER_AND_CHECK(metrics, snapshot, e);
    QCOMPARE(e.value("sidecar_revision"), 12345678901.0);
    QCOMPARE(e.value("sidecar_keys"), 42.0);
    QCOMPARE(e.value("sidecar_workflows", {{"status", "created"}}), 3.0);
    QCOMPARE(e.value("sidecar_workflows", {{"status", "running"}}), 2.0);
    QCOMPARE(e.value("sidecar_workflows", {{"status", "done"}}), 0.0);
    QCOMPARE(e.count("sidecar_workflows"), 3);
    QCOMPARE(e.value("sidecar_leases"), 7.0);
    QCOMPARE(e.value("sidecar_sessions"), 5.0);
    QCOMPARE(e.value("sidecar_backend_up", {{"backend", "sqlite"}}), 1.0);
    QCOMPARE(e.value("sidecar_http_connections"), 9.0);
    QCOMPARE(e.value("sidecar_mcp_sessions"), 4.0);
    QCOMPARE(e.value("sidecar_pending_watches"), 2.0);
}

void TestMetrics::absentGaugesHaveNoSamples()
{
    Metrics metrics;
    Metrics::Snapshot snapshot;
    snapshot.backend = u"redis"_s;
    snapshot.backendUp = false;
    Exposition e;
    RENDER_AND_CHECK(metrics, snapshot, e);
    for (const QByteArray name :
         {"sidecar_revision", "sidecar_keys", "sidecar_workflows", "sidecar_leases", "sidecar_sessions"}) {
        QVERIFY2(e.families.count(name), name.constData()); // TYPE still there
        QCOMPARE(e.count(name), 0);
    }
    QCOMPARE(e.value("sidecar_backend_up", {{"backend", "redis"}}), 0.0);
    QCOMPARE(e.value("sidecar_http_connections"), 0.0);
}

void TestMetrics::escapeLabelValue_data()
{
    QTest::addColumn<QByteArray>("value");
    QTest::addColumn<QByteArray>("escaped");
    QTest::newRow("plain") << QByteArray("state_get") << QByteArray("state_get");
    QTest::newRow("empty") << QByteArray() << QByteArray();
    QTest::newRow("quote") << QByteArray("a\"b") << QByteArray("a\\\"b");
    QTest::newRow("backslash") << QByteArray("a\\b") << QByteArray("a\\\\b");
    QTest::newRow("line feed") << QByteArray("a\nb") << QByteArray("a\\nb");
    QTest::newRow("all, twice") << QByteArray("\\\"\n\\\"\n") << QByteArray("\\\\\\\"\\n\\\\\\\"\\n");
    QTest::newRow("tab and UTF-8 kept") << QByteArray("\t\xc3\xa9") << QByteArray("\t\xc3\xa9");
}

void TestMetrics::escapeLabelValue()
{
    QFETCH(QByteArray, value);
    QFETCH(QByteArray, escaped);
    QCOMPARE(Metrics::escapeLabelValue(value), escaped);
}

void TestMetrics::escapedLabelsRoundTrip()
{
    const QString weirdTool = u"we\"ird\\tool\nname é"_s;
    const QString weirdStatus = u"st\"at\\us\n"_s;
    Metrics metrics({weirdTool});
    metrics.recordCall(weirdTool, ErrorCode::Forbidden, 0.02);
    Metrics::Snapshot snapshot;
    snapshot.backend = u"a\"b"_s;
    snapshot.workflowsByStatus = {{weirdStatus, 1}};
    const QByteArray text = metrics.render(snapshot);
    QVERIFY(text.contains(R"(tool="we\"ird\\tool\nname )"));

    Exposition e;
    const QString problem = parseExposition(text, e);
    QVERIFY2(problem.isEmpty(), qPrintable(problem));
    QCOMPARE(e.value("sidecar_tool_calls_total", {{"tool", weirdTool.toUtf8()}, {"outcome", "tool_error"}}),
             1.0);
    QCOMPARE(e.value("sidecar_tool_errors_total", {{"tool", weirdTool.toUtf8()}, {"code", "forbidden"}}),
             1.0);
    QCOMPARE(e.value("sidecar_tool_call_duration_seconds_count", {{"tool", weirdTool.toUtf8()}}), 1.0);
    QCOMPARE(e.value("sidecar_workflows", {{"status", weirdStatus.toUtf8()}}), 1.0);
    QCOMPARE(e.value("sidecar_backend_up", {{"backend", "a\"b"}}), 1.0);
}

QTEST_GUILESS_MAIN(TestMetrics)
#include "tst_metrics.moc"
