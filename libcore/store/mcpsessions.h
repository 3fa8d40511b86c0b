#pragma once

// The stored form of McpSessionRecord::subscriptions, shared by the backends: a JSON array of the
// URIs (strings). Thread: pure functions.

#include <QByteArray>
#include <QStringList>

namespace sidecar::store {

QByteArray encodeSubscriptions(const QStringList &uris);
// Non-string items and malformed text are skipped (an empty list at worst).
QStringList decodeSubscriptions(const QByteArray &text);

} // namespace sidecar::store
