#pragma once

// Static bearer tokens for the HTTP transport (TOOLS.md, "Auth scopes" and "Configuration").
//
// The tokens file (SIDECAR_TOKENS_FILE) holds no plain tokens, only their SHA-256:
//
//     {"tokens": [{"name": "ci-bot", "sha256": "<64 hex digits>", "scopes": ["write"]}]}
//
// An operator makes a token and its hash with, for example:
//
//     TOKEN=$(head -c 32 /dev/urandom | base64 | tr -d '=+/')
//     printf %s "$TOKEN" | sha256sum        # the hex digits before the "-" go into "sha256"
//
// (printf %s, not echo: a trailing newline would be hashed too.) Scopes nest, admin ⊇ write ⊇ read,
// so an entry's scope is the highest it lists. The name becomes the caller's principal, which the
// history records; the token itself is never logged, and a presented token is compared against
// every stored hash in constant time.
//
// Thread: TokenStore is plain immutable data, safe to read from any thread. TokenAuthority lives on
// the thread that created it (the main thread, where SIGHUP arrives) and is used only there.

#include <QByteArray>
#include <QByteArrayView>
#include <QObject>
#include <QString>

#include <optional>
#include <vector>

#include "protocol/result.h"
#include "protocol/toolregistry.h"

namespace sidecar::http {

// The realm of every challenge this server sends.
inline constexpr char kAuthRealm[] = "mcp-state-sidecar";

// The SHA-256 of `token` as 64 lower-case hex digits: what the tokens file's "sha256" holds.
QByteArray tokenHash(QByteArrayView token);

// True when an Authorization value uses the Bearer scheme (RFC 6750 section 2.1), well formed or not.
bool isBearerCredential(QByteArrayView authorizationHeaderValue);

// The WWW-Authenticate value of a 401 (RFC 6750 section 3): `Bearer realm="mcp-state-sidecar"`, plus
// `, error="invalid_token"` when the request presented a bearer token that was refused. A request
// without credentials, or with another scheme, gets no error code (section 3.1).
QByteArray bearerChallenge(bool tokenPresented);

struct TokenEntry
{
    QString name;
    QByteArray sha256; // 32 raw bytes
    protocol::Scope scope = protocol::Scope::Read;
};

// One parsed tokens file. An empty store (no file read, or `"tokens": []`) authenticates nobody.
class TokenStore
{
public:
    TokenStore() = default;

    // Reads and parses the file. InvalidArgument names the file and, for a bad entry, its position
    // and name; NotFound when the file cannot be opened. Values of "sha256" are never echoed.
    static Result<TokenStore> load(const QString &path);
    // The same from the file's bytes; `origin` prefixes every message ("tokens file /etc/...").
    static Result<TokenStore> parse(const QByteArray &text, const QString &origin);

    // Checks an Authorization value: `Bearer <token>`, the scheme in any case, one space or more
    // before the token, surrounding spaces ignored. The token's hash is compared with every stored
    // hash, without an early exit on a byte or an entry. Returns the matching entry's name and scope.
    std::optional<protocol::CallContext> authenticate(QByteArrayView authorizationHeaderValue) const;

    const std::vector<TokenEntry> &entries() const { return m_entries; }
    bool isEmpty() const { return m_entries.empty(); }

private:
    std::vector<TokenEntry> m_entries;
};

// The server's current tokens: off (no file configured: every caller has every scope, as on stdio)
// or the set last read from the file. reload() (at start and on SIGHUP) replaces the set only when
// the new file is valid; until a first successful load, nobody authenticates.
class TokenAuthority : public QObject
{
    Q_OBJECT
public:
    // `path` empty: tokens off.
    explicit TokenAuthority(QString path = {}, QObject *parent = nullptr);

    bool enabled() const { return !m_path.isEmpty(); }
    const QString &path() const { return m_path; }
    const TokenStore &store() const { return m_store; }

    // Reads the file again. On failure the previous set stays in force and the reason is logged
    // (category sidecar.auth) and returned. With tokens off, does nothing.
    Result<void> reload();

    // With tokens off: CallContext{"", Admin} whatever the header says. Else TokenStore::authenticate.
    std::optional<protocol::CallContext> authenticate(QByteArrayView authorizationHeaderValue) const;

signals:
    // A reload() replaced the set; `count` tokens are now valid.
    void reloaded(int count);

private:
    const QString m_path;
    TokenStore m_store;
};

} // namespace sidecar::http
