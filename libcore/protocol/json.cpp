#include "json.h"

#include <array>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <unordered_set>
#include <utility>

namespace sidecar::json {

const char *typeName(Type type)
{
    switch (type) {
    case Type::Null: return "null";
    case Type::Bool: return "boolean";
    case Type::Number: return "number";
    case Type::String: return "string";
    case Type::Array: return "array";
    case Type::Object: return "object";
    }
    return "?";
}

// ---------------------------------------------------------------- Value

Value Value::makeBool(bool b)
{
    Value v(Type::Bool);
    v.m_bool = b;
    return v;
}

Value Value::makeString(std::string decoded)
{
    Value v(Type::String);
    v.m_text = std::move(decoded);
    return v;
}

Value Value::makeNumber(std::string text)
{
    Value v(Type::Number);
    v.m_text = std::move(text);
    return v;
}

Value Value::makeInteger(std::int64_t n)
{
    return makeNumber(std::to_string(n));
}

bool Value::isIntegerText() const
{
    return m_type == Type::Number && m_text.find_first_of(".eE") == std::string::npos;
}

std::optional<std::int64_t> Value::toInt64() const
{
    if (m_type != Type::Number)
        return std::nullopt;
    std::int64_t out = 0;
    const char *b = m_text.data(), *e = b + m_text.size();
    if (isIntegerText()) {
        auto [p, ec] = std::from_chars(b, e, out);
        if (ec != std::errc() || p != e)
            return std::nullopt;
        return out;
    }
    // 1.0 and 1e3 are integers too (JSON Schema: a number with a zero fractional part).
    const auto d = toDouble();
    if (!d || std::trunc(*d) != *d || *d < -9223372036854775808.0 || *d >= 9223372036854775808.0)
        return std::nullopt;
    return std::int64_t(*d);
}

std::optional<double> Value::toDouble() const
{
    if (m_type != Type::Number)
        return std::nullopt;
    double out = 0;
    const char *b = m_text.data(), *e = b + m_text.size();
    auto [p, ec] = std::from_chars(b, e, out);
    if (p != e || (ec != std::errc() && ec != std::errc::result_out_of_range))
        return std::nullopt;
    if (ec == std::errc::result_out_of_range) {
        // Beyond double's range: overflow is ±infinity, underflow is ±0, so that range
        // constraints still compare correctly ("1e400" is above any maximum).
        const bool negative = m_text[0] == '-';
        const bool tiny = m_text.find("e-") != std::string::npos || m_text.find("E-") != std::string::npos;
        out = tiny ? 0.0 : std::numeric_limits<double>::infinity();
        return negative ? -out : out;
    }
    return out;
}

const Value *Value::find(std::string_view key) const
{
    if (m_type != Type::Object)
        return nullptr;
    for (const Member &m : m_members) {
        if (m.key == key)
            return &m.value;
    }
    return nullptr;
}

Value *Value::find(std::string_view key)
{
    return const_cast<Value *>(std::as_const(*this).find(key));
}

bool Value::hasDuplicateKeys() const
{
    return m_dupKey || m_dupBelow;
}

void Value::assign(Value other)
{
    *this = std::move(other);
    m_raw = {};
}

QByteArray Value::compact() const
{
    QByteArray out;
    appendCompact(out);
    return out;
}

void Value::appendCompact(QByteArray &out) const
{
    if (!m_raw.empty()) {
        if (m_type == Type::Object || m_type == Type::Array)
            out.append(minify(m_raw));
        else
            out.append(m_raw.data(), qsizetype(m_raw.size()));
        return;
    }
    switch (m_type) {
    case Type::Null: out.append("null"); break;
    case Type::Bool: out.append(m_bool ? "true" : "false"); break;
    case Type::Number: out.append(m_text.data(), qsizetype(m_text.size())); break;
    case Type::String: appendQuoted(out, m_text); break;
    case Type::Array:
        out.append('[');
        for (std::size_t i = 0; i < m_items.size(); ++i) {
            if (i)
                out.append(',');
            m_items[i].appendCompact(out);
        }
        out.append(']');
        break;
    case Type::Object:
        out.append('{');
        for (std::size_t i = 0; i < m_members.size(); ++i) {
            if (i)
                out.append(',');
            appendQuoted(out, m_members[i].key);
            out.append(':');
            m_members[i].value.appendCompact(out);
        }
        out.append('}');
        break;
    }
}

// ---------------------------------------------------------------- parser

class Parser
{
public:
    Parser(std::string_view text, int maxDepth) : m_p(text.data()), m_begin(text.data()), m_end(text.data() + text.size()), m_maxDepth(maxDepth) {}

    bool parseDocument(Value &root)
    {
        skipWs();
        if (!parseValue(root, 0))
            return false;
        skipWs();
        if (m_p != m_end)
            return fail("unexpected data after the JSON value");
        return true;
    }

    ParseError error() const { return m_error; }

private:
    bool fail(const char *message)
    {
        if (m_error.message.empty()) {
            m_error.offset = std::size_t(m_p - m_begin);
            m_error.message = message;
        }
        return false;
    }

    void skipWs()
    {
        while (m_p != m_end && (*m_p == ' ' || *m_p == '\n' || *m_p == '\r' || *m_p == '\t'))
            ++m_p;
    }

    bool literal(const char *word, std::size_t n)
    {
        if (std::size_t(m_end - m_p) < n || std::memcmp(m_p, word, n) != 0)
            return fail("invalid literal");
        m_p += n;
        return true;
    }

    bool parseValue(Value &v, int depth)
    {
        if (m_p == m_end)
            return fail("unexpected end of input");
        const char *start = m_p;
        bool ok = false;
        switch (*m_p) {
        case '{': ok = parseObject(v, depth + 1); break;
        case '[': ok = parseArray(v, depth + 1); break;
        case '"':
            v.m_type = Type::String;
            ok = parseString(v.m_text);
            break;
        case 't':
            v.m_type = Type::Bool;
            v.m_bool = true;
            ok = literal("true", 4);
            break;
        case 'f':
            v.m_type = Type::Bool;
            v.m_bool = false;
            ok = literal("false", 5);
            break;
        case 'n':
            v.m_type = Type::Null;
            ok = literal("null", 4);
            break;
        default:
            if (*m_p == '-' || (*m_p >= '0' && *m_p <= '9')) {
                v.m_type = Type::Number;
                ok = parseNumber(v.m_text);
            } else {
                return fail("unexpected character");
            }
        }
        if (ok)
            v.m_raw = std::string_view(start, std::size_t(m_p - start));
        return ok;
    }

    bool parseNumber(std::string &out)
    {
        const char *start = m_p;
        if (*m_p == '-')
            ++m_p;
        if (m_p == m_end)
            return fail("invalid number");
        if (*m_p == '0') {
            ++m_p;
        } else if (*m_p >= '1' && *m_p <= '9') {
            while (m_p != m_end && *m_p >= '0' && *m_p <= '9')
                ++m_p;
        } else {
            return fail("invalid number");
        }
        if (m_p != m_end && *m_p == '.') {
            ++m_p;
            if (m_p == m_end || !(*m_p >= '0' && *m_p <= '9'))
                return fail("invalid number: digit expected after '.'");
            while (m_p != m_end && *m_p >= '0' && *m_p <= '9')
                ++m_p;
        }
        if (m_p != m_end && (*m_p == 'e' || *m_p == 'E')) {
            ++m_p;
            if (m_p != m_end && (*m_p == '+' || *m_p == '-'))
                ++m_p;
            if (m_p == m_end || !(*m_p >= '0' && *m_p <= '9'))
                return fail("invalid number: digit expected in exponent");
            while (m_p != m_end && *m_p >= '0' && *m_p <= '9')
                ++m_p;
        }
        out.assign(start, std::size_t(m_p - start));
        return true;
    }

    static int hexDigit(char c)
    {
        if (c >= '0' && c <= '9')
            return c - '0';
        if (c >= 'a' && c <= 'f')
            return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
            return c - 'A' + 10;
        return -1;
    }

    bool readHex4(unsigned &out)
    {
        if (m_end - m_p < 4)
            return fail("invalid \\u escape");
        out = 0;
        for (int i = 0; i < 4; ++i) {
            const int d = hexDigit(m_p[i]);
            if (d < 0)
                return fail("invalid \\u escape");
            out = out * 16 + unsigned(d);
        }
        m_p += 4;
        return true;
    }

    static void appendUtf8(std::string &out, unsigned cp)
    {
        if (cp < 0x80) {
            out.push_back(char(cp));
        } else if (cp < 0x800) {
            out.push_back(char(0xC0 | (cp >> 6)));
            out.push_back(char(0x80 | (cp & 0x3F)));
        } else if (cp < 0x10000) {
            out.push_back(char(0xE0 | (cp >> 12)));
            out.push_back(char(0x80 | ((cp >> 6) & 0x3F)));
            out.push_back(char(0x80 | (cp & 0x3F)));
        } else {
            out.push_back(char(0xF0 | (cp >> 18)));
            out.push_back(char(0x80 | ((cp >> 12) & 0x3F)));
            out.push_back(char(0x80 | ((cp >> 6) & 0x3F)));
            out.push_back(char(0x80 | (cp & 0x3F)));
        }
    }

    // Validates one UTF-8 sequence starting at m_p (a byte >= 0x80) and copies it.
    bool copyUtf8(std::string &out)
    {
        const auto *u = reinterpret_cast<const unsigned char *>(m_p);
        const std::size_t left = std::size_t(m_end - m_p);
        std::size_t n = 0;
        unsigned cp = 0;
        if (u[0] >= 0xC2 && u[0] <= 0xDF) {
            n = 2;
            cp = u[0] & 0x1F;
        } else if (u[0] >= 0xE0 && u[0] <= 0xEF) {
            n = 3;
            cp = u[0] & 0x0F;
        } else if (u[0] >= 0xF0 && u[0] <= 0xF4) {
            n = 4;
            cp = u[0] & 0x07;
        } else {
            return fail("invalid UTF-8");
        }
        if (left < n)
            return fail("invalid UTF-8");
        for (std::size_t i = 1; i < n; ++i) {
            if ((u[i] & 0xC0) != 0x80)
                return fail("invalid UTF-8");
            cp = (cp << 6) | (u[i] & 0x3F);
        }
        if ((n == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
            return fail("invalid UTF-8");
        out.append(m_p, n);
        m_p += n;
        return true;
    }

    bool parseString(std::string &out)
    {
        ++m_p; // opening quote
        out.clear();
        for (;;) {
            // Fast path: a run of plain ASCII.
            const char *run = m_p;
            while (m_p != m_end) {
                const auto c = static_cast<unsigned char>(*m_p);
                if (c == '"' || c == '\\' || c < 0x20 || c >= 0x80)
                    break;
                ++m_p;
            }
            out.append(run, std::size_t(m_p - run));
            if (m_p == m_end)
                return fail("unterminated string");
            const auto c = static_cast<unsigned char>(*m_p);
            if (c == '"') {
                ++m_p;
                return true;
            }
            if (c < 0x20)
                return fail("control character in string");
            if (c >= 0x80) {
                if (!copyUtf8(out))
                    return false;
                continue;
            }
            // backslash
            ++m_p;
            if (m_p == m_end)
                return fail("unterminated string");
            const char e = *m_p++;
            switch (e) {
            case '"': out.push_back('"'); break;
            case '\\': out.push_back('\\'); break;
            case '/': out.push_back('/'); break;
            case 'b': out.push_back('\b'); break;
            case 'f': out.push_back('\f'); break;
            case 'n': out.push_back('\n'); break;
            case 'r': out.push_back('\r'); break;
            case 't': out.push_back('\t'); break;
            case 'u': {
                unsigned cp = 0;
                if (!readHex4(cp))
                    return false;
                if (cp >= 0xD800 && cp <= 0xDBFF) {
                    if (m_end - m_p < 6 || m_p[0] != '\\' || m_p[1] != 'u')
                        return fail("unpaired surrogate in \\u escape");
                    m_p += 2;
                    unsigned lo = 0;
                    if (!readHex4(lo))
                        return false;
                    if (lo < 0xDC00 || lo > 0xDFFF)
                        return fail("unpaired surrogate in \\u escape");
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                    return fail("unpaired surrogate in \\u escape");
                }
                appendUtf8(out, cp);
                break;
            }
            default:
                return fail("invalid escape in string");
            }
        }
    }

    bool parseArray(Value &v, int depth)
    {
        if (depth > m_maxDepth)
            return fail("nesting too deep");
        v.m_type = Type::Array;
        ++m_p;
        skipWs();
        if (m_p != m_end && *m_p == ']') {
            ++m_p;
            return true;
        }
        for (;;) {
            skipWs();
            v.m_items.emplace_back();
            Value &item = v.m_items.back();
            if (!parseValue(item, depth))
                return false;
            if (item.hasDuplicateKeys())
                v.m_dupBelow = true;
            skipWs();
            if (m_p == m_end)
                return fail("unterminated array");
            if (*m_p == ',') {
                ++m_p;
                continue;
            }
            if (*m_p == ']') {
                ++m_p;
                return true;
            }
            return fail("expected ',' or ']' in array");
        }
    }

    bool parseObject(Value &v, int depth)
    {
        if (depth > m_maxDepth)
            return fail("nesting too deep");
        v.m_type = Type::Object;
        ++m_p;
        skipWs();
        if (m_p != m_end && *m_p == '}') {
            ++m_p;
            return true;
        }
        for (;;) {
            skipWs();
            if (m_p == m_end || *m_p != '"')
                return fail("expected a string key in object");
            v.m_members.emplace_back();
            Member &m = v.m_members.back();
            if (!parseString(m.key))
                return false;
            skipWs();
            if (m_p == m_end || *m_p != ':')
                return fail("expected ':' after object key");
            ++m_p;
            skipWs();
            if (!parseValue(m.value, depth))
                return false;
            if (m.value.hasDuplicateKeys())
                v.m_dupBelow = true;
            if (!v.m_dupKey && v.m_members.size() <= kLinear)
                v.m_dupKey = lastKeyRepeats(v);
            skipWs();
            if (m_p == m_end)
                return fail("unterminated object");
            if (*m_p == ',') {
                ++m_p;
                continue;
            }
            if (*m_p == '}') {
                ++m_p;
                if (!v.m_dupKey && v.m_members.size() > kLinear)
                    v.m_dupKey = anyKeyRepeats(v);
                return true;
            }
            return fail("expected ',' or '}' in object");
        }
    }

    // Duplicate keys: a linear scan while the object is small (the common case), one hash
    // pass over the finished object beyond that (keys no longer move then).
    static constexpr std::size_t kLinear = 16;

    static bool lastKeyRepeats(const Value &v)
    {
        const std::string &key = v.m_members.back().key;
        for (std::size_t i = 0; i + 1 < v.m_members.size(); ++i) {
            if (v.m_members[i].key == key)
                return true;
        }
        return false;
    }

    static bool anyKeyRepeats(const Value &v)
    {
        std::unordered_set<std::string_view> seen;
        seen.reserve(v.m_members.size());
        for (const Member &m : v.m_members) {
            if (!seen.insert(m.key).second)
                return true;
        }
        return false;
    }

    const char *m_p;
    const char *m_begin;
    const char *m_end;
    int m_maxDepth;
    ParseError m_error;
};

std::optional<Document> parse(const QByteArray &text, ParseError *error, int maxDepth)
{
    Document doc;
    doc.m_source = text;
    doc.m_root = std::make_unique<Value>();
    // Views point into doc.m_source's buffer; QByteArray's data does not move when the
    // Document is moved (implicit sharing keeps the same heap block).
    Parser parser(std::string_view(doc.m_source.constData(), std::size_t(doc.m_source.size())), maxDepth);
    if (!parser.parseDocument(*doc.m_root)) {
        if (error)
            *error = parser.error();
        return std::nullopt;
    }
    return doc;
}

QByteArray minify(std::string_view json)
{
    QByteArray out;
    out.reserve(qsizetype(json.size()));
    const char *p = json.data(), *end = p + json.size();
    while (p != end) {
        const char c = *p;
        if (c == '"') {
            const char *s = p++;
            while (p != end && *p != '"') {
                if (*p == '\\' && p + 1 != end)
                    ++p;
                ++p;
            }
            if (p != end)
                ++p;
            out.append(s, qsizetype(p - s));
            continue;
        }
        if (c != ' ' && c != '\n' && c != '\r' && c != '\t')
            out.append(c);
        ++p;
    }
    return out;
}

// ---------------------------------------------------------------- writing

namespace {

// Bytes each input byte takes beyond itself once escaped: 0 for most, 1 for \" \\ \n \r \t
// \b \f, 5 for the other control characters (\u00XX).
constexpr std::array<std::uint8_t, 256> kEscapeExtra = [] {
    std::array<std::uint8_t, 256> t{};
    for (int c = 0; c < 0x20; ++c)
        t[c] = 5;
    for (unsigned char c : {'"', '\\', '\n', '\r', '\t', '\b', '\f'})
        t[c] = 1;
    return t;
}();

} // namespace

void appendQuoted(QByteArray &out, std::string_view s)
{
    // Sized first, then written in place: QByteArray::append() per escape and per run between
    // escapes cost more than the escaping itself (a tool result's text is its structured JSON
    // quoted, with an escape every few bytes).
    static const char hex[] = "0123456789abcdef";
    const auto *begin = reinterpret_cast<const unsigned char *>(s.data());
    const auto *end = begin + s.size();
    qsizetype extra = 0;
    for (const unsigned char *p = begin; p != end; ++p)
        extra += kEscapeExtra[*p];
    const qsizetype old = out.size();
    out.resize(old + qsizetype(s.size()) + extra + 2);
    char *q = out.data() + old;
    *q++ = '"';
    if (extra == 0) {
        if (!s.empty())
            std::memcpy(q, s.data(), s.size());
        q += s.size();
    } else {
        for (const unsigned char *p = begin; p != end; ++p) {
            const unsigned char c = *p;
            if (kEscapeExtra[c] == 0) {
                *q++ = char(c);
                continue;
            }
            *q++ = '\\';
            switch (c) {
            case '"': *q++ = '"'; break;
            case '\\': *q++ = '\\'; break;
            case '\n': *q++ = 'n'; break;
            case '\r': *q++ = 'r'; break;
            case '\t': *q++ = 't'; break;
            case '\b': *q++ = 'b'; break;
            case '\f': *q++ = 'f'; break;
            default:
                *q++ = 'u';
                *q++ = '0';
                *q++ = '0';
                *q++ = hex[c >> 4];
                *q++ = hex[c & 0xF];
            }
        }
    }
    *q++ = '"';
    Q_ASSERT(q == out.data() + out.size());
}

void appendQuoted(QByteArray &out, const QString &s)
{
    const QByteArray utf8 = s.toUtf8();
    appendQuoted(out, std::string_view(utf8.constData(), std::size_t(utf8.size())));
}

void appendDouble(QByteArray &out, double v)
{
    if (!std::isfinite(v)) {
        out.append("null"); // JSON has no NaN or infinity
        return;
    }
    char buf[64];
    auto [p, ec] = std::to_chars(buf, buf + sizeof buf, v);
    Q_ASSERT(ec == std::errc());
    out.append(buf, qsizetype(p - buf));
}

void Writer::separate()
{
    if (m_afterKey) {
        m_afterKey = false;
        return;
    }
    if (!m_first.empty()) {
        if (m_first.back())
            m_first.back() = false;
        else
            m_out.append(',');
    }
}

Writer &Writer::beginObject()
{
    separate();
    m_out.append('{');
    m_first.push_back(true);
    return *this;
}

Writer &Writer::endObject()
{
    m_out.append('}');
    m_first.pop_back();
    return *this;
}

Writer &Writer::beginArray()
{
    separate();
    m_out.append('[');
    m_first.push_back(true);
    return *this;
}

Writer &Writer::endArray()
{
    m_out.append(']');
    m_first.pop_back();
    return *this;
}

Writer &Writer::key(std::string_view k)
{
    separate();
    appendQuoted(m_out, k);
    m_out.append(':');
    m_afterKey = true;
    return *this;
}

Writer &Writer::null()
{
    separate();
    m_out.append("null", 4);
    return *this;
}

Writer &Writer::value(bool b)
{
    separate();
    m_out.append(b ? "true" : "false");
    return *this;
}

Writer &Writer::value(std::int64_t v)
{
    separate();
    char buf[24];
    auto [p, ec] = std::to_chars(buf, buf + sizeof buf, v);
    Q_UNUSED(ec);
    m_out.append(buf, qsizetype(p - buf));
    return *this;
}

Writer &Writer::value(double v)
{
    separate();
    appendDouble(m_out, v);
    return *this;
}

Writer &Writer::value(std::string_view s)
{
    separate();
    appendQuoted(m_out, s);
    return *this;
}

Writer &Writer::value(const QString &s)
{
    separate();
    appendQuoted(m_out, s);
    return *this;
}

Writer &Writer::raw(std::string_view compactJson)
{
    separate();
    m_out.append(compactJson.data(), qsizetype(compactJson.size()));
    return *this;
}

} // namespace sidecar::json
