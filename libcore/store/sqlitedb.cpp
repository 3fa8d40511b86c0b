#include "sqlitedb.h"

#include <chrono>
#include <utility>

#include <QLatin1String>

namespace sidecar::store::sqlite {

struct CachedQuery
{
    QSqlQuery query;
    bool busy = false;
    explicit CachedQuery(const QSqlDatabase &db) : query(db) {}
};

double nowSeconds()
{
    using namespace std::chrono;
    const auto us = duration_cast<microseconds>(system_clock::now().time_since_epoch()).count();
    return double(us) / 1e6;
}

QVariant bindable(const QString &s)
{
    // QtSql binds a null QString as NULL: an empty key or id must stay ''.
    if (s.isNull())
        return QVariant(QString(QLatin1String("")));
    return QVariant(s);
}

QVariant bindable(const QByteArray &utf8)
{
    return bindable(QString::fromUtf8(utf8));
}

// ---------------------------------------------------------------- Statement

Statement::Statement(QSqlQuery *query, CachedQuery *cached, std::unique_ptr<QSqlQuery> owned)
    : m_query(query), m_cached(cached), m_owned(std::move(owned))
{
}

Statement::Statement(Statement &&other) noexcept
    : m_query(std::exchange(other.m_query, nullptr)),
      m_cached(std::exchange(other.m_cached, nullptr)),
      m_owned(std::move(other.m_owned))
{
}

Statement &Statement::operator=(Statement &&other) noexcept
{
    if (this != &other) {
        finish();
        m_query = std::exchange(other.m_query, nullptr);
        m_cached = std::exchange(other.m_cached, nullptr);
        m_owned = std::move(other.m_owned);
    }
    return *this;
}

Statement::~Statement()
{
    finish();
}

void Statement::finish()
{
    if (m_query)
        m_query->finish();
    if (m_cached)
        m_cached->busy = false;
    m_query = nullptr;
    m_cached = nullptr;
    m_owned.reset();
}

bool Statement::next()
{
    return m_query && m_query->next();
}

QVariant Statement::value(int i) const
{
    return m_query->value(i);
}

bool Statement::isNull(int i) const
{
    return m_query->isNull(i);
}

qint64 Statement::int64(int i) const
{
    return m_query->value(i).toLongLong();
}

double Statement::real(int i) const
{
    return m_query->value(i).toDouble();
}

QString Statement::text(int i) const
{
    return m_query->value(i).toString();
}

QByteArray Statement::json(int i) const
{
    const QVariant v = m_query->value(i);
    if (v.typeId() == QMetaType::QByteArray)
        return v.toByteArray();
    return v.toString().toUtf8();
}

std::optional<qint64> Statement::optInt64(int i) const
{
    if (m_query->isNull(i))
        return std::nullopt;
    return int64(i);
}

std::optional<double> Statement::optReal(int i) const
{
    if (m_query->isNull(i))
        return std::nullopt;
    return real(i);
}

std::optional<QString> Statement::optText(int i) const
{
    if (m_query->isNull(i))
        return std::nullopt;
    return text(i);
}

std::optional<QByteArray> Statement::optJson(int i) const
{
    if (m_query->isNull(i))
        return std::nullopt;
    return json(i);
}

int Statement::rowsAffected() const
{
    return m_query ? m_query->numRowsAffected() : 0;
}

// ---------------------------------------------------------------- Connection

Connection::Connection(QString name) : m_name(std::move(name)) {}

Connection::~Connection()
{
    close();
}

void Connection::close()
{
    for (CachedQuery *c : std::as_const(m_cache)) {
        c->query.finish();
        delete c;
    }
    m_cache.clear();
    if (m_db.isValid()) {
        m_db.close();
        m_db = QSqlDatabase();
        QSqlDatabase::removeDatabase(m_name);
    }
}

Result<void> Connection::open(const QString &path, int busyTimeoutMs, bool readOnly)
{
    m_path = path;
    m_db = QSqlDatabase::addDatabase(QStringLiteral("QSQLITE"), m_name);
    if (!m_db.isValid())
        return sidecar::fail(ErrorCode::Unavailable, QStringLiteral("The Qt SQLite driver (QSQLITE) is not available"));
    m_db.setDatabaseName(path);
    m_db.setConnectOptions(QStringLiteral("QSQLITE_BUSY_TIMEOUT=%1").arg(busyTimeoutMs));
    if (!m_db.open())
        return tl::unexpected(toError(m_db.lastError(), QStringLiteral("open")));
    if (readOnly) {
        if (auto r = exec("PRAGMA query_only=1"); !r)
            return r;
    }
    return {};
}

Error Connection::toError(const QSqlError &error, const QString &sql)
{
    const int code = sqliteCode(error);
    m_lastBusy = code == 5 /* SQLITE_BUSY */ || code == 6 /* SQLITE_LOCKED */;
    // Failures of the medium (busy, I/O, full disk, cannot open, corrupt, not a database) make
    // the backend unavailable; anything else is a bug in a statement.
    ErrorCode kind = ErrorCode::Internal;
    switch (code) {
    case 5:  // BUSY
    case 6:  // LOCKED
    case 7:  // NOMEM
    case 8:  // READONLY
    case 10: // IOERR
    case 11: // CORRUPT
    case 13: // FULL
    case 14: // CANTOPEN
    case 15: // PROTOCOL
    case 26: // NOTADB
        kind = ErrorCode::Unavailable;
        break;
    default:
        break;
    }
    QString text = error.text().trimmed();
    if (text.isEmpty())
        text = QStringLiteral("unknown SQLite error");
    QString what = sql.simplified();
    if (what.size() > 80)
        what = what.left(77) + QStringLiteral("...");
    return Error{kind, QStringLiteral("SQLite: %1 (in: %2)").arg(text, what)};
}

Result<void> Connection::exec(const QString &sql)
{
    QSqlQuery q(m_db);
    q.setForwardOnly(true);
    const bool ok = q.exec(sql);
    const QSqlError err = q.lastError();
    q.finish();
    if (!ok)
        return tl::unexpected(toError(err, sql));
    m_lastBusy = false;
    return {};
}

Result<void> Connection::exec(const char *sql)
{
    auto st = query(QString::fromLatin1(sql));
    if (!st)
        return tl::unexpected(st.error());
    return {};
}

Result<Statement> Connection::query(const QString &sql, const QVariantList &binds)
{
    CachedQuery *cached = m_cache.value(sql);
    QSqlQuery *q = nullptr;
    std::unique_ptr<QSqlQuery> owned;
    if (!cached) {
        cached = new CachedQuery(m_db);
        cached->query.setForwardOnly(true);
        cached->query.setNumericalPrecisionPolicy(QSql::LowPrecisionDouble);
        if (!cached->query.prepare(sql)) {
            const QSqlError err = cached->query.lastError();
            delete cached;
            return tl::unexpected(toError(err, sql));
        }
        m_cache.insert(sql, cached);
    }
    if (cached->busy) {
        // The same statement is still being read further up the stack: use a fresh one.
        owned = std::make_unique<QSqlQuery>(m_db);
        owned->setForwardOnly(true);
        owned->setNumericalPrecisionPolicy(QSql::LowPrecisionDouble);
        if (!owned->prepare(sql))
            return tl::unexpected(toError(owned->lastError(), sql));
        q = owned.get();
        cached = nullptr;
    } else {
        q = &cached->query;
    }
    for (int i = 0; i < binds.size(); ++i)
        q->bindValue(i, binds.at(i));
    if (!q->exec()) {
        const QSqlError err = q->lastError();
        q->finish();
        return tl::unexpected(toError(err, sql));
    }
    m_lastBusy = false;
    if (cached)
        cached->busy = true;
    return Statement(q, cached, std::move(owned));
}

Result<qint64> Connection::scalar(const QString &sql, const QVariantList &binds, qint64 fallback)
{
    auto st = query(sql, binds);
    if (!st)
        return tl::unexpected(st.error());
    if (!st->next() || st->isNull(0))
        return fallback;
    return st->int64(0);
}

Result<void> Connection::execScript(const QString &script)
{
    for (const QString &statement : splitSqlScript(script)) {
        if (auto r = exec(statement); !r)
            return r;
    }
    return {};
}

QStringList splitSqlScript(const QString &script)
{
    QStringList out;
    QString current;
    const qsizetype n = script.size();
    for (qsizetype i = 0; i < n; ++i) {
        const QChar c = script.at(i);
        if (c == u'-' && i + 1 < n && script.at(i + 1) == u'-') {
            while (i < n && script.at(i) != u'\n')
                ++i;
            current += u'\n';
            continue;
        }
        if (c == u'/' && i + 1 < n && script.at(i + 1) == u'*') {
            i += 2;
            while (i + 1 < n && !(script.at(i) == u'*' && script.at(i + 1) == u'/'))
                ++i;
            ++i;
            current += u' ';
            continue;
        }
        if (c == u'\'' || c == u'"' || c == u'`' || c == u'[') {
            const QChar close = c == u'[' ? QChar(u']') : c;
            current += c;
            ++i;
            while (i < n) {
                current += script.at(i);
                if (script.at(i) == close) {
                    // A doubled quote is an escaped quote inside the literal.
                    if (close != u']' && i + 1 < n && script.at(i + 1) == close) {
                        current += script.at(++i);
                    } else {
                        break;
                    }
                }
                ++i;
            }
            continue;
        }
        if (c == u';') {
            const QString s = current.trimmed();
            if (!s.isEmpty())
                out.append(s);
            current.clear();
            continue;
        }
        current += c;
    }
    const QString s = current.trimmed();
    if (!s.isEmpty())
        out.append(s);
    return out;
}

int sqliteCode(const QSqlError &error)
{
    bool ok = false;
    const int code = error.nativeErrorCode().toInt(&ok);
    return ok ? (code & 0xff) : -1;
}

} // namespace sidecar::store::sqlite
