// The import of the original package's Redis data (redisimport.h), and RedisStore::workflowImport
// (resources/redis/wf_import.lua), with which it writes runs.
//
// The shapes read (docs/redis.md, "Moving from the original package's Redis data"): every family
// is a string or a hash. A string is JSON text, read either as the item itself or, when it is an
// object made only of the family's envelope fields, as an envelope; a hash holds the same fields
// as texts (JSON values as JSON text). `<name>_json` is accepted for every JSON field: in a hash
// it is JSON text as `<name>` is, in a JSON envelope it is a string holding JSON text. Times are
// numbers of Unix seconds, or text holding one or an ISO 8601 date (UTC unless it says
// otherwise). A hash field holding "" or "None" counts as absent.
//
// Thread: the thread of the connections and the store; every callback runs there, from the event
// loop.

#include "store/redis/redisimport.h"

#include <QDateTime>
#include <QLoggingCategory>
#include <QPointer>
#include <QRandomGenerator>
#include <QStringDecoder>
#include <QTimeZone>
#include <QTimer>

#include <algorithm>
#include <cmath>
#include <initializer_list>
#include <map>
#include <memory>
#include <optional>
#include <string_view>

#include "protocol/json.h"
#include "store/redis/redisconnection.h"
#include "store/redis/redisdecode.h"
#include "store/redis/redisstore.h"

Q_LOGGING_CATEGORY(lcRedisImport, "sidecar.redis.import")

namespace sidecar::store {

// One source key as read: its type, its remaining TTL and its content.
struct RedisImportItem
{
    QByteArray key;
    QByteArray type;        // TYPE's answer: "string", "hash", "none" (gone), "list", ...
    std::int64_t pttl = -2; // PTTL: milliseconds left, -1 without a TTL, -2 gone
    QByteArray string;      // a string's content
    std::vector<std::pair<QByteArray, QByteArray>> hash; // a hash's fields, as Redis lists them
    double readAt = 0; // this host's clock when the answers came, Unix seconds
};

// A run as read, with its steps as they are gathered: step -> (where from, output). Where from:
// 0 inside the run, 1 the `wf:<id>:steps` hash, 2 a `wf:<id>:step:<n>` key; a later source wins
// over an earlier one.
struct RedisImportRun
{
    using Steps = std::map<std::int64_t, std::pair<int, QByteArray>>;
    WorkflowImportArgs args;
    Steps steps;
};

using redis::RedisReply;

namespace {

constexpr qsizetype kMaxIdBytes = 512;  // the tools' limit on identifiers (toolsupport.h)
constexpr std::size_t kMaxReasons = 32; // distinct skip reasons kept per family; the rest are lumped
constexpr qsizetype kExamples = 3;      // source keys shown per reason
constexpr qint64 kScratchLifetimeMs = qint64(24) * 3600 * 1000;
constexpr std::int64_t kProgressEvery = 1000;

// The original's families: the pattern SCAN matches and the prefix before the id.
struct Family
{
    const char *match;
    const char *prefix;
    const char *set; // the staging set of the names found
};
constexpr Family kFamilies[] = {
    {"kv:*", "kv:", "kv"},
    {"wf:*", "wf:", "wfkeys"},
    {"lease:*", "lease:", "lease"},
    {"session:*", "session:", "session"},
};
constexpr int kWf = 1;

// Envelope fields besides the value itself.
constexpr std::string_view kKvEnvelope[] = {"key",        "version",  "updated_at",
                                            "created_at", "agent_id", "expires_at"};
constexpr std::string_view kSessionEnvelope[] = {"session_id", "saved_at", "created_at", "updated_at",
                                                 "agent_id"};
constexpr const char *kStatuses[] = {"created", "claimed", "running", "done", "failed"};

const QString kGone = QStringLiteral("gone from the source before it was read (expired or deleted)");
const QString kBadId = QStringLiteral(
    "the name is not a valid identifier (empty, not UTF-8, over 512 bytes, or "
    "with a NUL)");
const QString kExpired = QStringLiteral("expired");
const QString kOrphanSteps = QStringLiteral("steps of a run that is not in the source or was skipped");

double nowSeconds()
{
    return double(QDateTime::currentMSecsSinceEpoch()) / 1000.0;
}

// Text as an identifier (key, run id, resource id, session id, agent id, holder id), as the
// tools accept them: 1 to 512 bytes of UTF-8 without NUL.
std::optional<QString> identifier(const QByteArray &bytes)
{
    if (bytes.isEmpty() || bytes.size() > kMaxIdBytes || bytes.contains('\0'))
        return std::nullopt;
    QStringDecoder decoder(QStringDecoder::Utf8, QStringDecoder::Flag::ConvertInitialBom);
    const QString text = decoder(bytes);
    if (decoder.hasError() || text.toUtf8() != bytes)
        return std::nullopt;
    return text;
}

QString typeReason(const QByteArray &type)
{
    return QStringLiteral("a Redis %1, not a string or a hash").arg(QString::fromUtf8(type));
}

// A key's name for the report: control characters and invalid UTF-8 escaped.
QString printable(const QByteArray &bytes)
{
    QString out;
    QStringDecoder decoder(QStringDecoder::Utf8);
    const QString text = decoder(bytes);
    const bool valid = !decoder.hasError();
    if (!valid) {
        for (const char c : bytes) {
            const uchar u = uchar(c);
            out += (u >= 0x20 && u < 0x7f) ? QString(QLatin1Char(c))
                                           : QStringLiteral("\\x%1").arg(u, 2, 16, QLatin1Char('0'));
        }
        return out;
    }
    for (const QChar c : text)
        out += c.unicode() < 0x20 || c.unicode() == 0x7f
                   ? QStringLiteral("\\x%1").arg(c.unicode(), 2, 16, QLatin1Char('0'))
                   : QString(c);
    return out;
}

tl::unexpected<QString> skip(const QString &why)
{
    return tl::unexpected<QString>(why);
}

// A parsed JSON value as the compact text the store keeps, or why it cannot be.
tl::expected<QByteArray, QString> compactOf(const json::Value &value, const QString &what,
                                            std::int64_t maxBytes)
{
    if (value.hasDuplicateKeys())
        return skip(what + QStringLiteral(" has a duplicate key"));
    QByteArray text = value.compact();
    if (text.size() > maxBytes)
        return skip(what + QStringLiteral(" is larger than SIDECAR_MAX_VALUE_BYTES"));
    return text;
}

tl::expected<QByteArray, QString> compactJson(const QByteArray &text, const QString &what,
                                              std::int64_t maxBytes)
{
    auto doc = json::parse(text);
    if (!doc)
        return skip(what + QStringLiteral(" is not valid JSON"));
    return compactOf(doc->root(), what, maxBytes);
}

QString fieldName(std::string_view name)
{
    return QString::fromLatin1(name.data(), qsizetype(name.size()));
}

// A time: a number of Unix seconds, or text holding one or an ISO 8601 date.
std::optional<double> timeOfText(const QString &text, bool &bad)
{
    const QString t = text.trimmed();
    if (t.isEmpty() || t == QLatin1String("None") || t == QLatin1String("null"))
        return std::nullopt;
    bool ok = false;
    const double d = t.toDouble(&ok);
    if (ok && std::isfinite(d))
        return d;
    QDateTime when = QDateTime::fromString(t, Qt::ISODateWithMs);
    if (!when.isValid()) {
        bad = true;
        return std::nullopt;
    }
    if (when.timeSpec() == Qt::LocalTime)
        when.setTimeZone(QTimeZone::utc()); // Python's naive datetime.utcnow().isoformat()
    return double(when.toMSecsSinceEpoch()) / 1000.0;
}

std::optional<std::int64_t> countOfText(const QString &text, bool &bad)
{
    const QString t = text.trimmed();
    if (t.isEmpty() || t == QLatin1String("None") || t == QLatin1String("null"))
        return std::nullopt;
    bool ok = false;
    const qlonglong n = t.toLongLong(&ok);
    if (!ok || n < 0) {
        bad = true;
        return std::nullopt;
    }
    return std::int64_t(n);
}

// A record's fields: a hash's (each a text) or a JSON object's members (each a JSON value). The
// object is borrowed: its Document must outlive the Record.
class Record
{
public:
    explicit Record(const std::vector<std::pair<QByteArray, QByteArray>> &hash) : m_hash(&hash) {}
    explicit Record(const json::Value &object) : m_object(&object) {}

    bool has(std::string_view name) const { return hashField(name) != nullptr || member(name) != nullptr; }

    // A text: a hash field as it is ("" and "None": absent); a JSON string decoded ("": absent),
    // a number as written (null: absent). Any other JSON type sets `bad`.
    std::optional<QByteArray> text(std::string_view name, bool &bad) const
    {
        if (const QByteArray *f = hashField(name)) {
            if (f->isEmpty() || *f == "None")
                return std::nullopt;
            return *f;
        }
        const json::Value *v = member(name);
        if (!v || v->isNull())
            return std::nullopt;
        if ((v->isString() && !v->text().empty()) || v->isNumber())
            return QByteArray::fromStdString(v->text());
        if (v->isString())
            return std::nullopt;
        bad = true;
        return std::nullopt;
    }

    std::optional<double> time(std::string_view name, bool &bad) const
    {
        if (const QByteArray *f = hashField(name))
            return timeOfText(QString::fromUtf8(*f), bad);
        const json::Value *v = member(name);
        if (!v || v->isNull())
            return std::nullopt;
        if (v->isNumber()) {
            if (auto d = v->toDouble(); d && std::isfinite(*d))
                return d;
        } else if (v->isString()) {
            return timeOfText(v->toQString(), bad);
        }
        bad = true;
        return std::nullopt;
    }

    // A non-negative integer.
    std::optional<std::int64_t> count(std::string_view name, bool &bad) const
    {
        if (const QByteArray *f = hashField(name))
            return countOfText(QString::fromUtf8(*f), bad);
        const json::Value *v = member(name);
        if (!v || v->isNull())
            return std::nullopt;
        if (v->isNumber()) {
            if (auto n = v->toInt64(); n && *n >= 0)
                return n;
        } else if (v->isString()) {
            return countOfText(v->toQString(), bad);
        }
        bad = true;
        return std::nullopt;
    }

    // A JSON value as compact text: `name` (in a hash, JSON text; in a JSON object, the value
    // itself), else `name`_json (JSON text, in a hash field or a JSON string). nullopt when
    // neither is there.
    tl::expected<std::optional<QByteArray>, QString> json(std::string_view name, std::int64_t maxBytes) const
    {
        const std::string jsonName = std::string(name) + "_json";
        const QString what = fieldName(name);
        for (const std::string_view field : {name, std::string_view(jsonName)}) {
            if (const QByteArray *f = hashField(field)) {
                auto c = compactJson(*f, what, maxBytes);
                if (!c)
                    return tl::unexpected(c.error());
                return std::optional<QByteArray>(*c);
            }
            const json::Value *v = member(field);
            if (!v)
                continue;
            if (field == name) {
                auto c = compactOf(*v, what, maxBytes);
                if (!c)
                    return tl::unexpected(c.error());
                return std::optional<QByteArray>(*c);
            }
            if (v->isNull())
                return std::optional<QByteArray>();
            auto c = v->isString() ? compactJson(QByteArray::fromStdString(v->text()), what, maxBytes)
                                   : compactOf(*v, what, maxBytes);
            if (!c)
                return tl::unexpected(c.error());
            return std::optional<QByteArray>(*c);
        }
        return std::optional<QByteArray>();
    }

private:
    const QByteArray *hashField(std::string_view name) const
    {
        if (!m_hash)
            return nullptr;
        for (const auto &[field, value] : *m_hash)
            if (std::string_view(field.constData(), std::size_t(field.size())) == name)
                return &value;
        return nullptr;
    }
    const json::Value *member(std::string_view name) const
    {
        return m_object ? m_object->find(name) : nullptr;
    }

    const std::vector<std::pair<QByteArray, QByteArray>> *m_hash = nullptr;
    const json::Value *m_object = nullptr;
};

// A JSON object holding one of `valueNames` and nothing but those and the `others`.
template<std::size_t N>
bool isEnvelope(const json::Value &root, std::initializer_list<std::string_view> valueNames,
                const std::string_view (&others)[N])
{
    if (!root.isObject())
        return false;
    bool hasValue = false;
    for (const json::Member &m : root.members()) {
        const bool isValue = std::find(valueNames.begin(), valueNames.end(), m.key) != valueNames.end();
        hasValue = hasValue || isValue;
        if (!isValue && std::find(std::begin(others), std::end(others), m.key) == std::end(others))
            return false;
    }
    return hasValue;
}

// The item's deadline in Unix seconds: its native TTL or its expires_at, whichever is sooner.
std::optional<double> deadlineOf(const RedisImportItem &item, std::optional<double> expiresAt)
{
    std::optional<double> deadline = expiresAt;
    if (item.pttl >= 0) {
        const double native = item.readAt + double(item.pttl) / 1000.0;
        if (!deadline || native < *deadline)
            deadline = native;
    }
    return deadline;
}

std::optional<QString> optionalIdentifier(const std::optional<QByteArray> &text, bool &bad)
{
    if (!text)
        return std::nullopt;
    auto id = identifier(*text);
    if (!id)
        bad = true;
    return id;
}

// ---------------------------------------------------------------- the families' shapes

// Reads an item holding one JSON document called `name` (a kv value, a session context). A string item is
// either an envelope object (`name` or `jsonName` besides the `others`), read by `fromRecord` like a hash
// item, or the bare document, whose compact text goes to `bare`. Returns why the item is skipped, or nothing.
template<std::size_t N, class FromRecord>
std::optional<QString> readDocumentItem(const RedisImportItem &item, std::string_view name,
                                        std::string_view jsonName, const std::string_view (&others)[N],
                                        std::int64_t maxBytes, QByteArray &bare, FromRecord fromRecord)
{
    const QString what = QString::fromLatin1(name.data(), qsizetype(name.size()));
    if (item.type == "string") {
        auto doc = json::parse(item.string);
        if (!doc)
            return what + QStringLiteral(" is not valid JSON");
        const json::Value &root = doc->root();
        if (isEnvelope(root, {name, jsonName}, others))
            return fromRecord(Record(root));
        auto compact = compactOf(root, what, maxBytes);
        if (!compact)
            return compact.error();
        bare = *compact;
        return std::nullopt;
    }
    if (item.type == "hash")
        return fromRecord(Record(item.hash));
    return typeReason(item.type);
}

struct KvData
{
    QByteArray value;
    std::optional<double> deadline;
    std::optional<QString> agentId;
};

tl::expected<KvData, QString> parseKv(const RedisImportItem &item, std::int64_t maxBytes)
{
    KvData out;
    std::optional<double> expiresAt;
    std::optional<QByteArray> agent;
    bool badTime = false;
    bool badAgent = false;
    auto fromRecord = [&](const Record &r) -> std::optional<QString> {
        auto value = r.json("value", maxBytes);
        if (!value)
            return value.error();
        if (!*value)
            return QStringLiteral("no value or value_json field");
        out.value = **value;
        expiresAt = r.time("expires_at", badTime);
        agent = r.text("agent_id", badAgent);
        return std::nullopt;
    };
    if (auto problem = readDocumentItem(item, "value", "value_json", kKvEnvelope, maxBytes, out.value,
                                        fromRecord))
        return skip(*problem);
    if (badTime)
        return skip(QStringLiteral("expires_at is not a time"));
    out.agentId = optionalIdentifier(agent, badAgent);
    if (badAgent)
        return skip(QStringLiteral("agent_id is not a valid identifier"));
    out.deadline = deadlineOf(item, expiresAt);
    return out;
}

struct LeaseData
{
    QString holder;
    double deadline = 0;
};

tl::expected<LeaseData, QString> parseLease(const RedisImportItem &item)
{
    std::optional<QByteArray> holder;
    std::optional<double> expiresAt;
    bool bad = false;
    auto fromRecord = [&](const Record &r) {
        holder = r.text("holder", bad);
        if (!holder)
            holder = r.text("holder_id", bad);
        expiresAt = r.time("expires_at", bad);
    };
    if (item.type == "string") {
        auto doc = json::parse(item.string);
        if (doc && doc->root().isObject())
            fromRecord(Record(doc->root()));
        else if (doc && doc->root().isString())
            holder = QByteArray::fromStdString(doc->root().text());
        else
            holder = item.string; // the holder id itself, as text
    } else if (item.type == "hash") {
        fromRecord(Record(item.hash));
    } else {
        return skip(typeReason(item.type));
    }
    if (bad)
        return skip(QStringLiteral("holder or expires_at has the wrong type"));
    if (!holder)
        return skip(QStringLiteral("no holder or holder_id"));
    auto id = identifier(*holder);
    if (!id)
        return skip(QStringLiteral("the holder is not a valid identifier"));
    const auto deadline = deadlineOf(item, expiresAt);
    if (!deadline)
        return skip(QStringLiteral("no deadline (neither a TTL nor expires_at)"));
    return LeaseData{*id, *deadline};
}

struct SessionData
{
    QByteArray context;
    std::optional<QString> agentId;
};

tl::expected<SessionData, QString> parseSession(const RedisImportItem &item, std::int64_t maxBytes)
{
    SessionData out;
    std::optional<QByteArray> agent;
    bool badAgent = false;
    auto fromRecord = [&](const Record &r) -> std::optional<QString> {
        auto context = r.json("context", maxBytes);
        if (!context)
            return context.error();
        if (!*context)
            return QStringLiteral("no context or context_json field");
        out.context = **context;
        agent = r.text("agent_id", badAgent);
        return std::nullopt;
    };
    if (auto problem = readDocumentItem(item, "context", "context_json", kSessionEnvelope, maxBytes,
                                        out.context, fromRecord))
        return skip(*problem);
    if (!out.context.startsWith('{'))
        return skip(QStringLiteral("the context is not a JSON object"));
    out.agentId = optionalIdentifier(agent, badAgent);
    if (badAgent)
        return skip(QStringLiteral("agent_id is not a valid identifier"));
    return out;
}

using StepMap = RedisImportRun::Steps;

void addStep(StepMap &steps, std::int64_t step, int source, QByteArray output)
{
    auto it = steps.find(step);
    if (it == steps.end())
        steps.emplace(step, std::make_pair(source, std::move(output)));
    else if (source >= it->second.first)
        it->second = {source, std::move(output)};
}

std::optional<std::int64_t> stepNumber(std::string_view text)
{
    if (text.empty() || text.size() > 18
        || !std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; }))
        return std::nullopt;
    return std::stoll(std::string(text));
}

const QString kBadStep = QStringLiteral("a step is not a non-negative integer");

// Steps from compact JSON text: an object {"<step>": output, ...}, or an array of objects
// {"step": n, "output": value} (or "output_json": JSON text). The reason when it is neither.
std::optional<QString> addStepsFromJson(const QByteArray &text, int source, StepMap &steps,
                                        std::int64_t maxBytes)
{
    auto doc = json::parse(text);
    if (!doc)
        return QStringLiteral("steps are not valid JSON");
    const json::Value &root = doc->root();
    if (root.isNull())
        return std::nullopt;
    if (root.isObject()) {
        for (const json::Member &m : root.members()) {
            const auto step = stepNumber(m.key);
            if (!step)
                return kBadStep;
            auto output = compactOf(m.value, QStringLiteral("a step output"), maxBytes);
            if (!output)
                return output.error();
            addStep(steps, *step, source, *output);
        }
        return std::nullopt;
    }
    if (root.isArray()) {
        for (const json::Value &item : root.items()) {
            if (!item.isObject())
                return QStringLiteral(
                    "steps are neither a JSON object nor an array of {step, output} objects");
            const Record r(item);
            bool bad = false;
            const auto step = r.count("step", bad);
            if (!step || bad)
                return kBadStep;
            auto output = r.json("output", maxBytes);
            if (!output)
                return output.error();
            addStep(steps, *step, source, output->value_or(QByteArrayLiteral("null")));
        }
        return std::nullopt;
    }
    return QStringLiteral("steps are neither a JSON object nor an array of {step, output} objects");
}

// Tags as the original kept them (a JSON object {tag: value}) or as pairs [[tag, value], ...];
// a value that is not a string is kept as its compact JSON text (as the SQLite backend's import
// does). One value per tag: the last one, at its last position (as workflow_create keeps them).
tl::expected<std::vector<std::pair<QString, QString>>, QString> parseTags(const QByteArray &text)
{
    const QString shape = QStringLiteral("tags are neither a JSON object nor an array of [tag, value] pairs");
    auto doc = json::parse(text);
    if (!doc)
        return skip(shape);
    const json::Value &root = doc->root();
    std::vector<std::pair<QString, QString>> tags;
    auto valueText = [](const json::Value &v) {
        return v.isString() ? v.toQString() : QString::fromUtf8(v.compact());
    };
    auto add = [&tags](QString tag, QString value) {
        tags.erase(
            std::remove_if(tags.begin(), tags.end(), [&tag](const auto &tv) { return tv.first == tag; }),
            tags.end());
        tags.emplace_back(std::move(tag), std::move(value));
    };
    if (root.isObject()) {
        for (const json::Member &m : root.members())
            add(QString::fromStdString(m.key), valueText(m.value));
    } else if (root.isArray()) {
        for (const json::Value &pair : root.items()) {
            if (!pair.isArray() || pair.items().size() != 2 || !pair.items()[0].isString())
                return skip(shape);
            add(pair.items()[0].toQString(), valueText(pair.items()[1]));
        }
    } else if (!root.isNull()) {
        return skip(shape);
    }
    return tags;
}

// A hash or a JSON object with a run's fields (name or status): a `wf:<id>:steps` key is a run
// only when it looks like one.
bool looksLikeRun(const RedisImportItem &item)
{
    if (item.type == "hash")
        return Record(item.hash).has("name") || Record(item.hash).has("status");
    if (item.type == "string") {
        auto doc = json::parse(item.string);
        return doc && doc->root().isObject() && (doc->root().find("name") || doc->root().find("status"));
    }
    return false;
}

tl::expected<RedisImportRun, QString> parseRun(const RedisImportItem &item, const QString &runId,
                                               std::int64_t maxBytes)
{
    std::optional<json::Document> doc;
    std::optional<Record> record;
    if (item.type == "hash") {
        record.emplace(item.hash);
    } else if (item.type == "string") {
        doc = json::parse(item.string);
        if (!doc)
            return skip(QStringLiteral("run is not valid JSON"));
        if (!doc->root().isObject())
            return skip(QStringLiteral("run is JSON but not an object"));
        record.emplace(doc->root());
    } else {
        return skip(typeReason(item.type));
    }
    const Record &r = *record;
    RedisImportRun out;
    WorkflowMeta &m = out.args.run;
    m.runId = runId;
    bool bad = false;

    const auto name = r.text("name", bad);
    if (!name || bad)
        return skip(QStringLiteral("not a run: no name"));
    const auto nameId = identifier(*name);
    if (!nameId)
        return skip(QStringLiteral("the name is not a valid identifier"));
    m.name = *nameId;

    const auto status = r.text("status", bad);
    m.status = status ? QString::fromUtf8(*status).trimmed().toLower() : QStringLiteral("created");
    if (bad || std::none_of(std::begin(kStatuses), std::end(kStatuses), [&m](const char *s) {
            return m.status == QLatin1String(s);
        }))
        return skip(QStringLiteral("the status is not one of created, claimed, running, done, failed"));

    auto tags = r.json("tags", maxBytes);
    if (!tags)
        return skip(tags.error());
    if (*tags) {
        auto parsed = parseTags(**tags);
        if (!parsed)
            return skip(parsed.error());
        m.tags = std::move(*parsed);
    }

    bool badAgent = false;
    m.agentId = optionalIdentifier(r.text("agent_id", badAgent), badAgent);
    if (badAgent)
        return skip(QStringLiteral("agent_id is not a valid identifier"));

    const auto lastStep = r.count("last_step", bad);
    if (bad)
        return skip(QStringLiteral("last_step is not a non-negative integer"));
    m.lastStep = lastStep.value_or(0);
    const auto attempt = r.count("attempt", bad);
    if (bad)
        return skip(QStringLiteral("attempt is not a non-negative integer"));
    if (attempt && *attempt > 0)
        m.attempt = attempt;

    const auto createdAt = r.time("created_at", bad);
    const auto updatedAt = r.time("updated_at", bad);
    if (bad)
        return skip(QStringLiteral("created_at or updated_at is not a time"));
    m.createdAt = createdAt ? *createdAt : updatedAt ? *updatedAt : item.readAt;
    m.updatedAt = updatedAt.value_or(m.createdAt);

    for (const auto &[field, target] : {std::pair{"input", &m.input}, std::pair{"result", &m.result}}) {
        auto value = r.json(field, maxBytes);
        if (!value)
            return skip(value.error());
        if (*value && **value != "null")
            *target = **value;
    }
    for (const char *field : {"step_outputs", "steps"}) {
        auto steps = r.json(field, maxBytes);
        if (!steps)
            return skip(steps.error());
        if (*steps) {
            if (auto problem = addStepsFromJson(**steps, 0, out.steps, maxBytes))
                return skip(*problem);
        }
    }
    return out;
}

// What the store's refusal of one item means: skip it (a bad argument), or stop (Redis failed).
bool isRefusal(const Error &e)
{
    return e.code == ErrorCode::InvalidArgument || e.code == ErrorCode::TooLarge
           || e.code == ErrorCode::Conflict || e.code == ErrorCode::NotFound;
}

QString refusal(const Error &e)
{
    return QStringLiteral("refused by the store: ") + e.message;
}

} // namespace

// ---------------------------------------------------------------- the summary

void RedisImportCounts::skip(const QString &why, const QByteArray &sourceKey)
{
    ++skipped;
    qCDebug(lcRedisImport).noquote() << "skipped" << printable(sourceKey) << ":" << why;
    auto it = std::find_if(reasons.begin(), reasons.end(), [&why](const Reason &r) { return r.text == why; });
    if (it == reasons.end()) {
        const QString other = QStringLiteral("other reasons");
        if (reasons.size() >= kMaxReasons)
            it = std::find_if(reasons.begin(), reasons.end(),
                              [&other](const Reason &r) { return r.text == other; });
        if (it == reasons.end()) {
            reasons.push_back(Reason{reasons.size() >= kMaxReasons ? other : why, 0, {}});
            it = reasons.end() - 1;
        }
    }
    ++it->count;
    if (it->examples.size() < kExamples)
        it->examples << printable(sourceKey);
}

QString RedisImportSummary::text() const
{
    QString out = QStringLiteral(
                      "Import of the original package's Redis data from %1 into %2 (prefix \"%3\"):\n")
                      .arg(source, target, prefix);
    auto line = [](const char *family, const RedisImportCounts &c, const QString &extra = {}) {
        return QStringLiteral("  %1 %2 imported%3, %4 already present, %5 skipped\n")
            .arg(QLatin1String(family))
            .arg(c.imported)
            .arg(extra)
            .arg(c.present)
            .arg(c.skipped);
    };
    out += line("keys:    ", keys);
    out += line("runs:    ", runs, QStringLiteral(" (with %1 steps)").arg(steps));
    out += line("leases:  ", leases);
    out += line("sessions:", sessions);
    if (stepKeys.skipped > 0)
        out += QStringLiteral("  step keys: %1 skipped\n").arg(stepKeys.skipped);
    const std::pair<const char *, const RedisImportCounts *> families[] = {{"keys", &keys},
                                                                           {"runs", &runs},
                                                                           {"leases", &leases},
                                                                           {"sessions", &sessions},
                                                                           {"step keys", &stepKeys}};
    for (const auto &[family, counts] : families) {
        for (const auto &reason : counts->reasons) {
            QString examples = reason.examples.join(QStringLiteral(", "));
            if (reason.count > reason.examples.size())
                examples += QStringLiteral(", ...");
            out += QStringLiteral("  skipped %1: %2 %3 (%4)\n")
                       .arg(QLatin1String(family))
                       .arg(reason.count)
                       .arg(reason.text, examples);
        }
    }
    return out;
}

// ---------------------------------------------------------------- the importer

RedisImporter::RedisImporter(redis::RedisConnection &source, redis::RedisConnection &scratch,
                             RedisStore &target, RedisImportOptions options, QObject *parent)
    : QObject(parent), m_source(source), m_scratch(scratch), m_target(target), m_options(std::move(options))
{
    m_options.batchSize = std::max(1, m_options.batchSize);
}

RedisImporter::~RedisImporter() = default;

void RedisImporter::run(std::function<void(Result<RedisImportSummary>)> done)
{
    m_done = std::move(done);
    m_summary.source = m_options.sourceDisplay;
    m_summary.target = m_options.targetDisplay;
    m_summary.prefix = m_target.prefix();
    const quint64 token = QRandomGenerator::system()->generate64();
    m_base = m_target.prefix().toUtf8() + "import:" + QByteArray::number(token, 16);
    QTimer::singleShot(0, this, &RedisImporter::prepare);
}

QByteArray RedisImporter::scratchKey(const char *name) const
{
    return m_base + ':' + name;
}

bool RedisImporter::failed(const Result<RedisReply> &reply)
{
    if (m_stopped)
        return true;
    if (!reply) {
        fail(reply.error());
        return true;
    }
    if (reply->isError()) {
        fail(
            Error{ErrorCode::Internal, QStringLiteral("Redis error: %1").arg(QString::fromUtf8(reply->str))});
        return true;
    }
    return false;
}

// A marker in the target, looked for in the source: found, the two are one keyspace, where the
// original's patterns must not match the target's keys.
void RedisImporter::prepare()
{
    const QByteArray expiry = QByteArray::number(QDateTime::currentMSecsSinceEpoch() + kScratchLifetimeMs);
    QPointer<RedisImporter> self(this);
    m_scratch.command(
        {"HSET", m_base, "started_at", QByteArray::number(nowSeconds(), 'f', 6)},
        [self, expiry](Result<RedisReply> r) {
            if (!self || self->failed(r))
                return;
            self->m_scratch.command({"PEXPIREAT", self->m_base, expiry}, {});
            self->m_source.command({"EXISTS", self->m_base}, [self](Result<RedisReply> exists) {
                if (!self || self->failed(exists))
                    return;
                self->m_sameKeyspace = exists->toInt64() == 1;
                const QString prefix = self->m_target.prefix();
                const bool overlaps = prefix.isEmpty()
                                      || std::any_of(std::begin(kFamilies), std::end(kFamilies),
                                                     [&prefix](const Family &f) {
                                                         return prefix.startsWith(QLatin1String(f.prefix));
                                                     });
                if (self->m_sameKeyspace && overlaps) {
                    self->fail(
                        Error{ErrorCode::InvalidArgument,
                              QStringLiteral("the source is the target's own Redis database, and with "
                                             "SIDECAR_REDIS_PREFIX \"%1\" the sidecar's keys would match the "
                                             "original's patterns (kv:*, wf:*, lease:*, session:*): set a "
                                             "prefix such as \"sidecar:\", or import into another database")
                                  .arg(prefix)});
                    return;
                }
                qCInfo(lcRedisImport).noquote()
                    << "importing from" << self->m_options.sourceDisplay
                    << (self->m_sameKeyspace ? "(the target's own database)" : "");
                self->stage(0, QByteArrayLiteral("0"));
            });
        });
}

// SCAN of one pattern after another; each batch of names goes to the staging sets.
void RedisImporter::stage(int pattern, const QByteArray &cursor)
{
    QPointer<RedisImporter> self(this);
    m_source.command(
        {"SCAN", cursor, "MATCH", kFamilies[pattern].match, "COUNT", QByteArray::number(m_options.batchSize)},
        [self, pattern](Result<RedisReply> r) {
            if (!self || self->failed(r))
                return;
            if (r->type != RedisReply::Type::Array || r->at(1).type != RedisReply::Type::Array) {
                self->fail(Error{ErrorCode::Internal, QStringLiteral("Unexpected SCAN reply")});
                return;
            }
            const QByteArray next = r->at(0).str;
            std::vector<QByteArray> keys;
            keys.reserve(r->at(1).elements.size());
            for (const RedisReply &k : r->at(1).elements)
                keys.push_back(k.str);
            self->stageBatch(pattern, keys, [self, pattern, next] {
                if (!self)
                    return;
                if (next != "0")
                    self->stage(pattern, next);
                else if (pattern + 1 < int(std::size(kFamilies)))
                    self->stage(pattern + 1, QByteArrayLiteral("0"));
                else
                    self->importKeys();
            });
        });
}

void RedisImporter::stageBatch(int pattern, const std::vector<QByteArray> &keys, std::function<void()> next)
{
    const QByteArray prefix(kFamilies[pattern].prefix);
    // set -> ZADD arguments
    std::map<QByteArray, QList<QByteArray>> adds;
    for (const QByteArray &key : keys) {
        if (!key.startsWith(prefix))
            continue;
        const QByteArray name = key.mid(prefix.size());
        QByteArray set = scratchKey(kFamilies[pattern].set);
        QByteArray member = name;
        if (pattern == kWf) {
            // wf:<run_id>:step:<n> belongs to run <run_id>: gathered with it, never a run itself.
            const qsizetype at = name.lastIndexOf(":step:");
            if (at > 0
                && stepNumber(
                    std::string_view(name.constData() + at + 6, std::size_t(name.size() - at - 6)))) {
                set = scratchKey("parts");
                member = name.left(at) + '\0' + name.mid(at);
            }
        }
        auto &args = adds[set];
        if (args.isEmpty())
            args << "ZADD" << set;
        args << "0" << member;
    }
    if (adds.empty()) {
        next();
        return;
    }
    const QByteArray expiry = QByteArray::number(QDateTime::currentMSecsSinceEpoch() + kScratchLifetimeMs);
    auto pending = std::make_shared<int>(int(adds.size()));
    QPointer<RedisImporter> self(this);
    for (const auto &[set, args] : adds) {
        m_scratch.command(args, [self, pending, next](Result<RedisReply> r) {
            if (!self || self->failed(r))
                return;
            if (--*pending == 0)
                next();
        });
        m_scratch.command({"PEXPIREAT", set, expiry}, {});
    }
}

void RedisImporter::importKeys()
{
    qCInfo(lcRedisImport) << "importing keys";
    drain(
        scratchKey("kv"), [this](const QByteArray &name) { importKey(name); },
        [this] {
            qCInfo(lcRedisImport) << "importing workflow runs";
            // First each wf: key is read and sorted out (a run, by created_at; or a run's steps),
            // then the runs are imported oldest first, each with its steps; then whatever steps
            // remain belong to no run; then leases and sessions.
            drain(
                scratchKey("wfkeys"), [this](const QByteArray &name) { classifyRun(name); },
                [this] {
                    drain(
                        scratchKey("runs"), [this](const QByteArray &name) { importRun(name); },
                        [this] {
                            drain(
                                scratchKey("parts"), [this](const QByteArray &member) { orphanStep(member); },
                                [this] {
                                    qCInfo(lcRedisImport) << "importing leases";
                                    drain(
                                        scratchKey("lease"),
                                        [this](const QByteArray &name) { importLease(name); },
                                        [this] {
                                            qCInfo(lcRedisImport) << "importing sessions";
                                            drain(
                                                scratchKey("session"),
                                                [this](const QByteArray &name) { importSession(name); },
                                                [this] { cleanUp([this] { finish(); }); });
                                        });
                                });
                        });
                });
        });
}

void RedisImporter::drain(const QByteArray &set, Each each, std::function<void()> after)
{
    m_drainSet = set;
    m_each = std::move(each);
    m_after = std::move(after);
    m_batch.clear();
    popBatch();
}

void RedisImporter::popBatch()
{
    QPointer<RedisImporter> self(this);
    m_scratch.command(
        {"ZPOPMIN", m_drainSet, QByteArray::number(m_options.batchSize)}, [self](Result<RedisReply> r) {
            if (!self || self->failed(r))
                return;
            if (r->type != RedisReply::Type::Array) {
                self->fail(Error{ErrorCode::Internal, QStringLiteral("Unexpected ZPOPMIN reply")});
                return;
            }
            if (r->elements.empty()) {
                auto after = std::move(self->m_after);
                self->m_each = nullptr;
                after();
                return;
            }
            for (std::size_t i = 0; i + 1 < r->elements.size(); i += 2)
                self->m_batch.push_back(r->elements[i].str);
            self->nextItem();
        });
}

// One item after another; an item handled without a round trip (a skip) calls itemDone() from
// inside m_each, and the loop here goes on instead of recursing.
void RedisImporter::nextItem()
{
    do {
        m_again = false;
        if (m_stopped)
            return;
        if (m_batch.empty()) {
            popBatch();
            return;
        }
        const QByteArray member = std::move(m_batch.front());
        m_batch.pop_front();
        if (++m_handled % kProgressEvery == 0)
            qCInfo(lcRedisImport) << m_handled << "items handled so far";
        m_inEach = true;
        m_each(member);
        m_inEach = false;
    } while (m_again);
}

void RedisImporter::itemDone()
{
    if (m_inEach) {
        m_again = true;
        return;
    }
    nextItem();
}

void RedisImporter::readSource(const QByteArray &key, std::function<void(const RedisImportItem &)> done)
{
    // One round trip: the type, the TTL, and both reads (the one of the wrong type answers
    // WRONGTYPE, which is ignored).
    auto item = std::make_shared<RedisImportItem>();
    item->key = key;
    auto pending = std::make_shared<int>(4);
    QPointer<RedisImporter> self(this);
    auto answered = [self, item, pending, done = std::move(done)] {
        if (--*pending > 0 || !self || self->m_stopped)
            return;
        item->readAt = nowSeconds();
        done(*item);
    };
    auto linkFailed = [self](const Result<RedisReply> &r) {
        if (!self || self->m_stopped)
            return true;
        if (!r) {
            self->fail(r.error());
            return true;
        }
        return false;
    };
    m_source.command({"TYPE", key}, [item, answered, linkFailed](Result<RedisReply> r) {
        if (linkFailed(r))
            return;
        item->type = r->str;
        answered();
    });
    m_source.command({"PTTL", key}, [item, answered, linkFailed](Result<RedisReply> r) {
        if (linkFailed(r))
            return;
        item->pttl = r->toInt64(-2);
        answered();
    });
    m_source.command({"GET", key}, [item, answered, linkFailed](Result<RedisReply> r) {
        if (linkFailed(r))
            return;
        if (r->type == RedisReply::Type::String)
            item->string = r->str;
        answered();
    });
    m_source.command({"HGETALL", key}, [item, answered, linkFailed](Result<RedisReply> r) {
        if (linkFailed(r))
            return;
        if (r->type == RedisReply::Type::Array) {
            for (std::size_t i = 0; i + 1 < r->elements.size(); i += 2)
                item->hash.emplace_back(r->elements[i].str, r->elements[i + 1].str);
        }
        answered();
    });
}

// ---- keys

// The source item "<family><name>" read whole, when its name is an identifier; counted as skipped
// (bad id, or gone since the scan) otherwise.
void RedisImporter::readItem(
    const char *family, const QByteArray &name, RedisImportCounts &counts,
    std::function<void(const QString &, const QByteArray &, const RedisImportItem &)> next)
{
    const QByteArray sourceKey = family + name;
    const auto id = identifier(name);
    if (!id) {
        counts.skip(kBadId, sourceKey);
        itemDone();
        return;
    }
    readSource(sourceKey,
               [this, &counts, id = *id, sourceKey, next = std::move(next)](const RedisImportItem &item) {
                   if (item.type == "none") {
                       counts.skip(kGone, sourceKey);
                       itemDone();
                       return;
                   }
                   next(id, sourceKey, item);
               });
}

void RedisImporter::importKey(const QByteArray &name)
{
    readItem("kv:", name, m_summary.keys,
             [this](const QString &key, const QByteArray &sourceKey, const RedisImportItem &item) {
                 auto data = parseKv(item, m_options.maxValueBytes);
                 if (!data) {
                     m_summary.keys.skip(data.error(), sourceKey);
                     itemDone();
                     return;
                 }
                 KvSetArgs args;
                 args.key = key;
                 args.value = data->value;
                 args.agentId = data->agentId;
                 args.ifVersion = 0; // only when absent: imported once, whatever the number of runs
                 if (data->deadline) {
                     const double ttl = *data->deadline - nowSeconds();
                     if (ttl <= 0) {
                         m_summary.keys.skip(kExpired, sourceKey);
                         itemDone();
                         return;
                     }
                     args.ttlSeconds = ttl;
                 }
                 QPointer<RedisImporter> self(this);
                 m_target.kvSet(args, [self, sourceKey](Result<KvWriteResult> r) {
                     if (!self || self->m_stopped)
                         return;
                     if (!r) {
                         if (!isRefusal(r.error()))
                             return self->fail(r.error());
                         self->m_summary.keys.skip(refusal(r.error()), sourceKey);
                     } else if (r->ok) {
                         ++self->m_summary.keys.imported;
                     } else if (r->conflict) {
                         ++self->m_summary.keys.present;
                     } else {
                         self->m_summary.keys.skip(r->reason.value_or(QStringLiteral("refused by the store")),
                                                   sourceKey);
                     }
                     self->itemDone();
                 });
             });
}

// ---- runs

void RedisImporter::classifyRun(const QByteArray &name)
{
    const QByteArray sourceKey = "wf:" + name;
    readSource(sourceKey, [this, name, sourceKey](const RedisImportItem &item) {
        if (item.type == "none") {
            m_summary.runs.skip(kGone, sourceKey);
            itemDone();
            return;
        }
        QPointer<RedisImporter> self(this);
        auto staged = [self](Result<RedisReply> r) {
            if (!self || self->failed(r))
                return;
            self->itemDone();
        };
        const QByteArray expiry = QByteArray::number(QDateTime::currentMSecsSinceEpoch()
                                                     + kScratchLifetimeMs);
        // wf:<run_id>:steps is the steps of <run_id>, unless it has a run's fields.
        if (name.endsWith(":steps") && name.size() > 6 && !looksLikeRun(item)) {
            const QByteArray member = name.left(name.size() - 6) + '\0' + ":steps";
            m_scratch.command({"ZADD", scratchKey("parts"), "0", member}, staged);
            m_scratch.command({"PEXPIREAT", scratchKey("parts"), expiry}, {});
            return;
        }
        const auto runId = identifier(name);
        if (!runId) {
            m_summary.runs.skip(kBadId, sourceKey);
            itemDone();
            return;
        }
        auto run = parseRun(item, *runId, m_options.maxValueBytes);
        if (!run) {
            m_summary.runs.skip(run.error(), sourceKey);
            itemDone();
            return;
        }
        // Oldest first: lists show the newest first, and claim_next takes the oldest.
        m_scratch.command(
            {"ZADD", scratchKey("runs"), QByteArray::number(run->args.run.createdAt, 'f', 6), name}, staged);
        m_scratch.command({"PEXPIREAT", scratchKey("runs"), expiry}, {});
    });
}

void RedisImporter::importRun(const QByteArray &name)
{
    const QByteArray sourceKey = "wf:" + name;
    readSource(sourceKey, [this, name, sourceKey](const RedisImportItem &item) {
        if (item.type == "none") {
            m_summary.runs.skip(kGone, sourceKey);
            itemDone();
            return;
        }
        const auto runId = identifier(name);
        auto run = runId ? parseRun(item, *runId, m_options.maxValueBytes)
                         : tl::expected<RedisImportRun, QString>(skip(kBadId));
        if (!run) {
            m_summary.runs.skip(run.error(), sourceKey);
            itemDone();
            return;
        }
        auto data = std::make_shared<RedisImportRun>(std::move(*run));
        auto problem = std::make_shared<std::optional<QString>>();
        gatherSteps(name, data, problem, [this, data, problem, sourceKey] {
            if (*problem) {
                m_summary.runs.skip(**problem, sourceKey);
                itemDone();
                return;
            }
            WorkflowImportArgs &args = data->args;
            WorkflowMeta &m = args.run;
            args.steps.reserve(data->steps.size());
            for (auto &[step, sourced] : data->steps) {
                args.steps.emplace_back(step, std::move(sourced.second));
                m.lastStep = std::max(m.lastStep, step);
            }
            // As the SQLite backend's import: a run an agent claimed keeps its agent with its
            // claim lapsed, as attempt 1 (or the attempt the original recorded).
            const bool wasClaimed = m.agentId && m.status != QLatin1String("created");
            if (wasClaimed && !m.attempt)
                m.attempt = 1;
            const std::int64_t steps = std::int64_t(args.steps.size());
            QPointer<RedisImporter> self(this);
            m_target.workflowImport(args, [self, sourceKey, steps](Result<WorkflowImportResult> r) {
                if (!self || self->m_stopped)
                    return;
                if (!r) {
                    if (!isRefusal(r.error()))
                        return self->fail(r.error());
                    self->m_summary.runs.skip(refusal(r.error()), sourceKey);
                } else if (r->imported) {
                    ++self->m_summary.runs.imported;
                    self->m_summary.steps += steps;
                } else {
                    ++self->m_summary.runs.present;
                }
                self->itemDone();
            });
        });
    });
}

// The run's staged step keys (`wf:<id>:steps`, `wf:<id>:step:<n>`), a batch at a time: each is
// read, merged into the run's steps and removed from the staging set (what remains there at the
// end belongs to no run). The first problem found is kept; the rest are still consumed.
void RedisImporter::gatherSteps(const QByteArray &name, std::shared_ptr<RedisImportRun> data,
                                std::shared_ptr<std::optional<QString>> problem, std::function<void()> done)
{
    QPointer<RedisImporter> self(this);
    const QByteArray from = "[" + name + '\0';
    const QByteArray to = "(" + name + '\x01';
    m_scratch.command(
        {"ZRANGEBYLEX", scratchKey("parts"), from, to, "LIMIT", "0", QByteArray::number(m_options.batchSize)},
        [self, name, data, problem, done](Result<RedisReply> r) {
            if (!self || self->failed(r))
                return;
            if (r->elements.empty()) {
                done();
                return;
            }
            auto members = std::make_shared<std::vector<QByteArray>>();
            for (const RedisReply &m : r->elements)
                members->push_back(m.str);
            self->readSteps(name, members, 0, data, problem, [self, name, members, data, problem, done] {
                QList<QByteArray> zrem{"ZREM", self->scratchKey("parts")};
                for (const QByteArray &m : *members)
                    zrem << m;
                self->m_scratch.command(zrem, [self, name, data, problem, done](Result<RedisReply> removed) {
                    if (!self || self->failed(removed))
                        return;
                    self->gatherSteps(name, data, problem, done);
                });
            });
        });
}

void RedisImporter::readSteps(const QByteArray &name, std::shared_ptr<std::vector<QByteArray>> members,
                              std::size_t index, std::shared_ptr<RedisImportRun> data,
                              std::shared_ptr<std::optional<QString>> problem, std::function<void()> done)
{
    if (index >= members->size()) {
        done();
        return;
    }
    const QByteArray &member = (*members)[index];
    const QByteArray suffix = member.mid(member.indexOf('\0') + 1); // ":steps" or ":step:<n>"
    const std::int64_t maxBytes = m_options.maxValueBytes;
    readSource("wf:" + name + suffix, [this, name, members, index, data, problem, done, suffix,
                                       maxBytes](const RedisImportItem &item) {
        std::optional<QString> why;
        if (item.type == "none") {
            // gone meanwhile: nothing to add
        } else if (suffix == ":steps") {
            if (item.type == "hash") {
                for (const auto &[field, value] : item.hash) {
                    const auto step = stepNumber(
                        std::string_view(field.constData(), std::size_t(field.size())));
                    if (!step) {
                        why = kBadStep;
                        break;
                    }
                    auto output = compactJson(value, QStringLiteral("a step output"), maxBytes);
                    if (!output) {
                        why = output.error();
                        break;
                    }
                    addStep(data->steps, *step, 1, *output);
                }
            } else if (item.type == "string") {
                why = addStepsFromJson(item.string, 1, data->steps, maxBytes);
            } else {
                why = QStringLiteral("steps in %1").arg(typeReason(item.type));
            }
        } else {
            const auto step = stepNumber(
                std::string_view(suffix.constData() + 6, std::size_t(suffix.size() - 6)));
            tl::expected<std::optional<QByteArray>, QString> output = std::optional<QByteArray>();
            if (item.type == "string") {
                auto c = compactJson(item.string, QStringLiteral("a step output"), maxBytes);
                output = c ? tl::expected<std::optional<QByteArray>, QString>(std::optional<QByteArray>(*c))
                           : tl::expected<std::optional<QByteArray>, QString>(skip(c.error()));
            } else if (item.type == "hash") {
                output = Record(item.hash).json("output", maxBytes);
            } else {
                output = skip(QStringLiteral("a step in %1").arg(typeReason(item.type)));
            }
            if (!output)
                why = output.error();
            else if (!*output)
                why = QStringLiteral("a step hash without an output or output_json field");
            else if (step)
                addStep(data->steps, *step, 2, **output);
        }
        if (why && !*problem)
            *problem = why;
        readSteps(name, members, index + 1, data, problem, done);
    });
}

void RedisImporter::orphanStep(const QByteArray &member)
{
    const qsizetype at = member.indexOf('\0');
    m_summary.stepKeys.skip(kOrphanSteps, "wf:" + member.left(at) + member.mid(at + 1));
    itemDone();
}

// ---- leases

void RedisImporter::importLease(const QByteArray &name)
{
    readItem("lease:", name, m_summary.leases,
             [this](const QString &resourceId, const QByteArray &sourceKey, const RedisImportItem &item) {
                 auto lease = parseLease(item);
                 if (!lease) {
                     m_summary.leases.skip(lease.error(), sourceKey);
                     itemDone();
                     return;
                 }
                 if (lease->deadline <= nowSeconds()) {
                     m_summary.leases.skip(QStringLiteral("lapsed"), sourceKey);
                     itemDone();
                     return;
                 }
                 // A live lease on the resource in the target (imported before, or taken since) stays.
                 PrefixListArgs query;
                 query.prefix = resourceId;
                 query.limit = 1;
                 QPointer<RedisImporter> self(this);
                 m_target.leaseList(
                     query, [self, resourceId, lease = *lease, sourceKey](Result<LeaseListResult> r) {
                         if (!self || self->m_stopped)
                             return;
                         if (!r)
                             return self->fail(r.error());
                         if (!r->leases.empty() && r->leases.front().resourceId == resourceId) {
                             ++self->m_summary.leases.present;
                             self->itemDone();
                             return;
                         }
                         const double ttl = lease.deadline - nowSeconds();
                         if (ttl <= 0) {
                             self->m_summary.leases.skip(QStringLiteral("lapsed"), sourceKey);
                             self->itemDone();
                             return;
                         }
                         LeaseAcquireArgs args;
                         args.resourceId = resourceId;
                         args.holderId = lease.holder;
                         args.ttlSeconds = ttl;
                         self->m_target.leaseAcquire(
                             args, [self, sourceKey](Result<LeaseAcquireResult> acquired) {
                                 if (!self || self->m_stopped)
                                     return;
                                 if (!acquired) {
                                     if (!isRefusal(acquired.error()))
                                         return self->fail(acquired.error());
                                     self->m_summary.leases.skip(refusal(acquired.error()), sourceKey);
                                 } else if (acquired->acquired) {
                                     ++self->m_summary.leases.imported;
                                 } else {
                                     ++self->m_summary.leases.present; // taken in the target meanwhile
                                 }
                                 self->itemDone();
                             });
                     });
             });
}

// ---- sessions

void RedisImporter::importSession(const QByteArray &name)
{
    readItem("session:", name, m_summary.sessions,
             [this](const QString &sessionId, const QByteArray &sourceKey, const RedisImportItem &item) {
                 auto session = parseSession(item, m_options.maxValueBytes);
                 if (!session) {
                     m_summary.sessions.skip(session.error(), sourceKey);
                     itemDone();
                     return;
                 }
                 QPointer<RedisImporter> self(this);
                 m_target.sessionRestore(sessionId, [self, sessionId, session = *session,
                                                     sourceKey](Result<SessionRestoreResult> r) {
                     if (!self || self->m_stopped)
                         return;
                     if (!r)
                         return self->fail(r.error());
                     if (r->found) {
                         ++self->m_summary.sessions.present;
                         self->itemDone();
                         return;
                     }
                     SessionSaveArgs args;
                     args.sessionId = sessionId;
                     args.context = session.context;
                     args.agentId = session.agentId;
                     self->m_target.sessionSave(args, [self, sourceKey](Result<SessionSaveResult> saved) {
                         if (!self || self->m_stopped)
                             return;
                         if (!saved) {
                             if (!isRefusal(saved.error()))
                                 return self->fail(saved.error());
                             self->m_summary.sessions.skip(refusal(saved.error()), sourceKey);
                         } else {
                             ++self->m_summary.sessions.imported;
                         }
                         self->itemDone();
                     });
                 });
             });
}

// ---- the end

void RedisImporter::cleanUp(std::function<void()> then)
{
    QList<QByteArray> del{"DEL", m_base};
    for (const char *set : {"kv", "wfkeys", "runs", "parts", "lease", "session"})
        del << scratchKey(set);
    if (!m_scratch.isConnected()) {
        then(); // the sets expire by themselves within a day
        return;
    }
    QPointer<RedisImporter> self(this);
    m_scratch.command(del, [self, then = std::move(then)](Result<RedisReply>) {
        if (self)
            then();
    });
}

void RedisImporter::fail(Error error)
{
    if (m_stopped)
        return;
    m_stopped = true; // every callback still to come returns at once
    m_batch.clear();
    QPointer<RedisImporter> self(this);
    cleanUp([self, error = std::move(error)] {
        if (!self || !self->m_done)
            return;
        auto done = std::move(self->m_done);
        self->m_done = nullptr;
        done(tl::unexpected(error));
    });
}

void RedisImporter::finish()
{
    if (m_stopped)
        return;
    m_stopped = true;
    if (!m_done)
        return;
    auto done = std::move(m_done);
    m_done = nullptr;
    done(m_summary);
}

// ---------------------------------------------------------------- RedisStore::workflowImport

void RedisStore::workflowImport(const WorkflowImportArgs &args, Callback<WorkflowImportResult> done)
{
    using redis::argOf;
    const WorkflowMeta &m = args.run;
    QList<QByteArray> argv{m.runId.toUtf8(),
                           m.name.toUtf8(),
                           m.status.toUtf8(),
                           argOf(m.agentId),
                           QByteArray::number(qlonglong(std::max<std::int64_t>(0, m.lastStep))),
                           QByteArray::number(m.createdAt, 'f', 6),
                           QByteArray::number(m.updatedAt, 'f', 6),
                           argOf(m.input),
                           argOf(m.result),
                           argOf(m.attempt),
                           QByteArray::number(qsizetype(m.tags.size()))};
    argv.reserve(argv.size() + 2 * qsizetype(m.tags.size() + args.steps.size()));
    for (const auto &[tag, value] : m.tags)
        argv << tag.toUtf8() << value.toUtf8();
    for (const auto &[step, output] : args.steps)
        argv << QByteArray::number(qlonglong(step)) << output;
    run<WorkflowImportResult>("wf_import", std::move(argv), std::move(done),
                              [](const RedisReply &r) -> Result<WorkflowImportResult> {
                                  if (r.type != RedisReply::Type::Array || r.elements.empty())
                                      return sidecar::fail(
                                          ErrorCode::Internal,
                                          QStringLiteral("Unexpected reply from the wf_import "
                                                         "script"));
                                  WorkflowImportResult res;
                                  res.imported = r.at(0).toInt64() == 1;
                                  res.revision = r.at(1).toInt64();
                                  res.seq = r.at(2).toInt64();
                                  return res;
                              });
}

} // namespace sidecar::store
