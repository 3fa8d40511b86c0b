#include "tokens.h"

#include <QCryptographicHash>
#include <QFile>
#include <QLoggingCategory>
#include <QThread>

#include <cstdint>
#include <map>
#include <string_view>

#include "protocol/json.h"

Q_LOGGING_CATEGORY(lcAuth, "sidecar.auth")

using namespace Qt::StringLiterals;

namespace sidecar::http {

namespace {

constexpr qsizetype kHashBytes = 32;
constexpr qint64 kMaxFileBytes = qint64(16) << 20;
constexpr std::size_t kMaxNameBytes = 512; // as agent ids: the principal lands in history

QByteArray sha256(QByteArrayView data)
{
    return QCryptographicHash::hash(data, QCryptographicHash::Sha256);
}

bool isHexDigit(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

// The raw bytes of 64 hex digits (either case), or nothing.
std::optional<QByteArray> decodeHash(const std::string &hex)
{
    if (hex.size() != std::size_t(kHashBytes) * 2)
        return std::nullopt;
    for (const char c : hex) {
        if (!isHexDigit(c))
            return std::nullopt;
    }
    return QByteArray::fromHex(QByteArray(hex.data(), qsizetype(hex.size())));
}

std::optional<protocol::Scope> scopeFromName(std::string_view name)
{
    if (name == "read")
        return protocol::Scope::Read;
    if (name == "write")
        return protocol::Scope::Write;
    if (name == "admin")
        return protocol::Scope::Admin;
    return std::nullopt;
}

// "entry 2 (\"ci-bot\")", or "entry 2" before the name is known to be usable.
QString entryLabel(std::size_t index, const QString &name)
{
    const QString position = u"entry %1"_s.arg(index + 1);
    return name.isEmpty() ? position : u"%1 (\"%2\")"_s.arg(position, name);
}

bool isSpace(char c)
{
    return c == ' ';
}

// The token of `Bearer <token>`: RFC 6750 section 2.1 with 1*SP (RFC 9110 section 11.4), surrounding
// spaces tolerated; the token is any run of visible ASCII. Nothing for any other shape.
std::optional<QByteArrayView> bearerToken(QByteArrayView value)
{
    while (!value.isEmpty() && isSpace(value.front()))
        value = value.sliced(1);
    while (!value.isEmpty() && isSpace(value.back()))
        value.chop(1);
    constexpr QByteArrayView scheme("Bearer");
    if (value.size() <= scheme.size() || !isSpace(value[scheme.size()])
        || value.first(scheme.size()).compare(scheme, Qt::CaseInsensitive) != 0)
        return std::nullopt;
    QByteArrayView token = value.sliced(scheme.size());
    while (!token.isEmpty() && isSpace(token.front()))
        token = token.sliced(1);
    if (token.isEmpty())
        return std::nullopt;
    for (const char c : token) {
        if (c <= 0x20 || c >= 0x7f)
            return std::nullopt;
    }
    return token;
}

} // namespace

QByteArray tokenHash(QByteArrayView token)
{
    return sha256(token).toHex();
}

bool isBearerCredential(QByteArrayView value)
{
    while (!value.isEmpty() && isSpace(value.front()))
        value = value.sliced(1);
    constexpr QByteArrayView scheme("Bearer");
    if (value.size() < scheme.size() || value.first(scheme.size()).compare(scheme, Qt::CaseInsensitive) != 0)
        return false;
    return value.size() == scheme.size() || isSpace(value[scheme.size()]);
}

QByteArray bearerChallenge(bool tokenPresented)
{
    QByteArray challenge = QByteArrayLiteral("Bearer realm=\"") + kAuthRealm + '"';
    if (tokenPresented)
        challenge += QByteArrayLiteral(", error=\"invalid_token\"");
    return challenge;
}

Result<TokenStore> TokenStore::load(const QString &path)
{
    const QString origin = u"tokens file %1"_s.arg(path);
    QFile file(path);
    if (!file.open(QIODevice::ReadOnly))
        return fail(ErrorCode::NotFound, u"%1: cannot be read: %2"_s.arg(origin, file.errorString()));
    if (file.size() > kMaxFileBytes)
        return fail(ErrorCode::InvalidArgument,
                    u"%1: larger than %2 bytes"_s.arg(origin, QString::number(kMaxFileBytes)));
    const QByteArray text = file.readAll();
    if (file.error() != QFileDevice::NoError)
        return fail(ErrorCode::NotFound, u"%1: cannot be read: %2"_s.arg(origin, file.errorString()));
    return parse(text, origin);
}

Result<TokenStore> TokenStore::parse(const QByteArray &text, const QString &origin)
{
    const auto invalid = [&origin](const QString &what) {
        return fail(ErrorCode::InvalidArgument, u"%1: %2"_s.arg(origin, what));
    };

    json::ParseError parseError;
    const std::optional<json::Document> doc = json::parse(text, &parseError, 8);
    if (!doc)
        return invalid(u"not JSON (%1 at byte %2)"_s.arg(QString::fromStdString(parseError.message),
                                                         QString::number(parseError.offset)));
    const json::Value &root = doc->root();
    if (!root.isObject())
        return invalid(u"expected an object {\"tokens\": [...]}"_s);
    if (root.hasOwnDuplicateKeys())
        return invalid(u"a key appears twice at the top level"_s);
    for (const json::Member &m : root.members()) {
        if (m.key != "tokens")
            return invalid(u"unknown key \"%1\" at the top level (expected only \"tokens\")"_s.arg(
                QString::fromStdString(m.key)));
    }
    const json::Value *tokens = root.find("tokens");
    if (!tokens)
        return invalid(u"missing \"tokens\" (an array, which may be empty)"_s);
    if (!tokens->isArray())
        return invalid(u"\"tokens\" must be an array"_s);

    TokenStore store;
    std::map<QString, std::size_t> byName;
    std::map<QByteArray, std::size_t> byHash;
    const std::vector<json::Value> &items = tokens->items();
    for (std::size_t i = 0; i < items.size(); ++i) {
        const json::Value &item = items[i];
        if (!item.isObject())
            return invalid(
                u"%1: must be an object with \"name\", \"sha256\" and \"scopes\""_s.arg(entryLabel(i, {})));

        // The name first, so that every later message can name the entry.
        const json::Value *name = item.find("name");
        QString label = entryLabel(i, {});
        if (!name)
            return invalid(u"%1: missing \"name\""_s.arg(label));
        if (!name->isString() || name->text().empty() || name->text().size() > kMaxNameBytes
            || name->text().find('\0') != std::string::npos)
            return invalid(u"%1: \"name\" must be a non-empty string of at most %2 bytes without NUL"_s.arg(
                label, QString::number(kMaxNameBytes)));
        TokenEntry entry;
        entry.name = name->toQString();
        label = entryLabel(i, entry.name);

        if (item.hasOwnDuplicateKeys())
            return invalid(u"%1: a key appears twice"_s.arg(label));
        for (const json::Member &m : item.members()) {
            if (m.key == "name" || m.key == "sha256" || m.key == "scopes")
                continue;
            if (m.key == "token")
                return invalid(u"%1: \"token\" is not allowed: the file holds only the token's SHA-256 "
                               "(printf %s \"$TOKEN\" | sha256sum) in \"sha256\""_s.arg(label));
            return invalid(u"%1: unknown key \"%2\" (expected \"name\", \"sha256\", \"scopes\")"_s.arg(
                label, QString::fromStdString(m.key)));
        }

        const json::Value *hash = item.find("sha256");
        if (!hash)
            return invalid(u"%1: missing \"sha256\""_s.arg(label));
        const std::optional<QByteArray> raw = hash->isString() ? decodeHash(hash->text()) : std::nullopt;
        if (!raw) // the value is not repeated: it might be a plain token pasted by mistake
            return invalid(u"%1: \"sha256\" must be 64 hex digits, the SHA-256 of the token "
                           "(printf %s \"$TOKEN\" | sha256sum)"_s.arg(label));
        entry.sha256 = *raw;

        const json::Value *scopes = item.find("scopes");
        if (!scopes)
            return invalid(u"%1: missing \"scopes\""_s.arg(label));
        if (!scopes->isArray() || scopes->items().empty())
            return invalid(
                u"%1: \"scopes\" must be a non-empty array of \"read\", \"write\", \"admin\""_s.arg(label));
        std::optional<protocol::Scope> highest;
        for (const json::Value &s : scopes->items()) {
            const std::optional<protocol::Scope> scope = s.isString() ? scopeFromName(s.text())
                                                                      : std::nullopt;
            if (!scope) {
                const QString shown = s.isString() ? u"\"%1\""_s.arg(s.toQString())
                                                   : QString::fromUtf8(s.compact());
                return invalid(
                    u"%1: unknown scope %2 (expected \"read\", \"write\" or \"admin\")"_s.arg(label, shown));
            }
            if (!highest || int(*scope) > int(*highest))
                highest = scope;
        }
        entry.scope = *highest;

        if (const auto it = byName.find(entry.name); it != byName.end())
            return invalid(
                u"%1: the name is also used by entry %2"_s.arg(label, QString::number(it->second + 1)));
        if (const auto it = byHash.find(entry.sha256); it != byHash.end())
            return invalid(u"%1: the same token hash as %2"_s.arg(
                label, entryLabel(it->second, store.m_entries[it->second].name)));
        byName.emplace(entry.name, i);
        byHash.emplace(entry.sha256, i);
        store.m_entries.push_back(std::move(entry));
    }
    return store;
}

std::optional<protocol::CallContext> TokenStore::authenticate(QByteArrayView authorizationHeaderValue) const
{
    const std::optional<QByteArrayView> token = bearerToken(authorizationHeaderValue);
    if (!token)
        return std::nullopt;
    const QByteArray presented = sha256(*token);
    Q_ASSERT(presented.size() == kHashBytes);

    // Every entry and every byte is visited whatever matches; the match is picked without a branch.
    // Hashes are unique (parse() refuses duplicates), so at most one entry matches.
    std::size_t found = 0; // index + 1 of the match
    for (std::size_t i = 0; i < m_entries.size(); ++i) {
        const QByteArray &stored = m_entries[i].sha256;
        unsigned diff = 0;
        for (qsizetype b = 0; b < kHashBytes; ++b)
            diff |= unsigned(std::uint8_t(stored[b]) ^ std::uint8_t(presented[b]));
        const std::size_t equal = ((diff - 1u) >> 8) & 1u; // 1 exactly when diff == 0
        found |= equal * (i + 1);
    }
    if (found == 0)
        return std::nullopt;
    const TokenEntry &entry = m_entries[found - 1];
    return protocol::CallContext{entry.name, entry.scope};
}

TokenAuthority::TokenAuthority(QString path, QObject *parent) : QObject(parent), m_path(std::move(path)) {}

Result<void> TokenAuthority::reload()
{
    Q_ASSERT(QThread::currentThread() == thread());
    if (!enabled())
        return {};
    Result<TokenStore> loaded = TokenStore::load(m_path);
    if (!loaded) {
        const QString kept = u"; keeping the %1 token(s) in force"_s.arg(m_store.entries().size());
        qCWarning(lcAuth).noquote() << QString(loaded.error().message + kept);
        return tl::unexpected<Error>(loaded.error());
    }
    m_store = std::move(*loaded);
    const int count = int(m_store.entries().size());
    if (count == 0)
        qCWarning(lcAuth).noquote()
            << u"tokens file %1 lists no tokens: every authenticated request is refused"_s.arg(m_path);
    else
        qCInfo(lcAuth).noquote() << u"loaded %1 token(s) from %2"_s.arg(count).arg(m_path);
    emit reloaded(count);
    return {};
}

std::optional<protocol::CallContext> TokenAuthority::authenticate(
    QByteArrayView authorizationHeaderValue) const
{
    if (!enabled())
        return protocol::CallContext{};
    return m_store.authenticate(authorizationHeaderValue);
}

} // namespace sidecar::http
