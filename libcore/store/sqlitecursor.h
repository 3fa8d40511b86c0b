#pragma once

// Paging for the SQLite backend's lists: opaque keyset cursors and the page-size rules of the
// contract (TOOLS.md, "Conventions": without limit every match up to maxList, else too_large;
// with limit one page; a cursor without limit continues with pages of 1000).
//
// A cursor is base64url (no padding) of a small JSON object: the list it belongs to, a hash of
// the call's filters, and the position of the last item returned (a key or id for lists
// sorted by key; a creation sequence for workflow lists, newest first). Resuming "after the
// last item" rather than "at offset n" keeps pages stable under concurrent writes: no item
// twice, none skipped that existed throughout.
//
// Thread: pure functions.

#include <QByteArray>
#include <QString>
#include <QStringList>

#include <optional>

#include "protocol/result.h"

namespace sidecar::store::sqlite {

inline constexpr int kMaxPageLimit = 10000;
inline constexpr int kCursorPageSize = 1000;

struct ListCursor
{
    QString list;       // "kv", "workflows", "leases", "sessions"
    QByteArray filters; // filterHash() of the call that produced it
    QString afterKey;   // lists by key: the last key (or rolled-up prefix) returned
    bool afterPrefix = false; // afterKey is a rolled-up prefix: resume past everything under it
    qint64 afterSeq = 0;      // lists by sequence: the last sequence returned
};

// A short digest of a list's filters (order of `parts` matters).
QByteArray filterHash(const QString &list, const QStringList &parts);

QString encodeCursor(const ListCursor &cursor);
// InvalidArgument for a malformed cursor or one made for another list or other filters.
Result<ListCursor> decodeCursor(const QString &text, const QString &list, const QByteArray &filters);

// How many items one call returns.
struct Paging
{
    qint64 size = 0;    // items per page, or maxList when not paged
    bool paged = false; // false: every match, and more than `size` is too_large
};

// From the call's limit and cursor. InvalidArgument for a limit outside 1..10000.
Result<Paging> paging(const std::optional<int> &limit, const QString &cursor, qint64 maxList);

// The error for an unpaged list with more than maxList matches.
Error tooManyMatches(qint64 maxList);

// Keeps a list reply under StoreOptions::maxReplyBytes (SIDECAR_MAX_REPLY_BYTES), from
// estimates on the high side (JSON escaping may take 6 bytes per character). A paged list that
// reaches it stops early with a cursor; an unpaged one is too_large (lists never stop early
// unless the caller pages). The first item of a page always fits.
class ReplyBudget
{
public:
    explicit ReplyBudget(qint64 maxBytes) : m_max(maxBytes) {}
    // Whether an item of about `bytes` fits after `count` items; counts it when it does.
    bool fits(qint64 bytes, qint64 count);
    bool exhausted() const { return m_exhausted; }
    // Estimated reply bytes of a text field.
    static qint64 text(const QString &s) { return 6 * s.size() + 4; }

private:
    qint64 m_max;
    qint64 m_used = 0;
    bool m_exhausted = false;
};

Error replyTooLarge(qint64 maxReplyBytes);

// The smallest string greater than every string that starts with `prefix`, in code point
// order (which is UTF-8 byte order, SQLite's BINARY collation on UTF-8 text); nullopt when
// there is none (empty prefix, or only U+10FFFF characters). With it, "starts with p" is the
// index range `key >= p AND key < successor(p)`: literal, case-sensitive, no LIKE or GLOB.
std::optional<QString> prefixSuccessor(const QString &prefix);

} // namespace sidecar::store::sqlite
