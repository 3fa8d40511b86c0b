#pragma once

// JSON for a protocol that must give values back exactly as they were sent.
//
// Why not QJsonDocument: it sorts object keys, keeps the last of duplicate keys silently and
// rounds integers beyond 2^53 (docs/decisions.md). Why not simdjson (Debian's 3.0.1):
// its DOM rejects integers beyond 64 bits and does not report duplicate keys, and its
// on-demand API only validates what it is asked to visit. The contract needs all three
// (order, duplicates reported, every number's text kept), so this is a small strict
// RFC 8259 parser that builds a tree keeping, for every node, its span in the source.
// compact() then returns the source text without insignificant whitespace: key order,
// number text and string escapes exactly as sent.
//
// Thread: values are plain data; a parsed tree borrows from its Document's buffer, so a
// Value must not outlive the Document it came from (copy compact() text to keep it).

#include <QByteArray>
#include <QString>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sidecar::json {

enum class Type : std::uint8_t { Null, Bool, Number, String, Array, Object };

const char *typeName(Type type);

struct Member;

class Value
{
public:
    Value() = default;
    explicit Value(Type type);

    static Value makeNull();
    static Value makeBool(bool b);
    static Value makeString(std::string decoded);
    static Value makeNumber(std::string text); // text must be a valid JSON number
    static Value makeInteger(std::int64_t v);

    Type type() const { return m_type; }
    bool isNull() const { return m_type == Type::Null; }
    bool isBool() const { return m_type == Type::Bool; }
    bool isNumber() const { return m_type == Type::Number; }
    bool isString() const { return m_type == Type::String; }
    bool isArray() const { return m_type == Type::Array; }
    bool isObject() const { return m_type == Type::Object; }

    bool toBool() const { return m_bool; }
    // String: the decoded UTF-8 text. Number: the number's text as sent.
    const std::string &text() const { return m_text; }
    QString toQString() const { return QString::fromUtf8(m_text.data(), qsizetype(m_text.size())); }
    // A number written without fraction or exponent.
    bool isIntegerText() const;
    // Integral (1, 1.0, 1e3) and within 64 bits.
    std::optional<std::int64_t> toInt64() const;
    std::optional<double> toDouble() const;

    const std::vector<Value> &items() const { return m_items; }
    std::vector<Value> &items() { return m_items; }
    const std::vector<Member> &members() const { return m_members; }
    std::vector<Member> &members() { return m_members; }

    // First member with that key, or nullptr (also for non-objects).
    const Value *find(std::string_view key) const;
    Value *find(std::string_view key);
    // Some object in this subtree has a key twice.
    bool hasDuplicateKeys() const;
    // This object itself has a key twice.
    bool hasOwnDuplicateKeys() const { return m_dupKey; }

    // Compact JSON text of this value: the source text minus insignificant whitespace when
    // the value was parsed and not changed since, else a fresh compact serialisation.
    QByteArray compact() const;
    void appendCompact(QByteArray &out) const;

    // Replace this value (used by argument coercion); the node forgets its source span.
    void assign(Value other);

private:
    friend class Parser;
    Type m_type = Type::Null;
    bool m_bool = false;
    bool m_dupKey = false;  // this object has a key twice
    bool m_dupBelow = false; // some descendant object has a key twice
    std::string m_text;
    std::vector<Value> m_items;
    std::vector<Member> m_members;
    std::string_view m_raw; // span in the Document's buffer; empty when built or changed
};

struct Member
{
    std::string key; // decoded UTF-8
    Value value;
};

// Defined here, not in the class: these need Member complete (clang instantiates the members'
// vector where they are defined).
inline Value::Value(Type type) : m_type(type) {}
inline Value Value::makeNull() { return Value(Type::Null); }

struct ParseError
{
    std::size_t offset = 0;
    std::string message;
};

// A parsed JSON text: owns the buffer the tree's spans point into.
class Document
{
public:
    Document() = default;
    Document(const Document &) = delete;
    Document &operator=(const Document &) = delete;
    Document(Document &&) = default;
    Document &operator=(Document &&) = default;

    const Value &root() const { return *m_root; }
    Value &root() { return *m_root; }
    const QByteArray &source() const { return m_source; }

private:
    friend class Parser;
    friend std::optional<Document> parse(const QByteArray &, ParseError *, int);
    QByteArray m_source;
    std::unique_ptr<Value> m_root;
};

constexpr int kMaxDepth = 256;

// Parses one JSON text (RFC 8259, UTF-8, no trailing garbage). Duplicate keys are accepted
// and flagged (see Value::hasDuplicateKeys) so that each layer answers them its own way.
std::optional<Document> parse(const QByteArray &text, ParseError *error = nullptr,
                              int maxDepth = kMaxDepth);

// Removes insignificant whitespace from a JSON text known to be valid.
QByteArray minify(std::string_view validJson);

// Appends `s` (UTF-8) as a JSON string literal.
void appendQuoted(QByteArray &out, std::string_view s);
void appendQuoted(QByteArray &out, const QString &s);
// Shortest text that reads back as the same double ("1.5", "1e+300"); integers without ".0".
void appendDouble(QByteArray &out, double v);

// Builds compact JSON text. Commas are placed for the caller; raw() splices a compact
// JSON text (a stored value) unchanged.
class Writer
{
public:
    Writer() { m_first.reserve(16); }
    explicit Writer(qsizetype reserve) : Writer() { m_out.reserve(reserve); }

    Writer &beginObject();
    Writer &endObject();
    Writer &beginArray();
    Writer &endArray();
    Writer &key(std::string_view k);

    Writer &null();
    Writer &value(bool b);
    Writer &value(std::int64_t v);
    Writer &value(int v) { return value(std::int64_t(v)); }
    Writer &value(long long v) { return value(std::int64_t(v)); }
    Writer &value(double v);
    Writer &value(std::string_view s);
    Writer &value(const char *s) { return value(std::string_view(s)); }
    Writer &value(const QString &s);
    Writer &raw(std::string_view compactJson);
    Writer &raw(const QByteArray &compactJson) { return raw(std::string_view(compactJson.constData(), std::size_t(compactJson.size()))); }

    template<class T>
    Writer &field(std::string_view k, const T &v) { key(k); return value(v); }
    Writer &fieldNull(std::string_view k) { key(k); return null(); }
    Writer &fieldRaw(std::string_view k, const QByteArray &compactJson) { key(k); return raw(compactJson); }
    // Writes null when absent.
    template<class T>
    Writer &field(std::string_view k, const std::optional<T> &v)
    {
        key(k);
        return v ? value(*v) : null();
    }
    // Leaves the field out when absent.
    template<class T>
    Writer &fieldIf(std::string_view k, const std::optional<T> &v)
    {
        return v ? field(k, *v) : *this;
    }
    Writer &fieldRawOrNull(std::string_view k, const std::optional<QByteArray> &v)
    {
        key(k);
        return v ? raw(*v) : null();
    }

    const QByteArray &data() const { return m_out; }
    QByteArray take() { return std::move(m_out); }
    qsizetype size() const { return m_out.size(); }

private:
    void separate();
    QByteArray m_out;
    std::vector<bool> m_first; // per open container: nothing written in it yet
    bool m_afterKey = false;
};

} // namespace sidecar::json
