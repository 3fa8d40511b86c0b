#include "sqlitecursor.h"

#include <QCryptographicHash>
#include <QJsonDocument>
#include <QJsonObject>
#include <QJsonValue>

namespace sidecar::store::sqlite {

namespace {

constexpr int kCursorVersion = 1;

Error badCursor(const QString &why)
{
    return Error{ErrorCode::InvalidArgument, QStringLiteral("Invalid cursor: %1").arg(why)};
}

} // namespace

QByteArray filterHash(const QString &list, const QStringList &parts)
{
    QCryptographicHash h(QCryptographicHash::Sha256);
    h.addData(list.toUtf8());
    for (const QString &p : parts) {
        const QByteArray utf8 = p.toUtf8();
        // Length-prefixed so that ("ab","c") and ("a","bc") differ.
        h.addData(QByteArray::number(utf8.size()));
        h.addData(QByteArrayView(":"));
        h.addData(utf8);
    }
    return h.result().left(8).toHex();
}

QString encodeCursor(const ListCursor &cursor)
{
    QJsonObject o;
    o.insert(QStringLiteral("v"), kCursorVersion);
    o.insert(QStringLiteral("l"), cursor.list);
    o.insert(QStringLiteral("f"), QString::fromLatin1(cursor.filters));
    if (!cursor.afterKey.isNull()) {
        o.insert(QStringLiteral("k"), cursor.afterKey);
        if (cursor.afterPrefix)
            o.insert(QStringLiteral("p"), true);
    } else {
        // As a string: JSON numbers in QJsonDocument are doubles.
        o.insert(QStringLiteral("s"), QString::number(cursor.afterSeq));
    }
    const QByteArray json = QJsonDocument(o).toJson(QJsonDocument::Compact);
    return QString::fromLatin1(
        json.toBase64(QByteArray::Base64UrlEncoding | QByteArray::OmitTrailingEquals));
}

Result<ListCursor> decodeCursor(const QString &text, const QString &list, const QByteArray &filters)
{
    const auto decoded = QByteArray::fromBase64Encoding(
        text.toLatin1(), QByteArray::Base64UrlEncoding | QByteArray::AbortOnBase64DecodingErrors);
    if (!decoded || text.isEmpty())
        return tl::unexpected(badCursor(QStringLiteral("not a cursor of this sidecar")));
    QJsonParseError perr;
    const QJsonDocument doc = QJsonDocument::fromJson(*decoded, &perr);
    if (perr.error != QJsonParseError::NoError || !doc.isObject())
        return tl::unexpected(badCursor(QStringLiteral("not a cursor of this sidecar")));
    const QJsonObject o = doc.object();
    if (o.value(QStringLiteral("v")).toInt(-1) != kCursorVersion)
        return tl::unexpected(badCursor(QStringLiteral("unknown cursor version")));
    ListCursor c;
    c.list = o.value(QStringLiteral("l")).toString();
    c.filters = o.value(QStringLiteral("f")).toString().toLatin1();
    if (c.list != list)
        return tl::unexpected(badCursor(QStringLiteral("it belongs to another list")));
    if (c.filters != filters)
        return tl::unexpected(
            badCursor(QStringLiteral("it was made for other filters; send the same filters as the first page")));
    const QJsonValue k = o.value(QStringLiteral("k"));
    const QJsonValue s = o.value(QStringLiteral("s"));
    if (k.isString()) {
        c.afterKey = k.toString();
        c.afterPrefix = o.value(QStringLiteral("p")).toBool(false);
    } else if (s.isString()) {
        bool ok = false;
        c.afterSeq = s.toString().toLongLong(&ok);
        if (!ok)
            return tl::unexpected(badCursor(QStringLiteral("bad position")));
    } else {
        return tl::unexpected(badCursor(QStringLiteral("no position")));
    }
    return c;
}

Result<Paging> paging(const std::optional<int> &limit, const QString &cursor, qint64 maxList)
{
    if (limit) {
        if (*limit < 1 || *limit > kMaxPageLimit)
            return fail(ErrorCode::InvalidArgument,
                        QStringLiteral("limit must be between 1 and %1").arg(kMaxPageLimit));
        return Paging{*limit, true};
    }
    if (!cursor.isEmpty())
        return Paging{kCursorPageSize, true};
    return Paging{maxList, false};
}

Error tooManyMatches(qint64 maxList)
{
    return Error{ErrorCode::TooLarge,
                 QStringLiteral("More than %1 matches (SIDECAR_MAX_LIST): page through them with limit and "
                                "cursor, or narrow the filter")
                     .arg(maxList)};
}

bool ReplyBudget::fits(qint64 bytes, qint64 count)
{
    if (count > 0 && m_max > 0 && m_used + bytes > m_max) {
        m_exhausted = true;
        return false;
    }
    m_used += bytes;
    return true;
}

Error replyTooLarge(qint64 maxReplyBytes)
{
    return Error{ErrorCode::TooLarge,
                 QStringLiteral("The reply would pass %1 bytes (SIDECAR_MAX_REPLY_BYTES): page through the list with "
                                "limit and cursor")
                     .arg(maxReplyBytes)};
}

std::optional<QString> prefixSuccessor(const QString &prefix)
{
    QList<uint> cps = prefix.toUcs4();
    while (!cps.isEmpty()) {
        uint last = cps.takeLast();
        if (last >= 0x10FFFF)
            continue; // no greater code point: the successor is that of the shorter prefix
        ++last;
        if (last >= 0xD800 && last <= 0xDFFF)
            last = 0xE000; // surrogates are not characters; UTF-8 order skips them
        cps.append(last);
        return QString::fromUcs4(reinterpret_cast<const char32_t *>(cps.constData()), cps.size());
    }
    return std::nullopt;
}

} // namespace sidecar::store::sqlite
